/* Grid -> particle gather (the exact transpose of p2g: the same weights from
 * the same pg_axis arithmetic) and the position derivative of the weights.
 * Both are gathers: each particle reads its own 3^dim nodes in a fixed order
 * and writes only its own row, so any split over threads gives the same bits. */
#include "pg_stencil.h"

enum { GRAIN = 1024 };

typedef struct g2p_job {
  pg_geom G;
  const ds_real *x, *grid, *pv;
  ds_real *out;
  int accumulate;
} g2p_job;

KIT_INLINE void gather_range(const g2p_job *j, int64_t lo, int64_t hi, const int D, const int C) {
  const pg_geom *G = &j->G;
  const int64_t s0 = G->stride[0], s1 = G->stride[1], s2 = G->stride[2];
  for (int64_t p = lo; p < hi; p++) {
    int64_t b[3] = {0, 0, 0};
    ds_real w[3][3];
    for (int d = 0; d < D; d++) pg_axis(G, d, j->x[p * D + d], &b[d], w[d], NULL);
    ds_real *o = j->out + p * C;
    if (!j->accumulate)
      for (int ch = 0; ch < C; ch++) o[ch] = 0;
    const ds_real *g0 = j->grid + b[0] * s0 + b[1] * s1 + b[2] * s2;
    for (int a = 0; a < 3; a++)
      for (int c = 0; c < 3; c++) {
        const ds_real wac = w[0][a] * w[1][c];
        const ds_real *row = g0 + a * s0 + c * s1;
        if (D == 2) {
          for (int ch = 0; ch < C; ch++) o[ch] += wac * row[ch];
        } else {
          for (int e = 0; e < 3; e++) {
            const ds_real wt = wac * w[2][e];
            for (int ch = 0; ch < C; ch++) o[ch] += wt * row[e * s2 + ch];
          }
        }
      }
  }
}

/* gx[p, d] += sum_node dW_d(node) <grid[node, :], pv[p, :]> */
KIT_INLINE void dx_range(const g2p_job *j, int64_t lo, int64_t hi, const int D, const int C) {
  const pg_geom *G = &j->G;
  const int64_t s0 = G->stride[0], s1 = G->stride[1], s2 = G->stride[2];
  for (int64_t p = lo; p < hi; p++) {
    int64_t b[3] = {0, 0, 0};
    ds_real w[3][3], dw[3][3];
    for (int d = 0; d < D; d++) pg_axis(G, d, j->x[p * D + d], &b[d], w[d], dw[d]);
    const ds_real *pv = j->pv + p * C;
    const ds_real *g0 = j->grid + b[0] * s0 + b[1] * s1 + b[2] * s2;
    ds_real acc[3] = {0, 0, 0};
    for (int a = 0; a < 3; a++)
      for (int c = 0; c < 3; c++) {
        const ds_real *row = g0 + a * s0 + c * s1;
        if (D == 2) {
          ds_real s = 0;
          for (int ch = 0; ch < C; ch++) s += row[ch] * pv[ch];
          acc[0] += dw[0][a] * w[1][c] * s;
          acc[1] += w[0][a] * dw[1][c] * s;
        } else {
          for (int e = 0; e < 3; e++) {
            ds_real s = 0;
            for (int ch = 0; ch < C; ch++) s += row[e * s2 + ch] * pv[ch];
            acc[0] += dw[0][a] * w[1][c] * w[2][e] * s;
            acc[1] += w[0][a] * dw[1][c] * w[2][e] * s;
            acc[2] += w[0][a] * w[1][c] * dw[2][e] * s;
          }
        }
      }
    for (int d = 0; d < D; d++) j->out[p * D + d] += acc[d];
  }
}

#define DISPATCH(fn)                                                   \
  do {                                                                 \
    const g2p_job *j = u;                                              \
    const int C = j->G.C;                                              \
    if (j->G.dim == 2) {                                               \
      if (C == 1) fn(j, lo, hi, 2, 1);                                 \
      else if (C == 2) fn(j, lo, hi, 2, 2);                            \
      else if (C == 3) fn(j, lo, hi, 2, 3);                            \
      else fn(j, lo, hi, 2, C);                                        \
    } else {                                                           \
      if (C == 1) fn(j, lo, hi, 3, 1);                                 \
      else if (C == 3) fn(j, lo, hi, 3, 3);                            \
      else if (C == 4) fn(j, lo, hi, 3, 4);                            \
      else fn(j, lo, hi, 3, C);                                        \
    }                                                                  \
  } while (0)

static void gather_task(int64_t lo, int64_t hi, void *u) { DISPATCH(gather_range); }
static void dx_task(int64_t lo, int64_t hi, void *u) { DISPATCH(dx_range); }

void ds_kit_g2p_run(ds_ctx *ctx, const ds_kit_grid *g, const ds_real *x, const ds_real *grid, int64_t np,
                    ds_real *out, int accumulate) {
  g2p_job j = {pg_geom_of(g), x, grid, NULL, out, accumulate};
  ds_parallel_for(ctx, np, GRAIN, gather_task, &j);
}

void ds_kit_g2p_dx_run(ds_ctx *ctx, const ds_kit_grid *g, const ds_real *x, const ds_real *grid, const ds_real *pv,
                       int64_t np, ds_real *gx) {
  g2p_job j = {pg_geom_of(g), x, grid, pv, gx, 1};
  ds_parallel_for(ctx, np, GRAIN, dx_task, &j);
}
