/* The 2D advection loops: vectorised rows (target clones) where every |v| in
 * the row is below the grid size, the per-cell path elsewhere (and for bad
 * values). Forward and both adjoint halves; see advect.c for the algorithm and
 * interp.h for the interpolation. */
#include "advect.h"

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


/* ---- forward ------------------------------------------------------------- */
void adv_fwd2(int64_t b0, int64_t b1, void *u) {
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

/* ---- adjoint ------------------------------------------------------------- */
static void adj2_slow(int64_t b0, int64_t b1, void *u) {
  adv *A = u;
  const int64_t nx = A->g.n[0], ny = A->g.n[1];
  const int per = A->periodic;
  for (int64_t blk = b0; blk < b1; blk++) {
    int64_t i0 = blk * A->grain, i1 = i0 + A->grain < nx ? i0 + A->grain : nx;
    ds_real *bufs[3] = {0};
    if (adv_block_bufs(A, blk, i0, i1, bufs)) {
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
void adv_adj2(int64_t b0, int64_t b1, void *u) {
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
      adv_row_range(lx, m, &lo, &hi);
      if (adv_alloc_rows(A, blk, lo, hi)) {
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

