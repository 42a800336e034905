/* rigid2d: plugin entry point. Each kernel group lives in its own file:
 *   disc_kernels.c  rigid2d.disc_step, rigid2d.disc_rollout   (physics: discs.c)
 *   box_kernels.c   rigid2d.box_step, rigid2d.box_rollout, rigid2d.box_nn_rollout (physics: boxes.c)
 * This file only registers them. */
#include "rigid2d.h"

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "rigid2d");
  if (rc) return rc;
  const ds_kernel_desc *ks[] = {&rigid2d_disc_step_kernel, &rigid2d_disc_rollout_kernel, &rigid2d_box_step_kernel,
                                &rigid2d_box_rollout_kernel, &rigid2d_box_nn_rollout_kernel};
  for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
    if ((rc = host->register_kernel(reg, ks[i]))) return rc;
  return DS_OK;
}
