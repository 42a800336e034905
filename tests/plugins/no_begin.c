/* Broken on purpose: tries to register a kernel without ds_plugin_begin. */
#include <diffsim/plugin.h>

static int noop(const ds_call *c) {
  (void)c;
  return DS_OK;
}
static const ds_arg_desc ARGS[] = {{"x", DS_IN, DS_REAL, -1, 0}, {0}};

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  ds_kernel_desc a = {"sneaky", ARGS, 0, 0, {noop}, {noop}};
  host->register_kernel(reg, &a);
  return DS_OK;
}
