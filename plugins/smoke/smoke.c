/* The smoke plugin: differentiable incompressible flow on a collocated grid
 * (2D and 3D), in the form of the stable-fluids step the reference suite uses:
 *
 *   v1 = advect(v, v)          semi-Lagrangian, bilinear / trilinear
 *   v  = project(v1)           div, pressure solve (Jacobi sweeps or CG), v1 - grad p
 *   s  = advect(s, v)
 *
 * plus divergence / gradient / Laplacian operators, buoyancy and force fields,
 * and inflow sources. Kernels are registered here; the numerics live in
 * advect.c, project.c and ops.c. Every kernel validates its shapes and params
 * in a check callback, so a script gets an error naming the kernel and the
 * argument instead of a crash. */
#include "smoke.h"

/* ---- checks ------------------------------------------------------------------ */

/* Every real argument has the shape of argument #1; nd dims, each >= min_cells. */
static int check_grid(const ds_call *c, int nd, int min_cells) {
  const ds_tensor *t0 = c->args[0];
  if (nd > 0) {
    if (t0->ndim != nd)
      return c->host->error(c, "argument '%s' (#1) must be a %dD grid, got %d dims", c->arg_desc[0].name, nd,
                            t0->ndim);
    for (int d = 0; d < nd; d++)
      if (t0->dims[d] < min_cells)
        return c->host->error(c, "argument '%s' (#1): grid axis %d has %lld cells; the stencils need at least %d",
                              c->arg_desc[0].name, d + 1, (long long)t0->dims[d], min_cells);
  }
  for (int i = 1; i < c->nargs; i++) {
    if (c->arg_desc[i].dtype != DS_REAL) continue;
    int rc = ds_expect_shape(c, i, t0->ndim, t0->dims[0], t0->ndim > 1 ? t0->dims[1] : -1,
                             t0->ndim > 2 ? t0->dims[2] : -1, t0->ndim > 3 ? t0->dims[3] : -1);
    if (rc) return rc;
  }
  return DS_OK;
}

static int check_bc(const ds_call *c, int i) {
  double bc = c->params[i];
  if (bc != BC_PERIODIC && bc != BC_WALL)
    return c->host->error(c, "param 'bc' must be 0 (periodic) or 1 (walls), got %g", bc);
  return DS_OK;
}

static int check_h(const ds_call *c, int i) {
  if (!(c->params[i] > 0)) return c->host->error(c, "param 'h' (cell size) must be positive, got %g", c->params[i]);
  return DS_OK;
}

static int check_int(const ds_call *c, int i, const char *name, double lo, double hi) {
  double v = c->params[i];
  if (v != floor(v) || v < lo || v > hi)
    return c->host->error(c, "param '%s' must be an integer in [%g, %g], got %g", name, lo, hi, v);
  return DS_OK;
}

#define NDIMS(c) ((int)(c)->args[0]->ndim)

static int chk_advect2(const ds_call *c) {
  int rc = check_grid(c, 2, 2);
  return rc ? rc : check_bc(c, 0);
}
static int chk_advect3(const ds_call *c) {
  int rc = check_grid(c, 3, 2);
  return rc ? rc : check_bc(c, 0);
}
static int chk_jacobi(const ds_call *c, int nd) {
  int rc = check_grid(c, nd, SMOKE_MIN_CELLS);
  if (!rc) rc = check_bc(c, 0);
  if (!rc) rc = check_int(c, 1, "iters", 0, 100000);
  if (!rc) rc = check_h(c, 2);
  return rc;
}
static int chk_jacobi2(const ds_call *c) { return chk_jacobi(c, 2); }
static int chk_jacobi3(const ds_call *c) { return chk_jacobi(c, 3); }
static int chk_cg(const ds_call *c, int nd) {
  int rc = check_grid(c, nd, SMOKE_MIN_CELLS);
  if (!rc) rc = check_bc(c, 0);
  if (!rc) rc = check_h(c, 1);
  if (!rc && !(c->params[2] > 0 && c->params[2] < 1))
    rc = c->host->error(c, "param 'tol' (relative residual) must be in (0, 1), got %g", c->params[2]);
  if (!rc) rc = check_int(c, 3, "max_iters", 1, 1e7);
  return rc;
}
static int chk_cg2(const ds_call *c) { return chk_cg(c, 2); }
static int chk_cg3(const ds_call *c) { return chk_cg(c, 3); }
static int chk_op(const ds_call *c) {
  int nd = NDIMS(c);
  if (nd != 2 && nd != 3) return c->host->error(c, "argument '%s' (#1) must be a 2D or 3D grid", c->arg_desc[0].name);
  int rc = check_grid(c, nd, SMOKE_MIN_CELLS);
  if (!rc) rc = check_bc(c, 0);
  if (!rc && c->nparams > 1) rc = check_h(c, 1);
  return rc;
}
static int chk_same(const ds_call *c) { return check_grid(c, -1, 0); }

/* ---- advect / project wrappers ------------------------------------------------ */
static int advect_f(const ds_call *c) { return smoke_advect_fwd(c, NDIMS(c) == 3 ? 3 : 2, 0); }
static int advect_a(const ds_call *c) { return smoke_advect_adj(c, NDIMS(c) == 3 ? 3 : 2, 0); }
static int advect_vel2_f(const ds_call *c) { return smoke_advect_fwd(c, 2, 1); }
static int advect_vel2_a(const ds_call *c) { return smoke_advect_adj(c, 2, 1); }
static int advect_vel3_f(const ds_call *c) { return smoke_advect_fwd(c, 3, 1); }
static int advect_vel3_a(const ds_call *c) { return smoke_advect_adj(c, 3, 1); }
static int jac2_f(const ds_call *c) { return smoke_jacobi_fwd(c, 2); }
static int jac2_a(const ds_call *c) { return smoke_jacobi_adj(c, 2); }
static int jac3_f(const ds_call *c) { return smoke_jacobi_fwd(c, 3); }
static int jac3_a(const ds_call *c) { return smoke_jacobi_adj(c, 3); }
static int step2_f(const ds_call *c) { return smoke_step_fwd(c, 2); }
static int step2_a(const ds_call *c) { return smoke_step_adj(c, 2); }
static int step3_f(const ds_call *c) { return smoke_step_fwd(c, 3); }
static int step3_a(const ds_call *c) { return smoke_step_adj(c, 3); }
static int cg2_f(const ds_call *c) { return smoke_cg_fwd(c, 2); }
static int cg2_a(const ds_call *c) { return smoke_cg_adj(c, 2); }
static int cg3_f(const ds_call *c) { return smoke_cg_fwd(c, 3); }
static int cg3_a(const ds_call *c) { return smoke_cg_adj(c, 3); }

/* ---- operators: divergence, gradient subtraction, Laplacian -------------------- */
static ds_real *scratch(const ds_call *c, int64_t n) {
  ds_real *p = c->host->alloc((size_t)(n > 0 ? n : 1) * sizeof(ds_real));
  if (p) memset(p, 0, (size_t)(n > 0 ? n : 1) * sizeof(ds_real));
  return p;
}

/* divergence: v_0..v_{nd-1}, div | bc, h */
static int div_f(const ds_call *c) {
  int nd = NDIMS(c);
  grid g = grid_make(nd, (int)c->params[0], c->args[0]);
  ds_real *zero = scratch(c, g.len);
  if (!zero) return c->host->error(c, "out of memory");
  const ds_real *v[3] = {0};
  for (int d = 0; d < nd; d++) v[d] = ds_rdata(c->args[d]);
  op_div_lines(&g, c->params[1], v, NULL, ds_rdata(c->args[nd]), 0, g.lines, zero);
  c->host->free(zero);
  return DS_OK;
}
/* D^T = h^2 G: gv += h^2 G gdiv, computed as 0 - G(-h^2 gdiv) */
static int div_a(const ds_call *c) {
  int nd = NDIMS(c);
  grid g = grid_make(nd, (int)c->params[0], c->args[0]);
  double h = c->params[1];
  ds_real *out[3] = {0};
  int any = 0;
  for (int d = 0; d < nd; d++) any |= (out[d] = ds_rgrad(c->args[d])) != NULL;
  if (!any) return DS_OK;
  ds_real *zero = scratch(c, g.cells), *q = scratch(c, g.cells);
  if (!zero || !q) {
    c->host->free(zero), c->host->free(q);
    return c->host->error(c, "out of memory");
  }
  const ds_real *gd = ds_rgrad(c->args[nd]);
  for (int64_t i = 0; i < g.cells; i++) q[i] = (ds_real)(-h * h) * gd[i];
  const ds_real *v[3] = {zero, zero, zero};
  op_gradsub_lines(&g, h, v, q, out, 1, 0, g.lines, zero);
  c->host->free(zero), c->host->free(q);
  return DS_OK;
}

/* gradsub: v_0.., p, out_0.. | bc, h:  out = v - G p */
static int gs_f(const ds_call *c) {
  int nd = NDIMS(c);
  grid g = grid_make(nd, (int)c->params[0], c->args[0]);
  ds_real *zero = scratch(c, g.len);
  if (!zero) return c->host->error(c, "out of memory");
  const ds_real *v[3] = {0};
  ds_real *out[3] = {0};
  for (int d = 0; d < nd; d++) v[d] = ds_rdata(c->args[d]), out[d] = ds_rdata(c->args[nd + 1 + d]);
  op_gradsub_lines(&g, c->params[1], v, ds_rdata(c->args[nd]), out, 0, 0, g.lines, zero);
  c->host->free(zero);
  return DS_OK;
}
/* gv += mask(gout) (wall cells of the normal component get nothing: the output
 * there is 0); gp -= G^T gout = -D gout / h^2 */
static int gs_a(const ds_call *c) {
  int nd = NDIMS(c);
  grid g = grid_make(nd, (int)c->params[0], c->args[0]);
  double h = c->params[1];
  const ds_real *go[3] = {0};
  ds_real *gv[3] = {0};
  for (int d = 0; d < nd; d++) {
    go[d] = ds_rgrad(c->args[nd + 1 + d]);
    gv[d] = ds_rgrad(c->args[d]);
  }
  ds_real *zero = scratch(c, g.cells), *q = scratch(c, g.cells);
  if (!zero || !q) {
    c->host->free(zero), c->host->free(q);
    return c->host->error(c, "out of memory");
  }
  op_gradsub_lines(&g, h, go, zero, gv, 1, 0, g.lines, zero); /* gv += mask(gout - G 0) */
  ds_real *gp = ds_rgrad(c->args[nd]);
  if (gp) {
    op_div_lines(&g, h, go, NULL, q, 0, g.lines, zero);
    ds_real s = (ds_real)(1.0 / (h * h));
    for (int64_t i = 0; i < g.cells; i++) gp[i] -= s * q[i];
  }
  c->host->free(zero), c->host->free(q);
  return DS_OK;
}

/* laplacian: p, out | bc:  out = A p = D G p (self-adjoint) */
static int lap_f(const ds_call *c) {
  grid g = grid_make(NDIMS(c), (int)c->params[0], c->args[0]);
  ds_real *zero = scratch(c, g.len);
  if (!zero) return c->host->error(c, "out of memory");
  op_lap_lines(&g, ds_rdata(c->args[0]), ds_rdata(c->args[1]), 0, g.lines, zero);
  c->host->free(zero);
  return DS_OK;
}
static int lap_a(const ds_call *c) {
  ds_real *gp = ds_rgrad(c->args[0]);
  if (!gp) return DS_OK;
  grid g = grid_make(NDIMS(c), (int)c->params[0], c->args[0]);
  ds_real *zero = scratch(c, g.len), *q = scratch(c, g.cells);
  if (!zero || !q) {
    c->host->free(zero), c->host->free(q);
    return c->host->error(c, "out of memory");
  }
  op_lap_lines(&g, ds_rgrad(c->args[1]), q, 0, g.lines, zero);
  for (int64_t i = 0; i < g.cells; i++) gp[i] += q[i];
  c->host->free(zero), c->host->free(q);
  return DS_OK;
}

/* ---- forces and sources ----------------------------------------------------------- */
/* force: v_0..v_{nd-1}, s, f_0..f_{nd-1}, out_0.. | dt, b_0..b_{nd-1}
 *   out_d = v_d + dt (f_d + b_d s)     (buoyancy b along each axis, per unit smoke) */
static int force_f(const ds_call *c, int nd) {
  double dt = c->params[0];
  int64_t n = c->args[0]->count;
  const ds_real *s = ds_rdata(c->args[nd]);
  for (int d = 0; d < nd; d++) {
    const ds_real *v = ds_rdata(c->args[d]), *f = ds_rdata(c->args[nd + 1 + d]);
    ds_real *o = ds_rdata(c->args[2 * nd + 1 + d]);
    ds_real t = (ds_real)dt, b = (ds_real)c->params[1 + d];
    for (int64_t i = 0; i < n; i++) o[i] = v[i] + t * (f[i] + b * s[i]);
  }
  return DS_OK;
}
static int force_a(const ds_call *c, int nd) {
  double dt = c->params[0];
  int64_t n = c->args[0]->count;
  ds_real *gs = ds_rgrad(c->args[nd]);
  for (int d = 0; d < nd; d++) {
    const ds_real *go = ds_rgrad(c->args[2 * nd + 1 + d]);
    ds_real *gv = ds_rgrad(c->args[d]), *gf = ds_rgrad(c->args[nd + 1 + d]);
    ds_real t = (ds_real)dt, tb = (ds_real)(dt * c->params[1 + d]);
    if (gv) for (int64_t i = 0; i < n; i++) gv[i] += go[i];
    if (gf) for (int64_t i = 0; i < n; i++) gf[i] += t * go[i];
    if (gs) for (int64_t i = 0; i < n; i++) gs[i] += tb * go[i];
  }
  return DS_OK;
}
static int force2_f(const ds_call *c) { return force_f(c, 2); }
static int force2_a(const ds_call *c) { return force_a(c, 2); }
static int force3_f(const ds_call *c) { return force_f(c, 3); }
static int force3_a(const ds_call *c) { return force_a(c, 3); }

/* inflow: s, mask (nodiff), value, out:  out = s + mask (value - s)
 * mask in [0, 1] blends a source value into the field (1: the cell is set). */
static int inflow_f(const ds_call *c) {
  const ds_real *s = ds_rdata(c->args[0]), *m = ds_rdata(c->args[1]), *v = ds_rdata(c->args[2]);
  ds_real *o = ds_rdata(c->args[3]);
  for (int64_t i = 0; i < c->args[0]->count; i++) o[i] = s[i] + m[i] * (v[i] - s[i]);
  return DS_OK;
}
static int inflow_a(const ds_call *c) {
  const ds_real *m = ds_rdata(c->args[1]), *go = ds_rgrad(c->args[3]);
  ds_real *gs = ds_rgrad(c->args[0]), *gv = ds_rgrad(c->args[2]);
  for (int64_t i = 0; i < c->args[0]->count; i++) {
    if (gs) gs[i] += (1 - m[i]) * go[i];
    if (gv) gv[i] += m[i] * go[i];
  }
  return DS_OK;
}

/* ---- registration -------------------------------------------------------------------- */
#define R DS_REAL
static const ds_arg_desc A_ADVECT[] = {{"f", DS_IN, R, -1, 0}, {"vx", DS_IN, R, -1, 0}, {"vy", DS_IN, R, -1, 0},
                                       {"out", DS_OUT, R, -1, 0}, {0}};
static const ds_arg_desc A_ADVECT3[] = {{"f", DS_IN, R, 3, 0},  {"vx", DS_IN, R, 3, 0}, {"vy", DS_IN, R, 3, 0},
                                        {"vz", DS_IN, R, 3, 0}, {"out", DS_OUT, R, 3, 0}, {0}};
static const ds_arg_desc A_ADVEL2[] = {{"vx", DS_IN, R, 2, 0}, {"vy", DS_IN, R, 2, 0}, {"vx_out", DS_OUT, R, 2, 0},
                                       {"vy_out", DS_OUT, R, 2, 0}, {0}};
static const ds_arg_desc A_ADVEL3[] = {{"vx", DS_IN, R, 3, 0},      {"vy", DS_IN, R, 3, 0},      {"vz", DS_IN, R, 3, 0},
                                       {"vx_out", DS_OUT, R, 3, 0}, {"vy_out", DS_OUT, R, 3, 0}, {"vz_out", DS_OUT, R, 3, 0}, {0}};
static const ds_arg_desc A_JAC2[] = {{"vx", DS_IN, R, 2, 0},      {"vy", DS_IN, R, 2, 0}, {"vx_out", DS_OUT, R, 2, 0},
                                     {"vy_out", DS_OUT, R, 2, 0}, {"p", DS_OUT, R, 2, 0}, {0}};
static const ds_arg_desc A_JAC3[] = {{"vx", DS_IN, R, 3, 0},      {"vy", DS_IN, R, 3, 0},      {"vz", DS_IN, R, 3, 0},
                                     {"vx_out", DS_OUT, R, 3, 0}, {"vy_out", DS_OUT, R, 3, 0}, {"vz_out", DS_OUT, R, 3, 0},
                                     {"p", DS_OUT, R, 3, 0}, {0}};
static const ds_arg_desc A_STEP2[] = {{"vx", DS_IN, R, 2, 0},      {"vy", DS_IN, R, 2, 0},      {"s", DS_IN, R, 2, 0},
                                      {"vx_out", DS_OUT, R, 2, 0}, {"vy_out", DS_OUT, R, 2, 0}, {"s_out", DS_OUT, R, 2, 0}, {0}};
static const ds_arg_desc A_STEP3[] = {{"vx", DS_IN, R, 3, 0},      {"vy", DS_IN, R, 3, 0},      {"vz", DS_IN, R, 3, 0},
                                      {"s", DS_IN, R, 3, 0},       {"vx_out", DS_OUT, R, 3, 0}, {"vy_out", DS_OUT, R, 3, 0},
                                      {"vz_out", DS_OUT, R, 3, 0}, {"s_out", DS_OUT, R, 3, 0}, {0}};
static const ds_arg_desc A_CG2[] = {{"vx", DS_IN, R, 2, 0},         {"vy", DS_IN, R, 2, 0},      {"p_guess", DS_NODIFF, R, 2, DS_GUESS},
                                    {"vx_out", DS_OUT, R, 2, 0},    {"vy_out", DS_OUT, R, 2, 0}, {"p", DS_OUT, R, 2, 0}, {0}};
static const ds_arg_desc A_CG3[] = {{"vx", DS_IN, R, 3, 0},      {"vy", DS_IN, R, 3, 0},      {"vz", DS_IN, R, 3, 0},
                                    {"p_guess", DS_NODIFF, R, 3, DS_GUESS}, {"vx_out", DS_OUT, R, 3, 0}, {"vy_out", DS_OUT, R, 3, 0},
                                    {"vz_out", DS_OUT, R, 3, 0}, {"p", DS_OUT, R, 3, 0}, {0}};
static const ds_arg_desc A_DIV2[] = {{"vx", DS_IN, R, 2, 0}, {"vy", DS_IN, R, 2, 0}, {"div", DS_OUT, R, 2, 0}, {0}};
static const ds_arg_desc A_DIV3[] = {{"vx", DS_IN, R, 3, 0}, {"vy", DS_IN, R, 3, 0}, {"vz", DS_IN, R, 3, 0},
                                     {"div", DS_OUT, R, 3, 0}, {0}};
static const ds_arg_desc A_GS2[] = {{"vx", DS_IN, R, 2, 0}, {"vy", DS_IN, R, 2, 0}, {"p", DS_IN, R, 2, 0},
                                    {"vx_out", DS_OUT, R, 2, 0}, {"vy_out", DS_OUT, R, 2, 0}, {0}};
static const ds_arg_desc A_GS3[] = {{"vx", DS_IN, R, 3, 0},      {"vy", DS_IN, R, 3, 0},      {"vz", DS_IN, R, 3, 0},
                                    {"p", DS_IN, R, 3, 0},       {"vx_out", DS_OUT, R, 3, 0}, {"vy_out", DS_OUT, R, 3, 0},
                                    {"vz_out", DS_OUT, R, 3, 0}, {0}};
static const ds_arg_desc A_LAP[] = {{"p", DS_IN, R, -1, 0}, {"out", DS_OUT, R, -1, 0}, {0}};
static const ds_arg_desc A_FORCE2[] = {{"vx", DS_IN, R, 2, 0}, {"vy", DS_IN, R, 2, 0},      {"s", DS_IN, R, 2, 0},
                                       {"fx", DS_IN, R, 2, 0}, {"fy", DS_IN, R, 2, 0},      {"vx_out", DS_OUT, R, 2, 0},
                                       {"vy_out", DS_OUT, R, 2, 0}, {0}};
static const ds_arg_desc A_FORCE3[] = {{"vx", DS_IN, R, 3, 0},      {"vy", DS_IN, R, 3, 0},      {"vz", DS_IN, R, 3, 0},
                                       {"s", DS_IN, R, 3, 0},       {"fx", DS_IN, R, 3, 0},      {"fy", DS_IN, R, 3, 0},
                                       {"fz", DS_IN, R, 3, 0},      {"vx_out", DS_OUT, R, 3, 0}, {"vy_out", DS_OUT, R, 3, 0},
                                       {"vz_out", DS_OUT, R, 3, 0}, {0}};
static const ds_arg_desc A_INFLOW[] = {{"s", DS_IN, R, -1, 0}, {"mask", DS_NODIFF, R, -1, 0}, {"value", DS_IN, R, -1, 0},
                                       {"out", DS_OUT, R, -1, 0}, {0}};
#undef R

static const char *const P_BC[] = {"bc", 0};
static const char *const P_JAC[] = {"bc", "iters", "h", 0};
static const char *const P_CG[] = {"bc", "h", "tol", "max_iters", 0};
static const char *const P_BCH[] = {"bc", "h", 0};
static const char *const P_FORCE2[] = {"dt", "bx", "by", 0};
static const char *const P_FORCE3[] = {"dt", "bx", "by", "bz", 0};

/* cg_stats: out {8} (not differentiable): the CG solve counters of this process
 * (see smoke_cg_stats); params: reset (1: zero the counters after reading). */
static int stats_f(const ds_call *c) {
  double st[8];
  smoke_cg_stats(st, c->params[0] != 0);
  ds_real *o = ds_rdata(c->args[0]);
  int64_t n = c->args[0]->count < 8 ? c->args[0]->count : 8;
  for (int64_t i = 0; i < n; i++) o[i] = (ds_real)st[i];
  return DS_OK;
}
static const ds_arg_desc A_STATS[] = {{"stats", DS_OUT, DS_REAL, 1, 0}, {0}};
static const char *const P_STATS[] = {"reset", 0};

/* ---- initial conditions (not differentiable: they have no inputs) ------------ */
/* checker: out | period: 1 on cells where (i / period + j / period [+ k / period]) is odd. */
static int checker_f(const ds_call *c) {
  const ds_tensor *t = c->args[0];
  int64_t per = (int64_t)c->params[0];
  int64_t n1 = t->ndim > 1 ? t->dims[1] : 1, n2 = t->ndim > 2 ? t->dims[2] : 1;
  ds_real *o = ds_rdata(t);
  for (int64_t idx = 0; idx < t->count; idx++) {
    int64_t i = idx / (n1 * n2), j = (idx / n2) % n1, k = idx % n2;
    o[idx] = (ds_real)((i / per + j / per + (t->ndim > 2 ? k / per : 0)) % 2);
  }
  return DS_OK;
}
static int chk_checker(const ds_call *c) {
  if (c->args[0]->ndim < 1 || c->args[0]->ndim > 3)
    return c->host->error(c, "argument 'out' (#1) must have 1 to 3 dims");
  if (!(c->params[0] >= 1) || c->params[0] != floor(c->params[0]))
    return c->host->error(c, "param 'period' must be a positive integer, got %g", c->params[0]);
  return DS_OK;
}
/* blob: out | c0, c1, c2, radius: a soft ball max(0, 1 - |x - c|^2 / r^2) (cell units). */
static int blob_f(const ds_call *c) {
  const ds_tensor *t = c->args[0];
  int64_t n1 = t->ndim > 1 ? t->dims[1] : 1, n2 = t->ndim > 2 ? t->dims[2] : 1;
  double r2 = c->params[3] * c->params[3];
  ds_real *o = ds_rdata(t);
  for (int64_t idx = 0; idx < t->count; idx++) {
    double x[3] = {(double)(idx / (n1 * n2)), (double)((idx / n2) % n1), (double)(idx % n2)};
    double d2 = 0;
    for (int d = 0; d < t->ndim; d++) d2 += (x[d] - c->params[d]) * (x[d] - c->params[d]);
    double v = 1 - d2 / r2;
    o[idx] = (ds_real)(v > 0 ? v : 0);
  }
  return DS_OK;
}
static int chk_blob(const ds_call *c) {
  if (c->args[0]->ndim < 1 || c->args[0]->ndim > 3)
    return c->host->error(c, "argument 'out' (#1) must have 1 to 3 dims");
  if (!(c->params[3] > 0)) return c->host->error(c, "param 'radius' must be positive, got %g", c->params[3]);
  return DS_OK;
}
static const ds_arg_desc A_OUTONLY[] = {{"out", DS_OUT, DS_REAL, -1, 0}, {0}};
static const char *const P_CHECKER[] = {"period", 0};
static const char *const P_BLOB[] = {"c0", "c1", "c2", "radius", 0};

static int chk_force2(const ds_call *c) { return check_grid(c, 2, 1); }
static int chk_force3(const ds_call *c) { return check_grid(c, 3, 1); }

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "smoke");
  if (rc) return rc;
  const ds_kernel_desc K[] = {
      {"advect", A_ADVECT, P_BC, chk_advect2, {advect_f}, {advect_a}},
      {"advect3", A_ADVECT3, P_BC, chk_advect3, {advect_f}, {advect_a}},
      {"advect_vel", A_ADVEL2, P_BC, chk_advect2, {advect_vel2_f}, {advect_vel2_a}},
      {"advect_vel3", A_ADVEL3, P_BC, chk_advect3, {advect_vel3_f}, {advect_vel3_a}},
      {"project", A_JAC2, P_JAC, chk_jacobi2, {jac2_f}, {jac2_a}},
      {"project3", A_JAC3, P_JAC, chk_jacobi3, {jac3_f}, {jac3_a}},
      {"step", A_STEP2, P_JAC, chk_jacobi2, {step2_f}, {step2_a}},
      {"step3", A_STEP3, P_JAC, chk_jacobi3, {step3_f}, {step3_a}},
      {"project_cg", A_CG2, P_CG, chk_cg2, {cg2_f}, {cg2_a}},
      {"project3_cg", A_CG3, P_CG, chk_cg3, {cg3_f}, {cg3_a}},
      {"divergence", A_DIV2, P_BCH, chk_op, {div_f}, {div_a}},
      {"divergence3", A_DIV3, P_BCH, chk_op, {div_f}, {div_a}},
      {"gradsub", A_GS2, P_BCH, chk_op, {gs_f}, {gs_a}},
      {"gradsub3", A_GS3, P_BCH, chk_op, {gs_f}, {gs_a}},
      {"laplacian", A_LAP, P_BC, chk_op, {lap_f}, {lap_a}},
      {"force", A_FORCE2, P_FORCE2, chk_force2, {force2_f}, {force2_a}},
      {"force3", A_FORCE3, P_FORCE3, chk_force3, {force3_f}, {force3_a}},
      {"inflow", A_INFLOW, NULL, chk_same, {inflow_f}, {inflow_a}},
      {"cg_stats", A_STATS, P_STATS, NULL, {stats_f}, {NULL}},
      {"checker", A_OUTONLY, P_CHECKER, chk_checker, {checker_f}, {NULL}},
      {"blob", A_OUTONLY, P_BLOB, chk_blob, {blob_f}, {NULL}},
  };
  for (size_t i = 0; i < sizeof K / sizeof K[0]; i++)
    if ((rc = host->register_kernel(reg, &K[i])) != DS_OK) return rc;
  return DS_OK;
}
