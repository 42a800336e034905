/* The CUDA device of a build without the CUDA toolkit: present, so device ids
 * stay fixed, but unavailable, with the reason. Nothing else is ever called:
 * device.c refuses every operation on an unavailable device. */
#include "device_impl.h"

static const char *stub_unavailable(void) { return "diffsim was built without CUDA"; }
static void *stub_alloc(size_t bytes) {
  (void)bytes;
  return 0;
}
static void stub_free(void *p) { (void)p; }
static const char *stub_copy(void *dst, const void *src, size_t bytes) {
  (void)dst, (void)src, (void)bytes;
  return "diffsim was built without CUDA";
}
static const char *stub_memset(void *dst, int byte, size_t bytes) {
  (void)dst, (void)byte, (void)bytes;
  return "diffsim was built without CUDA";
}
static const char *stub_fill(void *dst, const void *value, size_t elem_size, size_t count) {
  (void)dst, (void)value, (void)elem_size, (void)count;
  return "diffsim was built without CUDA";
}
static const char *stub_sync(void) { return "diffsim was built without CUDA"; }

const ds_device_impl ds_device_cuda_impl = {
    "cuda", stub_unavailable, stub_alloc, stub_free, stub_copy, stub_copy, stub_copy, stub_memset, stub_fill, stub_sync,
};
