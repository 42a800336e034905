/* Second-order forward-mode differentiation over a fixed number of variables
 * (HD_N): each number carries its value, gradient and full Hessian, and every
 * operation applies the chain rule to all three. The dihedral angle of a hinge
 * is a short chain of products, a square root and an atan2 over 12 coordinates;
 * its closed-form Hessian is long and easy to get wrong, while these rules are
 * exact (no finite differences) and each is a few lines. Pure double, no ds types. */
#ifndef FEM_HDUAL_H
#define FEM_HDUAL_H

#include <math.h>
#include <string.h>

enum { HD_N = 12 };

typedef struct hd {
  double v;
  double g[HD_N];
  double h[HD_N * HD_N];
} hd;

static inline void hd_var(hd *r, double v, int i) {
  memset(r, 0, sizeof *r);
  r->v = v;
  r->g[i] = 1;
}

static inline void hd_add(hd *r, const hd *a, const hd *b) {
  r->v = a->v + b->v;
  for (int i = 0; i < HD_N; i++) r->g[i] = a->g[i] + b->g[i];
  for (int i = 0; i < HD_N * HD_N; i++) r->h[i] = a->h[i] + b->h[i];
}

static inline void hd_sub(hd *r, const hd *a, const hd *b) {
  r->v = a->v - b->v;
  for (int i = 0; i < HD_N; i++) r->g[i] = a->g[i] - b->g[i];
  for (int i = 0; i < HD_N * HD_N; i++) r->h[i] = a->h[i] - b->h[i];
}

/* r = a b (r may alias neither a nor b). */
static inline void hd_mul(hd *r, const hd *a, const hd *b) {
  r->v = a->v * b->v;
  for (int i = 0; i < HD_N; i++) r->g[i] = a->v * b->g[i] + b->v * a->g[i];
  for (int i = 0; i < HD_N; i++)
    for (int j = 0; j < HD_N; j++)
      r->h[i * HD_N + j] = a->v * b->h[i * HD_N + j] + b->v * a->h[i * HD_N + j] + a->g[i] * b->g[j] +
                           b->g[i] * a->g[j];
}

/* r = f(a) for a scalar function with f(a) = f0, f'(a) = f1, f''(a) = f2 (r may alias a). */
static inline void hd_chain(hd *r, const hd *a, double f0, double f1, double f2) {
  for (int i = 0; i < HD_N; i++)
    for (int j = 0; j < HD_N; j++) r->h[i * HD_N + j] = f1 * a->h[i * HD_N + j] + f2 * a->g[i] * a->g[j];
  for (int i = 0; i < HD_N; i++) r->g[i] = f1 * a->g[i];
  r->v = f0;
}

static inline void hd_sqrt(hd *r, const hd *a) {
  const double s = sqrt(a->v);
  hd_chain(r, a, s, 0.5 / s, -0.25 / (s * a->v));
}

/* r = atan2(y, x) (r may alias neither). */
static inline void hd_atan2(hd *r, const hd *y, const hd *x) {
  const double r2 = x->v * x->v + y->v * y->v, r4 = r2 * r2;
  const double ty = x->v / r2, tx = -y->v / r2;
  const double tyy = -2 * x->v * y->v / r4, txx = -tyy, txy = (y->v * y->v - x->v * x->v) / r4;
  r->v = atan2(y->v, x->v);
  for (int i = 0; i < HD_N; i++) r->g[i] = ty * y->g[i] + tx * x->g[i];
  for (int i = 0; i < HD_N; i++)
    for (int j = 0; j < HD_N; j++)
      r->h[i * HD_N + j] = ty * y->h[i * HD_N + j] + tx * x->h[i * HD_N + j] + tyy * y->g[i] * y->g[j] +
                           txx * x->g[i] * x->g[j] + txy * (x->g[i] * y->g[j] + y->g[i] * x->g[j]);
}

/* Vectors of three hyper-dual numbers. */
static inline void hd_cross(hd r[3], const hd a[3], const hd b[3]) {
  hd t, u;
  for (int k = 0; k < 3; k++) {
    const int i = (k + 1) % 3, j = (k + 2) % 3;
    hd_mul(&t, &a[i], &b[j]);
    hd_mul(&u, &a[j], &b[i]);
    hd_sub(&r[k], &t, &u);
  }
}

static inline void hd_dot(hd *r, const hd a[3], const hd b[3]) {
  hd t;
  hd_mul(r, &a[0], &b[0]);
  for (int k = 1; k < 3; k++) {
    hd_mul(&t, &a[k], &b[k]);
    hd_add(r, r, &t);
  }
}

#endif
