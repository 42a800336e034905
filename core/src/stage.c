/* Host views of tensor memory. The core's host-side code (element access,
 * conversions, anomaly checks, images, random fills) works on a host pointer;
 * on the CPU that is the tensor's memory itself, on any other device a
 * temporary copy moved through the device interface. So no host code ever
 * dereferences a device pointer, and CPU runs pay nothing extra. */
#include "internal.h"

#include <stdlib.h>

int64_t ds_tensor_bytes(const ds_tensor *t) { return t->count * ds_dtype_size(t->dtype); }

void *ds_host_view(const ds_tensor *t, int read, const char *fn) {
  if (t->device == DS_CPU) return t->ptr;
  int64_t bytes = ds_tensor_bytes(t);
  void *host = ds_aligned_alloc((size_t)bytes);
  if (!host) {
    ds_fail(t->ctx, DS_ERR_NOMEM, "%s: out of memory copying %lld bytes from %s to the host", fn, (long long)bytes,
            ds_device_name(t->device));
    return NULL;
  }
  if (read && ds_device_copy(t->ctx, DS_CPU, host, t->device, t->ptr, bytes) != DS_OK) {
    ds_aligned_free(host);
    return NULL;
  }
  return host;
}

int ds_host_commit(ds_tensor *t, void *view) {
  if (t->device == DS_CPU || !view) return DS_OK;
  int rc = ds_device_copy(t->ctx, t->device, t->ptr, DS_CPU, view, ds_tensor_bytes(t));
  ds_aligned_free(view);
  return rc;
}

void ds_host_done(const ds_tensor *t, void *view) {
  if (t->device != DS_CPU) ds_aligned_free(view);
}
