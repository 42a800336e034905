/* Semi-Lagrangian advection with bilinear (2D) / trilinear (3D) sampling.
 *
 *   out[x] = f(x - v[x])   sampled between the 2^nd surrounding cells
 *
 * Periodic: cell indices wrap. Walls: the sample point is clamped into the grid
 * (its velocity derivative is zero where the clamp is active).
 *
 * The adjoint has two parts. d out / d v at a cell only touches that cell (a
 * gather, written directly). d out / d f scatters into the 2^nd cells around the
 * back-traced point, which may belong to any row. To stay deterministic without
 * float atomics, each fixed block of rows scatters into its own buffer covering
 * just the rows its samples reach, and a second pass adds the buffers into the
 * gradient row by row in block order. Blocks depend only on the grid size, so
 * the gradient is bitwise the same for any thread count.
 *
 * The interpolation and its adjoint are written once, in interp.h; this file is
 * the traversal: which cells, in which order, on which thread.
 *
 * Memory: per-call tables come from host->scratch. The per-block scatter
 * buffers and sample tables are sized by where a block's samples land, known
 * only inside the worker, and host->scratch serves the calling thread only, so
 * those come from host->alloc (thread-safe) and are freed before returning. */
#include <stdlib.h>

#include "interp.h"

typedef struct adv {
  grid g;
  int nf, periodic;
  const ds_real *f[3], *v[3];
  ds_real *out[3];
  const ds_real *go[3];
  ds_real *gf[3], *gv[3];
  int nscatter;          /* fields whose gradient is wanted */
  int64_t slab;          /* cells per index of axis 0 */
  int64_t grain;         /* axis-0 indices per block */
  int64_t nblocks;
  int64_t *bad;          /* per block: first bad cell + 1 */
  ds_real **buf;         /* per block scatter buffer (nscatter fields) */
  int64_t *base, *rows;  /* per block: first (unwrapped) row and row count */
  int *full;
  const ds_host_api *host;
  int nomem;
  int fast;    /* 2D fast path allowed (grid fits int32 indices) */
  int fast3;   /* 3D fast path allowed */
  ds_real lim; /* |v| bound of the fast path: at most one wrap */
} adv;

/* Where a back-traced coordinate falls along one axis: the lower cell
 * (unwrapped for periodic), the weight of the upper cell, and whether the
 * coordinate moves with the velocity (not clamped by a wall). */
static inline int64_t locate(ds_real pos, int64_t n, int periodic, ds_real *w, int *moving) {
  if (periodic) {
    ds_real fl = floor_r(pos);
    *w = pos - fl;
    *moving = 1;
    return (int64_t)fl;
  }
  ds_real top = (ds_real)(n - 1);
  *moving = pos >= 0 && pos <= top;
  ds_real cc = pos < 0 ? 0 : (pos > top ? top : pos);
  ds_real fl = floor_r(cc);
  int64_t l = (int64_t)fl;
  if (l > n - 2) l = n - 2;
  *w = cc - (ds_real)l;
  return l;
}

static inline void cells(int64_t l, int64_t n, int periodic, int64_t *a, int64_t *b) {
  if (periodic) {
    *a = wrap_index(l, n);
    *b = *a + 1 == n ? 0 : *a + 1;
  } else {
    *a = l;
    *b = l + 1;
  }
}

static inline int vel_ok(ds_real u) { return fabs((double)u) <= SMOKE_VMAX; }


/* ---- 2D fast path ------------------------------------------------------------
 * Rows whose velocities are all smaller than the grid (the normal case) need at
 * most one wrap per coordinate, so the row loop can be branch-free and the
 * compiler vectorises it (gathers on AVX2 / AVX-512 clones). Anything else
 * (huge or non-finite velocities) takes the general per-cell path. */

/* Per-cell sample data of one row: row offsets of the two sample rows, the two
 * sample columns, the weights, and the unwrapped lower row (scatter buffers). */
typedef struct rowsamp {
  int32_t *ra, *rb, *ca, *cb, *lx;
  ds_real *wx, *wy;
  int32_t *mx, *my; /* 1 where the coordinate moves with the velocity */
} rowsamp;

/* 1 if every |v| in the row is below lim (NaN fails). */
static int row_small(const ds_real *vx, const ds_real *vy, int64_t n, ds_real lim) {
  int ok = 1;
  for (int64_t j = 0; j < n; j++) ok &= (fabs(vx[j]) < lim) & (fabs(vy[j]) < lim);
  return ok;
}

static inline __attribute__((always_inline)) void samp2(int per, ds_real fi, int j, ds_real ux, ds_real uy, int nx,
                                                        int ny, int *ra, int *rb, int *ca, int *cb, int *lxo,
                                                        ds_real *wx, ds_real *wy, int *mx, int *my) {
  ds_real cx = fi - ux, cy = (ds_real)j - uy;
  if (per) {
    ds_real fx = floor_r(cx), fy = floor_r(cy);
    int lx = (int)fx, ly = (int)fy;
    *wx = cx - fx, *wy = cy - fy;
    *lxo = lx;
    lx += lx < 0 ? nx : 0;
    lx -= lx >= nx ? nx : 0;
    ly += ly < 0 ? ny : 0;
    ly -= ly >= ny ? ny : 0;
    int hx = lx + 1 == nx ? 0 : lx + 1, hy = ly + 1 == ny ? 0 : ly + 1;
    *ra = lx * ny, *rb = hx * ny, *ca = ly, *cb = hy;
    *mx = 1, *my = 1;
  } else {
    ds_real tx = (ds_real)(nx - 1), ty = (ds_real)(ny - 1);
    *mx = (cx >= 0) & (cx <= tx);
    *my = (cy >= 0) & (cy <= ty);
    cx = cx < 0 ? 0 : (cx > tx ? tx : cx);
    cy = cy < 0 ? 0 : (cy > ty ? ty : cy);
    int lx = (int)floor_r(cx), ly = (int)floor_r(cy);
    lx = lx > nx - 2 ? nx - 2 : lx;
    ly = ly > ny - 2 ? ny - 2 : ly;
    *wx = cx - (ds_real)lx, *wy = cy - (ds_real)ly;
    *lxo = lx;
    *ra = lx * ny, *rb = (lx + 1) * ny, *ca = ly, *cb = ly + 1;
  }
}

/* Loads the four corners (32-bit offsets) for interp.h. */
#define BILERP(f, ra, rb, ca, cb, wx, wy) bilerp_at(f, (ra) + (ca), (ra) + (cb), (rb) + (ca), (rb) + (cb), wx, wy)

SMOKE_CLONES static void row_fwd2(int per, int nf, const ds_real *restrict f0, const ds_real *restrict f1,
                                  ds_real *restrict o0, ds_real *restrict o1, const ds_real *restrict vx,
                                  const ds_real *restrict vy, int i, int nx, int ny) {
  const ds_real fi = (ds_real)i;
  if (per && nf == 1) {
    for (int j = 0; j < ny; j++) {
      int ra, rb, ca, cb, lx, mx, my;
      ds_real wx, wy;
      samp2(1, fi, j, vx[j], vy[j], nx, ny, &ra, &rb, &ca, &cb, &lx, &wx, &wy, &mx, &my);
      o0[j] = BILERP(f0, ra, rb, ca, cb, wx, wy);
    }
  } else if (per) {
    for (int j = 0; j < ny; j++) {
      int ra, rb, ca, cb, lx, mx, my;
      ds_real wx, wy;
      samp2(1, fi, j, vx[j], vy[j], nx, ny, &ra, &rb, &ca, &cb, &lx, &wx, &wy, &mx, &my);
      o0[j] = BILERP(f0, ra, rb, ca, cb, wx, wy);
      o1[j] = BILERP(f1, ra, rb, ca, cb, wx, wy);
    }
  } else {
    for (int j = 0; j < ny; j++) {
      int ra, rb, ca, cb, lx, mx, my;
      ds_real wx, wy;
      samp2(0, fi, j, vx[j], vy[j], nx, ny, &ra, &rb, &ca, &cb, &lx, &wx, &wy, &mx, &my);
      o0[j] = BILERP(f0, ra, rb, ca, cb, wx, wy);
      if (nf == 2) o1[j] = BILERP(f1, ra, rb, ca, cb, wx, wy);
    }
  }
}

/* Adjoint, gather half: samples of a row into S, and the velocity gradient
 * (the cell's own: d out / d v = -d f / d x at the sample). */
SMOKE_CLONES static void row_adj2(int per, int nf, const ds_real *restrict f0, const ds_real *restrict f1,
                                  const ds_real *restrict g0, const ds_real *restrict g1, ds_real *restrict gvx,
                                  ds_real *restrict gvy, const ds_real *restrict vx, const ds_real *restrict vy,
                                  int i, int nx, int ny, int32_t *restrict ra_, int32_t *restrict rb_,
                                  int32_t *restrict ca_, int32_t *restrict cb_, int32_t *restrict lx_,
                                  ds_real *restrict wx_, ds_real *restrict wy_) {
  const ds_real fi = (ds_real)i;
  /* One branch-free loop per case, so each vectorises. */
#define ADJ_LOOP(PER, NF, GRAD)                                                                          \
  for (int j = 0; j < ny; j++) {                                                                         \
    int ra, rb, ca, cb, lx, mx, my;                                                                      \
    ds_real wx, wy;                                                                                      \
    samp2(PER, fi, j, vx[j], vy[j], nx, ny, &ra, &rb, &ca, &cb, &lx, &wx, &wy, &mx, &my);                \
    ra_[j] = ra, rb_[j] = rb, ca_[j] = ca, cb_[j] = cb, lx_[j] = lx, wx_[j] = wx, wy_[j] = wy;          \
    if (GRAD) {                                                                                          \
      ds_real sx, sy;                                                                                    \
      bilerp_slopes(f0[ra + ca], f0[ra + cb], f0[rb + ca], f0[rb + cb], wx, wy, &sx, &sy);               \
      ds_real gx = g0[j] * sx, gy = g0[j] * sy;                                                          \
      if (NF == 2) {                                                                                     \
        bilerp_slopes(f1[ra + ca], f1[ra + cb], f1[rb + ca], f1[rb + cb], wx, wy, &sx, &sy);             \
        gx += g1[j] * sx;                                                                                \
        gy += g1[j] * sy;                                                                                \
      }                                                                                                  \
      gvx[j] -= (ds_real)mx * gx;                                                                        \
      gvy[j] -= (ds_real)my * gy;                                                                        \
    }                                                                                                    \
  }
  if (per) {
    if (!gvx) ADJ_LOOP(1, 1, 0)
    else if (nf == 1) ADJ_LOOP(1, 1, 1)
    else ADJ_LOOP(1, 2, 1)
  } else {
    if (!gvx) ADJ_LOOP(0, 1, 0)
    else if (nf == 1) ADJ_LOOP(0, 1, 1)
    else ADJ_LOOP(0, 2, 1)
  }
#undef ADJ_LOOP
}


/* ---- 3D fast path: the same idea along the contiguous k axis ------------------ */
static inline __attribute__((always_inline)) void axis1(int per, ds_real pos, int n, int *lo, int *hi, int *lun,
                                                        ds_real *w, int *mv) {
  if (per) {
    ds_real fl = floor_r(pos);
    int l = (int)fl;
    *w = pos - fl;
    *lun = l;
    l += l < 0 ? n : 0;
    l -= l >= n ? n : 0;
    *lo = l;
    *hi = l + 1 == n ? 0 : l + 1;
    *mv = 1;
  } else {
    ds_real top = (ds_real)(n - 1);
    *mv = (pos >= 0) & (pos <= top);
    pos = pos < 0 ? 0 : (pos > top ? top : pos);
    int l = (int)floor_r(pos);
    l = l > n - 2 ? n - 2 : l;
    *w = pos - (ds_real)l;
    *lun = l;
    *lo = l;
    *hi = l + 1;
  }
}

/* Loads the eight corners (32-bit offsets) in interp.h's order. */
#define CORNERS3(c, f, o00, o01, o10, o11, za, zb)                                                     \
  const ds_real c[8] = {(f)[(o00) + (za)], (f)[(o00) + (zb)], (f)[(o01) + (za)], (f)[(o01) + (zb)],    \
                        (f)[(o10) + (za)], (f)[(o10) + (zb)], (f)[(o11) + (za)], (f)[(o11) + (zb)]}
#define TRILERP(f, o00, o01, o10, o11, za, zb, wx, wy, wz) trilerp_at(f, o00, o01, o10, o11, za, zb, wx, wy, wz)

#define SAMP3(PER)                                                                                   \
  int xa, xb, xl, ya, yb, yl, za, zb, zl, mx, my, mz;                                               \
  ds_real wx, wy, wz;                                                                               \
  axis1(PER, fi - vx[k], nx, &xa, &xb, &xl, &wx, &mx);                                              \
  axis1(PER, fj - vy[k], ny, &ya, &yb, &yl, &wy, &my);                                              \
  axis1(PER, (ds_real)k - vz[k], nz, &za, &zb, &zl, &wz, &mz);                                      \
  const int o00 = (xa * ny + ya) * nz, o01 = (xa * ny + yb) * nz, o10 = (xb * ny + ya) * nz,         \
            o11 = (xb * ny + yb) * nz;

SMOKE_CLONES static void row_fwd3(int per, int nf, const ds_real *const *f, ds_real *const *o,
                                  const ds_real *restrict vx, const ds_real *restrict vy,
                                  const ds_real *restrict vz, int i, int j, int nx, int ny, int nz) {
  const ds_real fi = (ds_real)i, fj = (ds_real)j;
  const ds_real *restrict f0 = f[0];
  ds_real *restrict o0 = o[0];
  if (nf == 1) {
    if (per) {
      for (int k = 0; k < nz; k++) {
        SAMP3(1)
        o0[k] = TRILERP(f0, o00, o01, o10, o11, za, zb, wx, wy, wz);
      }
    } else {
      for (int k = 0; k < nz; k++) {
        SAMP3(0)
        o0[k] = TRILERP(f0, o00, o01, o10, o11, za, zb, wx, wy, wz);
      }
    }
    return;
  }
  const ds_real *restrict f1 = f[1], *restrict f2 = f[2];
  ds_real *restrict o1 = o[1], *restrict o2 = o[2];
  if (per) {
    for (int k = 0; k < nz; k++) {
      SAMP3(1)
      o0[k] = TRILERP(f0, o00, o01, o10, o11, za, zb, wx, wy, wz);
      o1[k] = TRILERP(f1, o00, o01, o10, o11, za, zb, wx, wy, wz);
      o2[k] = TRILERP(f2, o00, o01, o10, o11, za, zb, wx, wy, wz);
    }
  } else {
    for (int k = 0; k < nz; k++) {
      SAMP3(0)
      o0[k] = TRILERP(f0, o00, o01, o10, o11, za, zb, wx, wy, wz);
      o1[k] = TRILERP(f1, o00, o01, o10, o11, za, zb, wx, wy, wz);
      o2[k] = TRILERP(f2, o00, o01, o10, o11, za, zb, wx, wy, wz);
    }
  }
}

/* Samples of one 3D line kept for the scatter: wrapped x/y/z cells, the unwrapped
 * lower x cell (scatter buffer rows) and the weights. */
typedef struct samp3buf {
  int32_t *xa, *xb, *ya, *yb, *za, *zb, *xl;
  ds_real *wx, *wy, *wz;
} samp3buf;

/* The velocity gradient of one field at the sample: d f / d(x, y, z). */
#define GRAD3(f, g)                                                                                  \
  {                                                                                                  \
    CORNERS3(cf, f, o00, o01, o10, o11, za, zb);                                                     \
    ds_real sx, sy, sz;                                                                              \
    trilerp_slopes(cf, wx, wy, wz, &sx, &sy, &sz);                                                   \
    gx += (g) * sx;                                                                                  \
    gy += (g) * sy;                                                                                  \
    gz += (g) * sz;                                                                                  \
  }

#define ADJ3_LOOP(PER, NF, GRAD)                                                                     \
  for (int k = 0; k < nz; k++) {                                                                     \
    SAMP3(PER)                                                                                       \
    B.xa[k] = xa, B.xb[k] = xb, B.ya[k] = ya, B.yb[k] = yb, B.za[k] = za, B.zb[k] = zb, B.xl[k] = xl; \
    B.wx[k] = wx, B.wy[k] = wy, B.wz[k] = wz;                                                        \
    if (GRAD) {                                                                                      \
      ds_real gx = 0, gy = 0, gz = 0;                                                                \
      GRAD3(f0, g0[k])                                                                               \
      if (NF == 3) {                                                                                 \
        GRAD3(f1, g1[k])                                                                             \
        GRAD3(f2, g2[k])                                                                             \
      }                                                                                              \
      gvx[k] -= (ds_real)mx * gx;                                                                    \
      gvy[k] -= (ds_real)my * gy;                                                                    \
      gvz[k] -= (ds_real)mz * gz;                                                                    \
    }                                                                                                \
    (void)zl;                                                                                        \
  }

SMOKE_CLONES static void row_adj3(int per, int nf, const ds_real *const *f, const ds_real *const *g,
                                  ds_real *restrict gvx, ds_real *restrict gvy, ds_real *restrict gvz,
                                  const ds_real *restrict vx, const ds_real *restrict vy,
                                  const ds_real *restrict vz, int i, int j, int nx, int ny, int nz, samp3buf B) {
  const ds_real fi = (ds_real)i, fj = (ds_real)j;
  const ds_real *restrict f0 = f[0], *restrict f1 = f[1], *restrict f2 = f[2];
  const ds_real *restrict g0 = g[0], *restrict g1 = g[1], *restrict g2 = g[2];
  if (per) {
    if (!gvx) ADJ3_LOOP(1, 1, 0)
    else if (nf == 1) ADJ3_LOOP(1, 1, 1)
    else ADJ3_LOOP(1, 3, 1)
  } else {
    if (!gvx) ADJ3_LOOP(0, 1, 0)
    else if (nf == 1) ADJ3_LOOP(0, 1, 1)
    else ADJ3_LOOP(0, 3, 1)
  }
}

static int line_small3(const ds_real *a, const ds_real *b, const ds_real *c, int64_t n, ds_real lim) {
  int ok = 1;
  for (int64_t k = 0; k < n; k++) ok &= (fabs(a[k]) < lim) & (fabs(b[k]) < lim) & (fabs(c[k]) < lim);
  return ok;
}

/* ---- forward ------------------------------------------------------------- */
static void fwd2(int64_t b0, int64_t b1, void *u) {
  adv *A = u;
  const int64_t nx = A->g.n[0], ny = A->g.n[1];
  const int per = A->periodic;
  for (int64_t blk = b0; blk < b1; blk++) {
    int64_t i0 = blk * A->grain, i1 = i0 + A->grain < nx ? i0 + A->grain : nx;
    for (int64_t i = i0; i < i1; i++) {
      if (A->fast && row_small(A->v[0] + i * ny, A->v[1] + i * ny, ny, A->lim)) {
        row_fwd2(per, A->nf, A->f[0], A->nf > 1 ? A->f[1] : NULL, A->out[0] + i * ny,
                 A->nf > 1 ? A->out[1] + i * ny : NULL, A->v[0] + i * ny, A->v[1] + i * ny, (int)i, (int)nx,
                 (int)ny);
        continue;
      }
      for (int64_t j = 0; j < ny; j++) {
        int64_t idx = i * ny + j;
        ds_real ux = A->v[0][idx], uy = A->v[1][idx];
        if (!(vel_ok(ux) && vel_ok(uy))) {
          if (!A->bad[blk]) A->bad[blk] = idx + 1;
          for (int q = 0; q < A->nf; q++) A->out[q][idx] = 0;
          continue;
        }
        ds_real rw, bw;
        int mx, my;
        int64_t lx = locate((ds_real)i - ux, nx, per, &rw, &mx);
        int64_t ly = locate((ds_real)j - uy, ny, per, &bw, &my);
        int64_t x0, x1, y0, y1;
        cells(lx, nx, per, &x0, &x1);
        cells(ly, ny, per, &y0, &y1);
        const int64_t c00 = x0 * ny + y0, c01 = x0 * ny + y1, c10 = x1 * ny + y0, c11 = x1 * ny + y1;
        for (int q = 0; q < A->nf; q++) {
          const ds_real *f = A->f[q];
          A->out[q][idx] = bilerp_at(f, c00, c01, c10, c11, rw, bw);
        }
      }
    }
  }
}

static void fwd3(int64_t b0, int64_t b1, void *u) {
  adv *A = u;
  const int64_t nx = A->g.n[0], ny = A->g.n[1], nz = A->g.n[2];
  const int per = A->periodic;
  for (int64_t blk = b0; blk < b1; blk++) {
    int64_t i0 = blk * A->grain, i1 = i0 + A->grain < nx ? i0 + A->grain : nx;
    for (int64_t i = i0; i < i1; i++)
      for (int64_t j = 0; j < ny; j++) {
        const int64_t line = (i * ny + j) * nz;
        if (A->fast3 && line_small3(A->v[0] + line, A->v[1] + line, A->v[2] + line, nz, A->lim)) {
          const ds_real *f[3] = {A->f[0], A->f[1], A->f[2]};
          ds_real *o[3] = {A->out[0] + line, A->nf > 1 ? A->out[1] + line : NULL, A->nf > 1 ? A->out[2] + line : NULL};
          row_fwd3(per, A->nf, f, o, A->v[0] + line, A->v[1] + line, A->v[2] + line, (int)i, (int)j, (int)nx,
                   (int)ny, (int)nz);
          continue;
        }
        for (int64_t k = 0; k < nz; k++) {
          int64_t idx = (i * ny + j) * nz + k;
          ds_real ux = A->v[0][idx], uy = A->v[1][idx], uz = A->v[2][idx];
          if (!(vel_ok(ux) && vel_ok(uy) && vel_ok(uz))) {
            if (!A->bad[blk]) A->bad[blk] = idx + 1;
            for (int q = 0; q < A->nf; q++) A->out[q][idx] = 0;
            continue;
          }
          ds_real wx, wy, wz;
          int mx, my, mz;
          int64_t lx = locate((ds_real)i - ux, nx, per, &wx, &mx);
          int64_t ly = locate((ds_real)j - uy, ny, per, &wy, &my);
          int64_t lz = locate((ds_real)k - uz, nz, per, &wz, &mz);
          int64_t x0, x1, y0, y1, z0, z1;
          cells(lx, nx, per, &x0, &x1);
          cells(ly, ny, per, &y0, &y1);
          cells(lz, nz, per, &z0, &z1);
          const int64_t a0 = (x0 * ny + y0) * nz, a1 = (x0 * ny + y1) * nz, a2 = (x1 * ny + y0) * nz,
                        a3 = (x1 * ny + y1) * nz;
          for (int q = 0; q < A->nf; q++) {
            const ds_real *f = A->f[q];
            A->out[q][idx] = trilerp_at(f, a0, a1, a2, a3, z0, z1, wx, wy, wz);
          }
        }
      }
  }
}

static int64_t block_grain(const grid *g) {
  int64_t gr = (g->n[0] + 15) / 16; /* 16 blocks: enough to balance, few scatter buffers */
  return gr < 1 ? 1 : gr;
}

static void setup_ptrs(adv *A, const ds_call *c, int nd, int bc, const ds_tensor *shape, int nf,
                       const ds_real *const *f, const ds_real *const *v, ds_real *const *out) {
  memset(A, 0, sizeof *A);
  A->g = grid_make(nd, bc, shape);
  A->periodic = A->g.bc == BC_PERIODIC;
  A->nf = nf;
  for (int d = 0; d < nd; d++) A->v[d] = v[d];
  for (int q = 0; q < nf; q++) {
    A->f[q] = f[q];
    A->out[q] = out ? out[q] : NULL;
  }
  A->slab = A->g.cells / A->g.n[0];
  A->grain = block_grain(&A->g);
  A->nblocks = (A->g.n[0] + A->grain - 1) / A->grain;
  A->host = c->host;
  A->fast = nd == 2 && A->g.cells < (1 << 30) && A->nf <= 2;
  A->fast3 = nd == 3 && A->g.cells < (1 << 30);
  int64_t nmin = A->g.n[0] < A->g.n[1] ? A->g.n[0] : A->g.n[1];
  if (nd == 3 && A->g.n[2] < nmin) nmin = A->g.n[2];
  A->lim = (ds_real)(nmin - 1);
}

/* vo: index of the first velocity argument, for messages */
static int report_bad(const ds_call *c, const adv *A, int vo) {
  for (int64_t b = 0; b < A->nblocks; b++) {
    if (!A->bad[b]) continue;
    int64_t idx = A->bad[b] - 1;
    for (int d = 0; d < A->g.nd; d++) {
      ds_real u = A->v[d][idx];
      char lab[64];
      if (!vel_ok(u))
        return c->host->error(c, "argument %s holds %s velocity %g at element %lld (|v| must be finite and "
                              "at most %g cells per step)", smoke_arg_label(c, vo + d, lab, sizeof lab),
                              isfinite((double)u) ? "an out-of-range" : "a non-finite", (double)u, (long long)idx,
                              SMOKE_VMAX);
    }
  }
  return DS_OK;
}

static int adv_forward(const ds_call *c, adv *A, int vo) {
  int64_t bad[64];
  int64_t *badp = A->nblocks <= 64 ? bad : c->host->scratch(c, (size_t)A->nblocks * sizeof(int64_t));
  if (!badp) return DS_ERR_NOMEM; /* host->scratch set the error */
  memset(badp, 0, (size_t)A->nblocks * sizeof(int64_t));
  A->bad = badp;
  c->host->parallel_for(c->ctx, A->nblocks, 1, A->g.nd == 2 ? fwd2 : fwd3, A);
  int rc = report_bad(c, A, vo);
  A->bad = NULL;
  return rc;
}

int smoke_advect_run(const ds_call *c, int nd, int bc, const ds_tensor *shape, int nf, const ds_real *const *f,
                     const ds_real *const *v, ds_real *const *out, int vel_arg) {
  adv A;
  setup_ptrs(&A, c, nd, bc, shape, nf, f, v, out);
  return adv_forward(c, &A, vel_arg);
}

/* ---- adjoint ---------------------------------------------------------------- */

/* Allocates block blk's zeroed scatter buffer over source rows lmin .. lmax + 1
 * (+1: the right neighbour of a sample), or over the whole grid when that is
 * smaller. Returns 0, or -1 when out of memory. */
static int alloc_rows(adv *A, int64_t blk, int64_t lmin, int64_t lmax) {
  const int64_t nx = A->g.n[0];
  int64_t R = lmax - lmin + 2;
  A->full[blk] = R > nx;
  if (R > nx) R = nx, lmin = 0;
  A->base[blk] = lmin;
  A->rows[blk] = R;
  size_t bytes = (size_t)(R * A->slab * A->nscatter) * sizeof(ds_real);
  A->buf[blk] = A->host->alloc(bytes);
  if (!A->buf[blk]) return -1;
  memset(A->buf[blk], 0, bytes);
  return 0;
}

/* The smallest and largest left row index of m samples. */
static void row_range(const int32_t *lx, int64_t m, int64_t *lmin, int64_t *lmax) {
  int32_t lo = INT32_MAX, hi = INT32_MIN;
  for (int64_t c = 0; c < m; c++) {
    lo = lx[c] < lo ? lx[c] : lo;
    hi = lx[c] > hi ? lx[c] : hi;
  }
  *lmin = lo;
  *lmax = hi;
}

/* Allocates block blk's scatter buffer over the rows its samples reach. */
static int scatter_buffer(adv *A, int64_t blk, int64_t i0, int64_t i1) {
  const int64_t nx = A->g.n[0], S = A->slab;
  int64_t lmin = INT64_MAX, lmax = INT64_MIN;
  for (int64_t i = i0; i < i1; i++)
    for (int64_t r = 0; r < S; r += 1) {
      int64_t idx = i * S + r;
      ds_real u = A->v[0][idx], w;
      int m;
      if (!vel_ok(u)) continue;
      int64_t l = locate((ds_real)i - u, nx, A->periodic, &w, &m);
      if (l < lmin) lmin = l;
      if (l > lmax) lmax = l;
    }
  if (lmin > lmax) lmin = lmax = i0;
  return alloc_rows(A, blk, lmin, lmax);
}

/* Block blk's scatter buffer, one slab of rows per field that wants a gradient
 * (bufs[q] stays NULL for the others). Returns -1 when out of memory. */
static int block_bufs(adv *A, int64_t blk, int64_t i0, int64_t i1, ds_real *bufs[3]) {
  if (!A->nscatter) return 0;
  if (scatter_buffer(A, blk, i0, i1)) return -1;
  int s = 0;
  for (int q = 0; q < A->nf; q++)
    if (A->gf[q]) bufs[q] = A->buf[blk] + (s++) * A->rows[blk] * A->slab;
  return 0;
}

static void adj2_slow(int64_t b0, int64_t b1, void *u) {
  adv *A = u;
  const int64_t nx = A->g.n[0], ny = A->g.n[1];
  const int per = A->periodic;
  for (int64_t blk = b0; blk < b1; blk++) {
    int64_t i0 = blk * A->grain, i1 = i0 + A->grain < nx ? i0 + A->grain : nx;
    ds_real *bufs[3] = {0};
    if (block_bufs(A, blk, i0, i1, bufs)) {
      A->nomem = 1;
      continue;
    }
    const int64_t base = A->base ? A->base[blk] : 0;
    const int full = A->full ? A->full[blk] : 0;
    for (int64_t i = i0; i < i1; i++) {
      for (int64_t j = 0; j < ny; j++) {
        int64_t idx = i * ny + j;
        ds_real ux = A->v[0][idx], uy = A->v[1][idx];
        if (!(vel_ok(ux) && vel_ok(uy))) continue;
        ds_real rw, bw;
        int mx, my;
        int64_t lx = locate((ds_real)i - ux, nx, per, &rw, &mx);
        int64_t ly = locate((ds_real)j - uy, ny, per, &bw, &my);
        int64_t x0, x1, y0, y1;
        cells(lx, nx, per, &x0, &x1);
        cells(ly, ny, per, &y0, &y1);
        const int64_t c00 = x0 * ny + y0, c01 = x0 * ny + y1, c10 = x1 * ny + y0, c11 = x1 * ny + y1;
        /* buffer rows of the two sample rows */
        int64_t o0 = full ? x0 : lx - base, o1 = full ? x1 : o0 + 1;
        ds_real gx = 0, gy = 0;
        for (int q = 0; q < A->nf; q++) {
          ds_real g = A->go[q][idx];
          if (A->gv[0] || A->gv[1]) {
            const ds_real *f = A->f[q];
            ds_real sx, sy;
            bilerp_slopes(f[c00], f[c01], f[c10], f[c11], rw, bw, &sx, &sy);
            gx += g * sx;
            gy += g * sy;
          }
          ds_real *B = bufs[q];
          if (B) {
            ds_real w[4];
            bilerp_weights(rw, bw, g, w);
            B[o0 * ny + y0] += w[0];
            B[o0 * ny + y1] += w[1];
            B[o1 * ny + y0] += w[2];
            B[o1 * ny + y1] += w[3];
          }
        }
        /* out depends on v through x - v: d/dv = -d/dx */
        if (A->gv[0] && mx) A->gv[0][idx] -= gx;
        if (A->gv[1] && my) A->gv[1][idx] -= gy;
      }
    }
  }
}


/* 2D adjoint of one block: the vectorised gather half row by row (keeping each
 * cell's samples), then the scalar scatter into the block's buffer in cell order. */
static void adj2(int64_t b0, int64_t b1, void *u) {
  adv *A = u;
  const int64_t nx = A->g.n[0], ny = A->g.n[1];
  for (int64_t blk = b0; blk < b1; blk++) {
    int64_t i0 = blk * A->grain, i1 = i0 + A->grain < nx ? i0 + A->grain : nx;
    int fast = A->fast;
    for (int64_t i = i0; fast && i < i1; i++) fast = row_small(A->v[0] + i * ny, A->v[1] + i * ny, ny, A->lim);
    if (!fast) {
      adj2_slow(blk, blk + 1, u);
      continue;
    }
    const int64_t m = (i1 - i0) * ny;
    const int want_v = A->gv[0] || A->gv[1];
    size_t ib = ((size_t)m * sizeof(int32_t) + 63) & ~(size_t)63, rb = ((size_t)m * sizeof(ds_real) + 63) & ~(size_t)63;
    size_t vb = want_v ? ((size_t)ny * sizeof(ds_real) + 63) & ~(size_t)63 : 0;
    char *mem = A->host->alloc(5 * ib + 2 * rb + 2 * vb);
    if (!mem) {
      A->nomem = 1;
      continue;
    }
    int32_t *ra = (int32_t *)mem, *rbx = (int32_t *)(mem + ib), *ca = (int32_t *)(mem + 2 * ib),
            *cb = (int32_t *)(mem + 3 * ib), *lx = (int32_t *)(mem + 4 * ib);
    ds_real *wx = (ds_real *)(mem + 5 * ib), *wy = (ds_real *)(mem + 5 * ib + rb);
    ds_real *dummy0 = (ds_real *)(mem + 5 * ib + 2 * rb), *dummy1 = (ds_real *)(mem + 5 * ib + 2 * rb + vb);
    for (int64_t i = i0; i < i1; i++) {
      int64_t r = (i - i0) * ny;
      ds_real *gvx = NULL, *gvy = NULL;
      if (want_v) {
        gvx = A->gv[0] ? A->gv[0] + i * ny : dummy0;
        gvy = A->gv[1] ? A->gv[1] + i * ny : dummy1;
      }
      row_adj2(A->periodic, A->nf, A->f[0], A->nf > 1 ? A->f[1] : NULL, A->go[0] + i * ny,
               A->nf > 1 ? A->go[1] + i * ny : NULL, gvx, gvy, A->v[0] + i * ny, A->v[1] + i * ny, (int)i,
               (int)nx, (int)ny, ra + r, rbx + r, ca + r, cb + r, lx + r, wx + r, wy + r);
    }
    if (A->nscatter) {
      int64_t lo, hi;
      row_range(lx, m, &lo, &hi);
      if (alloc_rows(A, blk, lo, hi)) {
        A->nomem = 1;
        A->host->free(mem);
        continue;
      }
      const int64_t R = A->rows[blk], lmin = A->base[blk];
      const int full = A->full[blk];
      int s = 0;
      for (int q = 0; q < A->nf; q++) {
        if (!A->gf[q]) continue;
        ds_real *B = A->buf[blk] + (s++) * R * ny;
        const ds_real *g = A->go[q] + i0 * ny;
        for (int64_t c = 0; c < m; c++) {
          /* full: the buffer is the whole grid; else rows start at lmin */
          int64_t r0 = full ? ra[c] : (int64_t)(lx[c] - lmin) * ny, r1 = full ? rbx[c] : r0 + ny;
          ds_real w[4];
          bilerp_weights(wx[c], wy[c], g[c], w);
          B[r0 + ca[c]] += w[0];
          B[r0 + cb[c]] += w[1];
          B[r1 + ca[c]] += w[2];
          B[r1 + cb[c]] += w[3];
        }
      }
    }
    A->host->free(mem);
  }
}

static void adj3_slow(int64_t b0, int64_t b1, void *u) {
  adv *A = u;
  const int64_t nx = A->g.n[0], ny = A->g.n[1], nz = A->g.n[2], S = ny * nz;
  const int per = A->periodic;
  const int want_v = A->gv[0] || A->gv[1] || A->gv[2];
  for (int64_t blk = b0; blk < b1; blk++) {
    int64_t i0 = blk * A->grain, i1 = i0 + A->grain < nx ? i0 + A->grain : nx;
    ds_real *bufs[3] = {0};
    if (block_bufs(A, blk, i0, i1, bufs)) {
      A->nomem = 1;
      continue;
    }
    const int64_t base = A->base ? A->base[blk] : 0;
    const int full = A->full ? A->full[blk] : 0;
    for (int64_t i = i0; i < i1; i++)
      for (int64_t j = 0; j < ny; j++)
        for (int64_t k = 0; k < nz; k++) {
          int64_t idx = (i * ny + j) * nz + k;
          ds_real ux = A->v[0][idx], uy = A->v[1][idx], uz = A->v[2][idx];
          if (!(vel_ok(ux) && vel_ok(uy) && vel_ok(uz))) continue;
          ds_real wx, wy, wz;
          int mx, my, mz;
          int64_t lx = locate((ds_real)i - ux, nx, per, &wx, &mx);
          int64_t ly = locate((ds_real)j - uy, ny, per, &wy, &my);
          int64_t lz = locate((ds_real)k - uz, nz, per, &wz, &mz);
          int64_t x0, x1, y0, y1, z0, z1;
          cells(lx, nx, per, &x0, &x1);
          cells(ly, ny, per, &y0, &y1);
          cells(lz, nz, per, &z0, &z1);
          const int64_t a0 = (x0 * ny + y0) * nz, a1 = (x0 * ny + y1) * nz, a2 = (x1 * ny + y0) * nz,
                        a3 = (x1 * ny + y1) * nz;
          int64_t o0 = full ? x0 : lx - base, o1 = full ? x1 : o0 + 1;
          const int64_t s00 = y0 * nz, s01 = y1 * nz;
          ds_real gx = 0, gy = 0, gz = 0;
          for (int q = 0; q < A->nf; q++) {
            ds_real g = A->go[q][idx];
            if (want_v) {
              const ds_real *f = A->f[q];
              const ds_real cf[8] = {f[a0 + z0], f[a0 + z1], f[a1 + z0], f[a1 + z1],
                                     f[a2 + z0], f[a2 + z1], f[a3 + z0], f[a3 + z1]};
              ds_real sx, sy, sz;
              trilerp_slopes(cf, wx, wy, wz, &sx, &sy, &sz);
              gx += g * sx;
              gy += g * sy;
              gz += g * sz;
            }
            ds_real *B = bufs[q];
            if (B) {
              ds_real *B0 = B + o0 * S, *B1 = B + o1 * S, w[8];
              trilerp_weights(wx, wy, wz, g, w);
              B0[s00 + z0] += w[0], B0[s00 + z1] += w[1];
              B0[s01 + z0] += w[2], B0[s01 + z1] += w[3];
              B1[s00 + z0] += w[4], B1[s00 + z1] += w[5];
              B1[s01 + z0] += w[6], B1[s01 + z1] += w[7];
            }
          }
          if (A->gv[0] && mx) A->gv[0][idx] -= gx;
          if (A->gv[1] && my) A->gv[1][idx] -= gy;
          if (A->gv[2] && mz) A->gv[2][idx] -= gz;
        }
  }
}


/* 3D adjoint of one block: vectorised gather half line by line, then the scalar
 * scatter in cell order (see adj2). */
static void adj3(int64_t b0, int64_t b1, void *u) {
  adv *A = u;
  const int64_t nx = A->g.n[0], ny = A->g.n[1], nz = A->g.n[2], S = ny * nz;
  for (int64_t blk = b0; blk < b1; blk++) {
    int64_t i0 = blk * A->grain, i1 = i0 + A->grain < nx ? i0 + A->grain : nx;
    int fast = A->fast3;
    for (int64_t l = i0 * ny; fast && l < i1 * ny; l++)
      fast = line_small3(A->v[0] + l * nz, A->v[1] + l * nz, A->v[2] + l * nz, nz, A->lim);
    if (!fast) {
      adj3_slow(blk, blk + 1, u);
      continue;
    }
    const int64_t m = (i1 - i0) * S;
    const int want_v = A->gv[0] || A->gv[1] || A->gv[2];
    size_t ib = ((size_t)m * sizeof(int32_t) + 63) & ~(size_t)63, rb = ((size_t)m * sizeof(ds_real) + 63) & ~(size_t)63;
    size_t vb = want_v ? ((size_t)nz * sizeof(ds_real) + 63) & ~(size_t)63 : 0;
    char *mem = A->host->alloc(7 * ib + 3 * rb + 3 * vb);
    if (!mem) {
      A->nomem = 1;
      continue;
    }
    samp3buf all = {(int32_t *)mem,          (int32_t *)(mem + ib),     (int32_t *)(mem + 2 * ib),
                    (int32_t *)(mem + 3 * ib), (int32_t *)(mem + 4 * ib), (int32_t *)(mem + 5 * ib),
                    (int32_t *)(mem + 6 * ib), (ds_real *)(mem + 7 * ib), (ds_real *)(mem + 7 * ib + rb),
                    (ds_real *)(mem + 7 * ib + 2 * rb)};
    ds_real *dummy = (ds_real *)(mem + 7 * ib + 3 * rb);
    const ds_real *f[3] = {A->f[0], A->nf > 1 ? A->f[1] : NULL, A->nf > 1 ? A->f[2] : NULL};
    for (int64_t i = i0; i < i1; i++)
      for (int64_t j = 0; j < ny; j++) {
        const int64_t line = (i * ny + j) * nz, r = line - i0 * S;
        samp3buf B = {all.xa + r, all.xb + r, all.ya + r, all.yb + r, all.za + r, all.zb + r, all.xl + r,
                      all.wx + r, all.wy + r, all.wz + r};
        const ds_real *g[3] = {A->go[0] + line, A->nf > 1 ? A->go[1] + line : NULL,
                               A->nf > 1 ? A->go[2] + line : NULL};
        ds_real *gv[3] = {NULL, NULL, NULL};
        if (want_v)
          for (int d = 0; d < 3; d++) gv[d] = A->gv[d] ? A->gv[d] + line : dummy + d * (vb / sizeof(ds_real));
        row_adj3(A->periodic, A->nf, f, g, gv[0], gv[1], gv[2], A->v[0] + line, A->v[1] + line, A->v[2] + line,
                 (int)i, (int)j, (int)nx, (int)ny, (int)nz, B);
      }
    if (A->nscatter) {
      int64_t lo, hi;
      row_range(all.xl, m, &lo, &hi);
      if (alloc_rows(A, blk, lo, hi)) {
        A->nomem = 1;
        A->host->free(mem);
        continue;
      }
      const int64_t R = A->rows[blk], lmin = A->base[blk];
      const int full = A->full[blk];
      int sidx = 0;
      for (int q = 0; q < A->nf; q++) {
        if (!A->gf[q]) continue;
        ds_real *Bq = A->buf[blk] + (sidx++) * R * S;
        const ds_real *g = A->go[q] + i0 * S;
        for (int64_t c = 0; c < m; c++) {
          int64_t r0 = full ? (int64_t)all.xa[c] * S : (int64_t)(all.xl[c] - lmin) * S;
          int64_t r1 = full ? (int64_t)all.xb[c] * S : r0 + S;
          const ds_real wx = all.wx[c], wy = all.wy[c], wz = all.wz[c];
          const int64_t ya = (int64_t)all.ya[c] * nz, yb = (int64_t)all.yb[c] * nz, za = all.za[c], zb = all.zb[c];
          ds_real w[8];
          trilerp_weights(wx, wy, wz, g[c], w);
          Bq[r0 + ya + za] += w[0], Bq[r0 + ya + zb] += w[1];
          Bq[r0 + yb + za] += w[2], Bq[r0 + yb + zb] += w[3];
          Bq[r1 + ya + za] += w[4], Bq[r1 + ya + zb] += w[5];
          Bq[r1 + yb + za] += w[6], Bq[r1 + yb + zb] += w[7];
        }
      }
    }
    A->host->free(mem);
  }
}

/* Adds the block buffers into the field gradients, axis-0 index by index, in
 * block order. */
static void reduce_fn(int64_t w0, int64_t w1, void *u) {
  adv *A = u;
  const int64_t nx = A->g.n[0], S = A->slab;
  for (int64_t w = w0; w < w1; w++) {
    for (int64_t b = 0; b < A->nblocks; b++) {
      int64_t off = A->full[b] ? w : wrap_index(w - A->base[b], nx);
      if (off >= A->rows[b]) continue;
      int s = 0;
      for (int q = 0; q < A->nf; q++) {
        if (!A->gf[q]) continue;
        const ds_real *src = A->buf[b] + (s++ * A->rows[b] + off) * S;
        ds_real *dst = A->gf[q] + w * S;
        for (int64_t r = 0; r < S; r++) dst[r] += src[r];
      }
    }
  }
}

static int adv_adjoint(const ds_call *c, adv *A) {
  for (int q = 0; q < A->nf; q++)
    if (A->gf[q]) A->nscatter++;
  int64_t nb = A->nblocks;
  void *mem = NULL;
  if (A->nscatter) {
    mem = c->host->scratch(c, (size_t)nb * (sizeof(ds_real *) + 2 * sizeof(int64_t) + sizeof(int)));
    if (!mem) return DS_ERR_NOMEM; /* host->scratch set the error */
    A->buf = mem;
    A->base = (int64_t *)(A->buf + nb);
    A->rows = A->base + nb;
    A->full = (int *)(A->rows + nb);
    memset(A->buf, 0, (size_t)nb * sizeof(ds_real *));
  }
  c->host->parallel_for(c->ctx, nb, 1, A->g.nd == 2 ? adj2 : adj3, A);
  int rc = DS_OK;
  if (A->nomem) rc = c->host->error(c, "adjoint: out of memory for scatter buffers");
  else if (A->nscatter) c->host->parallel_for(c->ctx, A->g.n[0], A->grain, reduce_fn, A);
  if (mem) {
    for (int64_t b = 0; b < nb; b++) c->host->free(A->buf[b]);
  }
  return rc;
}

/* Adjoint with explicit buffers: go (output grads), gf (field grads to scatter
 * into, entries may be NULL), gv (velocity grads, entries may be NULL). */
int smoke_advect_adj_run(const ds_call *c, int nd, int bc, const ds_tensor *shape, int nf, const ds_real *const *f,
                         const ds_real *const *v, const ds_real *const *go, ds_real *const *gf, ds_real *const *gv) {
  adv A;
  setup_ptrs(&A, c, nd, bc, shape, nf, f, v, NULL);
  for (int d = 0; d < nd; d++) A.gv[d] = gv[d];
  for (int q = 0; q < nf; q++) {
    A.go[q] = go[q];
    A.gf[q] = gf[q];
  }
  return adv_adjoint(c, &A);
}
