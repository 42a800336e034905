/* rigid2d: forward-mode dual numbers with 8 tangent lanes, for the box step.
 *
 * Why: the box step is small (a few bodies, springs, 4 corners each) and full
 * of branches (contact, friction clamp, time of impact, joints). Its adjoint is
 * computed as the transpose of its Jacobian, whose columns come from running the
 * one forward implementation on dual numbers, 8 input directions per pass. The
 * gradient is then exactly that of the code that ran forward (same branches,
 * no second hand-written copy to keep in step), at a cost of about
 * (active inputs / 8) forward passes per step: right for robots of a few
 * bodies, wrong for thousands (discs.c has a hand-written adjoint for that). */
#ifndef RIGID2D_DUAL_H
#define RIGID2D_DUAL_H

#include "rigid2d.h"

enum { NL = 8 };
typedef struct dn {
  R v;
  R d[NL];
} dn;

#define DN_LOOP for (int k_ = 0; k_ < NL; k_++)
static inline dn dc(R c) { dn r; r.v = c; DN_LOOP r.d[k_] = 0; return r; }
static inline dn dadd(dn a, dn b) { dn r; r.v = a.v + b.v; DN_LOOP r.d[k_] = a.d[k_] + b.d[k_]; return r; }
static inline dn dsub(dn a, dn b) { dn r; r.v = a.v - b.v; DN_LOOP r.d[k_] = a.d[k_] - b.d[k_]; return r; }
static inline dn dneg(dn a) { dn r; r.v = -a.v; DN_LOOP r.d[k_] = -a.d[k_]; return r; }
static inline dn dscl(dn a, R c) { dn r; r.v = a.v * c; DN_LOOP r.d[k_] = a.d[k_] * c; return r; }
static inline dn daddc(dn a, R c) { a.v += c; return a; }
static inline dn dmul(dn a, dn b) {
  dn r; r.v = a.v * b.v; DN_LOOP r.d[k_] = a.d[k_] * b.v + a.v * b.d[k_]; return r;
}
static inline dn ddiv(dn a, dn b) {
  dn r; const R q = a.v / b.v; r.v = q; DN_LOOP r.d[k_] = (a.d[k_] - q * b.d[k_]) / b.v; return r;
}
/* f(a) with f'(a) = g */
static inline dn dchain(dn a, R f, R g) { dn r; r.v = f; DN_LOOP r.d[k_] = g * a.d[k_]; return r; }
static inline dn dsqrt(dn a) { const R s = (R)sqrt((double)a.v); return dchain(a, s, s > 0 ? 1 / (2 * s) : 0); }
static inline dn dsin(dn a) { return dchain(a, (R)sin((double)a.v), (R)cos((double)a.v)); }
static inline dn dcos(dn a) { return dchain(a, (R)cos((double)a.v), -(R)sin((double)a.v)); }
static inline dn dexp(dn a) { const R e = (R)exp((double)a.v); return dchain(a, e, e); }
static inline dn dmin(dn a, dn b) { return b.v < a.v ? b : a; }
static inline dn dmax(dn a, dn b) { return b.v > a.v ? b : a; }
/* 2D cross product a x b = a.x b.y - a.y b.x */
static inline dn dcross(dn ax, dn ay, dn bx, dn by) { return dsub(dmul(ax, by), dmul(ay, bx)); }

#endif
