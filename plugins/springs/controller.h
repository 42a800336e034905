/* springs: the closed-loop controller's input, which is physics-specific (the
 * network itself is the core kit's fused MLP, see nn_rollout.c).
 *
 * Per step t (state x_t, v_t, center c = mean x):
 *   in = [sin(omega (t0 + t) dt + 2 pi j / n_sin)]_j, [(x_i - c) s, v_i s]_i, goal - c */
#ifndef SPRINGS_CONTROLLER_H
#define SPRINGS_CONTROLLER_H

#include "springs_phys.h"

typedef struct ctrl {
  int n, D, n_sin, n_in;
  R omega, scale, dt, goal[3];
  int64_t t0;
} ctrl;

/* n_sin + 2 D n + D inputs. */
static inline int64_t ctrl_n_inputs(int64_t n_sin, int64_t n, int64_t D) { return n_sin + 2 * D * n + D; }

/* The input vector at step t (in: n_in). */
void ctrl_input(const ctrl *k, int64_t t, const R *x, const R *v, R *in);
/* Grad of the input -> adds into the grads of x and v (either may be NULL). */
void ctrl_input_adjoint(const ctrl *k, const R *gin, R *gx, R *gv);

#endif
