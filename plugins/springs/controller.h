/* springs: the reference robots' controller, on its own behind a small interface
 * (input, forward, adjoint), so nn_rollout can move to the core's fused-MLP kit
 * without touching the physics.
 *
 * Per step t (state x_t, v_t, center c = mean x):
 *   in  = [sin(omega (t0 + t) dt + 2 pi j / n_sin)]_j, [(x_i - c) s, v_i s]_i, goal - c
 *   h   = tanh(in W1 + b1)      (W1 {n_in, H}, the layout of ds.nn.linear)
 *   act = tanh(h W2 + b2)       (W2 {H, ns}) */
#ifndef SPRINGS_CONTROLLER_H
#define SPRINGS_CONTROLLER_H

#include "springs_phys.h"

typedef struct ctrl {
  int n, D, n_sin, n_in, H, ns;
  R omega, scale, dt, goal[3];
  int64_t t0;
  const R *W1, *b1, *W2, *b2;
  R *gW1, *gb1, *gW2, *gb2; /* NULL: not wanted */
} ctrl;

/* n_sin + 2 D n + D inputs. */
static inline int64_t ctrl_n_inputs(int64_t n_sin, int64_t n, int64_t D) { return n_sin + 2 * D * n + D; }

/* The input vector at step t (in: n_in). */
void ctrl_input(const ctrl *k, int64_t t, const R *x, const R *v, R *in);
/* Grad of the input -> adds into the grads of x and v (either may be NULL). */
void ctrl_input_adjoint(const ctrl *k, const R *gin, R *gx, R *gv);
/* in -> h (H), act (ns). */
void ctrl_forward(const ctrl *k, const R *in, R *h, R *act);
/* gact, ghid (ghid may be NULL): grads of act and h. Accumulates the weight grads
 * and writes gin. gp (ns) and gh (H) are scratch. */
void ctrl_adjoint(const ctrl *k, const R *in, const R *h, const R *act, const R *gact, const R *ghid, R *gin,
                  R *gp, R *gh);

#endif
