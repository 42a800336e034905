/* The 3D advection loops, the 2D idea along the contiguous k axis: vectorised
 * lines (target clones) where every |v| is below the grid size, the per-cell
 * path elsewhere. See advect.c and interp.h. */
#include "advect.h"

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
void adv_fwd3(int64_t b0, int64_t b1, void *u) {
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

/* ---- adjoint ------------------------------------------------------------- */
static void adj3_slow(int64_t b0, int64_t b1, void *u) {
  adv *A = u;
  const int64_t nx = A->g.n[0], ny = A->g.n[1], nz = A->g.n[2], S = ny * nz;
  const int per = A->periodic;
  const int want_v = A->gv[0] || A->gv[1] || A->gv[2];
  for (int64_t blk = b0; blk < b1; blk++) {
    int64_t i0 = blk * A->grain, i1 = i0 + A->grain < nx ? i0 + A->grain : nx;
    ds_real *bufs[3] = {0};
    if (adv_block_bufs(A, blk, i0, i1, bufs)) {
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
 * scatter in cell order (see adv_adj2). */
void adv_adj3(int64_t b0, int64_t b1, void *u) {
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
      adv_row_range(all.xl, m, &lo, &hi);
      if (adv_alloc_rows(A, blk, lo, hi)) {
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
