/* articulation: plugin entry point. The kernels live in kernels.c, the
 * dynamics in dyn.inc (built on reals in dyn_real.c and on dual numbers in
 * dyn_dual.c, and on reverse-recording numbers in dyn_rev.c), the model checks in model.c. */
#include "kernels.h"

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "articulation");
  if (rc) return rc;
  /* per context: the reverse-mode tapes of the adjoints (contract_rev.c) */
  if ((rc = host->state_size(reg, sizeof(art_state), art_state_destroy))) return rc;
  const ds_kernel_desc *ks[] = {&art_fk_kernel, &art_rnea_kernel, &art_crba_kernel, &art_aba_kernel, &art_step_kernel,
                                &art_rollout_kernel, &art_momentum_kernel, &art_implicit_step_kernel,
                                &art_nn_rollout_kernel, &art_implicit_rollout_kernel};
  for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
    if ((rc = host->register_kernel(reg, ks[i]))) return rc;
  return DS_OK;
}
