/* The optimizers' vector kernels on host memory. The arithmetic is exactly
 * that of the reference: every other device must match it bitwise. */
#include "internal.h"

#include <math.h>

static void axpy(ds_real *y, double a, const ds_real *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += (ds_real)(a * x[i]);
}

static void scal(ds_real *y, double a, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = (ds_real)(a * y[i]);
}

static void clamp(ds_real *y, double lo, double hi, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = y[i] < lo ? (ds_real)lo : y[i] > hi ? (ds_real)hi : y[i];
}

/* Deterministic blocked dot product in double (same blocks as core.dot). */
static double dot(const ds_real *a, const ds_real *b, int64_t n) {
  double total = 0;
  for (int64_t lo = 0; lo < n; lo += 4096) {
    int64_t hi = lo + 4096 < n ? lo + 4096 : n;
    double s = 0;
    for (int64_t i = lo; i < hi; i++) s += (double)a[i] * b[i];
    total += s;
  }
  return total;
}

static void adam(ds_real *p, const ds_real *g, ds_real *m, ds_real *v, int64_t n, const double c[6]) {
  double lr = c[0], b1 = c[1], b2 = c[2], eps = c[3], c1 = c[4], c2 = c[5];
  for (int64_t i = 0; i < n; i++) {
    double gi = g[i];
    m[i] = (ds_real)(b1 * m[i] + (1 - b1) * gi);
    v[i] = (ds_real)(b2 * v[i] + (1 - b2) * gi * gi);
    p[i] -= (ds_real)(lr * (m[i] / c1) / (sqrt(v[i] / c2) + eps));
  }
}

const ds_vec_ops ds_vec_cpu = {axpy, scal, clamp, dot, adam};
