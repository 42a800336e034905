/* Internal to the advection traversal (advect.c, advect2.c, advect3.c): the
 * launch description shared by the 2D and 3D loops and the helpers they share.
 * Numbers and algorithm: see advect.c. */
#ifndef SMOKE_ADVECT_H
#define SMOKE_ADVECT_H

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



/* 2D / 3D block loops for host->parallel_for (advect2.c, advect3.c). */
void adv_fwd2(int64_t b0, int64_t b1, void *u);
void adv_adj2(int64_t b0, int64_t b1, void *u);
void adv_fwd3(int64_t b0, int64_t b1, void *u);
void adv_adj3(int64_t b0, int64_t b1, void *u);

/* Scatter buffers of the adjoint (advect.c). */
int adv_alloc_rows(adv *A, int64_t blk, int64_t lmin, int64_t lmax);
void adv_row_range(const int32_t *lx, int64_t m, int64_t *lmin, int64_t *lmax);
int adv_block_bufs(adv *A, int64_t blk, int64_t i0, int64_t i1, ds_real *bufs[3]);

#endif
