/* Advection kernels (the traversal is in advect.c, the interpolation in interp.h):
 *
 *   advect(f, out, v...)   out = f(x - v(x)); the velocity is a list of 2 or 3
 *                          components, and the grid's dimension is its length
 *   advect_vel(v..., v_out...)
 *                          v advected by itself, all components sampled at once;
 *                          velocity in and out are two list slots of one length
 * params: bc (0 periodic, 1 walls). */
#include "smoke.h"

/* ---- advect ------------------------------------------------------------------- */
#define ADVECT_ARGS(A) A(f, DS_IN, DS_REAL, -1, 0) A(out, DS_OUT, DS_REAL, -1, 0) A(v, DS_IN, DS_REAL, -1, DS_LIST)
#define ADVECT_PARAMS(P) P(bc)
DS_DECLARE_ARGS(advect, ADVECT_ARGS)
DS_DECLARE_PARAMS(advect, ADVECT_PARAMS)

static int advect_check(const ds_call *c) {
  int rc = smoke_check_list(c);
  if (!rc) rc = smoke_check_grid(c, c->list_len, 2);
  return rc ? rc : smoke_check_bc(c, DS_PARAMS(c, advect)->bc);
}

static int advect_forward(const ds_call *c) {
  const advect_argv *a = DS_ARGV(c, advect);
  const int nd = c->list_len, v0 = DS_SLOT(advect, v);
  const ds_real *v[3] = {0}, *f[1] = {ds_rdata(a->f)};
  ds_real *out[1] = {ds_rdata(a->out)};
  for (int d = 0; d < nd; d++) v[d] = ds_rdata(ds_list(c, d));
  return smoke_advect_run(c, nd, (int)DS_PARAMS(c, advect)->bc, a->f, 1, f, v, out, v0);
}

static int advect_adjoint(const ds_call *c) {
  const advect_argv *a = DS_ARGV(c, advect);
  const int nd = c->list_len;
  const ds_real *v[3] = {0}, *f[1] = {ds_rdata(a->f)}, *go[1] = {ds_rgrad(a->out)};
  ds_real *gf[1] = {ds_rgrad(a->f)}, *gv[3] = {0};
  for (int d = 0; d < nd; d++) {
    v[d] = ds_rdata(ds_list(c, d));
    gv[d] = ds_rgrad(ds_list(c, d));
  }
  return smoke_advect_adj_run(c, nd, (int)DS_PARAMS(c, advect)->bc, a->f, 1, f, v, go, gf, gv);
}

/* ---- advect_vel: the velocity advected by itself, 2D or 3D ------------------------
 * args: v (list of 2 or 3 components, in), v_out (list, out); params: bc. */
#define ADVECT_VEL_ARGS(A) A(v, DS_IN, DS_REAL, -1, DS_LIST) A(v_out, DS_OUT, DS_REAL, -1, DS_LIST)
DS_DECLARE_ARGS(advect_vel, ADVECT_VEL_ARGS)
/* the same param table as advect */
#define advect_vel_param_names advect_param_names

static int advect_vel_check(const ds_call *c) {
  int rc = smoke_check_list(c);
  if (!rc) rc = smoke_check_grid(c, c->list_len, 2);
  return rc ? rc : smoke_check_bc(c, DS_PARAMS(c, advect)->bc);
}

static int advect_vel_forward(const ds_call *c) {
  const int nd = c->list_len, V = DS_SLOT(advect_vel, v), VO = DS_SLOT(advect_vel, v_out);
  const ds_real *v[3] = {0};
  ds_real *out[3] = {0};
  for (int d = 0; d < nd; d++) v[d] = ds_rdata(ds_list_of(c, V, d)), out[d] = ds_rdata(ds_list_of(c, VO, d));
  return smoke_advect_run(c, nd, (int)DS_PARAMS(c, advect)->bc, ds_list_of(c, V, 0), nd, v, v, out, 0);
}

/* The fields are the velocity itself: the scatter half and the gather half
 * both land in gv. */
static int advect_vel_adjoint(const ds_call *c) {
  const int nd = c->list_len, V = DS_SLOT(advect_vel, v), VO = DS_SLOT(advect_vel, v_out);
  const ds_real *v[3] = {0}, *go[3] = {0};
  ds_real *gv[3] = {0};
  for (int d = 0; d < nd; d++) {
    v[d] = ds_rdata(ds_list_of(c, V, d));
    gv[d] = ds_rgrad(ds_list_of(c, V, d));
    go[d] = ds_rgrad(ds_list_of(c, VO, d));
  }
  return smoke_advect_adj_run(c, nd, (int)DS_PARAMS(c, advect)->bc, ds_list_of(c, V, 0), nd, v, v, go, gv, gv);
}

int smoke_register_advect(const ds_host_api *host, ds_registrar *reg) {
  const ds_kernel_desc k[] = {
      {"advect", advect_args, advect_param_names, advect_check, {advect_forward}, {advect_adjoint}},
      {"advect_vel", advect_vel_args, advect_vel_param_names, advect_vel_check, {advect_vel_forward},
       {advect_vel_adjoint}},
  };
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
    int rc = host->register_kernel(reg, &k[i]);
    if (rc) return rc;
  }
  return DS_OK;
}
