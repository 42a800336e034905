/* Tensor memory: 64-byte aligned blocks recycled through size-class free lists,
 * so a step loop that makes the same tensors every step stops calling malloc
 * after its first step. Single-threaded: a context belongs to one thread. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

void *ds_aligned_alloc(size_t bytes) {
  void *p = NULL;
  if (bytes == 0) bytes = 64;
  if (posix_memalign(&p, 64, (bytes + 63) & ~(size_t)63)) return NULL;
  return p;
}

void ds_aligned_free(void *p) { free(p); }

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

void *ds_pool_get(ds_ctx *ctx, int64_t bytes) {
  int64_t rounded = bytes;
  int c = size_class(bytes, &rounded);
  void *p = NULL;
  if (c >= 0 && ctx->free_lists[c]) {
    ds_pool_block *b = ctx->free_lists[c];
    ctx->free_lists[c] = b->next;
    ctx->cached -= rounded;
    p = b;
  } else {
    p = ds_aligned_alloc((size_t)rounded);
    if (!p) return NULL;
  }
  ctx->live += rounded;
  if (ctx->live > ctx->peak) ctx->peak = ctx->live;
  return p;
}

void ds_pool_put(ds_ctx *ctx, void *p, int64_t bytes) {
  if (!p) return;
  int64_t rounded = bytes;
  int c = size_class(bytes, &rounded);
  ctx->live -= rounded;
  if (c < 0) {
    ds_aligned_free(p);
    return;
  }
  ds_pool_block *b = p;
  b->next = ctx->free_lists[c];
  ctx->free_lists[c] = b;
  ctx->cached += rounded;
}

void ds_pool_free_all(ds_ctx *ctx) {
  for (int c = 0; c < DS_POOL_CLASSES; c++) {
    while (ctx->free_lists[c]) {
      ds_pool_block *b = ctx->free_lists[c];
      ctx->free_lists[c] = b->next;
      ds_aligned_free(b);
    }
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
