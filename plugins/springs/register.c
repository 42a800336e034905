/* springs: plugin entry point. Each kernel is declared (arguments, params,
 * check, forward, adjoint) in its own file; this only registers them.
 *
 *   topology.c    springs.topology    CSR adjacency, built once per system
 *   step.c        springs.step        one step; springs.rollout: T steps, given actuation
 *   nn_rollout.c  springs.nn_rollout  T steps with the fused controller (controller.c);
 *                 springs.nn_input    the controller's input, for controllers written in Lua
 *   energy.c      springs.energy      kinetic, spring and gravity energy (diagnostics)
 *   render.c      springs.render      one RGB frame (pictures)
 * One element of a trajectory as a loss term is core.pick (springs.select in Lua). */
#include "springs.h"

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "springs");
  if (rc) return rc;
  const ds_kernel_desc *ks[] = {&springs_topology_kernel, &springs_step_kernel,     &springs_rollout_kernel,
                                &springs_nn_rollout_kernel, &springs_nn_input_kernel, &springs_energy_kernel,
                                &springs_render_kernel};
  for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
    if ((rc = host->register_kernel(reg, ks[i]))) return rc;
  return DS_OK;
}
