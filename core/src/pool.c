/* Tensor memory: blocks of every device recycled through per-device
 * size-class free lists, so a step loop that makes the same tensors every
 * step stops allocating after its first step. Blocks come from the device
 * interface; the pool never touches their contents (device memory may not be
 * host-addressable), so each cached block hangs on a small link allocated on
 * the host, and spent links are kept for reuse. Single-threaded: a context
 * belongs to one thread. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Classes: 64 B, then 4 per power of two (x1, x1.25, x1.5, x1.75): at most 25% slack. */
static int size_class(int64_t bytes, int64_t *rounded) {
  int64_t s = 64;
  int c = 0;
  if (bytes <= 64) {
    *rounded = 64;
    return 0;
  }
  while (s * 2 < bytes) {
    s *= 2;
    c += 4;
  }
  for (int q = 1; q <= 4; q++) {
    int64_t r = s + s / 4 * q;
    if (r >= bytes) {
      *rounded = r;
      c += q;
      break;
    }
  }
  return c < DS_POOL_CLASSES ? c : -1;
}

/* Returns NULL with ds_last_error set (device unavailable, out of memory). */
void *ds_pool_get(ds_ctx *ctx, int device, int64_t bytes) {
  int64_t rounded = bytes;
  int c = size_class(bytes, &rounded);
  void *p = NULL;
  if (c >= 0 && ctx->free_lists[device][c]) {
    ds_pool_block *b = ctx->free_lists[device][c];
    ctx->free_lists[device][c] = b->next;
    p = b->ptr;
    b->next = ctx->spare_links;
    ctx->spare_links = b;
    ctx->cached -= rounded;
  } else {
    p = ds_device_alloc(ctx, device, rounded);
    if (!p) return NULL;
  }
  ctx->live += rounded;
  if (ctx->live > ctx->peak) ctx->peak = ctx->live;
  return p;
}

void ds_pool_put(ds_ctx *ctx, int device, void *p, int64_t bytes) {
  if (!p) return;
  int64_t rounded = bytes;
  int c = size_class(bytes, &rounded);
  ctx->live -= rounded;
  ds_pool_block *b = NULL;
  if (c >= 0) {
    b = ctx->spare_links;
    if (b)
      ctx->spare_links = b->next;
    else
      b = malloc(sizeof *b);
  }
  if (!b) { /* too big to cache, or no link: give it back now */
    ds_device_free(ctx, device, p);
    return;
  }
  b->ptr = p;
  b->next = ctx->free_lists[device][c];
  ctx->free_lists[device][c] = b;
  ctx->cached += rounded;
}

void ds_pool_free_all(ds_ctx *ctx) {
  for (int d = 0; d < DS_DEVICE_COUNT; d++) {
    for (int c = 0; c < DS_POOL_CLASSES; c++) {
      while (ctx->free_lists[d][c]) {
        ds_pool_block *b = ctx->free_lists[d][c];
        ctx->free_lists[d][c] = b->next;
        ds_device_free(ctx, d, b->ptr);
        free(b);
      }
    }
  }
  while (ctx->spare_links) {
    ds_pool_block *b = ctx->spare_links;
    ctx->spare_links = b->next;
    free(b);
  }
  ctx->cached = 0;
}

void ds_mem_stats(const ds_ctx *ctx, int64_t *live, int64_t *peak, int64_t *cached) {
  if (live) *live = ctx->live;
  if (peak) *peak = ctx->peak;
  if (cached) *cached = ctx->cached;
}

void ds_mem_reset_peak(ds_ctx *ctx) { ctx->peak = ctx->live; }
void ds_mem_trim(ds_ctx *ctx) { ds_pool_free_all(ctx); }
