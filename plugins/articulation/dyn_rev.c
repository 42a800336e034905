/* articulation: the dynamics (dyn.inc) on reverse-recording numbers (rev.h),
 * for the adjoints; and the tape's growth and sweep. */
#include <string.h>

#include "rev.h"

#define S rn
#define FN(name) name##_v
#define K(x) rn_c((R)(x))
#define ADD(a, b) rn_add(a, b)
#define SUB(a, b) rn_sub(a, b)
#define MUL(a, b) rn_mul(a, b)
#define DIV(a, b) rn_div(a, b)
#define NEG(a) rn_neg(a)
#define SCL(a, c) rn_scl(a, (R)(c))
#define SQRT(a) rn_sqrt(a)
#define SIN(a) rn_sin(a)
#define COS(a) rn_cos(a)
#define EXP(a) rn_exp(a)
#define LOG(a) rn_log(a)
#define VAL(a) ((a).v)
#define DOT(n, a, sa, b, sb) rn_dot(n, a, sa, b, sb)
#define Q2M(q, Rm) rn_q2m(q, Rm)
#define MSUB(a, b, c, d) rn_msub(a, b, c, d)
#include "dyn.inc"

void rn_q2m(const rn *q, rn *Rm) {
  /* the values: dyn_algebra.inc's generic q2m on reals, operation for operation
   * (the forward kernels' rotations bit for bit) */
  const R n = (R)sqrt((q[0].v * q[0].v + q[1].v * q[1].v) + (q[2].v * q[2].v + q[3].v * q[3].v));
  const R w = q[0].v / n, x = q[1].v / n, y = q[2].v / n, z = q[3].v / n;
  const R xx = x * x, yy = y * y, zz = z * z, xy = x * y, xz = x * z, yz = y * z, wx = w * x, wy = w * y, wz = w * z;
  const R v[9] = {(R)1 - (yy + zz) * (R)2, (xy - wz) * (R)2, (xz + wy) * (R)2,
                  (xy + wz) * (R)2, (R)1 - (xx + zz) * (R)2, (yz - wx) * (R)2,
                  (xz - wy) * (R)2, (yz + wx) * (R)2, (R)1 - (xx + yy) * (R)2};
  if (q[0].i < 0 && q[1].i < 0 && q[2].i < 0 && q[3].i < 0) {
    for (int e = 0; e < 9; e++) Rm[e] = rn_c(v[e]);
    return;
  }
  /* dR/du for u = q / |q| = (w, x, y, z), then through du/dq = (1 - u u^T) / |q| */
  const R g[9][4] = {{0, 0, -4 * y, -4 * z}, {-2 * z, 2 * y, 2 * x, -2 * w}, {2 * y, 2 * z, 2 * w, 2 * x},
                     {2 * z, 2 * y, 2 * x, 2 * w}, {0, -4 * x, 0, -4 * z}, {-2 * x, -2 * w, 2 * z, 2 * y},
                     {-2 * y, 2 * z, -2 * w, 2 * x}, {2 * x, 2 * w, 2 * z, 2 * y}, {0, -4 * x, -4 * y, 0}};
  const R u[4] = {w, x, y, z};
  for (int e = 0; e < 9; e++) {
    const R gu = g[e][0] * u[0] + g[e][1] * u[1] + g[e][2] * u[2] + g[e][3] * u[3];
    R d[4];
    for (int k = 0; k < 4; k++) d[k] = (g[e][k] - gu * u[k]) / n;
    Rm[e] = rn_lin(v[e], 4, q, d);
  }
}

size_t art_work_v(const art_topo *t) { return work_size_v(t); }
void art_eval_v(int kind, const art_topo *t, const rn *const *p, const rn *const *in, rn *const *out, double dt,
                void *work) {
  eval_v(kind, t, p, in, out, dt, work);
}

int rt_growx(rtape *t, int64_t need) {
  if (t->oom) return 1;
  int64_t cap = t->xcap ? 2 * t->xcap : 4096;
  while (cap < need) cap *= 2;
  int32_t *xi = cap < INT32_MAX / 2 ? t->host->alloc((size_t)cap * sizeof(int32_t)) : NULL;
  R *xd = xi ? t->host->alloc((size_t)cap * sizeof(R)) : NULL;
  if (!xd) {
    t->host->free(xi);
    t->oom = 1;
    return 1;
  }
  if (t->xlen) memcpy(xi, t->xi, (size_t)t->xlen * sizeof(int32_t)), memcpy(xd, t->xd, (size_t)t->xlen * sizeof(R));
  t->host->free(t->xi);
  t->host->free(t->xd);
  t->xi = xi, t->xd = xd, t->xcap = cap;
  return 0;
}

int rt_grow(rtape *t) {
  if (t->oom) return 1;
  const int64_t cap = t->cap ? 2 * t->cap : 4096;
  rnode *n = cap <= INT32_MAX ? t->host->alloc((size_t)cap * sizeof(rnode)) : NULL;
  double *adj = n ? t->host->alloc((size_t)cap * sizeof(double)) : NULL;
  if (!adj) {
    t->host->free(n);
    t->oom = 1;
    return 1;
  }
  if (t->len) memcpy(n, t->n, (size_t)t->len * sizeof(rnode));
  t->host->free(t->n);
  t->host->free(t->adj);
  t->n = n, t->adj = adj, t->cap = cap;
  return 0;
}

void rt_free(rtape *t) {
  if (t->host) {
    t->host->free(t->n);
    t->host->free(t->adj);
    t->host->free(t->xi);
    t->host->free(t->xd);
  }
  memset(t, 0, sizeof *t);
}

void rt_sweep(rtape *t) {
  const rnode *n = t->n;
  double *adj = t->adj;
  const int32_t *xi = t->xi;
  const R *xd = t->xd;
  for (int64_t i = t->len - 1; i >= 0; i--) {
    const double g = adj[i];
    if (g == 0) continue;
    const int32_t a = n[i].a, b = n[i].b;
    if (a <= -2) { /* a fused node */
      const int32_t *pi = xi + (-2 - (int64_t)a);
      const R *pd = xd + (-2 - (int64_t)a);
      for (int32_t k = 0; k < b; k++) adj[pi[k]] += g * pd[k];
      continue;
    }
    if (a >= 0) adj[a] += g * n[i].da;
    if (b >= 0) adj[b] += g * n[i].db;
  }
}
