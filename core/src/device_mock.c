/* The mock device: host memory behind addresses the host cannot use.
 *
 * A device pointer is the real host pointer XOR bit 62. User-space addresses
 * on x86-64 and AArch64 stay below 2^48, so the result is non-canonical and
 * any accidental dereference by host code faults immediately instead of
 * silently working. Tests run the core's host paths on mock tensors to prove
 * they all go through the device interface. Byte offsets added to a device
 * pointer never reach bit 62, so `ptr + offset` stays valid on both sides. */
#include "device_impl.h"
#include "internal.h"

#include <stdint.h>
#include <string.h>

static const uintptr_t MOCK_BIT = (uintptr_t)1 << 62;

void *ds_mock_host_ptr(const void *device_ptr) {
  return device_ptr ? (void *)((uintptr_t)device_ptr ^ MOCK_BIT) : NULL;
}

static void *device_ptr(void *host) { return host ? (void *)((uintptr_t)host ^ MOCK_BIT) : NULL; }

static const char *mock_unavailable(void) { return NULL; }

static void *mock_alloc(size_t bytes) { return device_ptr(ds_device_cpu_impl.alloc(bytes)); }

static void mock_free(void *p) { ds_device_cpu_impl.free(ds_mock_host_ptr(p)); }

static const char *mock_to_host(void *host, const void *src, size_t bytes) {
  return ds_device_cpu_impl.copy(host, ds_mock_host_ptr(src), bytes);
}

static const char *mock_from_host(void *dst, const void *host, size_t bytes) {
  return ds_device_cpu_impl.copy(ds_mock_host_ptr(dst), host, bytes);
}

static const char *mock_copy(void *dst, const void *src, size_t bytes) {
  return ds_device_cpu_impl.copy(ds_mock_host_ptr(dst), ds_mock_host_ptr(src), bytes);
}

static const char *mock_memset(void *dst, int byte, size_t bytes) {
  return ds_device_cpu_impl.memset(ds_mock_host_ptr(dst), byte, bytes);
}

static const char *mock_fill(void *dst, const void *value, size_t elem_size, size_t count) {
  return ds_device_cpu_impl.fill(ds_mock_host_ptr(dst), value, elem_size, count);
}

static const char *mock_sync(void) { return NULL; }

const ds_device_impl ds_device_mock_impl = {
    "mock", mock_unavailable, mock_alloc, mock_free, mock_to_host, mock_from_host, mock_copy, mock_memset, mock_fill,
    mock_sync,
};
