/* mpm: what the 3D substep's files share (internal).
 *
 *   substep3.c   mpm.substep3: args, checks, forward, adjoint
 *   passes3.c    the parallel passes of one 3D substep and of its adjoint
 *   validate3.c  the data checks of a 3D launch (and the fastest velocity, vmax3)
 * The passes mirror the 2D ones (passes.c): particle passes in bin order, node
 * passes that gather from the 27 bins whose stencils reach a node, no atomics. */
#ifndef MPM3_H
#define MPM3_H

#include "mpm.h"
#include "mpm3_phys.h"

typedef struct sim3 {
  ds_ctx *ctx;
  const ds_host_api *host;
  int64_t n, nx, ny, nz, ncell, ngroup;
  R dt, dx, inv_dx, strength, gravity;
  band3 bd;
  const R *x, *v, *C, *F, *act;
  const int32_t *group, *mat;
  const R *mass, *vol, *mu, *lam, *bulk;
  int smass, svol, smu, slam, sbulk;
  R *xo, *vo, *Co, *Fo;
  R *contrib;                    /* {occupied cells, 27, 4}: per cell the (m, mv) of each stencil slot */
  int32_t *cell, *start, *order;
  int32_t *cslot;                /* {ncell}: the patch of an occupied cell (empty cells: not set, never read) */
  int32_t *span;                 /* {nx, ny, 2}: per node line (i, j), the k range [lo, hi] some stencil reaches
                                    (lo > hi: none); node passes touch only these nodes, the only ones read */
  R *gmm, *gvel;                 /* {ncell, 4}, {ncell, 3} */
  const R *gxo, *gvo, *gCo, *gFo;
  R *gx, *gv, *gC, *gF;
  R *gcontrib;                   /* {occupied cells, 27, 3}: grads of the velocity reads */
  R *ggvel, *ggmm;               /* {ncell, 3}, {ncell, 4} */
  double *rows;                  /* {nx, 2} */
  R *pg;                         /* {PG_COUNT, n} */
  R *cache;                      /* adjoint: {n, 27} Fn, tau, A per particle from pass A, for pass F */
} sim3;

void pass3_forward(sim3 *s);
/* g2p3_lanes.c: pass C (G2P), 8 particles at a time */
void pass3_g2p_lanes(int64_t lo, int64_t hi, void *user);
void pass3_adjoint(sim3 *s);
int validate3(const ds_call *c, const sim3 *s);
double vmax3(const sim3 *s, int64_t *wp, int *wd);


extern const ds_kernel_desc mpm_substep3_kernel;

#endif
