/* Broken on purpose: registers the same kernel name twice. */
#include <diffsim/plugin.h>

static int noop(const ds_call *c) {
  (void)c;
  return DS_OK;
}
static const ds_arg_desc ARGS[] = {{"x", DS_IN, DS_REAL, -1, 0}, {0}};

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "dup_kernel");
  if (rc) return rc;
  ds_kernel_desc a = {"twice", ARGS, 0, 0, {noop}, {noop}};
  if ((rc = host->register_kernel(reg, &a))) return rc;
  return host->register_kernel(reg, &a);
}
