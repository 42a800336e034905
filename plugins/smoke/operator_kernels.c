/* The projection's building blocks as kernels (stencils in operators.c):
 *
 *   divergence(div, v...)          div = D v; v is a list of 2 or 3 components
 *   gradsub(v, p, out)             out = v - G_axis p, one velocity component
 *                                  (params bc, h, axis): one kernel for 2D and 3D
 *   laplacian(p, out)              out = A p = D G p (self-adjoint)
 *
 * Adjoints use G = D^T / h^2: D^T g = h^2 G g, G^T g = D g / h^2. */
#include "smoke.h"

/* ---- divergence ----------------------------------------------------------------- */
#define DIVERGENCE_ARGS(A) A(div, DS_OUT, DS_REAL, -1, 0) A(v, DS_IN, DS_REAL, -1, DS_LIST)
#define DIVERGENCE_PARAMS(P) P(bc) P(h)
DS_DECLARE_ARGS(divergence, DIVERGENCE_ARGS)
DS_DECLARE_PARAMS(divergence, DIVERGENCE_PARAMS)

static int divergence_check(const ds_call *c) {
  const divergence_params *p = DS_PARAMS(c, divergence);
  int rc = smoke_check_list(c);
  if (!rc) rc = smoke_check_grid(c, c->list_len, SMOKE_MIN_CELLS);
  if (!rc) rc = smoke_check_bc(c, p->bc);
  return rc ? rc : smoke_check_h(c, p->h);
}

static int divergence_forward(const ds_call *c) {
  const divergence_params *p = DS_PARAMS(c, divergence);
  grid g = grid_make(c->list_len, (int)p->bc, DS_ARGV(c, divergence)->div);
  ds_real *zero = smoke_zero_line(c, &g);
  if (!zero) return DS_ERR_NOMEM;
  const ds_real *v[3] = {0};
  for (int d = 0; d < g.nd; d++) v[d] = ds_rdata(ds_list(c, d));
  op_div_lines(&g, p->h, v, NULL, ds_rdata(DS_ARGV(c, divergence)->div), 0, g.lines, zero);
  return DS_OK;
}

/* gv += D^T gdiv = h^2 G gdiv, computed as 0 - G(-h^2 gdiv) (the same stencil
 * and wall mask as the forward G). */
static int divergence_adjoint(const ds_call *c) {
  const divergence_params *p = DS_PARAMS(c, divergence);
  grid g = grid_make(c->list_len, (int)p->bc, DS_ARGV(c, divergence)->div);
  const double h = p->h;
  ds_real *out[3] = {0};
  int any = 0;
  for (int d = 0; d < g.nd; d++) any |= (out[d] = ds_rgrad(ds_list(c, d))) != NULL;
  if (!any) return DS_OK;
  size_t bytes = (size_t)g.cells * sizeof(ds_real);
  ds_real *zero = c->host->scratch(c, bytes), *q = c->host->scratch(c, bytes);
  if (!zero || !q) return DS_ERR_NOMEM;
  memset(zero, 0, bytes);
  const ds_real *gd = ds_rgrad(DS_ARGV(c, divergence)->div);
  for (int64_t i = 0; i < g.cells; i++) q[i] = (ds_real)(-h * h) * gd[i];
  const ds_real *v[3] = {zero, zero, zero};
  op_gradsub_lines(&g, h, v, q, out, 1, 0, g.lines, zero);
  return DS_OK;
}

/* ---- gradsub --------------------------------------------------------------------- */
#define GRADSUB_ARGS(A) A(v, DS_IN, DS_REAL, -1, 0) A(p, DS_IN, DS_REAL, -1, 0) A(out, DS_OUT, DS_REAL, -1, 0)
#define GRADSUB_PARAMS(P) P(bc) P(h) P(axis)
DS_DECLARE_ARGS(gradsub, GRADSUB_ARGS)
DS_DECLARE_PARAMS(gradsub, GRADSUB_PARAMS)

static int gradsub_check(const ds_call *c) {
  const gradsub_params *p = DS_PARAMS(c, gradsub);
  const int nd = (int)c->args[0]->ndim;
  if (nd != 2 && nd != 3) return c->host->error(c, "argument 'v' (#1) must be a 2D or 3D grid, got %d dims", nd);
  int rc = smoke_check_grid(c, nd, SMOKE_MIN_CELLS);
  if (!rc) rc = smoke_check_bc(c, p->bc);
  if (!rc) rc = smoke_check_h(c, p->h);
  return rc ? rc : smoke_check_int(c, "axis", p->axis, 0, nd - 1);
}

/* The line stencil takes every component; the others read a zero grid and
 * write nowhere. */
static int gradsub_forward(const ds_call *c) {
  const gradsub_argv *a = DS_ARGV(c, gradsub);
  const gradsub_params *p = DS_PARAMS(c, gradsub);
  grid g = grid_make((int)a->v->ndim, (int)p->bc, a->v);
  const int ax = (int)p->axis;
  size_t bytes = (size_t)g.cells * sizeof(ds_real);
  ds_real *zero = c->host->scratch(c, bytes);
  if (!zero) return DS_ERR_NOMEM;
  memset(zero, 0, bytes);
  const ds_real *v[3] = {zero, zero, zero};
  ds_real *out[3] = {0};
  v[ax] = ds_rdata(a->v), out[ax] = ds_rdata(a->out);
  op_gradsub_lines(&g, p->h, v, ds_rdata(a->p), out, 0, 0, g.lines, zero);
  return DS_OK;
}

/* gv += mask(gout) (a wall cell of the normal component outputs 0);
 * gp -= G_axis^T gout = -D_axis gout / h^2. */
static int gradsub_adjoint(const ds_call *c) {
  const gradsub_argv *a = DS_ARGV(c, gradsub);
  const gradsub_params *p = DS_PARAMS(c, gradsub);
  grid g = grid_make((int)a->v->ndim, (int)p->bc, a->v);
  const int ax = (int)p->axis;
  const double h = p->h;
  size_t bytes = (size_t)g.cells * sizeof(ds_real);
  ds_real *zero = c->host->scratch(c, bytes), *q = c->host->scratch(c, bytes);
  if (!zero || !q) return DS_ERR_NOMEM;
  memset(zero, 0, bytes);
  const ds_real *go[3] = {zero, zero, zero};
  ds_real *gv[3] = {0};
  go[ax] = ds_rgrad(a->out), gv[ax] = ds_rgrad(a->v);
  if (gv[ax]) op_gradsub_lines(&g, h, go, zero, gv, 1, 0, g.lines, zero); /* gv += mask(gout - G 0) */
  ds_real *gp = ds_rgrad(a->p);
  if (gp) {
    op_div_lines(&g, h, go, NULL, q, 0, g.lines, zero);
    ds_real s = (ds_real)(1.0 / (h * h));
    for (int64_t i = 0; i < g.cells; i++) gp[i] -= s * q[i];
  }
  return DS_OK;
}

/* ---- laplacian ------------------------------------------------------------------- */
#define LAPLACIAN_ARGS(A) A(p, DS_IN, DS_REAL, -1, 0) A(out, DS_OUT, DS_REAL, -1, 0)
#define LAPLACIAN_PARAMS(P) P(bc)
DS_DECLARE_ARGS(laplacian, LAPLACIAN_ARGS)
DS_DECLARE_PARAMS(laplacian, LAPLACIAN_PARAMS)

static int laplacian_check(const ds_call *c) {
  const int nd = (int)c->args[0]->ndim;
  if (nd != 2 && nd != 3) return c->host->error(c, "argument 'p' (#1) must be a 2D or 3D grid, got %d dims", nd);
  int rc = smoke_check_grid(c, nd, SMOKE_MIN_CELLS);
  return rc ? rc : smoke_check_bc(c, DS_PARAMS(c, laplacian)->bc);
}

static int laplacian_forward(const ds_call *c) {
  const laplacian_argv *a = DS_ARGV(c, laplacian);
  grid g = grid_make((int)a->p->ndim, (int)DS_PARAMS(c, laplacian)->bc, a->p);
  ds_real *zero = smoke_zero_line(c, &g);
  if (!zero) return DS_ERR_NOMEM;
  op_lap_lines(&g, ds_rdata(a->p), ds_rdata(a->out), 0, g.lines, zero);
  return DS_OK;
}

/* A is symmetric: gp += A gout. */
static int laplacian_adjoint(const ds_call *c) {
  const laplacian_argv *a = DS_ARGV(c, laplacian);
  ds_real *gp = ds_rgrad(a->p);
  if (!gp) return DS_OK;
  grid g = grid_make((int)a->p->ndim, (int)DS_PARAMS(c, laplacian)->bc, a->p);
  ds_real *zero = smoke_zero_line(c, &g), *q = c->host->scratch(c, (size_t)g.cells * sizeof(ds_real));
  if (!zero || !q) return DS_ERR_NOMEM;
  op_lap_lines(&g, ds_rgrad(a->out), q, 0, g.lines, zero);
  for (int64_t i = 0; i < g.cells; i++) gp[i] += q[i];
  return DS_OK;
}

int smoke_register_operators(const ds_host_api *host, ds_registrar *reg) {
  const ds_kernel_desc k[] = {
      {"divergence", divergence_args, divergence_param_names, divergence_check, {divergence_forward},
       {divergence_adjoint}},
      {"gradsub", gradsub_args, gradsub_param_names, gradsub_check, {gradsub_forward}, {gradsub_adjoint}},
      {"laplacian", laplacian_args, laplacian_param_names, laplacian_check, {laplacian_forward}, {laplacian_adjoint}},
  };
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
    int rc = host->register_kernel(reg, &k[i]);
    if (rc) return rc;
  }
  return DS_OK;
}
