/* example.step on the mock device: how a second device's implementation of a
 * kernel is registered from its own file (a CUDA file, example.cu, looks the
 * same with DS_CUDA). It uses the tables from example.h, so the registry merges
 * it into the CPU kernel of the same name.
 *
 * The mock device exists to test the core's device plumbing without a GPU: its
 * memory is not addressable by plugins. So this implementation only says so,
 * naming the kernel, instead of the core's "no implementation for device". */
#include "example.h"

static int step_forward_mock(const ds_call *c) {
  return c->host->error(c, "the mock device holds no addressable memory; run example.step on the cpu");
}

int example_register_mock(const ds_host_api *host, ds_registrar *reg) {
  ds_kernel_desc mock = {"step", step_args, step_param_names, NULL, {[DS_MOCK] = step_forward_mock}, {0}};
  return host->register_kernel(reg, &mock);
}
