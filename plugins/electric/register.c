/* The electric plugin: a point charge steered by electrodes whose charges a
 * network sets each step (the DiffTaichi "electric" scene). Kernels:
 *   step.c     electric.step        one step with given charges
 *   rollout.c  electric.nn_rollout  T steps of network + physics in one launch */
#include "electric.h"

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "electric");
  if (rc) return rc;
  if ((rc = host->register_kernel(reg, &electric_step_kernel))) return rc;
  return host->register_kernel(reg, &electric_nn_rollout_kernel);
}
