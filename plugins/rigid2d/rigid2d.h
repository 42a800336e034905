/* rigid2d: what the plugin's files share (internal, not installed).
 *
 * Two families of bodies, each with its own step and rollout kernels:
 *   discs  (discs.c, disc_kernels.c)  billiards: disc-disc impulses with
 *          restitution and the reference's time-of-impact position correction;
 *   boxes  (boxes.c, box_kernels.c)   the reference robots: boxes, springs and
 *          joints between body-local anchors, corner-ground contact with TOI.
 * State is structure-of-arrays per tensor, y (axis 1) is up. */
#ifndef RIGID2D_H
#define RIGID2D_H

#include <diffsim/plugin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef ds_real R;

/* ---- shared argument checks (check.c) --------------------------------------- */
/* Every element of real argument `slot` is finite; the message names the kernel,
 * the argument and the element. */
/* Every element of real argument `slot` is > 0 and finite (masses, radii, sizes). */
int r2_check_positive(const ds_call *c, int slot, const char *what);
/* A 0-dim input's value lies in [lo, hi]. */
int r2_check_range(const ds_call *c, int slot, double lo, double hi);
/* param `name` as a step count (an integer >= 0). */
int r2_check_steps(const ds_call *c, double v, const char *name, int64_t *T);

/* ---- discs (discs.c) -------------------------------------------------------- */
typedef struct disc_sys {
  int64_t n;
  R dt, e;              /* time step, restitution */
  const R *radius, *mass;
  int reference;        /* 1: O(n^2) pairs as the reference; 0: sort-and-sweep broad phase */
} disc_sys;

/* Per-step work memory: pair lists and the impulse / TOI accumulators. */
typedef struct disc_work {
  R *imp, *xinc;        /* {n, 2} each */
  R *key;               /* {n}: left end of each predicted disc's x-interval */
  int32_t *order;       /* {n}: discs sorted by key */
  int32_t *start;       /* {n + 1}: the counting sort's starts */
  int32_t *pairs;       /* {2 cap}: candidate (i, j) with i != j, sorted by (i, j) */
  int32_t *tmp;         /* {2 cap}: the counting sort's buffer */
  int64_t cap, np;
} disc_work;

/* Bytes of work for n discs (pairs up to cap). */
size_t disc_work_bytes(int64_t n, int64_t cap);
void disc_work_init(disc_work *w, void *mem, int64_t n, int64_t cap);
/* Candidate pairs of a state into w->pairs. Returns 0, or -1 when more than
 * w->cap candidates exist (the caller grows the work and retries). */
int disc_pairs(const disc_sys *s, const R *x, const R *v, disc_work *w);
/* One step (x, v) -> (xo, vo), pairs already found for (x, v). */
void disc_step_forward(const disc_sys *s, const R *x, const R *v, disc_work *w, R *xo, R *vo);
/* The adjoint of that step: gxo, gvo in; gx, gv accumulate; the radius, mass and
 * restitution grads accumulate into gr, gm (may be NULL) and *ge (double). */
void disc_step_adjoint(const disc_sys *s, const R *x, const R *v, const disc_work *w, const R *gxo,
                       const R *gvo, R *gx, R *gv, R *gr, R *gm, double *ge);
/* First overlapping pair of a state (positions only, relative tolerance 1e-5), or 0. */
int disc_first_overlap(const disc_sys *s, const R *x, disc_work *w, int64_t *i, int64_t *j, double *depth);

extern const ds_kernel_desc rigid2d_disc_step_kernel, rigid2d_disc_rollout_kernel, rigid2d_box_step_kernel,
    rigid2d_box_rollout_kernel, rigid2d_box_nn_rollout_kernel;

#endif
