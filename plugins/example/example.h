/* The example plugin's kernel declaration, shared by every file that registers
 * an implementation of it (example.c for the CPU, example_mock.c for the mock
 * device; a CUDA file would include it the same way). The registry merges the
 * registrations by name and compares the tables, so they are written once, here.
 *
 * example.step: one semi-implicit Euler step of point masses
 *     v' = v + dt (accel + sum_k forces_k)        x' = x + dt v'
 *   x, v        positions and velocities (any shape, the same for all)
 *   accel       a 0-dim tensor: the acceleration shared by every mass (gravity).
 *               A physical parameter: pass a number, or a tensor that requires
 *               grad to identify it from data.
 *   x_out, v_out
 *   forces      a list (0 or more) of per-mass accelerations, each shaped like x
 *   dt          param (a double) */
#ifndef EXAMPLE_H
#define EXAMPLE_H

#include <diffsim/plugin.h>

#define STEP_ARGS(A)                                                                     \
  A(x, DS_IN, DS_REAL, -1, 0) A(v, DS_IN, DS_REAL, -1, 0) A(accel, DS_IN, DS_REAL, 0, 0) \
  A(x_out, DS_OUT, DS_REAL, -1, 0) A(v_out, DS_OUT, DS_REAL, -1, 0) A(forces, DS_IN, DS_REAL, -1, DS_LIST)
#define STEP_PARAMS(P) P(dt)
DS_DECLARE_ARGS(step, STEP_ARGS)
DS_DECLARE_PARAMS(step, STEP_PARAMS)

int example_register_mock(const ds_host_api *host, ds_registrar *reg);

#endif
