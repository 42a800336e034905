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

extern const ds_kernel_desc mpm_substep_kernel, mpm_render_kernel;

#endif
