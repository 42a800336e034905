/* articulation: the dynamics (dyn.inc) on plain reals, for the forward kernels. */
#include <string.h>

#include "art.h"

#define S R
#define FN(name) name##_r
#define K(x) ((R)(x))
#define ADD(a, b) ((a) + (b))
#define SUB(a, b) ((a) - (b))
#define MUL(a, b) ((a) * (b))
#define DIV(a, b) ((a) / (b))
#define NEG(a) (-(a))
#define SCL(a, c) ((a) * (R)(c))
#define SQRT(a) sqrt(a)
#define SIN(a) sin(a)
#define COS(a) cos(a)
#define EXP(a) exp(a)
#define LOG(a) log(a)
#define VAL(a) (a)
#include "dyn.inc"
#include "dyn_adjoint.inc"

size_t art_work_r(const art_topo *t) { return work_size_r(t); }
void art_eval_r(int kind, const art_topo *t, const R *const *p, const R *const *in, R *const *out, double dt,
                void *work) {
  eval_r(kind, t, p, in, out, dt, work);
}

R art_act_du_r(const art_topo *t, const R *const *p, const R *q, const R *qd, const R *ctrl, int a) {
  model_r M;
  M.t = t;
  for (int k = 0; k < P_COUNT; k++) M.p[k] = p[k];
  R bd = 0, du = 0;
  actuator_r(&M, a, q, qd, ctrl, &bd, &du);
  return du;
}
