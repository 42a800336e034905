/* Device dispatch: every byte the core moves in or out of tensor memory goes
 * through here, to one ds_device_impl per device. This file checks ids and
 * availability and turns an implementation's failure into a message that
 * names the operation and the device. */
#include "device_impl.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ds_device_impl *const impls[DS_DEVICE_COUNT] = {
    [DS_CPU] = &ds_device_cpu_impl,
    [DS_CUDA] = &ds_device_cuda_impl,
    [DS_MOCK] = &ds_device_mock_impl,
};

int ds_device_count(void) { return DS_DEVICE_COUNT; }

static int valid(int device) { return device >= 0 && device < DS_DEVICE_COUNT; }

const char *ds_device_name(int device) { return valid(device) ? impls[device]->name : "unknown"; }

int ds_device_find(const char *name) {
  for (int d = 0; name && d < DS_DEVICE_COUNT; d++)
    if (!strcmp(name, impls[d]->name)) return d;
  return -1;
}

const char *ds_device_unavailable(int device) {
  if (!valid(device)) return "unknown device id";
  return impls[device]->unavailable();
}

int ds_device_available(int device) { return ds_device_unavailable(device) == NULL; }

/* The implementation of a usable device, or NULL with a message naming `op`. */
static const ds_device_impl *usable(ds_ctx *ctx, const char *op, int device) {
  if (!valid(device)) {
    if (ctx) ds_fail(ctx, DS_ERR_ARG, "%s: unknown device id %d", op, device);
    return NULL;
  }
  const char *why = impls[device]->unavailable();
  if (why) {
    if (ctx) ds_fail(ctx, DS_ERR_ARG, "%s: device '%s' is not available: %s", op, impls[device]->name, why);
    return NULL;
  }
  return impls[device];
}

static int failed(ds_ctx *ctx, const char *op, int device, const char *what) {
  if (!what) return DS_OK;
  return ctx ? ds_fail(ctx, DS_ERR_IO, "%s on %s: %s", op, ds_device_name(device), what) : DS_ERR_IO;
}

void *ds_device_alloc(ds_ctx *ctx, int device, int64_t bytes) {
  const ds_device_impl *d = usable(ctx, "device_alloc", device);
  if (!d) return NULL;
  if (bytes < 0) {
    if (ctx) ds_fail(ctx, DS_ERR_ARG, "device_alloc: negative size %lld", (long long)bytes);
    return NULL;
  }
  void *p = d->alloc((size_t)bytes);
  if (!p && ctx)
    ds_fail(ctx, DS_ERR_NOMEM, "device_alloc: out of memory on %s allocating %lld bytes", d->name, (long long)bytes);
  return p;
}

void ds_device_free(ds_ctx *ctx, int device, void *ptr) {
  (void)ctx;
  /* Memory can only come from a device that was available, and availability
   * never changes in a process, so no check beyond the id. */
  if (ptr && valid(device)) impls[device]->free(ptr);
}

/* Between two devices that are neither the CPU: through a host buffer. */
static int staged_copy(ds_ctx *ctx, int dst_device, void *dst, int src_device, const void *src, size_t bytes) {
  const ds_device_impl *dd = impls[dst_device], *sd = impls[src_device];
  void *host = malloc(bytes ? bytes : 1);
  if (!host) return ctx ? ds_fail(ctx, DS_ERR_NOMEM, "device_copy: out of memory staging %zu bytes", bytes) : DS_ERR_NOMEM;
  int culprit = src_device;
  const char *what = sd->to_host(host, src, bytes);
  if (!what) {
    culprit = dst_device;
    what = dd->from_host(dst, host, bytes);
  }
  free(host);
  return failed(ctx, "device_copy", culprit, what);
}

int ds_device_copy(ds_ctx *ctx, int dst_device, void *dst, int src_device, const void *src, int64_t bytes) {
  const ds_device_impl *dd = usable(ctx, "device_copy", dst_device);
  const ds_device_impl *sd = dd ? usable(ctx, "device_copy", src_device) : NULL;
  if (!sd) return DS_ERR_ARG;
  if (bytes < 0) return ctx ? ds_fail(ctx, DS_ERR_ARG, "device_copy: negative size %lld", (long long)bytes) : DS_ERR_ARG;
  if (bytes == 0) return DS_OK;
  size_t n = (size_t)bytes;
  if (dst_device == src_device) return failed(ctx, "device_copy", dst_device, dd->copy(dst, src, n));
  if (src_device == DS_CPU) return failed(ctx, "device_copy", dst_device, dd->from_host(dst, src, n));
  if (dst_device == DS_CPU) return failed(ctx, "device_copy", src_device, sd->to_host(dst, src, n));
  return staged_copy(ctx, dst_device, dst, src_device, src, n);
}

int ds_device_memset(ds_ctx *ctx, int device, void *dst, int byte, int64_t bytes) {
  const ds_device_impl *d = usable(ctx, "device_memset", device);
  if (!d) return DS_ERR_ARG;
  if (bytes <= 0) return DS_OK;
  return failed(ctx, "device_memset", device, d->memset(dst, byte, (size_t)bytes));
}

int ds_device_fill(ds_ctx *ctx, int device, void *dst, const void *value, int elem_size, int64_t count) {
  const ds_device_impl *d = usable(ctx, "device_fill", device);
  if (!d) return DS_ERR_ARG;
  if (elem_size != 4 && elem_size != 8)
    return ctx ? ds_fail(ctx, DS_ERR_ARG, "device_fill: element size must be 4 or 8, got %d", elem_size) : DS_ERR_ARG;
  if (count <= 0) return DS_OK;
  return failed(ctx, "device_fill", device, d->fill(dst, value, (size_t)elem_size, (size_t)count));
}

int ds_device_sync(ds_ctx *ctx, int device) {
  const ds_device_impl *d = usable(ctx, "device_sync", device);
  if (!d) return DS_ERR_ARG;
  return failed(ctx, "device_sync", device, d->sync());
}
