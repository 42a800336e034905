/* The whole stable-fluids step in one kernel (Jacobi projection):
 *
 *   v1 = advect(v, v);  v' = P v1 (K Jacobi sweeps);  s' = advect(s, v')
 *
 * args: v_0..v_{nd-1}, s (in), v'_0..v'_{nd-1}, s' (out); params: bc, iters, h.
 *
 * One launch per step instead of three: a third of the tape records, outputs
 * and gradient buffers, and v1 is never stored. The adjoint needs no
 * recomputation: each stage's adjoint reads only the step's inputs and outputs
 * (the smoke adjoint reads s and v', the projection is self-adjoint, the
 * velocity advection's adjoint reads v):
 *
 *   gv'  += local part of d s' / d v'          (smoke advection, gather half)
 *   gs   += scatter of gs'                      (smoke advection, scatter half)
 *   gv1   = P gv'                               (projection adjoint)
 *   gv   += advect_vel adjoint of gv1           (gather + scatter)
 *
 * The velocity in and out are two list slots of one length: one kernel for 2D and 3D. */
#include "smoke.h"

#define STEP_PARAMS(P) P(bc) P(iters) P(h)
DS_DECLARE_PARAMS(step, STEP_PARAMS)
/* args: s (in), s_out (out), v (list of 2 or 3 components, in), v_out (list, out) */
#define STEP_ARGS(A)                                                                                          \
  A(s, DS_IN, DS_REAL, -1, 0) A(s_out, DS_OUT, DS_REAL, -1, 0) A(v, DS_IN, DS_REAL, -1, DS_LIST)               \
  A(v_out, DS_OUT, DS_REAL, -1, DS_LIST)
DS_DECLARE_ARGS(step, STEP_ARGS)

/* component d of the velocity in / out */
#define VIN(c, d) ds_list_of(c, DS_SLOT(step, v), d)
#define VOUT(c, d) ds_list_of(c, DS_SLOT(step, v_out), d)

/* The same checks as the Jacobi projection (the advection needs less). */
static int step_check(const ds_call *c) {
  const step_params *p = DS_PARAMS(c, step);
  int rc = smoke_check_list(c);
  if (!rc) rc = smoke_check_grid(c, c->list_len, SMOKE_MIN_CELLS);
  if (!rc) rc = smoke_check_bc(c, p->bc);
  if (!rc) rc = smoke_check_int(c, "iters", p->iters, 0, 100000);
  if (!rc) rc = smoke_check_h(c, p->h);
  return rc;
}

static int step_forward(const ds_call *c) {
  const int nd = c->list_len;
  const ds_tensor *t0 = c->args[0];
  const step_params *p = DS_PARAMS(c, step);
  const int bc = (int)p->bc, K = (int)p->iters;
  const double h = p->h;
  const int64_t cells = t0->count;
  ds_real *v1buf = c->host->scratch(c, (size_t)(nd * cells) * sizeof(ds_real));
  if (!v1buf) return DS_ERR_NOMEM; /* host->scratch set the error */
  const ds_real *v[3] = {0};
  ds_real *v1[3] = {0}, *vo[3] = {0};
  for (int d = 0; d < nd; d++) {
    v[d] = ds_rdata(VIN(c, d));
    v1[d] = v1buf + d * cells;
    vo[d] = ds_rdata(VOUT(c, d));
  }
  int rc = smoke_advect_run(c, nd, bc, t0, nd, v, v, v1, DS_SLOT(step, v));
  const ds_real *v1c[3] = {v1[0], v1[1], v1[2]};
  if (!rc) rc = smoke_jacobi_run(c, nd, bc, t0, K, h, v1c, NULL, vo, 0, NULL);
  if (!rc) {
    const ds_real *s[1] = {ds_rdata(DS_ARGV(c, step)->s)};
    ds_real *so[1] = {ds_rdata(DS_ARGV(c, step)->s_out)};
    const ds_real *voc[3] = {vo[0], vo[1], vo[2]};
    rc = smoke_advect_run(c, nd, bc, t0, 1, s, voc, so, DS_SLOT(step, v) + nd); /* v_out[0] */
  }
  return rc;
}

static int step_adjoint(const ds_call *c) {
  const int nd = c->list_len;
  const ds_tensor *t0 = c->args[0];
  const step_params *p = DS_PARAMS(c, step);
  const int bc = (int)p->bc, K = (int)p->iters;
  const double h = p->h;
  const int64_t cells = t0->count;
  ds_real *gv[3] = {0};
  int want_v = 0;
  for (int d = 0; d < nd; d++) want_v |= (gv[d] = ds_rgrad(VIN(c, d))) != NULL;
  ds_real *gs = ds_rgrad(DS_ARGV(c, step)->s);
  if (!want_v && !gs) return DS_OK;
  const ds_real *v[3] = {0}, *vo[3] = {0};
  for (int d = 0; d < nd; d++) {
    v[d] = ds_rdata(VIN(c, d));
    vo[d] = ds_rdata(VOUT(c, d));
  }
  const ds_real *s[1] = {ds_rdata(DS_ARGV(c, step)->s)};
  const ds_real *gso[1] = {ds_rgrad(DS_ARGV(c, step)->s_out)};
  ds_real *gsl[1] = {gs};
  ds_real *buf = want_v ? c->host->scratch(c, (size_t)(2 * nd * cells) * sizeof(ds_real)) : NULL;
  if (want_v && !buf) return DS_ERR_NOMEM; /* host->scratch set the error */
  ds_real *gvo[3] = {0}, *gv1[3] = {0};
  if (want_v)
    for (int d = 0; d < nd; d++) {
      gvo[d] = buf + d * cells;
      gv1[d] = buf + (nd + d) * cells;
      memcpy(gvo[d], ds_rgrad(VOUT(c, d)), (size_t)cells * sizeof(ds_real));
    }
  int rc = smoke_advect_adj_run(c, nd, bc, t0, 1, s, vo, gso, gsl, gvo);
  if (!rc && want_v) {
    const ds_real *in[3] = {gvo[0], gvo[1], gvo[2]};
    rc = smoke_jacobi_run(c, nd, bc, t0, K, h, in, NULL, gv1, 0, NULL);
    if (!rc) {
      const ds_real *go[3] = {gv1[0], gv1[1], gv1[2]};
      rc = smoke_advect_adj_run(c, nd, bc, t0, nd, v, v, go, gv, gv);
    }
  }
  return rc;
}

int smoke_register_step(const ds_host_api *host, ds_registrar *reg) {
  const ds_kernel_desc k = {"step", step_args, step_param_names, step_check, {step_forward}, {step_adjoint}};
  return host->register_kernel(reg, &k);
}
