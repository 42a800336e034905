/* The quadratic B-spline stencil shared by p2g, g2p and their gradients: one
 * inline function per axis, so every transfer computes the same weights from
 * the same arithmetic (the adjoint pair is exact to rounding only if it does). */
#ifndef DIFFSIM_KIT_PG_STENCIL_H
#define DIFFSIM_KIT_PG_STENCIL_H

#include "kit_internal.h"

#include <math.h>

#ifdef DS_REAL_F64
#define KIT_FLOOR floor
#else
#define KIT_FLOOR floorf
#endif
#define KIT_INLINE static inline __attribute__((always_inline))

/* The grid in the form the loops want: reciprocal spacing, node strides in
 * elements (channels included). */
typedef struct pg_geom {
  int dim, C, clamp;
  int64_t n[3];
  int64_t stride[3];
  ds_real inv_dx, o[3];
} pg_geom;

static inline pg_geom pg_geom_of(const ds_kit_grid *g) {
  pg_geom G;
  G.dim = g->dim;
  G.C = g->channels;
  G.clamp = g->bounds == DS_KIT_BOUNDS_CLAMP;
  for (int d = 0; d < 3; d++) {
    G.n[d] = d < g->dim ? g->n[d] : 1;
    G.o[d] = d < g->dim ? (ds_real)g->origin[d] : 0;
  }
  G.stride[G.dim - 1] = G.C;
  for (int d = G.dim - 2; d >= 0; d--) G.stride[d] = G.stride[d + 1] * G.n[d + 1];
  if (G.dim == 2) G.stride[2] = 0;
  G.inv_dx = (ds_real)(1.0 / g->dx);
  return G;
}

/* Axis d of coordinate x: the base node and, when w is given, the three weights
 * (and dw: their derivatives in world units). Returns 0, or 1 when the stencil
 * leaves the grid (error mode) or x is NaN (base and weights are then those of
 * the clamped point, never out of range). In clamp mode the grid coordinate
 * is held at [0.5, n - 1.5] and the derivative is 0 there: moving a clamped
 * particle does not move its weights. */
KIT_INLINE int pg_axis(const pg_geom *G, int d, ds_real x, int64_t *base, ds_real *w, ds_real *dw) {
  ds_real gc = (x - G->o[d]) * G->inv_dx;
  ds_real top = (ds_real)G->n[d] - (ds_real)1.5, s = G->inv_dx;
  int bad = 0;
  if (!(gc >= (ds_real)0.5 && gc < top)) {
    /* always clamp, so base and weights stay in range (memory-safe) even for a
     * caller that ignores the status; report it unless clamping is the mode */
    bad = !G->clamp || gc != gc;
    gc = gc != gc || gc < (ds_real)0.5 ? (ds_real)0.5 : top;
    s = 0;
  }
  int64_t b = (int64_t)KIT_FLOOR(gc - (ds_real)0.5);
  if (b > G->n[d] - 3) b = G->n[d] - 3; /* only at the clamped top, where f = 1.5 */
  *base = b;
  if (!w) return bad;
  ds_real f = gc - (ds_real)b;
  ds_real u = (ds_real)1.5 - f, m = f - (ds_real)1, t = f - (ds_real)0.5;
  w[0] = (ds_real)0.5 * u * u;
  w[1] = (ds_real)0.75 - m * m;
  w[2] = (ds_real)0.5 * t * t;
  if (dw) {
    dw[0] = -u * s;
    dw[1] = (ds_real)-2 * m * s;
    dw[2] = t * s;
  }
  return bad;
}

#endif
