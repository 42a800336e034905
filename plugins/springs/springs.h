/* springs: what the plugin's files share (internal, not installed).
 *
 * Every stepping kernel (step, rollout, nn_rollout) starts with the same slots,
 * declared once here: the state (x, v or x0, v0), then the system: per-spring
 * material, the topology, the inverse masses, and the 0-dim physical inputs
 * (gravity, damping, friction, restitution). Their params start with the same
 * physics params. So `stepper_argv` and `phys_params` overlay the head of every
 * stepping kernel's arguments and params, and the checks and the step engine
 * serve all three kernels without an index table per kernel. */
#ifndef SPRINGS_H
#define SPRINGS_H

#include "springs_phys.h"

/* ---- the shared head of every stepping kernel ------------------------------ */
/* inv_mass {n}: 0 pins a node. gravity, damping (exp(-damping dt) velocity decay),
 * friction (ground Coulomb coefficient; unused when the ground is sticky) and
 * restitution are 0-dim inputs, so a tensor that requires grad gets its gradient. */
#define SYSTEM_ARGS(A)                          \
  A(rest, DS_IN, DS_REAL, 1, 0)                 \
  A(stiffness, DS_IN, DS_REAL, 1, 0)            \
  A(amplitude, DS_IN, DS_REAL, 1, 0)            \
  A(spring_damping, DS_IN, DS_REAL, 1, 0)       \
  A(topo, DS_NODIFF, DS_I32, 1, 0)              \
  A(inv_mass, DS_IN, DS_REAL, 1, 0)             \
  A(gravity, DS_IN, DS_REAL, 0, 0)              \
  A(damping, DS_IN, DS_REAL, 0, 0)              \
  A(friction, DS_IN, DS_REAL, 0, 0)             \
  A(restitution, DS_IN, DS_REAL, 0, 0)
/* The state slots are named per kernel (x, v for a step; x0, v0 for a rollout);
 * they come first, then the system. */
#define STEPPER_ARGS(A) A(x, DS_IN, DS_REAL, 2, 0) A(v, DS_IN, DS_REAL, 2, 0) SYSTEM_ARGS(A)
#define SPRINGS_FIELD(name, role, dtype, ndim, flags) ds_tensor *name;
typedef struct stepper_argv { STEPPER_ARGS(SPRINGS_FIELD) } stepper_argv;
#define STEPPER(c) ((const stepper_argv *)(const void *)(c)->args)
#define STEPPER_SLOT(name) DS_SLOT(stepper, name)

/* ground_mode: 0 none, 1 naive, 2 toi. sticky: 1 zeroes the tangential velocity
 * on contact (the reference robots), 0 Coulomb with the friction input.
 * wall_mode: 0 none, 1 project, 2 reference. */
#define PHYS_PARAMS(P) P(dt) P(ground_mode) P(ground_y) P(sticky) P(wall_mode) P(wall_lo) P(wall_hi) P(wall_friction)
#define SPRINGS_PFIELD(name) double name;
typedef struct phys_params { PHYS_PARAMS(SPRINGS_PFIELD) } phys_params;
#define PHYS(c) ((const phys_params *)(const void *)(c)->params)

/* The controller params of nn_rollout and nn_input (same names in both). */
#define CTRL_PARAMS(P) P(n_sin) P(omega) P(input_scale) P(goal_x) P(goal_y) P(goal_z)

static inline R scalar_of(const ds_tensor *t) { return ds_rdata(t)[0]; }

/* The physics of a launch. decay is computed in double from the damping as
 * stored (R), as before the inputs became tensors, so a plain number gives the
 * same bits as it always did. */
static inline phys phys_of(const ds_call *c) {
  const phys_params *p = PHYS(c);
  const stepper_argv *a = STEPPER(c);
  phys q;
  q.dt = (R)p->dt;
  q.decay = (R)exp(-(double)scalar_of(a->damping) * p->dt);
  q.gravity = scalar_of(a->gravity);
  q.ground = (int)p->ground_mode;
  q.ground_y = (R)p->ground_y;
  q.e = scalar_of(a->restitution);
  q.sticky = p->sticky != 0;
  q.mu = q.sticky ? 0 : scalar_of(a->friction);
  q.wall = (int)p->wall_mode;
  q.wall_lo = (R)p->wall_lo;
  q.wall_hi = (R)p->wall_hi;
  q.wall_mu = (R)p->wall_friction;
  return q;
}

/* ---- check.c ----------------------------------------------------------------- */
int check_topo(const ds_call *c, int slot, int64_t n, int64_t ns);
int check_inv_mass(const ds_call *c, int slot, int64_t n);
/* The head of a stepping kernel: shapes, physics params and inputs, masses,
 * topology, finiteness and the stability limit. */
int check_system(const ds_call *c);
/* param `name` at params[i] as a step count (a positive integer), or an error. */
int check_steps(const ds_call *c, int i, const char *name, int64_t *T);

/* ---- step.c: one step as parallel passes over springs and nodes ------------ */
typedef struct step_job {
  ds_ctx *ctx;
  const ds_host_api *host;
  const phys *p;
  int D;
  topo g;
  const R *im;
  const R *rest, *stiff, *amp, *sdamp; /* per spring */
  R *grest, *gstiff, *gamp, *gsdamp;   /* their grads (NULL: not wanted) */
  R *gim;                              /* grad of the inverse masses (NULL: not wanted) */
  const R *x, *v, *act;                /* state at the start of the step; act may be NULL */
  R *xo, *vo;
  const R *gxo, *gvo;
  R *gx, *gv, *gact; /* may be NULL */
  R *f;              /* scratch: ns * D spring forces */
  R *gF;             /* scratch: n * D grads of the node force sums */
  R *gd, *gvr;       /* scratch: ns * D grads of d and of the relative velocity */
  phys_grad *blocks; /* scratch: one partial sum per node block (NULL: no physical grads) */
  phys_grad pg;      /* physical grads summed over the steps run so far */
} step_job;

/* Fills the system part of a job from a stepping kernel's call, and asks the
 * host for the scratch the forward (adjoint = 0) or the adjoint (1) needs. */
int job_init(step_job *j, const ds_call *c, const phys *p, int adjoint);
void sim_forward(step_job *j);
/* Adds the step's grads into gx, gv, gact, the material and mass grads and j->pg. */
void sim_adjoint(step_job *j);
/* Adds j->pg into the grads of the 0-dim physical inputs. */
void job_finish_grads(const step_job *j, const ds_call *c);

/* ---- the kernels (one file each), registered by register.c ----------------- */
extern const ds_kernel_desc springs_topology_kernel, springs_step_kernel, springs_rollout_kernel,
    springs_nn_rollout_kernel, springs_nn_input_kernel, springs_energy_kernel, springs_render_kernel;

#endif
