/* Scratch memory for the running launch. A plugin asks for what one call needs
 * (host->scratch); the chunks live until the launch returns. Afterwards a
 * context that needed several chunks gets one chunk as large as all of them,
 * so a step loop reaches a steady state with one block and no allocation. */
#include "internal.h"

#include <stdlib.h>

enum { CHUNK_HEADER = 64, MIN_CHUNK = 1 << 16 };

static ds_scratch_chunk *new_chunk(size_t cap) {
  ds_scratch_chunk *c = ds_aligned_alloc(CHUNK_HEADER + cap);
  if (!c) return NULL;
  c->next = NULL;
  c->cap = cap;
  c->used = 0;
  return c;
}

void *ds_scratch_get(const ds_call *call, size_t bytes) {
  ds_ctx *ctx = call->ctx;
  bytes = (bytes + 63) & ~(size_t)63;
  ds_scratch_chunk *c = ctx->scratch;
  if (!c || c->cap - c->used < bytes) {
    size_t total = 0;
    for (ds_scratch_chunk *k = c; k; k = k->next) total += k->cap;
    size_t cap = bytes > total ? bytes : total;
    ds_scratch_chunk *n = new_chunk(cap < MIN_CHUNK ? MIN_CHUNK : cap);
    if (!n) {
      ds_host_error(call, "out of memory asking for %zu bytes of scratch", bytes);
      return NULL;
    }
    n->next = c;
    ctx->scratch = c = n;
  }
  void *p = (char *)c + CHUNK_HEADER + c->used;
  c->used += bytes;
  return p;
}

void ds_scratch_reset(ds_ctx *ctx) {
  ds_scratch_chunk *c = ctx->scratch;
  if (!c) return;
  if (c->next) {
    size_t total = 0;
    for (ds_scratch_chunk *k = c; k; k = k->next) total += k->cap;
    ds_scratch_free(ctx);
    ctx->scratch = new_chunk(total); /* NULL on failure: the next request retries */
    return;
  }
  c->used = 0;
}

void ds_scratch_free(ds_ctx *ctx) {
  while (ctx->scratch) {
    ds_scratch_chunk *n = ctx->scratch->next;
    ds_aligned_free(ctx->scratch);
    ctx->scratch = n;
  }
}
