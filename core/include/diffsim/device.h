/* diffsim devices: where tensor memory lives, and the only way the core (and
 * anyone else) moves bytes in and out of it.
 *
 * Device ids are ds_device in core.h (DS_CPU, DS_CUDA, DS_MOCK). Pointers
 * handed out for a device other than the CPU are that device's addresses: the
 * host must never dereference them. The "mock" device exists to prove it: it
 * is ordinary host memory behind deliberately non-canonical addresses, so any
 * host code path that forgets the interface crashes at once in the tests.
 *
 * FFI-clean like core.h; lua/diffsim/cdef.lua mirrors this file too.
 */
#ifndef DIFFSIM_DEVICE_H
#define DIFFSIM_DEVICE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- which devices exist ---------------------------------------------- */
int ds_device_count(void);                 /* number of device ids (DS_DEVICE_COUNT) */
const char *ds_device_name(int device);    /* "cpu", "cuda", "mock"; "unknown" otherwise */
int ds_device_find(const char *name);      /* the id of a name, or -1 */
int ds_device_available(int device);       /* 1 when tensors can be created there now */
/* NULL when the device is usable, else why not ("diffsim was built without
 * CUDA", "no CUDA device found (...)", "unknown device id 7"). */
const char *ds_device_unavailable(int device);

/* ---- raw memory ------------------------------------------------------- */
/* Each returns a status (or NULL) and, given a context, leaves a message that
 * names the operation and the device. ctx may be NULL (no message). */
void *ds_device_alloc(ds_ctx *ctx, int device, int64_t bytes);
void ds_device_free(ds_ctx *ctx, int device, void *ptr);
/* Any direction: host<->device, device<->device, across devices. */
int ds_device_copy(ds_ctx *ctx, int dst_device, void *dst, int src_device, const void *src, int64_t bytes);
int ds_device_memset(ds_ctx *ctx, int device, void *dst, int byte, int64_t bytes);
/* Repeats one element of elem_size bytes (4 or 8: an i32, a float or a double). */
int ds_device_fill(ds_ctx *ctx, int device, void *dst, const void *value, int elem_size, int64_t count);
int ds_device_sync(ds_ctx *ctx, int device); /* waits for the device's queued work */

#ifdef __cplusplus
}
#endif
#endif
