/* mpm: plugin entry point; each kernel lives in its own file. */
#include "mpm3.h"

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "mpm");
  if (rc) return rc;
  if ((rc = host->register_kernel(reg, &mpm_substep_kernel))) return rc;
  if ((rc = host->register_kernel(reg, &mpm_substep3_kernel))) return rc;
  return host->register_kernel(reg, &mpm_render_kernel);
}
