/* Initial conditions made in C, so scripts never loop over cells in Lua. Not
 * differentiable: they have no inputs.
 *
 *   checker(out)  params period: 1 on cells where (i / period + j / period
 *                 [+ k / period]) is odd
 *   blob(out)     params c0, c1, c2, radius: a soft ball max(0, 1 - |x - c|^2 / r^2)
 *                 (cell units, 0-based centre) */
#include "smoke.h"

#define OUT_ARGS(A) A(out, DS_OUT, DS_REAL, -1, 0)
DS_DECLARE_ARGS(initial, OUT_ARGS)
#define CHECKER_PARAMS(P) P(period)
#define BLOB_PARAMS(P) P(c0) P(c1) P(c2) P(radius)
DS_DECLARE_PARAMS(checker, CHECKER_PARAMS)
DS_DECLARE_PARAMS(blob, BLOB_PARAMS)

static int out_dims_check(const ds_call *c) {
  int nd = DS_ARGV(c, initial)->out->ndim;
  if (nd < 1 || nd > 3) return c->host->error(c, "argument 'out' (#1) must have 1 to 3 dims, got %d", nd);
  return DS_OK;
}

static int checker_check(const ds_call *c) {
  double per = DS_PARAMS(c, checker)->period;
  if (!(per >= 1) || per != floor(per))
    return c->host->error(c, "param 'period' must be a positive integer, got %g", per);
  return out_dims_check(c);
}

static int checker_forward(const ds_call *c) {
  const ds_tensor *t = DS_ARGV(c, initial)->out;
  int64_t per = (int64_t)DS_PARAMS(c, checker)->period;
  int64_t n1 = t->ndim > 1 ? t->dims[1] : 1, n2 = t->ndim > 2 ? t->dims[2] : 1;
  ds_real *o = ds_rdata(t);
  for (int64_t idx = 0; idx < t->count; idx++) {
    int64_t i = idx / (n1 * n2), j = (idx / n2) % n1, k = idx % n2;
    o[idx] = (ds_real)((i / per + j / per + (t->ndim > 2 ? k / per : 0)) % 2);
  }
  return DS_OK;
}

static int blob_check(const ds_call *c) {
  double r = DS_PARAMS(c, blob)->radius;
  if (!(r > 0)) return c->host->error(c, "param 'radius' must be positive, got %g", r);
  return out_dims_check(c);
}

static int blob_forward(const ds_call *c) {
  const ds_tensor *t = DS_ARGV(c, initial)->out;
  const blob_params *p = DS_PARAMS(c, blob);
  const double ctr[3] = {p->c0, p->c1, p->c2};
  int64_t n1 = t->ndim > 1 ? t->dims[1] : 1, n2 = t->ndim > 2 ? t->dims[2] : 1;
  double r2 = p->radius * p->radius;
  ds_real *o = ds_rdata(t);
  for (int64_t idx = 0; idx < t->count; idx++) {
    double x[3] = {(double)(idx / (n1 * n2)), (double)((idx / n2) % n1), (double)(idx % n2)};
    double d2 = 0;
    for (int d = 0; d < t->ndim; d++) d2 += (x[d] - ctr[d]) * (x[d] - ctr[d]);
    double v = 1 - d2 / r2;
    o[idx] = (ds_real)(v > 0 ? v : 0);
  }
  return DS_OK;
}

int smoke_register_initial(const ds_host_api *host, ds_registrar *reg) {
  const ds_kernel_desc checker = {"checker", initial_args, checker_param_names, checker_check, {checker_forward}, {NULL}};
  const ds_kernel_desc blob = {"blob", initial_args, blob_param_names, blob_check, {blob_forward}, {NULL}};
  int rc = host->register_kernel(reg, &checker);
  return rc ? rc : host->register_kernel(reg, &blob);
}
