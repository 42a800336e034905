/* articulation: the dynamics (dyn.inc) on dual numbers, for the adjoints. */
#include "dual.h"
#include "dyn_dual.h"

#define S dn
#define FN(name) name##_d
#define K(x) dn_c((R)(x))
#define ADD(a, b) dn_add(a, b)
#define SUB(a, b) dn_sub(a, b)
#define MUL(a, b) dn_mul(a, b)
#define DIV(a, b) dn_div(a, b)
#define NEG(a) dn_neg(a)
#define SCL(a, c) dn_scl(a, (R)(c))
#define SQRT(a) dn_sqrt(a)
#define SIN(a) dn_sin(a)
#define COS(a) dn_cos(a)
#define EXP(a) dn_exp(a)
#define LOG(a) dn_log(a)
#define VAL(a) ((a).v)
#include "dyn.inc"

size_t art_work_d(const art_topo *t) { return work_size_d(t); }
void art_eval_d(int kind, const art_topo *t, const dn *const *p, const dn *const *in, dn *const *out, double dt,
                void *work) {
  eval_d(kind, t, p, in, out, dt, work);
}
