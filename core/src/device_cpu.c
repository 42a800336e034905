/* The CPU device: 64-byte aligned host memory, copies are memcpy. It is also
 * the reference every other device is tested against. */
#include "device_impl.h"
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *ds_aligned_alloc(size_t bytes) {
  void *p = NULL;
  if (bytes == 0) bytes = 64;
  if (posix_memalign(&p, 64, (bytes + 63) & ~(size_t)63)) return NULL;
  return p;
}

void ds_aligned_free(void *p) { free(p); }

static const char *cpu_unavailable(void) { return NULL; }

static const char *cpu_copy(void *dst, const void *src, size_t bytes) {
  if (bytes) memmove(dst, src, bytes);
  return NULL;
}

static const char *cpu_memset(void *dst, int byte, size_t bytes) {
  if (bytes) memset(dst, byte, bytes);
  return NULL;
}

static const char *cpu_fill(void *dst, const void *value, size_t elem_size, size_t count) {
  if (elem_size == 4) {
    uint32_t v, *p = dst;
    memcpy(&v, value, 4);
    for (size_t i = 0; i < count; i++) p[i] = v;
  } else if (elem_size == 8) {
    uint64_t v, *p = dst;
    memcpy(&v, value, 8);
    for (size_t i = 0; i < count; i++) p[i] = v;
  } else {
    return "fill: element size must be 4 or 8";
  }
  return NULL;
}

static const char *cpu_sync(void) { return NULL; }

const ds_device_impl ds_device_cpu_impl = {
    "cpu", cpu_unavailable, ds_aligned_alloc, ds_aligned_free, cpu_copy, cpu_copy, cpu_copy, cpu_memset, cpu_fill,
    cpu_sync,
};
