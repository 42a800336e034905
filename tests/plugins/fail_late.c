/* Broken on purpose: registers two kernels, then fails. The loader must roll
 * both back. */
#include <diffsim/plugin.h>

static int noop(const ds_call *c) {
  (void)c;
  return DS_OK;
}
static const ds_arg_desc ARGS[] = {{"x", DS_IN, DS_REAL, -1, 0}, {"out", DS_OUT, DS_REAL, -1, 0}, {0}};

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "fail_late");
  if (rc) return rc;
  ds_kernel_desc a = {"first", ARGS, 0, 0, {noop}, {noop}};
  ds_kernel_desc b = {"second", ARGS, 0, 0, {noop}, {noop}};
  if ((rc = host->register_kernel(reg, &a)) || (rc = host->register_kernel(reg, &b))) return rc;
  return DS_ERR_NOMEM; /* pretend a later allocation failed */
}
