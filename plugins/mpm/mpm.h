/* mpm: what the plugin's files share (internal, not installed).
 *
 *   substep.c   mpm.substep: the fused kernel (args, check, forward, adjoint)
 *   passes.c    the parallel passes of one substep and of its adjoint
 *   bins.c      the particle bins (counting sort by cell), node-row spans, row passes
 *   nodes8.c    2D: node blocks and particle values moved into and out of lanes
 *   validate.c  the data checks of a launch (positions, F, masses, stability)
 *   render.c    mpm.render: a picture of the particles (no adjoint)
 *   register.c  the entry point */
#ifndef MPM_H
#define MPM_H

#include <diffsim/kit.h> /* host->kit->sum: the constants' shared grads */

#include "mpm_phys.h"

/* One substep's inputs, outputs, grads and scratch, as the passes use them.
 * Per-particle constants (mass, vol, mu, lam, bulk) may be shared (one value,
 * stride 0) or per particle (stride 1). */
typedef struct sim {
  ds_ctx *ctx;
  const ds_host_api *host;
  int64_t n, nx, ny, ncell, ngroup;
  R dt, dx, inv_dx, strength, gravity;
  band bd;
  const R *x, *v, *C, *F, *act;
  const int32_t *group, *mat;
  const R *mass, *vol, *mu, *lam, *bulk;
  int smass, svol, smu, slam, sbulk;
  R *xo, *vo, *Co, *Fo;          /* forward outputs (NULL in the adjoint) */
  /* scratch */
  int32_t *cell, *start, *order; /* bins: base cell per particle, CSR of cells, particles by cell */
  int32_t *span;                 /* {nx, 2}: per node row, the columns [lo, hi] some stencil reaches (lo > hi: none);
                                    the node passes touch only these nodes, the only ones a particle reads */
  R *gmm, *gvel;                 /* grid (mass, momentum) {ncell, 3} and velocity {ncell, 2} */
  /* adjoint */
  const R *gxo, *gvo, *gCo, *gFo; /* incoming grads (may be NULL: zero) */
  R *gx, *gv, *gC, *gF;           /* outgoing (may be NULL: not wanted) */
  R *ggvel;                       /* {ncell, 2}: grad of the grid velocity */
  R *ggmm;                        /* {ncell, 3}: grads of the grid mass and momentum */
  double *rows;                   /* {nx, 2}: per-row sums of the gravity and friction grads */
  R *pg;                          /* {6, n}: per-particle grads of mass, vol, mu, lam, bulk, act (2D: act unused) */
  double *gact_blk;               /* 2D: {ceil(n / 256), ngroup}: per particle block, its act grads (pass F) */
  int32_t *rowstart;             /* {nx + 1}: the first bin of each cell row (start[i ny]) */
  /* the grid kept for the adjoint (aux, substep.c): mass and momentum of the
   * nodes inside the spans, row after row, at rowoff {nx + 1} (bins_build) */
  int32_t *rowoff;
  R *kept;                        /* forward: where to pack the grid (NULL: not kept) */
  const R *kept_in;               /* adjoint: the forward's packed grid (NULL: recompute it) */
  int64_t kcap;                   /* forward: room in kept, in nodes; adjoint: the forward's packed count */
} sim;

enum { PG_MASS = 0, PG_VOL, PG_MU, PG_LAM, PG_BULK, PG_ACT, PG_COUNT };

/* bins.c */
/* Stable counting sort of n particles by cell: start {ncell + 1} (CSR), order {n}. */
void bins_sort(int64_t n, int64_t ncell, const int32_t *cell, int32_t *start, int32_t *order);
void bins_build(sim *s);

/* Runs fn(r, r + 1, user) for every row r < nrows on ctx's threads, rows
 * interleaved between threads (bins.c has why). */
void rows_for(ds_ctx *ctx, const ds_host_api *host, int64_t nrows, ds_range_fn fn, void *user);

/* passes.c */
/* Forward (validated, with s->cell filled by pass_cells); with s->kept, also
 * packs the grid there and returns the packed node count (-1: more than kcap
 * nodes, not kept). */
int64_t pass_forward(sim *s);
/* Each particle's base cell into s->cell (a parallel_for body; user: the sim). */
void pass_cells(int64_t lo, int64_t hi, void *user);
/* Adjoint; with s->kept_in, reads the forward's packed grid (and its cell,
 * order, rowstart, span and rowoff) instead of redoing the bins and the P2G. */
void pass_adjoint(sim *s);

/* validate.c: the data checks of the forward (names the argument and particle);
 * also (or NULL) runs on each block of particles in the same parallel region
 * (its results are to be used only when the checks pass). *vmax: 0 when every
 * |v_d| dt <= dx (the CFL limit at s->dt), else the fastest |v_d| over all
 * particles, first reached by particle *vmax_p. */
int validate(const ds_call *c, const sim *s, ds_range_fn also, double *vmax, int64_t *vmax_p);
/* the fastest |v_d| over all particles and axes (*vmax_p: the first reaching it) */
double vmax2(const sim *s, int64_t *vmax_p);

/* The most sub-substeps one mpm.substep or mpm.substep3 launch splits into
 * (substep.c, substep3.c): a particle may cross at most SUB_MAX cells along an
 * axis in the launch's dt. */
enum { SUB_MAX = 16 };
/* The smallest k with vmax dt / k <= dx, compared in the precision the substep
 * runs (SUB_MAX + 1: none). */
static inline int mpm_split_for(double vmax, double dt, double dx) {
  for (int k = 1; k <= SUB_MAX; k++)
    if (vmax * (double)(R)(dt / k) <= dx) return k;
  return SUB_MAX + 1;
}

/* A state's four per-particle arrays (2D or 3D), as the sub-substeps chain
 * them; mpm_state_at lays n particles' states out in one buffer of
 * mpm_state_reals(d) reals each: x (d), v (d), C (d x d), F (d x d). */
typedef struct mpm_state {
  R *x, *v, *C, *F;
} mpm_state;
static inline int64_t mpm_state_reals(int d) { return 2 * d + 2 * d * d; }
static inline mpm_state mpm_state_at(R *a, int64_t n, int d) {
  return (mpm_state){a, a + d * n, a + 2 * d * n, a + (2 * d + d * d) * n};
}

/* Adds the per-particle grads pg of a constant t into its grad: directly when
 * it is per particle, as one deterministic (block-ordered, double) sum when
 * shared. */
static inline void mpm_add_const_grad(ds_ctx *ctx, const ds_host_api *host, int64_t n, const ds_tensor *t,
                                      const R *pg) {
  R *g = ds_rgrad(t);
  if (!g) return;
  if (t->count == 1) {
    g[0] += (R)host->kit->sum(ctx, pg, n);
  } else {
    for (int64_t p = 0; p < n; p++) g[p] += pg[p];
  }
}

/* Adds the per-particle grads pg {PG_COUNT, n} of the five material constants,
 * cs = {mass, vol, mu, lam, bulk} (the PG_ order), into their grads. */
static inline void mpm_add_material_grads(ds_ctx *ctx, const ds_host_api *host, int64_t n,
                                          const ds_tensor *const cs[5], const R *pg) {
  for (int i = 0; i < 5; i++) mpm_add_const_grad(ctx, host, n, cs[i], pg + (PG_MASS + i) * n);
}

/* Adds the node-row sums (rows[2 i] gravity, rows[2 i + 1] friction) into the
 * grads of gravity and friction (either may be NULL), in row order. */
static inline void mpm_add_row_grads(const double *rows, int64_t nx, R *ggrav, R *gfric) {
  if (!ggrav && !gfric) return;
  double sg = 0, sf = 0;
  for (int64_t i = 0; i < nx; i++) sg += rows[2 * i], sf += rows[2 * i + 1];
  if (ggrav) ggrav[0] += (R)sg;
  if (gfric) gfric[0] += (R)sf;
}

extern const ds_kernel_desc mpm_substep_kernel, mpm_render_kernel;

#endif
