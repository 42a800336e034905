/* fem: what the kernels share (internal). Every kernel that evaluates the
 * incremental potential starts with the same slots (SYS_ARGS) and params
 * (SYS_PARAMS), declared once here, and ends with the list of per-set
 * parameter tensors. */
#ifndef FEM_H
#define FEM_H

#include "system.h"

/* x {n,3} start positions (for fem.residual etc. the point y comes first, see eval.c);
 * v {n,3}; rest {n,3} rest positions; conn {C} flat vertex indices of every set;
 * sets {S,3}: (type id, offset into conn, element count); pin_idx {P}; gravity {3}. */
#define SYS_HEAD_ARGS(A)                 \
  A(x, DS_IN, DS_REAL, 2, 0)             \
  A(v, DS_IN, DS_REAL, 2, 0)             \
  A(rest, DS_IN, DS_REAL, 2, 0)          \
  A(conn, DS_NODIFF, DS_I32, 1, 0)       \
  A(sets, DS_NODIFF, DS_I32, 2, 0)       \
  A(pin_idx, DS_NODIFF, DS_I32, 1, 0)    \
  A(gravity, DS_IN, DS_REAL, 1, 0)
#define FEM_FIELD(name, role, dtype, ndim, flags) ds_tensor *name;
typedef struct sys_head { SYS_HEAD_ARGS(FEM_FIELD) } sys_head;

/* dt; mode 0 implicit Euler, 1 static, 2 symplectic Euler; ground 0/1 at height ground_y
 * (normal +y) with contact stiffness contact_k (N/m^2: force kc pen^2); friction mu with
 * smoothing speed friction_eps (m/s); Rayleigh alpha (1/s), beta (s). */
#define SYS_PARAMS(P) P(dt) P(mode) P(ground) P(ground_y) P(contact_k) P(friction) P(friction_eps) P(alpha) P(beta)
#define FEM_PFIELD(name) double name;
typedef struct sys_params { SYS_PARAMS(FEM_PFIELD) } sys_params;

/* Shape checks of the head (host side, no data) and value checks + fem_sys setup (forward side).
 * head_at: the slot of x in the kernel; pin_pos: the pin targets (or NULL). */
int fem_check_head(const ds_call *c, int head_at, int params_slot, const ds_tensor *pin_pos);
int fem_setup(fem_sys *S, const ds_call *c, int head_at, int params_slot, int need_v);

/* Per-context state: the Hessian pattern, kept while the mesh is the same so
 * CHOLMOD's symbolic analysis is reused step after step, and the last step's
 * statistics (fem.stats). */
typedef struct fem_state {
  ds_sparse *A;
  int32_t *rows, *cols;
  int64_t n, ntrip;
  uint64_t conn_id, conn_ver, sets_id, sets_ver;
  const ds_host_api *host;
  double stats[10]; /* newton iters, halvings, residual, assemble ms, factor+solve ms, backward ms, energy evals,
                       forward ms, factorizations */
} fem_state;
void fem_state_destroy(void *state);
/* The Hessian matrix for S's pattern (created or reused). */
ds_sparse *fem_matrix(const ds_call *c, const fem_sys *S);

extern const ds_kernel_desc fem_step_kernel, fem_residual_kernel, fem_energy_kernel, fem_hessian_kernel,
    fem_stats_kernel;

#endif
