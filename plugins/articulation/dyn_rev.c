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
#include "dyn.inc"

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
  for (int64_t i = t->len - 1; i >= 0; i--) {
    const double g = adj[i];
    if (g == 0) continue;
    if (n[i].a <= -2) { /* a dot product */
      const int64_t off = -2 - (int64_t)n[i].a;
      for (int32_t k = 0; k < n[i].b; k++) adj[t->xi[off + k]] += g * t->xd[off + k];
      continue;
    }
    if (n[i].a >= 0) adj[n[i].a] += g * n[i].da;
    if (n[i].b >= 0) adj[n[i].b] += g * n[i].db;
  }
}
