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
 * The interpolation and its adjoint are written once, in interp.h. This file is
 * the launch (setup, bad-velocity report, scatter buffers, the reduction); the
 * per-row loops are in advect2.c and advect3.c.
 *
 * Memory: per-call tables come from host->scratch. The per-block scatter
 * buffers and sample tables are sized by where a block's samples land, known
 * only inside the worker, and host->scratch serves the calling thread only, so
 * those come from host->alloc (thread-safe) and are freed before returning. */
#include <stdlib.h>

#include "advect.h"

/* ---- forward ------------------------------------------------------------- */
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
  c->host->parallel_for(c->ctx, A->nblocks, 1, A->g.nd == 2 ? adv_fwd2 : adv_fwd3, A);
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
int adv_alloc_rows(adv *A, int64_t blk, int64_t lmin, int64_t lmax) {
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
void adv_row_range(const int32_t *lx, int64_t m, int64_t *lmin, int64_t *lmax) {
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
  return adv_alloc_rows(A, blk, lmin, lmax);
}

/* Block blk's scatter buffer, one slab of rows per field that wants a gradient
 * (bufs[q] stays NULL for the others). Returns -1 when out of memory. */
int adv_block_bufs(adv *A, int64_t blk, int64_t i0, int64_t i1, ds_real *bufs[3]) {
  if (!A->nscatter) return 0;
  if (scatter_buffer(A, blk, i0, i1)) return -1;
  int s = 0;
  for (int q = 0; q < A->nf; q++)
    if (A->gf[q]) bufs[q] = A->buf[blk] + (s++) * A->rows[blk] * A->slab;
  return 0;
}

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
  c->host->parallel_for(c->ctx, nb, 1, A->g.nd == 2 ? adv_adj2 : adv_adj3, A);
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
