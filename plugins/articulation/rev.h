/* articulation: reverse-mode recording numbers for the adjoints.
 *
 * Why: the dual numbers (dual.h) give NL input directions per evaluation, so
 * a step's adjoint costs (inputs / NL) passes and grows as O(n^2) in the
 * links. Here the same dynamics (dyn.inc) run once on numbers that record, for
 * each operation on a value that depends on a marked input, a node with at
 * most two parents and the local partials; one backward sweep over the nodes
 * gives the adjoints of all marked inputs at once (the outputs' gradients
 * contracted with the Jacobian: a vector-Jacobian product).
 *
 * No globals, no thread-locals: every number carries its tape pointer, so
 * operations find the tape from their operands. A value that depends on no
 * marked input is a constant (i = -1) and records nothing; adding or
 * subtracting a constant reuses the operand's node (the partial is 1).
 * Tapes live in the per-context plugin state, one per parallel block, and grow
 * by doubling through host->alloc: steady state allocates nothing. A failed
 * growth sets `oom` and the kernel reports it (never a silently wrong number). */
#ifndef ARTICULATION_REV_H
#define ARTICULATION_REV_H

#include "art.h"

/* the recording must inline into dyn.inc's loops: a call per operation costs
 * as much as the operation */
#define RN_INLINE inline __attribute__((always_inline))

/* A node has up to two parents a, b (-1: none) with partials da, db; or, for
 * a fused node (a dot product rn_dot, a b - c d rn_msub, a hand-differentiated
 * block rn_lin), a = -2 - off and b = count: its parents and partials are
 * xi[off ..], xd[off ..] (one node instead of 2 n - 1). */
typedef struct rnode {
  int32_t a, b;
  R da, db;
} rnode;

typedef struct rtape {
  rnode *n;
  double *adj; /* the sweep's adjoints, one per node */
  int64_t len, cap;
  int32_t *xi; /* the dot products' parents and partials */
  R *xd;
  int64_t xlen, xcap;
  int oom;
  const ds_host_api *host;
} rtape;

typedef struct rn {
  R v;
  int32_t i; /* node index, -1 for a constant */
  rtape *t;
} rn;

/* Doubles the tape; nonzero (and oom set) when memory or the int32 index runs out. */
int rt_grow(rtape *t);
int rt_growx(rtape *t, int64_t need);
void rt_free(rtape *t);

static RN_INLINE int32_t rt_push(rtape *t, int32_t a, R da, int32_t b, R db) {
  if (t->len == t->cap && rt_grow(t)) return -1;
  rnode *n = t->n + t->len;
  n->a = a, n->b = b, n->da = da, n->db = db;
  return (int32_t)t->len++;
}

static RN_INLINE rn rn_c(R c) { rn r = {c, -1, NULL}; return r; }
/* a new independent input on tape t */
static RN_INLINE rn rn_leaf(rtape *t, R v) { rn r = {v, rt_push(t, -1, 0, -1, 0), t}; return r; }
static RN_INLINE rn rn_un(rn a, R v, R da) {
  if (a.i < 0) return rn_c(v);
  rn r = {v, rt_push(a.t, a.i, da, -1, 0), a.t};
  return r;
}
static RN_INLINE rn rn_bin(rn a, rn b, R v, R da, R db) {
  if (a.i < 0) return rn_un(b, v, db);
  if (b.i < 0) return rn_un(a, v, da);
  rn r = {v, rt_push(a.t, a.i, da, b.i, db), a.t};
  return r;
}
static RN_INLINE rn rn_add(rn a, rn b) {
  const R v = a.v + b.v;
  if (b.i < 0) { a.v = v; return a; } /* d/da = 1: the same node */
  if (a.i < 0) { b.v = v; return b; }
  return rn_bin(a, b, v, 1, 1);
}
static RN_INLINE rn rn_sub(rn a, rn b) {
  const R v = a.v - b.v;
  if (b.i < 0) { a.v = v; return a; }
  return rn_bin(a, b, v, 1, -1);
}
static RN_INLINE rn rn_neg(rn a) { return rn_un(a, -a.v, -1); }
static RN_INLINE rn rn_scl(rn a, R c) {
  if (c == 1) return a;
  return c == 0 ? rn_c(a.v * c) : rn_un(a, a.v * c, c);
}
/* A product with an exact constant 0 or 1 records nothing (constant 0, or the
 * other operand's node): spatial algebra multiplies many structural zeros
 * and ones (axes, diagonal inertias, identity rotations). */
static RN_INLINE rn rn_mul(rn a, rn b) {
  const R v = a.v * b.v;
  if (a.i < 0 && (a.v == 0 || a.v == 1)) return a.v == 0 ? rn_c(v) : (b.v = v, b);
  if (b.i < 0 && (b.v == 0 || b.v == 1)) return b.v == 0 ? rn_c(v) : (a.v = v, a);
  return rn_bin(a, b, v, b.v, a.v);
}
static RN_INLINE rn rn_div(rn a, rn b) {
  const R q = a.v / b.v;
  return rn_bin(a, b, q, 1 / b.v, -q / b.v);
}
static RN_INLINE rn rn_sqrt(rn a) { const R s = sqrt(a.v); return rn_un(a, s, s > 0 ? 1 / (2 * s) : 0); }
static RN_INLINE rn rn_sin(rn a) { return rn_un(a, sin(a.v), cos(a.v)); }
static RN_INLINE rn rn_cos(rn a) { return rn_un(a, cos(a.v), -sin(a.v)); }
static RN_INLINE rn rn_exp(rn a) { const R e = exp(a.v); return rn_un(a, e, e); }
static RN_INLINE rn rn_log(rn a) { return rn_un(a, log(a.v), 1 / a.v); }

/* sum_k a[k sa] b[k sb], summed left to right as dyn.inc's ADD(ADD(MUL, MUL), MUL).
 * One pass records the parents after room for all 2 n is made: most dot
 * products of the spatial algebra have some constant factors, and a counting
 * pass first cost as much as the recording. */
static RN_INLINE rn rn_dot(int n, const rn *a, int sa, const rn *b, int sb) {
  R v = a[0].v * b[0].v;
  for (int k = 1; k < n; k++) v += a[k * sa].v * b[k * sb].v;
  rtape *t = NULL;
  for (int k = 0; k < n && !t; k++) t = a[k * sa].i >= 0 ? a[k * sa].t : b[k * sb].i >= 0 ? b[k * sb].t : NULL;
  if (!t) return rn_c(v);
  if (t->xlen + 2 * n > t->xcap && rt_growx(t, t->xlen + 2 * n)) return rn_c(v);
  const int64_t off = t->xlen;
  int32_t *xi = t->xi + off;
  R *xd = t->xd + off;
  int cnt = 0;
  for (int k = 0; k < n; k++) {
    const rn x = a[k * sa], y = b[k * sb];
    if (x.i >= 0) xi[cnt] = x.i, xd[cnt++] = y.v;
    if (y.i >= 0) xi[cnt] = y.i, xd[cnt++] = x.v;
  }
  t->xlen += cnt;
  rn r = {v, rt_push(t, (int32_t)(-2 - off), 0, cnt, 0), t};
  return r;
}

/* One node v = f(x[0..n)) with the local partials d[k] = df/dx[k] (constants'
 * are skipped): a block of the dynamics differentiated by hand (rn_q2m). */
static RN_INLINE rn rn_lin(R v, int n, const rn *x, const R *d) {
  rtape *t = NULL;
  for (int k = 0; k < n && !t; k++) t = x[k].i >= 0 ? x[k].t : NULL;
  if (!t) return rn_c(v);
  if (t->xlen + n > t->xcap && rt_growx(t, t->xlen + n)) return rn_c(v);
  const int64_t off = t->xlen;
  int cnt = 0;
  for (int k = 0; k < n; k++)
    if (x[k].i >= 0) t->xi[off + cnt] = x[k].i, t->xd[off + cnt++] = d[k];
  t->xlen += cnt;
  rn r = {v, rt_push(t, (int32_t)(-2 - off), 0, cnt, 0), t};
  return r;
}

/* dyn_algebra.inc's q2m as 9 nodes over q (instead of ~45 scalar ones). */
void rn_q2m(const rn *q, rn *Rm);

/* a b - c d as one node (a cross product's entry: 3 scalar nodes otherwise) */
static RN_INLINE rn rn_msub(rn a, rn b, rn c, rn d) {
  const R v = a.v * b.v - c.v * d.v;
  rtape *t = a.i >= 0 ? a.t : b.i >= 0 ? b.t : c.i >= 0 ? c.t : d.i >= 0 ? d.t : NULL;
  if (!t) return rn_c(v);
  if (t->xlen + 4 > t->xcap && rt_growx(t, t->xlen + 4)) return rn_c(v);
  const int64_t off = t->xlen;
  int32_t *xi = t->xi + off;
  R *xd = t->xd + off;
  int cnt = 0;
  if (a.i >= 0) xi[cnt] = a.i, xd[cnt++] = b.v;
  if (b.i >= 0) xi[cnt] = b.i, xd[cnt++] = a.v;
  if (c.i >= 0) xi[cnt] = c.i, xd[cnt++] = -d.v;
  if (d.i >= 0) xi[cnt] = d.i, xd[cnt++] = -c.v;
  t->xlen += cnt;
  rn r = {v, rt_push(t, (int32_t)(-2 - off), 0, cnt, 0), t};
  return r;
}

/* Seeded adjoints in t->adj[0, len) -> adjoints of every node (reverse sweep). */
void rt_sweep(rtape *t);

size_t art_work_v(const art_topo *t);
void art_eval_v(int kind, const art_topo *t, const rn *const *p, const rn *const *in, rn *const *out, double dt,
                void *work);
#endif
