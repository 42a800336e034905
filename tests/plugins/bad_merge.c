/* Broken on purpose: a second device's implementation of a kernel declared
 * with other arguments than the first (the registry must refuse to merge). */
#include <diffsim/plugin.h>

static int noop(const ds_call *c) {
  (void)c;
  return DS_OK;
}
static const ds_arg_desc ARGS[] = {{"x", DS_IN, DS_REAL, -1, 0}, {0}};
static const ds_arg_desc OTHER[] = {{"y", DS_IN, DS_REAL, -1, 0}, {0}};

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "bad_merge");
  if (rc) return rc;
  ds_kernel_desc cpu = {"op", ARGS, 0, 0, {[DS_CPU] = noop}, {[DS_CPU] = noop}};
  ds_kernel_desc mock = {"op", OTHER, 0, 0, {[DS_MOCK] = noop}, {[DS_MOCK] = noop}};
  if ((rc = host->register_kernel(reg, &cpu))) return rc;
  return host->register_kernel(reg, &mock);
}
