/* The example plugin: a point mass under constant acceleration, one
 * semi-implicit Euler step. Small enough to read in a minute; the plugin
 * authoring tutorial (docs/plugin-authoring.md) builds it line by line.
 *
 *   v' = v + dt a          x' = x + dt v'
 *
 * Adjoint (reverse of the above, accumulating into input grads):
 *   gv' += dt gx'          gx += gx'          gv += gv'         */
#include <diffsim/plugin.h>

static int check(const ds_call *c) {
  const ds_tensor *x = c->args[0];
  for (int i = 1; i < 4; i++) {
    int rc = ds_expect_shape(c, i, x->ndim, x->dims[0], x->dims[1], x->dims[2], x->dims[3]);
    if (rc) return rc;
  }
  if (!(c->params[0] > 0)) return c->host->error(c, "param 'dt' must be positive, got %g", c->params[0]);
  return DS_OK;
}

static int forward(const ds_call *c) {
  const ds_real *x = ds_rdata(c->args[0]), *v = ds_rdata(c->args[1]);
  ds_real *xo = ds_rdata(c->args[2]), *vo = ds_rdata(c->args[3]);
  ds_real dt = (ds_real)c->params[0], a = (ds_real)c->params[1];
  for (int64_t i = 0; i < c->args[0]->count; i++) {
    vo[i] = v[i] + dt * a;
    xo[i] = x[i] + dt * vo[i];
  }
  return DS_OK;
}

static int adjoint(const ds_call *c) {
  ds_real *gx = ds_rgrad(c->args[0]), *gv = ds_rgrad(c->args[1]);
  const ds_real *gxo = ds_rgrad(c->args[2]), *gvo = ds_rgrad(c->args[3]);
  ds_real dt = (ds_real)c->params[0];
  for (int64_t i = 0; i < c->args[0]->count; i++) {
    if (gx) gx[i] += gxo[i];
    if (gv) gv[i] += gvo[i] + dt * gxo[i];
  }
  return DS_OK;
}

static const ds_arg_desc ARGS[] = {
    {"x", DS_IN, DS_REAL, -1, 0}, {"v", DS_IN, DS_REAL, -1, 0}, {"x_out", DS_OUT, DS_REAL, -1, 0}, {"v_out", DS_OUT, DS_REAL, -1, 0}, {0}};
static const char *const PARAMS[] = {"dt", "accel", 0};

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "example");
  if (rc) return rc;
  ds_kernel_desc step = {"step", ARGS, PARAMS, check, {forward}, {adjoint}};
  return host->register_kernel(reg, &step);
}
