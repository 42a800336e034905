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

/* The controller of n masses in D dimensions from the kernels' doubles
 * (nn_rollout's and nn_input's params name them alike). */
static inline ctrl ctrl_make(int n, int D, double n_sin, double omega, double scale, double dt, double t0,
                             double gx, double gy, double gz) {
  ctrl k;
  k.n = n;
  k.D = D;
  k.n_sin = (int)n_sin;
  k.n_in = (int)ctrl_n_inputs(k.n_sin, n, D);
  k.omega = (R)omega;
  k.scale = (R)scale;
  k.dt = (R)dt;
  k.t0 = (int64_t)t0;
  k.goal[0] = (R)gx;
  k.goal[1] = (R)gy;
  k.goal[2] = (R)gz;
  return k;
}

/* The input vector at step t (in: n_in). */
void ctrl_input(const ctrl *k, int64_t t, const R *x, const R *v, R *in);
/* Grad of the input -> adds into the grads of x and v (either may be NULL). */
void ctrl_input_adjoint(const ctrl *k, const R *gin, R *gx, R *gv);

#endif
