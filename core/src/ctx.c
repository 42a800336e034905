/* The context: precision of this build, threads, anomaly mode, registry, memory. */
#include "internal.h"

#include <stdlib.h>

int ds_real_size(void) { return (int)sizeof(ds_real); }
int ds_abi_version(void) { return DS_ABI_VERSION; }

ds_ctx *ds_ctx_new(int threads) {
  ds_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return NULL;
  ctx->refs = 1;
  /* a count the runtime cannot honour is refused: no context, never one with 0 threads */
  if (ds_set_threads(ctx, threads) != DS_OK) {
    free(ctx);
    return NULL;
  }
  if (ds_registry_init(ctx) != DS_OK) {
    ds_ctx_free(ctx);
    return NULL;
  }
  return ctx;
}

/* Tensors and tapes keep their context alive: a garbage collector may finalise
 * the context before them (LuaJIT does at exit), and their release must still
 * find its allocator. The context is freed when the last of them goes. */
void ds_ctx_ref(ds_ctx *ctx) { ctx->refs++; }

void ds_ctx_unref(ds_ctx *ctx) {
  if (--ctx->refs > 0) return;
  ds_solve_cache_free(ctx);
  ds_registry_free(ctx);
  ds_scratch_free(ctx);
  ds_tensor_headers_free(ctx);
  ds_pool_free_all(ctx);
  free(ctx);
}

void ds_ctx_free(ds_ctx *ctx) {
  if (ctx) ds_ctx_unref(ctx);
}

void ds_set_anomaly(ds_ctx *ctx, int on) { ctx->anomaly = on != 0; }
int ds_anomaly(const ds_ctx *ctx) { return ctx->anomaly; }
