/* Deterministic particle -> grid scatter-add, without float atomics.
 *
 * 1. Bin: every particle goes to the grid block (8x8 nodes in 2D, 4x4x4 in 3D)
 *    that holds its stencil's base node, by a stable counting sort (fixed
 *    particle chunks: histograms, a prefix in (block, chunk) order, placement
 *    of a copy of its position and values).
 *    The order is (block, particle index): unique, whatever the chunking.
 * 2. Scatter in 2^dim colour phases. A block's particles write nodes of the
 *    block plus 2 beyond its upper faces; two blocks of the same colour (the
 *    parities of their block coordinates) are >= 2 blocks apart on some axis,
 *    so they never share a node and run in parallel without races.
 * Each node therefore receives its contributions in one fixed order: colour
 * phase, then block, then particle index. Nothing depends on the thread count,
 * so the grid is bitwise identical for 1 or 64 threads. */
#include "pg_stencil.h"

#include <string.h>

enum { BS2 = 8, BS3 = 4, CHUNK_MIN = 4096, MAX_CHUNKS = 16 };

typedef struct bins {
  int dim;
  int64_t bs, nb[3], nblocks;
  int64_t chunk, nchunks;
} bins;

static bins bins_of(const ds_kit_grid *g, int64_t np) {
  bins B;
  B.dim = g->dim;
  B.bs = g->dim == 2 ? BS2 : BS3;
  B.nblocks = 1;
  for (int d = 0; d < 3; d++) {
    /* base nodes run 0..n-3 */
    B.nb[d] = d < g->dim ? (g->n[d] - 2 + B.bs - 1) / B.bs : 1;
    B.nblocks *= B.nb[d];
  }
  B.chunk = (np + MAX_CHUNKS - 1) / MAX_CHUNKS;
  if (B.chunk < CHUNK_MIN) B.chunk = CHUNK_MIN;
  B.nchunks = np > 0 ? (np + B.chunk - 1) / B.chunk : 0;
  return B;
}

static size_t pad64(size_t b) { return (b + 63) & ~(size_t)63; }

/* work layout: blk[np] hist[nchunks * nblocks] start[nblocks + 1] (int32),
 * bad[nchunks] (int64), then the positions and values in binned order
 * (xs[np * dim], vs[np * C]): the scatter then streams through memory instead
 * of chasing particles scattered over the arrays (that chase was 2/3 of its time). */
typedef struct layout { size_t blk, hist, start, bad, xs, vs, total; } layout;

static layout layout_of(const bins *B, int64_t np, int C) {
  layout L;
  L.blk = 0;
  L.hist = L.blk + pad64((size_t)np * 4);
  L.start = L.hist + pad64((size_t)(B->nchunks * B->nblocks) * 4);
  L.bad = L.start + pad64((size_t)(B->nblocks + 1) * 4);
  L.xs = L.bad + pad64((size_t)B->nchunks * 8);
  L.vs = L.xs + pad64((size_t)(np * B->dim) * sizeof(ds_real));
  L.total = L.vs + pad64((size_t)(np * C) * sizeof(ds_real));
  return L;
}

int64_t ds_kit_p2g_work_bytes(const ds_kit_grid *g, int64_t np) {
  if (ds_kit_grid_check(NULL, "kit.p2g_work_bytes", g) || np < 0) return -1;
  bins B = bins_of(g, np);
  return (int64_t)layout_of(&B, np, g->channels).total;
}

typedef struct p2g_job {
  pg_geom G;
  bins B;
  const ds_real *x, *v;
  ds_real *grid;
  int64_t np;
  int32_t *blk, *hist, *start;
  int64_t *bad;
  ds_real *xs, *vs; /* binned copies */
  int color;
  int64_t cnt[3]; /* blocks of the current colour per axis */
} p2g_job;

/* Pass 1: block of every particle and per-chunk histograms. */
static void bin_count(int64_t c0, int64_t c1, void *u) {
  p2g_job *j = u;
  const int D = j->G.dim;
  const int64_t bs = j->B.bs;
  for (int64_t ch = c0; ch < c1; ch++) {
    int32_t *h = j->hist + ch * j->B.nblocks;
    memset(h, 0, (size_t)j->B.nblocks * sizeof *h);
    int64_t lo = ch * j->B.chunk, hi = lo + j->B.chunk < j->np ? lo + j->B.chunk : j->np, bad = -1;
    for (int64_t p = lo; p < hi; p++) {
      int64_t b[3] = {0, 0, 0};
      int out = 0;
      for (int d = 0; d < D; d++) out |= pg_axis(&j->G, d, j->x[p * D + d], &b[d], NULL, NULL);
      if (out) {
        if (bad < 0) bad = p;
        j->blk[p] = -1;
        continue;
      }
      int64_t k = ((b[0] / bs) * j->B.nb[1] + b[1] / bs) * j->B.nb[2] + b[2] / bs;
      j->blk[p] = (int32_t)k;
      h[k]++;
    }
    j->bad[ch] = bad;
  }
}

/* Pass 2: stable placement of each particle's position and values; hist holds
 * each (chunk, block)'s first slot. */
static void bin_place(int64_t c0, int64_t c1, void *u) {
  p2g_job *j = u;
  const int D = j->G.dim, C = j->G.C;
  for (int64_t ch = c0; ch < c1; ch++) {
    int32_t *h = j->hist + ch * j->B.nblocks;
    int64_t lo = ch * j->B.chunk, hi = lo + j->B.chunk < j->np ? lo + j->B.chunk : j->np;
    for (int64_t p = lo; p < hi; p++) {
      int64_t q = h[j->blk[p]]++;
      for (int d = 0; d < D; d++) j->xs[q * D + d] = j->x[p * D + d];
      for (int c = 0; c < C; c++) j->vs[q * C + c] = j->v[p * C + c];
    }
  }
}

/* One block's particles, in index order, into the grid. D and C are literals
 * in the common cases, so the stencil loops unroll. */
KIT_INLINE void scatter_block(const p2g_job *j, int64_t k, const int D, const int C) {
  const pg_geom *G = &j->G;
  const int64_t s0 = G->stride[0], s1 = G->stride[1], s2 = G->stride[2];
  for (int64_t q = j->start[k]; q < j->start[k + 1]; q++) {
    int64_t b[3] = {0, 0, 0};
    ds_real w[3][3];
    for (int d = 0; d < D; d++) pg_axis(G, d, j->xs[q * D + d], &b[d], w[d], NULL);
    const ds_real *vp = j->vs + q * C;
    ds_real *g0 = j->grid + b[0] * s0 + b[1] * s1 + b[2] * s2;
    for (int a = 0; a < 3; a++)
      for (int c = 0; c < 3; c++) {
        const ds_real wac = w[0][a] * w[1][c];
        ds_real *row = g0 + a * s0 + c * s1;
        if (D == 2) {
          for (int ch = 0; ch < C; ch++) row[ch] += wac * vp[ch];
        } else {
          for (int e = 0; e < 3; e++) {
            const ds_real wt = wac * w[2][e];
            for (int ch = 0; ch < C; ch++) row[e * s2 + ch] += wt * vp[ch];
          }
        }
      }
  }
}

#define SCATTER_C(D)                                                        \
  switch (j->G.C) {                                                         \
    case 1: scatter_block(j, k, D, 1); break;                               \
    case 2: scatter_block(j, k, D, 2); break;                               \
    case 3: scatter_block(j, k, D, 3); break;                               \
    case 4: scatter_block(j, k, D, 4); break;                               \
    default: scatter_block(j, k, D, j->G.C); break;                         \
  }

/* Tasks of one colour phase: task t -> block coordinates of that colour. */
static void scatter_phase(int64_t t0, int64_t t1, void *u) {
  const p2g_job *j = u;
  for (int64_t t = t0; t < t1; t++) {
    int64_t r = t, bc[3];
    for (int d = 2; d >= 0; d--) {
      int64_t i = r % j->cnt[d];
      r /= j->cnt[d];
      bc[d] = ((j->color >> d) & 1) + 2 * i;
    }
    int64_t k = (bc[0] * j->B.nb[1] + bc[1]) * j->B.nb[2] + bc[2];
    if (j->start[k] == j->start[k + 1]) continue;
    if (j->G.dim == 2) {
      SCATTER_C(2)
    } else {
      SCATTER_C(3)
    }
  }
}

static void release(ds_ctx *ctx, void *work, char *mem, size_t bytes) {
  if (work) return;
  if (ctx)
    ds_pool_put(ctx, DS_CPU, mem, (int64_t)bytes);
  else
    ds_aligned_free(mem);
}

int ds_kit_p2g_impl(ds_ctx *ctx, const char *who, const char *xname, const ds_kit_grid *g, const ds_real *x,
                    const ds_real *v, int64_t np, ds_real *grid, void *work) {
  int rc = ds_kit_grid_check(ctx, who, g);
  if (rc) return rc;
  if (np < 0 || np > 0x7fffffff) return ds_fail(ctx, DS_ERR_ARG, "%s: particle count %lld is out of range", who, (long long)np);
  if (np == 0) return DS_OK;
  if (!x || !v || !grid) return ds_fail(ctx, DS_ERR_ARG, "%s: positions, values and grid must not be NULL", who);
  bins B = bins_of(g, np);
  layout L = layout_of(&B, np, g->channels);
  if (B.nchunks * B.nblocks > 0x7fffffff) return ds_fail(ctx, DS_ERR_ARG, "%s: grid too large to bin", who);
  /* no caller work: the context's caching pool (a step loop reuses one block) */
  char *mem = work ? work : ctx ? ds_pool_get(ctx, DS_CPU, (int64_t)L.total) : ds_aligned_alloc(L.total);
  if (!mem) return ds_fail(ctx, DS_ERR_NOMEM, "%s: out of memory for %zu bytes of binning work", who, L.total);
  p2g_job j = {pg_geom_of(g), B, x, v, grid, np, (int32_t *)(mem + L.blk), (int32_t *)(mem + L.hist),
               (int32_t *)(mem + L.start), (int64_t *)(mem + L.bad), (ds_real *)(mem + L.xs),
               (ds_real *)(mem + L.vs), 0, {1, 1, 1}};
  ds_parallel_for(ctx, B.nchunks, 1, bin_count, &j);
  int64_t first_bad = -1;
  for (int64_t c = 0; c < B.nchunks && first_bad < 0; c++) first_bad = j.bad[c];
  if (first_bad >= 0) {
    release(ctx, work, mem, L.total);
    /* pos_check names the particle and the axis */
    return ds_kit_pos_check(ctx, who, xname, g, x, np);
  }
  /* prefix over (block, chunk): stable, so the order is (block, index) */
  int32_t run = 0;
  for (int64_t k = 0; k < B.nblocks; k++) {
    j.start[k] = run;
    for (int64_t c = 0; c < B.nchunks; c++) {
      int32_t *h = j.hist + c * B.nblocks + k, t = *h;
      *h = run;
      run += t;
    }
  }
  j.start[B.nblocks] = run;
  ds_parallel_for(ctx, B.nchunks, 1, bin_place, &j);
  for (int color = 0; color < (1 << g->dim); color++) {
    int64_t tasks = 1;
    for (int d = 0; d < 3; d++) {
      int bit = (color >> d) & 1;
      j.cnt[d] = d < g->dim ? (B.nb[d] - bit + 1) / 2 : 1;
      tasks *= j.cnt[d];
    }
    j.color = color;
    ds_parallel_for(ctx, tasks, 1, scatter_phase, &j);
  }
  release(ctx, work, mem, L.total);
  return DS_OK;
}
