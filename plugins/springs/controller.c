/* springs: the reference robots' fused 2-layer tanh controller (see controller.h). */
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

/* in -> h (H), act (ns). Row-major W: the inner loops run over contiguous rows. */
/* The two matrix-vector products dominate a robot step; with target_clones the
 * loader picks an AVX2/FMA build of them where the CPU has it (the project's
 * baseline is x86-64-v2), and the portable one elsewhere. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define HOT_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define HOT_CLONES
#endif

/* A dot product in 8 independent lanes summed in a fixed order: the compiler
 * can vectorise it without -ffast-math, and the result does not depend on the
 * machine (the order is part of the code, not of the optimiser). */
FORCE_INLINE R dot_lanes(const R *restrict a, const R *restrict b, int n) {
  R lane[8] = {0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) lane[l] += a[i + l] * b[i + l];
  for (int l = 0; i < n; i++, l++) lane[l] += a[i] * b[i];
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

HOT_CLONES void ctrl_forward(const ctrl *k, const R *restrict in, R *restrict h, R *restrict act) {
  const int H = k->H, ns = k->ns;
  for (int o = 0; o < H; o++) h[o] = k->b1[o];
  for (int i = 0; i < k->n_in; i++) {
    const R xi = in[i], *restrict w = k->W1 + (int64_t)i * H;
    for (int o = 0; o < H; o++) h[o] += xi * w[o];
  }
  for (int o = 0; o < H; o++) h[o] = RTANH(h[o]);
  for (int s = 0; s < ns; s++) act[s] = k->b2[s];
  for (int i = 0; i < H; i++) {
    const R hi = h[i], *restrict w = k->W2 + (int64_t)i * ns;
    for (int s = 0; s < ns; s++) act[s] += hi * w[s];
  }
  for (int s = 0; s < ns; s++) act[s] = RTANH(act[s]);
}

/* gact, ghid: grads of act and h (ghid may be NULL). Accumulates the weight
 * grads and writes gin. gp (ns) and gh (H) are scratch. */
HOT_CLONES void ctrl_adjoint(const ctrl *k, const R *restrict in, const R *restrict h, const R *restrict act,
                                const R *restrict gact, const R *restrict ghid, R *restrict gin, R *restrict gp,
                                R *restrict gh) {
  const int H = k->H, ns = k->ns, n_in = k->n_in;
  for (int s = 0; s < ns; s++) gp[s] = gact[s] * (1 - act[s] * act[s]);
  if (k->gb2)
    for (int s = 0; s < ns; s++) k->gb2[s] += gp[s];
  for (int i = 0; i < H; i++) {
    const R *restrict w = k->W2 + (int64_t)i * ns;
    R acc = (ghid ? ghid[i] : 0) + dot_lanes(w, gp, ns);
    gh[i] = acc * (1 - h[i] * h[i]);
    if (k->gW2) {
      R *restrict gw = k->gW2 + (int64_t)i * ns, hi = h[i];
      for (int s = 0; s < ns; s++) gw[s] += hi * gp[s];
    }
  }
  if (k->gb1)
    for (int o = 0; o < H; o++) k->gb1[o] += gh[o];
  for (int i = 0; i < n_in; i++) {
    const R *restrict w = k->W1 + (int64_t)i * H;
    gin[i] = dot_lanes(w, gh, H);
    if (k->gW1) {
      R *restrict gw = k->gW1 + (int64_t)i * H, xi = in[i];
      for (int o = 0; o < H; o++) gw[o] += xi * gh[o];
    }
  }
}

