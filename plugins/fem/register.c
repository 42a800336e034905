/* fem: plugin entry point. Each kernel is declared in its own file; this only
 * registers them. Append new kernels at the end of the list.
 *
 *   step.c   fem.step       one implicit Euler / static / symplectic step, IFT adjoint
 *   eval.c   fem.residual   the incremental potential's gradient (differentiable)
 *            fem.energy     the incremental potential
 *            fem.hessian    its Hessian as triplets
 *            fem.stats      the last step's Newton iterations and timings
 * Element types: element.h (interface), types.c (table), tet.c. */
#include "fem.h"

extern const ds_kernel_desc fem_shell_hinges_kernel; /* shell_kernel.c */

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "fem");
  if (rc) return rc;
  if ((rc = host->state_size(reg, sizeof(fem_state), fem_state_destroy))) return rc;
  const ds_kernel_desc *ks[] = {
      &fem_step_kernel, &fem_residual_kernel, &fem_energy_kernel, &fem_hessian_kernel, &fem_stats_kernel,
      &fem_shell_hinges_kernel,
  };
  for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
    if ((rc = host->register_kernel(reg, ks[i]))) return rc;
  return DS_OK;
}
