/* The wave plugin: height-field water by the damped wave equation (the model,
 * stencil and stability limit are in wave.h; derivations in docs/wave.md).
 * This file only registers the kernels; each lives in its own file:
 *   step.c    wave.step, wave.step_src   leap-frog update (with a source)
 *   start.c   wave.start                 second-order first step from height and velocity
 *   energy.c  wave.energy                the energy leap-frog conserves
 *   drops.c   wave.drops                 Gaussian drops (row, col, amplitude, width)
 *   phys.c    shared: grid params, c and alpha from their 0-dim tensors, CFL, stencil sums */
#include "wave.h"

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "wave");
  if (rc) return rc;
  if ((rc = wave_register_step(host, reg))) return rc;
  if ((rc = wave_register_start(host, reg))) return rc;
  if ((rc = wave_register_energy(host, reg))) return rc;
  return wave_register_drops(host, reg);
}
