/* fem.residual, fem.energy, fem.hessian: the incremental potential and its
 * derivatives at a given point y, for tests, diagnostics, and Newton written
 * in Lua (an unrolled Newton to check the IFT gradient against). The point's
 * pinned rows are used as given. fem.stats: the last step's numbers. */
#include "fem.h"

#include <string.h>

/* Every kernel here has the system's head (slots 0..6), then the point y (slot 7). */
enum { Y_SLOT = 7 };
static int eval_check(const ds_call *c, int params_slot) {
  int rc = fem_check_head(c, 0, params_slot, NULL);
  if (rc) return rc;
  return ds_expect_shape(c, Y_SLOT, 2, c->args[0]->dims[0], 3, 0, 0);
}
/* S from the launch, and y (slot 7) as doubles. */
static int eval_setup(const ds_call *c, int params_slot, fem_sys *S, const double **y) {
  const int implicit = ((const sys_params *)(const void *)c->params)->mode == FEM_IMPLICIT;
  int rc = fem_setup(S, c, 0, params_slot, implicit);
  if (rc) return rc;
  const ds_tensor *t = c->args[Y_SLOT];
  *y = fem_to_double(c, ds_rdata(t), t->count);
  return *y ? DS_OK : DS_ERR_NOMEM;
}

/* ---- fem.residual: G = dPhi/dy, differentiable in y and every input -------- */
#define RES_ARGS(A) SYS_HEAD_ARGS(A) A(y, DS_IN, DS_REAL, 2, 0) A(G, DS_OUT, DS_REAL, 2, 0) A(params, DS_IN, DS_REAL, -1, DS_LIST)
#define RES_PARAMS(P) SYS_PARAMS(P)
DS_DECLARE_ARGS(res, RES_ARGS)
DS_DECLARE_PARAMS(res, RES_PARAMS)

static int res_check(const ds_call *c) {
  int rc = eval_check(c, DS_SLOT(res, params));
  if (rc) return rc;
  return ds_expect_shape(c, DS_SLOT(res, G), 2, c->args[0]->dims[0], 3, 0, 0);
}
static int res_forward(const ds_call *c) {
  fem_sys S;
  const double *y;
  int rc = eval_setup(c, DS_SLOT(res, params), &S, &y);
  if (rc) return rc;
  fem_sys_gradient(&S, y, ds_rdata(DS_ARGV(c, res)->G));
  return DS_OK;
}
static int res_adjoint(const ds_call *c) {
  const res_argv *a = DS_ARGV(c, res);
  fem_sys S;
  const double *y;
  int rc = eval_setup(c, DS_SLOT(res, params), &S, &y);
  if (rc) return rc;
  double gg[3] = {0, 0, 0};
  ds_real *ggrav = ds_rgrad(a->gravity);
  fem_pullback out = {ds_rgrad(a->x), S.v0 ? ds_rgrad(a->v) : NULL, ds_rgrad(a->rest), ds_rgrad(a->y),
                      ggrav ? gg : NULL};
  if ((rc = fem_sys_pullback(&S, y, ds_rgrad(a->G), &out))) return rc;
  if (ggrav)
    for (int d = 0; d < 3; d++) ggrav[d] += (ds_real)gg[d];
  return DS_OK;
}
const ds_kernel_desc fem_residual_kernel = {"residual", res_args, res_param_names, res_check,
                                            {[DS_CPU] = res_forward}, {[DS_CPU] = res_adjoint}};

/* ---- fem.energy: Phi(y), a 0-dim output (not differentiable: use residual) -- */
#define EN_ARGS(A) SYS_HEAD_ARGS(A) A(y, DS_NODIFF, DS_REAL, 2, 0) A(E, DS_OUT, DS_REAL, 0, 0) A(params, DS_NODIFF, DS_REAL, -1, DS_LIST)
DS_DECLARE_ARGS(en, EN_ARGS)
static int en_check(const ds_call *c) { return eval_check(c, DS_SLOT(en, params)); }
static int en_forward(const ds_call *c) {
  fem_sys S;
  const double *y;
  int rc = eval_setup(c, DS_SLOT(en, params), &S, &y);
  if (rc) return rc;
  ds_rdata(DS_ARGV(c, en)->E)[0] = (ds_real)fem_sys_energy(&S, y);
  return DS_OK;
}
const ds_kernel_desc fem_energy_kernel = {"energy", en_args, res_param_names, en_check, {[DS_CPU] = en_forward}, {0}};

/* ---- fem.hessian: triplets (rows, cols, vals) of dG/dy at y ---------------- */
#define HS_ARGS(A)                                                                                      \
  SYS_HEAD_ARGS(A) A(y, DS_NODIFF, DS_REAL, 2, 0) A(rows, DS_OUT, DS_I32, 1, 0) A(cols, DS_OUT, DS_I32, 1, 0) \
  A(vals, DS_OUT, DS_REAL, 1, 0) A(params, DS_NODIFF, DS_REAL, -1, DS_LIST)
#define HS_PARAMS(P) SYS_PARAMS(P) P(project)
DS_DECLARE_ARGS(hs, HS_ARGS)
DS_DECLARE_PARAMS(hs, HS_PARAMS)
static int hs_check(const ds_call *c) { return eval_check(c, DS_SLOT(hs, params)); }
static int hs_forward(const ds_call *c) {
  const hs_argv *a = DS_ARGV(c, hs);
  fem_sys S;
  const double *y;
  int rc = eval_setup(c, DS_SLOT(hs, params), &S, &y);
  if (rc) return rc;
  if (a->rows->count != S.ntrip || a->cols->count != S.ntrip || a->vals->count != S.ntrip)
    return c->host->error(c, "arguments 'rows', 'cols', 'vals' must have %lld entries (the Hessian's triplets)",
                          (long long)S.ntrip);
  fem_sys_pattern(&S, ds_idata(a->rows), ds_idata(a->cols));
  fem_sys_hessian(&S, y, DS_PARAMS(c, hs)->project != 0, ds_rdata(a->vals));
  return DS_OK;
}
const ds_kernel_desc fem_hessian_kernel = {"hessian", hs_args, hs_param_names, hs_check, {[DS_CPU] = hs_forward}, {0}};

/* ---- fem.stats: the last step's Newton iterations, timings ------------------ */
#define ST_ARGS(A) A(out, DS_OUT, DS_REAL, 1, 0)
DS_DECLARE_ARGS(st, ST_ARGS)
static int st_check(const ds_call *c) { return ds_expect_shape(c, 0, 1, 10, 0, 0, 0); }
static int st_forward(const ds_call *c) {
  const fem_state *st = c->state;
  for (int i = 0; i < 10; i++) ds_rdata(DS_ARGV(c, st)->out)[i] = (ds_real)st->stats[i];
  return DS_OK;
}
const ds_kernel_desc fem_stats_kernel = {"stats", st_args, NULL, st_check, {[DS_CPU] = st_forward}, {0}};
