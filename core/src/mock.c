/* The core's kernels on the mock device. Mock memory is host memory behind
 * pointers the host cannot dereference (device_mock.c); a core kernel runs
 * there by calling its CPU code on shadow tensors whose pointers are
 * translated back. Plugins get no such trampoline: a plugin kernel launched
 * with mock tensors fails like one launched on a device it does not support. */
#include "internal.h"

#include <string.h>

static int run_on_host(const ds_call *call, int adjoint) {
  ds_tensor shadow[DS_MAX_ARGS], grads[DS_MAX_ARGS];
  ds_tensor *ptrs[DS_MAX_ARGS];
  for (int i = 0; i < call->nargs; i++) {
    shadow[i] = *call->args[i];
    shadow[i].ptr = ds_mock_host_ptr(call->args[i]->ptr);
    shadow[i].device = DS_CPU;
    shadow[i].grad_ = NULL;
    if (call->args[i]->grad_) {
      grads[i] = *call->args[i]->grad_;
      grads[i].ptr = ds_mock_host_ptr(call->args[i]->grad_->ptr);
      grads[i].device = DS_CPU;
      shadow[i].grad_ = &grads[i];
    }
    ptrs[i] = &shadow[i];
  }
  ds_call c = *call;
  c.args = ptrs;
  c.device = DS_CPU;
  const ds_kernel_desc *d = &call->kernel->desc;
  return adjoint ? d->adjoint[DS_CPU](&c) : d->forward[DS_CPU](&c);
}

int ds_mock_forward(const ds_call *call) { return run_on_host(call, 0); }
int ds_mock_adjoint(const ds_call *call) { return run_on_host(call, 1); }

