/* One device's memory functions, ggml-backend style: device.c dispatches on
 * the device id and turns failures into messages; an implementation only moves
 * bytes. Plain C with C linkage so device_cuda.cu can fill one in. */
#ifndef DIFFSIM_DEVICE_IMPL_H
#define DIFFSIM_DEVICE_IMPL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every function but alloc returns NULL on success, else a short static text
 * saying what failed (e.g. "cudaMemcpy: invalid argument"). Pointers are the
 * device's own; "host" pointers are ordinary CPU memory. */
typedef struct ds_device_impl {
  const char *name;
  const char *(*unavailable)(void);  /* NULL when usable, else why not */
  void *(*alloc)(size_t bytes);      /* NULL when out of memory; 64-byte aligned */
  void (*free)(void *ptr);
  const char *(*to_host)(void *host, const void *src, size_t bytes);
  const char *(*from_host)(void *dst, const void *host, size_t bytes);
  const char *(*copy)(void *dst, const void *src, size_t bytes); /* within the device */
  const char *(*memset)(void *dst, int byte, size_t bytes);
  const char *(*fill)(void *dst, const void *value, size_t elem_size, size_t count);
  const char *(*sync)(void);
} ds_device_impl;

extern const ds_device_impl ds_device_cpu_impl;
extern const ds_device_impl ds_device_cuda_impl;  /* a stub when CUDA is not compiled in */
extern const ds_device_impl ds_device_mock_impl;

#ifdef __cplusplus
}
#endif
#endif
