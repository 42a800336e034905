/* rigid2d: boxes (the reference robots). State per body, {n, 6}:
 *   (x, y, theta, vx, vy, omega)
 * Physics of one step (boxes.c) from state t and the springs' actuation act_t:
 *   mass m = density 4 hx hy, inertia I = m (hx^2 + hy^2) / 3
 *   corners (+-hx, +-hy) rotated by theta: a corner whose predicted height
 *     (after dt, gravity included) is below ground_y while it moves down gets the
 *     normal impulse -(1 + e) v_n / (1/m + r_n^2/I) and a Coulomb friction impulse
 *     clamped to mu times it; with TOI, the body is also moved back by
 *     toi * (its velocity change), toi = time the corner needs to reach the ground
 *   springs between body-local anchors: impulse dt (l - L0 (1 + amp act)) k / l d,
 *     l = |d| + 1e-4; a joint (flag 1) has target length 0 and also cancels the
 *     anchors' relative velocity (the reference's projection, |v_rel| + 0.1)
 *   advance: v' = e^{-damping dt} v + dv + dt g y^,  x' = x + dt v' (+ TOI shift),
 *            w' = e^{-damping dt} w + dw,            th' = th + dt w' (+ TOI shift)
 * The reference's ground penalty term is dead code there and absent here. */
#ifndef RIGID2D_BOXES_H
#define RIGID2D_BOXES_H

#include "rev.h"

typedef struct box_sys {
  int64_t n, ns;
  R dt, ground_y;
  int toi;
  int reference;      /* 1: the reference's simultaneous corner impulses; 0: sequential */
  const int32_t *sp; /* {ns, 3}: body a, body b, joint flag */
  const R *anchor;   /* {ns, 4}: anchor in a's frame, anchor in b's frame */
  /* the differentiable inputs as recorded numbers (marked as leaves per adjoint step) */
  rn *hs;            /* {n, 2} */
  rn *rest, *stiff, *amp; /* {ns} */
  rn density, gravity, damping, friction, restitution;
} box_sys;

/* Work for one step: 8 n numbers. */
int64_t box_work_len(int64_t n);
/* One step: st {6n}, act {ns} (NULL: none) -> out {6n}. work: box_work_len.
 * tape: the record that numbers depending on marked inputs append to (box_vjp's);
 * NULL for the plain forward, whose numbers are all unmarked and record nothing. */
void box_step(const box_sys *s, rtape *tape, const rn *st, const rn *act, rn *out, rn *work);

/* ---- the step's vector-Jacobian product ------------------------------------------
 * A direction: an input number marked as a leaf of the record, and where its
 * gradient goes. */
typedef struct box_dir {
  rn *in;
  R *grad; /* += sum_o gout[o] d out[o] / d in */
} box_dir;
/* Adds gout^T J into every direction's grad: records one step on tape (reset
 * first) with the directions as leaves, seeds the outputs with gout and sweeps
 * backward; the inputs' values must be set, and their marks are cleared again.
 * st/act: the step's inputs; out, work scratch. Returns 0, or -1 when the tape
 * could not grow (out of memory). */
int box_vjp(const box_sys *s, rtape *tape, rn *st, rn *act, rn *out, rn *work, const R *gout, const box_dir *dirs,
            int64_t nd);

#endif
