/* Pressure projection by preconditioned conjugate gradients to a relative
 * tolerance, with the implicit-function-theorem adjoint.
 *
 *   p = A^+ (D v),   v' = v - G p     (A = D G, the consistent Laplacian)
 *
 * A is symmetric, so (see project_jacobi.c) the adjoint is the same projection
 * of the output gradient: one more CG solve with A, never unrolled iterations.
 *
 * The plugin supplies the operator; the core's CG (host->solve->cg,
 * diffsim/solve.h) does the solve:
 *   lap_apply   y = A x            (the operator, on the context's threads)
 *   lap_diag    diag(A)            (the Jacobi preconditioner; periodic grids
 *                                   have a constant diagonal and use none)
 * The CG's dot products sum fixed blocks of the size given in opts.block, in
 * block order, so the result is bitwise the same for any thread count. */
#include <diffsim/solve.h>
#include <stddef.h>
#include <stdio.h>

#include "smoke.h"

/* ---- the operator ----------------------------------------------------------- */
typedef struct lap_op {
  const ds_call *c;
  const grid *g;
  const ds_real *zero; /* a zero line: the outside of a wall */
  int64_t grain;       /* lines per parallel block */
} lap_op;

typedef struct lap_run {
  const lap_op *op;
  const ds_real *x;
  ds_real *y;
} lap_run;

static void lap_fn(int64_t l0, int64_t l1, void *u) {
  const lap_run *R = u;
  op_lap_lines(R->op->g, R->x, R->y, l0, l1, R->op->zero);
}

/* y = A x */
static void lap_apply(void *user, const ds_real *x, ds_real *y) {
  const lap_op *op = user;
  lap_run R = {op, x, y};
  op->c->host->parallel_for(op->c->ctx, op->g->lines, op->grain, lap_fn, &R);
}

/* diag(A) on walled grids (periodic grids have a constant diagonal, where
 * Jacobi would only rescale: no diag there, see pressure_solve). */
static void lap_diag(void *user, ds_real *d) {
  const lap_op *op = user;
  for (int64_t l = 0; l < op->g->lines; l++) op_lap_diag_line(op->g, l, d + l * op->g->len);
}

/* ---- the projection ------------------------------------------------------------ */
typedef struct cgproj {
  grid g;
  double h, tol;
  int max_iters;
  const ds_real *in[3], *extra, *x0;
  ds_real *out[3], *pout;
  int acc, adjoint;
} cgproj;

/* Solves A x = rhs (rhs in the range of A) from x0 (NULL: zero) with the core's
 * CG: stops at |r| <= max(tol |rhs|, atol); running out of iterations is a
 * result (info->converged = 0), which the caller reports. */
static int pressure_solve(const ds_call *c, const grid *g, const ds_real *rhs, ds_real *x, const ds_real *x0,
                          double tol, double atol, int max_iters, const char *label, ds_krylov_info *info) {
  /* Each CG iteration is three passes with a reduction after each; below ~64k
   * cells a pass costs less than waking the other threads, so small grids run
   * in one block (the partition depends only on the grid, never on threads).
   * The operator's parallel blocks and the CG's reduction blocks are the same
   * lines. */
  int64_t grain = smoke_line_grain(g);
  if (grain * g->len < 65536) grain = (65536 + g->len - 1) / g->len;
  lap_op op = {c, g, smoke_zero_line(c, g), grain};
  if (!op.zero) return DS_ERR_NOMEM; /* host->scratch set the error */
  const ds_solve_api *solve = c->host->solve;
  ds_linop A = {g->cells, &op, lap_apply, NULL, g->bc == BC_WALL ? lap_diag : NULL};
  ds_krylov_opts o = {0};
  o.tol = tol, o.atol = atol, o.max_iters = max_iters, o.x0 = x0, o.label = label;
  o.allow_unconverged = 1;
  o.block = grain * g->len;
  /* the solver's vectors in this call's scratch: no allocation per step */
  if (solve->size >= offsetof(ds_solve_api, cg_work_bytes) + sizeof solve->cg_work_bytes) {
    int64_t bytes = solve->cg_work_bytes(g->cells, &o);
    if (bytes > 0 && !(o.work = c->host->scratch(c, (size_t)bytes))) return DS_ERR_NOMEM;
  }
  return solve->cg(c->ctx, &A, rhs, x, &o, info);
}

static int cg_project(const ds_call *c, const cgproj *P, const char *what) {
  const grid *g = &P->g;
  size_t bytes = (size_t)g->cells * sizeof(ds_real);
  ds_real *rhs = c->host->scratch(c, bytes), *x = c->host->scratch(c, bytes);
  ds_real *zero = smoke_zero_line(c, g);
  if (!rhs || !x || !zero) return DS_ERR_NOMEM; /* host->scratch set the error */
  pass Q = {0};
  Q.h = P->h;
  Q.zero = zero;
  for (int d = 0; d < g->nd; d++) Q.v[d] = P->in[d];
  Q.op = P_DIV, Q.extra = P->extra, Q.out = rhs;
  smoke_run_pass(c, g, &Q);
  /* only the adjoint's pressure-gradient term can leave the range of A */
  if (P->extra) op_null_project(g, rhs);
  /* the round-off level of rhs = D in - h^2 extra */
  double nin = 0, nex = 0;
  for (int d = 0; d < g->nd; d++)
    for (int64_t i = 0; i < g->cells; i++) nin += (double)P->in[d][i] * P->in[d][i];
  if (P->extra)
    for (int64_t i = 0; i < g->cells; i++) nex += (double)P->extra[i] * P->extra[i];
  const double eps = sizeof(ds_real) == 8 ? 2.2e-16 : 1.2e-7;
  double floor_abs = 8 * eps * (P->h * sqrt(nin) + P->h * P->h * sqrt(nex));
  char label[96];
  snprintf(label, sizeof label, "%s %s", c->kernel_name, what);
  ds_krylov_info info = {0};
  int rc = pressure_solve(c, g, rhs, x, P->x0, P->tol, floor_abs, P->max_iters, label, &info);
  if (rc) return rc; /* out of memory, or not positive definite: the error names the kernel */
  if (!info.converged)
    c->host->log(c->ctx, DS_LOG_WARN, "%s: CG stopped after %d iterations at relative residual %.3g (tol %.3g)",
                 label, info.iters, info.residual, P->tol);
  double *st = ((smoke_state *)c->state)->cg; /* this context's counters */
  st[P->adjoint ? 2 : 0] += 1;
  st[P->adjoint ? 3 : 1] += info.iters;
  st[P->adjoint ? 5 : 4] = info.iters;
  st[6] = info.residual;
  if (!info.converged) st[7] += 1;
  op_null_project(g, x);
  Q.op = P_GRADSUB, Q.p = x, Q.acc = P->acc;
  for (int d = 0; d < g->nd; d++) Q.outs[d] = P->out[d];
  smoke_run_pass(c, g, &Q);
  if (P->pout) memcpy(P->pout, x, bytes);
  return DS_OK;
}

/* ---- kernel: project_cg, 2D or 3D ---------------------------------------------
 * params: bc, h, tol, max_iters. */
#define PROJECT_CG_PARAMS(P) P(bc) P(h) P(tol) P(max_iters)
DS_DECLARE_PARAMS(project_cg, PROJECT_CG_PARAMS)
/* args: p_guess (warm start), p (out), v (list of 2 or 3 components, in), v_out (list, out) */
#define PROJECT_CG_ARGS(A)                                                                                    \
  A(p_guess, DS_NODIFF, DS_REAL, -1, DS_GUESS) A(p, DS_OUT, DS_REAL, -1, 0) A(v, DS_IN, DS_REAL, -1, DS_LIST)  \
  A(v_out, DS_OUT, DS_REAL, -1, DS_LIST)
DS_DECLARE_ARGS(project_cg, PROJECT_CG_ARGS)
#define VIN(c, d) ds_list_of(c, DS_SLOT(project_cg, v), d)
#define VOUT(c, d) ds_list_of(c, DS_SLOT(project_cg, v_out), d)


static int project_cg_check(const ds_call *c) {
  const project_cg_params *p = DS_PARAMS(c, project_cg);
  int rc = smoke_check_list(c);
  if (!rc) rc = smoke_check_grid(c, c->list_len, SMOKE_MIN_CELLS);
  if (!rc) rc = smoke_check_bc(c, p->bc);
  if (!rc) rc = smoke_check_h(c, p->h);
  if (!rc && !(p->tol > 0 && p->tol < 1))
    rc = c->host->error(c, "param 'tol' (relative residual) must be in (0, 1), got %g", p->tol);
  if (!rc) rc = smoke_check_int(c, "max_iters", p->max_iters, 1, 1e7);
  return rc;
}

static void cgproj_init(cgproj *P, const ds_call *c) {
  const project_cg_params *p = DS_PARAMS(c, project_cg);
  memset(P, 0, sizeof *P);
  P->g = grid_make(c->list_len, (int)p->bc, c->args[0]);
  P->h = p->h, P->tol = p->tol, P->max_iters = (int)p->max_iters;
}

static int project_cg_forward(const ds_call *c) {
  const int nd = c->list_len;
  cgproj P;
  cgproj_init(&P, c);
  for (int d = 0; d < nd; d++) {
    P.in[d] = ds_rdata(VIN(c, d));
    P.out[d] = ds_rdata(VOUT(c, d));
  }
  P.x0 = ds_rdata(DS_ARGV(c, project_cg)->p_guess);
  P.pout = ds_rdata(DS_ARGV(c, project_cg)->p);
  return cg_project(c, &P, "forward");
}

/* The implicit adjoint: gv += gv' - G A^+ (D gv' - h^2 gp), one CG solve. */
static int project_cg_adjoint(const ds_call *c) {
  const int nd = c->list_len;
  cgproj P;
  cgproj_init(&P, c);
  int any = 0;
  for (int d = 0; d < nd; d++) {
    P.in[d] = ds_rgrad(VOUT(c, d));
    any |= (P.out[d] = ds_rgrad(VIN(c, d))) != NULL;
  }
  if (!any) return DS_OK;
  P.extra = ds_rgrad(DS_ARGV(c, project_cg)->p);
  P.acc = 1;
  P.adjoint = 1;
  return cg_project(c, &P, "adjoint");
}

/* ---- cg_stats: this context's CG counters (not differentiable) ---------------- */
#define CG_STATS_ARGS(A) A(stats, DS_OUT, DS_REAL, 1, 0)
#define CG_STATS_PARAMS(P) P(reset)
DS_DECLARE_ARGS(cg_stats, CG_STATS_ARGS)
DS_DECLARE_PARAMS(cg_stats, CG_STATS_PARAMS)

static int cg_stats_forward(const ds_call *c) {
  double *st = ((smoke_state *)c->state)->cg;
  const ds_tensor *t = DS_ARGV(c, cg_stats)->stats;
  ds_real *o = ds_rdata(t);
  int64_t n = t->count < 8 ? t->count : 8;
  for (int64_t i = 0; i < n; i++) o[i] = (ds_real)st[i];
  if (DS_PARAMS(c, cg_stats)->reset != 0) memset(st, 0, 8 * sizeof(double));
  return DS_OK;
}

int smoke_register_cg(const ds_host_api *host, ds_registrar *reg) {
  const ds_kernel_desc k[] = {
      {"project_cg", project_cg_args, project_cg_param_names, project_cg_check, {project_cg_forward},
       {project_cg_adjoint}},
      {"cg_stats", cg_stats_args, cg_stats_param_names, NULL, {cg_stats_forward}, {NULL}},
  };
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
    int rc = host->register_kernel(reg, &k[i]);
    if (rc) return rc;
  }
  return DS_OK;
}
