/* springs: the closed-loop controller's input and its adjoint (see controller.h). */
#include "controller.h"

void ctrl_input(const ctrl *k, int64_t t, const R *x, const R *v, R *in) {
  const int n = k->n, D = k->D;
  R c[3] = {0, 0, 0};
  for (int i = 0; i < n; i++)
    for (int d = 0; d < D; d++) c[d] += x[i * D + d];
  for (int d = 0; d < D; d++) c[d] /= n;
  const double two_pi = 6.283185307179586;
  for (int j = 0; j < k->n_sin; j++)
    in[j] = (R)sin((double)k->omega * (double)(k->t0 + t) * (double)k->dt + two_pi * j / k->n_sin);
  R *o = in + k->n_sin;
  for (int i = 0; i < n; i++)
    for (int d = 0; d < D; d++) {
      o[2 * D * i + d] = (x[i * D + d] - c[d]) * k->scale;
      o[2 * D * i + D + d] = v[i * D + d] * k->scale;
    }
  for (int d = 0; d < D; d++) o[2 * D * n + d] = k->goal[d] - c[d];
}

/* g_in -> grads of x and v (through the center, too). */
void ctrl_input_adjoint(const ctrl *k, const R *gin, R *gx, R *gv) {
  const int n = k->n, D = k->D;
  const R *o = gin + k->n_sin;
  R gc[3];
  for (int d = 0; d < D; d++) gc[d] = -o[2 * D * n + d];
  for (int i = 0; i < n; i++)
    for (int d = 0; d < D; d++) {
      R gxi = o[2 * D * i + d] * k->scale;
      gc[d] -= gxi;
      if (gx) gx[i * D + d] += gxi;
      if (gv) gv[i * D + d] += o[2 * D * i + D + d] * k->scale;
    }
  if (gx)
    for (int i = 0; i < n; i++)
      for (int d = 0; d < D; d++) gx[i * D + d] += gc[d] / n;
}
