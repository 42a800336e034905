/* rigid2d: the robots' controller input and its adjoint (box_controller.h). */
#include "box_controller.h"

void box_ctrl_input(const box_ctrl *k, int64_t t, const R *st, R *in) {
  const double two_pi = 6.283185307179586;
  for (int j = 0; j < k->n_sin; j++)
    in[j] = (R)sin((double)k->omega * (double)(k->t0 + t) * (double)k->dt + two_pi * j / k->n_sin);
  R *o = in + k->n_sin;
  const R *h = st + 6 * k->head;
  for (int64_t i = 0; i < k->n; i++) {
    const R *b = st + 6 * i;
    o[6 * i + 0] = (b[0] - h[0]) * k->scale;
    o[6 * i + 1] = (b[1] - h[1]) * k->scale;
    o[6 * i + 2] = b[3] * k->scale;
    o[6 * i + 3] = b[4] * k->scale;
    o[6 * i + 4] = b[2] * k->scale;
    o[6 * i + 5] = b[5] * k->scale;
  }
  o[6 * k->n] = k->goal[0];
  o[6 * k->n + 1] = k->goal[1];
}

void box_ctrl_adjoint(const box_ctrl *k, const R *gin, R *gst) {
  const R *o = gin + k->n_sin;
  R gh[2] = {0, 0};
  for (int64_t i = 0; i < k->n; i++) {
    R *g = gst + 6 * i;
    g[0] += o[6 * i] * k->scale, gh[0] -= o[6 * i] * k->scale;
    g[1] += o[6 * i + 1] * k->scale, gh[1] -= o[6 * i + 1] * k->scale;
    g[3] += o[6 * i + 2] * k->scale;
    g[4] += o[6 * i + 3] * k->scale;
    g[2] += o[6 * i + 4] * k->scale;
    g[5] += o[6 * i + 5] * k->scale;
  }
  gst[6 * k->head] += gh[0];
  gst[6 * k->head + 1] += gh[1];
}
