/* rigid2d: the robots' controller input (the reference rigid_body.py's nn1), per
 * step t from state t:
 *   in = [sin(omega (t0 + t) dt + 2 pi j / n_sin)]_j,
 *        per body i: (x_i - x_head) s, (y_i - y_head) s, vx_i s, vy_i s, theta_i s, omega_i s,
 *        goal_x, goal_y (absolute)
 * The network itself is the core kit's fused MLP. */
#ifndef RIGID2D_BOX_CONTROLLER_H
#define RIGID2D_BOX_CONTROLLER_H

#include "rigid2d.h"

typedef struct box_ctrl {
  int64_t n, head, t0;
  int n_sin;
  R omega, scale, dt, goal[2];
} box_ctrl;

static inline int64_t box_ctrl_inputs(int64_t n_sin, int64_t n) { return n_sin + 6 * n + 2; }
void box_ctrl_input(const box_ctrl *k, int64_t t, const R *st, R *in);
/* gin -> adds into the state's grad gst {6n}. */
void box_ctrl_adjoint(const box_ctrl *k, const R *gin, R *gst);

#endif
