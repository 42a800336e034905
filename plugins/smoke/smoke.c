/* The smoke plugin: differentiable incompressible flow on a collocated grid
 * (2D and 3D), in the form of the stable-fluids step the reference suite uses:
 *
 *   v1 = advect(v, v)          semi-Lagrangian, bilinear / trilinear
 *   v  = project(v1)           div, pressure solve (Jacobi sweeps or CG), v1 - grad p
 *   s  = advect(s, v)
 *
 * This file only registers: each kernel group lives in its own file with its
 * argument / param tables, checks, forward and adjoint (see README.md for the
 * map), and asks for the per-context state (the CG counters). */
#include "smoke.h"

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "smoke");
  if (rc) return rc;
  /* every context that loads the plugin gets its own zeroed counters */
  if ((rc = host->state_size(reg, sizeof(smoke_state), NULL))) return rc;
  int (*const groups[])(const ds_host_api *, ds_registrar *) = {
      smoke_register_advect, smoke_register_jacobi,    smoke_register_cg,      smoke_register_step,
      smoke_register_operators, smoke_register_forces, smoke_register_initial, smoke_register_jacobi_warm,
  };
  for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
    if ((rc = groups[i](host, reg)) != DS_OK) return rc;
  return DS_OK;
}
