/* articulation: shared declarations of the kernels and the packed model.
 *
 * A model is a set of tensors (see README.md, "Packed tensors"); every kernel
 * takes them first, in the order of ART_MODEL_ARGS, then its state arguments.
 * The real model tensors are numbered by art_param (P_MASS ...) so generic code
 * (the dual-number adjoints) can walk them. */
#ifndef ARTICULATION_ART_H
#define ARTICULATION_ART_H

#include <diffsim/plugin.h>
#include <math.h>
#include <stdint.h>

typedef ds_real R;

enum { J_FIXED = 0, J_REVOLUTE = 1, J_PRISMATIC = 2, J_SPHERICAL = 3, J_FREE = 4 };
enum { G_NONE = -1, G_SPHERE = 0, G_CAPSULE = 1, G_BOX = 2 };
enum { A_NONE = -1, A_MOTOR = 0, A_POSITION = 1, A_VELOCITY = 2 };
enum { LINK_W = 4, GEOM_W = 2, ACT_W = 3 };
/* act rows: link, type, flags; flags say which ranges of the gain row apply */
enum { AF_CTRL = 1, AF_FORCE = 2 };
/* gain rows: gear, kp, kv, control range lo hi, force range lo hi (used when
 * the act row's flag says so; else ignored) */
enum { AG_GEAR = 0, AG_KP, AG_KV, AG_CLO, AG_CHI, AG_FLO, AG_FHI, GAIN_W };
/* opt entries */
enum { O_GX = 0, O_GY, O_GZ, O_KC, O_BC, O_DELTA, O_EPSF, O_KLIM, O_BLIM, O_GROUND, O_LIMW, O_SELF, O_TOI, O_COUNT };

/* The real model tensors, in slot order after the three i32 ones. */
enum { P_MASS = 0, P_COM, P_INERTIA, P_POS, P_QUAT, P_ANCHOR, P_AXIS, P_DAMPING, P_ARMATURE, P_RANGE,
       P_GPOS, P_GQUAT, P_GSIZE, P_FRICTION, P_GAIN, P_OPT, P_COUNT };

#define ART_MODEL_ARGS(A)                                                                              \
  A(link, DS_NODIFF, DS_I32, 2, 0) A(geom, DS_NODIFF, DS_I32, 2, 0) A(act, DS_NODIFF, DS_I32, 2, 0)      \
  A(mass, DS_IN, DS_REAL, 1, 0) A(com, DS_IN, DS_REAL, 2, 0) A(inertia, DS_IN, DS_REAL, 2, 0)           \
  A(pos, DS_IN, DS_REAL, 2, 0) A(quat, DS_IN, DS_REAL, 2, 0) A(anchor, DS_IN, DS_REAL, 2, 0)            \
  A(axis, DS_IN, DS_REAL, 2, 0) A(damping, DS_IN, DS_REAL, 1, 0) A(armature, DS_IN, DS_REAL, 1, 0)      \
  A(range, DS_IN, DS_REAL, 2, 0) A(gpos, DS_IN, DS_REAL, 2, 0) A(gquat, DS_IN, DS_REAL, 2, 0)           \
  A(gsize, DS_IN, DS_REAL, 2, 0) A(friction, DS_IN, DS_REAL, 1, 0) A(gain, DS_IN, DS_REAL, 2, 0)        \
  A(opt, DS_IN, DS_REAL, 1, 0)
enum { ART_NMODEL = 3 + P_COUNT }; /* model slots before a kernel's own */

/* Sizes and integer tables of a model (shared by both number types). */
typedef struct art_topo {
  int nl, nq, nv, ng, nu;
  const int32_t *link, *geom, *act;
} art_topo;

/* Per-joint counts. */
static inline int art_jnq(int type) {
  return type == J_REVOLUTE || type == J_PRISMATIC ? 1 : type == J_SPHERICAL ? 4 : type == J_FREE ? 7 : 0;
}
static inline int art_jnv(int type) {
  return type == J_REVOLUTE || type == J_PRISMATIC ? 1 : type == J_SPHERICAL ? 3 : type == J_FREE ? 6 : 0;
}

/* Checks shapes and topology of the model slots of a call (host side: sizes
 * only); fills t. The integer tables are read by art_check_topo in the forward. */
int art_check_model(const ds_call *c, art_topo *t);
/* Reads and validates the integer tables and the value ranges of the real
 * model tensors (mass > 0, inertia positive definite, unit quaternions ...). */
int art_check_values(const ds_call *c, art_topo *t);
/* Checks a batched state argument: shape {B, n}. */
int art_expect_rows(const ds_call *c, int slot, int64_t batch, int n);
int art_check_finite(const ds_call *c, int slot);

/* What a dynamics evaluation computes (ins -> outs, per batch element):
 *   ART_FK    q -> xpos {nl,3}, xmat {nl,9}
 *   ART_RNEA  q, qd, qdd -> tau {nv}
 *   ART_CRBA  q -> M {nv,nv}
 *   ART_ABA   q, qd, tau -> qdd {nv}
 *   ART_STEP  q, qd, ctrl -> q', qd'  (semi-implicit Euler with joint forces and contact)
 *   ART_MOMENTUM q, qd -> h {6}: the spatial momentum of all links about the world origin (angular; linear)
 *   ART_IRES  q, qd, ctrl, v -> G {nv}, qhat {nq}: the implicit Euler residual at end velocity v (implicit.c)
 * and, for the step's adjoint (kernels.c, step_vjp):
 *   ART_ACC   q, qd, ctrl -> qdd {nv}: the step's acceleration
 *   ART_SRES  q, qd, ctrl, qdd -> R {nv}: (M + A) qdd + C - J^T fext - tau, zero at the step's qdd
 *   ART_SMINV q, qd, ctrl, rhs -> (M + A)^-1 rhs {nv}  (A: armature + dt x implicit damping)
 *   ART_SMINV_ACC as ART_SMINV, on the work an ART_ACC evaluation of the same
 *             (q, qd, ctrl) just left (its link frames, inertias and armature):
 *             saves the step's kinematics and forces a second time
 *   ART_INTEG q, v -> q (+) dt v {nq}
 * and, for the analytic step adjoint (dyn_adjoint.inc, step_adjoint.c), the
 * pieces it leaves on the tape:
 *   ART_JF    q, qd, ctrl -> tau {nv}, bd {nv}: the joint forces and their damping coefficients
 *   ART_CONT  links {nl, 18} (R, p, v per link) -> fext {nl, 6}: the contact forces */
enum { ART_FK = 0, ART_RNEA, ART_CRBA, ART_ABA, ART_STEP, ART_MOMENTUM, ART_IRES, ART_ACC, ART_SRES, ART_SMINV,
       ART_INTEG, ART_SMINV_ACC, ART_JF, ART_CONT };
size_t art_work_r(const art_topo *t);
void art_eval_r(int kind, const art_topo *t, const R *const *p, const R *const *in, R *const *out, double dt,
                void *work);

/* The analytic reverse of a plain step's residual (dyn_adjoint.inc; the call
 * order and what each leaves in work: step_adjoint.c). */
size_t art_adj_work(const art_topo *t);
/* pg[k]: parameter k's gradient (NULL: none). The per-link reverse of the
 * kinematics and inertias runs only when one of these wants its gradient. */
static inline int art_adj_geo(R *const *pg) {
  return pg[P_MASS] || pg[P_COM] || pg[P_INERTIA] || pg[P_POS] || pg[P_QUAT] || pg[P_ANCHOR] || pg[P_AXIS];
}
int art_adj_forward(const art_topo *t, const R *const *p, const R *q, const R *qd, const R *ctrl, const R *qdn,
                    double dt, void *work, R *qdd);
void art_adj_solve(const art_topo *t, void *work, const R *rhs, R *lam);
void art_adj_rnea(const art_topo *t, void *work, const R *mu, int geo, R *fextb, R *armb, R *links);
void art_adj_kin(const art_topo *t, const R *const *p, void *work, const R *q, const R *qd, const R *linkb, R *gq,
                 R *gqd, R *const *pg);
/* d tau_dof / d ctrl_a of actuator a at (q, qd, ctrl): gear x gain x the
 * slopes (1 or 0) of its control and force clamps (dyn_step.inc, actuator). */
R art_act_du_r(const art_topo *t, const R *const *p, const R *q, const R *qd, const R *ctrl, int a);

extern const ds_kernel_desc art_fk_kernel, art_rnea_kernel, art_crba_kernel, art_aba_kernel, art_step_kernel,
    art_rollout_kernel, art_momentum_kernel, art_implicit_step_kernel, art_nn_rollout_kernel,
    art_implicit_rollout_kernel;

#endif
