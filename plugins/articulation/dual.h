/* articulation: forward-mode dual numbers with NL tangent lanes.
 *
 * Why: the adjoints of the dynamics (FK, RNEA, CRBA, ABA, contact, the step)
 * are transposed Jacobians whose columns come from running the one forward
 * implementation (dyn.inc) on dual numbers, NL input directions per pass. The
 * gradient is then exactly that of the code that ran forward, with no second
 * hand-written copy of spatial algebra to keep in step; the cost is about
 * (active inputs / NL) dual passes per step, right for robots of tens of dofs. */
#ifndef ARTICULATION_DUAL_H
#define ARTICULATION_DUAL_H

#include "art.h"

enum { NL = 8 };
typedef struct dn {
  R v;
  R d[NL];
} dn;

#define DN_LOOP for (int k_ = 0; k_ < NL; k_++)
static inline dn dn_c(R c) { dn r; r.v = c; DN_LOOP r.d[k_] = 0; return r; }
static inline dn dn_add(dn a, dn b) { DN_LOOP a.d[k_] += b.d[k_]; a.v += b.v; return a; }
static inline dn dn_sub(dn a, dn b) { DN_LOOP a.d[k_] -= b.d[k_]; a.v -= b.v; return a; }
static inline dn dn_neg(dn a) { DN_LOOP a.d[k_] = -a.d[k_]; a.v = -a.v; return a; }
static inline dn dn_scl(dn a, R c) { DN_LOOP a.d[k_] *= c; a.v *= c; return a; }
static inline dn dn_mul(dn a, dn b) {
  dn r; r.v = a.v * b.v; DN_LOOP r.d[k_] = a.d[k_] * b.v + a.v * b.d[k_]; return r;
}
static inline dn dn_div(dn a, dn b) {
  dn r; const R q = a.v / b.v; r.v = q; DN_LOOP r.d[k_] = (a.d[k_] - q * b.d[k_]) / b.v; return r;
}
/* f(a) with f'(a) = g */
static inline dn dn_chain(dn a, R f, R g) { dn r; r.v = f; DN_LOOP r.d[k_] = g * a.d[k_]; return r; }
static inline dn dn_sqrt(dn a) { const R s = sqrt(a.v); return dn_chain(a, s, s > 0 ? 1 / (2 * s) : 0); }
static inline dn dn_sin(dn a) { return dn_chain(a, sin(a.v), cos(a.v)); }
static inline dn dn_cos(dn a) { return dn_chain(a, cos(a.v), -sin(a.v)); }
static inline dn dn_exp(dn a) { const R e = exp(a.v); return dn_chain(a, e, e); }
static inline dn dn_log(dn a) { return dn_chain(a, log(a.v), 1 / a.v); }

#endif
