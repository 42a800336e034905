/* rigid2d: reverse-mode recorded numbers for the box step.
 *
 * Why: the box step is small (a few bodies, springs, 4 corners each) and full of
 * branches (contact, sequential corner impulses, friction clamp, time of impact,
 * joints). Its adjoint is the reverse sweep of a record of the one forward
 * implementation (boxes.c) run on these numbers: every operation on a number that
 * depends on a marked input appends a node (its at most two parents and the
 * partial derivatives); the sweep then runs the nodes backward once. The gradient
 * is exactly that of the code that ran forward (same branches, no second
 * hand-written copy of a branchy step to keep in step), at about twice a forward
 * step whatever the number of inputs. (An earlier version pushed 8 forward-mode
 * tangent lanes per pass: (inputs / 8) passes per step, ~5x a forward for the
 * robots.) Numbers that depend on no marked input (i < 0) record nothing, so the
 * plain forward runs on the same code at the cost of an index test.
 * The record is an argument of every operation (plugins keep no globals or
 * thread-locals, and launches may run concurrently): the plain forward passes
 * NULL, which is never read since none of its numbers is marked. (A tape pointer
 * in every number instead makes them 1.5-2x larger: the forward ran 17-29 % more
 * instructions, the adjoint 2-6 % more; passing it costs the forward 0-2.5 %.)
 * Values are computed exactly as before, so forward results keep their bits. */
#ifndef RIGID2D_REV_H
#define RIGID2D_REV_H

#include "rigid2d.h"

typedef struct rn {
  R v;
  int32_t i; /* node index on the current tape, -1: a constant */
} rn;

typedef struct rtape {
  int64_t n, cap;
  int32_t (*par)[2]; /* parents; node 0 is a sink that stands for "none" (weight 0) */
  R (*w)[2];         /* d node / d parent */
  double *adj;
  int overflow;      /* growing failed: the record is incomplete */
  void *(*alloc)(size_t);
  void (*free)(void *);
} rtape;

int rt_grow(rtape *t);
void rt_free(rtape *t);
/* Starts an empty record (the sink node only). */
void rt_reset(rtape *t);
/* Runs the record backward: adj (seeded by the caller at outputs) reaches the leaves. */
void rt_sweep(rtape *t);

/* t is NULL only in the plain forward, where no number is marked and this is
 * never reached; on the recording path the test is a predicted branch. */
static inline int32_t rt_push(rtape *t, int32_t p0, R w0, int32_t p1, R w1) {
  if (!t || (t->n >= t->cap && !rt_grow(t))) {
    if (t) t->overflow = 1;
    return -1;
  }
  const int64_t i = t->n++;
  t->par[i][0] = p0, t->par[i][1] = p1;
  t->w[i][0] = w0, t->w[i][1] = w1;
  return (int32_t)i;
}
/* a new input of the record */
static inline int32_t rt_leaf(rtape *t) { return rt_push(t, 0, 0, 0, 0); }

/* A parent whose partial is exactly 0 (a product with a zero) is left out: it
 * would only add zeros, so the gradient keeps its bits and the record shrinks. */
static inline rn r1(rtape *t, R v, rn a, R wa) {
  rn r = {v, -1};
  if (a.i >= 0 && wa != 0) r.i = rt_push(t, a.i, wa, 0, 0);
  return r;
}
static inline rn r2(rtape *t, R v, rn a, R wa, rn b, R wb) {
  rn r = {v, -1};
  const int ua = a.i >= 0 && wa != 0, ub = b.i >= 0 && wb != 0;
  if (ua || ub) r.i = !ua ? rt_push(t, b.i, wb, 0, 0) : !ub ? rt_push(t, a.i, wa, 0, 0) : rt_push(t, a.i, wa, b.i, wb);
  return r;
}

static inline rn dc(R c) { rn r = {c, -1}; return r; }
/* the value alone, as a constant (for tests that must not record) */
static inline rn dval(rn a) { a.i = -1; return a; }
static inline rn dadd(rtape *t, rn a, rn b) { return r2(t, a.v + b.v, a, 1, b, 1); }
static inline rn dsub(rtape *t, rn a, rn b) { return r2(t, a.v - b.v, a, 1, b, -1); }
static inline rn dneg(rtape *t, rn a) { return r1(t, -a.v, a, -1); }
static inline rn dscl(rtape *t, rn a, R c) { return r1(t, a.v * c, a, c); }
static inline rn daddc(rn a, R c) { a.v += c; return a; } /* same node: derivative 1 */
static inline rn dmul(rtape *t, rn a, rn b) { return r2(t, a.v * b.v, a, b.v, b, a.v); }
static inline rn ddiv(rtape *t, rn a, rn b) {
  const R q = a.v / b.v;
  return r2(t, q, a, 1 / b.v, b, -q / b.v);
}
/* f(a) with f'(a) = g */
static inline rn dchain(rtape *t, rn a, R f, R g) { return r1(t, f, a, g); }
static inline rn dsqrt(rtape *t, rn a) {
  const R s = (R)sqrt((double)a.v);
  return dchain(t, a, s, s > 0 ? 1 / (2 * s) : 0);
}
static inline rn dsin(rtape *t, rn a) { return dchain(t, a, (R)sin((double)a.v), (R)cos((double)a.v)); }
static inline rn dcos(rtape *t, rn a) { return dchain(t, a, (R)cos((double)a.v), -(R)sin((double)a.v)); }
static inline rn dexp(rtape *t, rn a) { const R e = (R)exp((double)a.v); return dchain(t, a, e, e); }
static inline rn dmin(rn a, rn b) { return b.v < a.v ? b : a; }
static inline rn dmax(rn a, rn b) { return b.v > a.v ? b : a; }
/* 2D cross product a x b = a.x b.y - a.y b.x */
static inline rn dcross(rtape *t, rn ax, rn ay, rn bx, rn by) { return dsub(t, dmul(t, ax, by), dmul(t, ay, bx)); }

#endif
