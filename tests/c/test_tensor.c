/* Tensors: creation, validation, refcounts, versions, memory accounting and
 * the allocator's reuse of blocks. */
#include <diffsim/core.h>
#include <math.h>

#include "check.h"

int main(void) {
  ds_ctx *ctx = ds_ctx_new(2);
  CHECK(ctx != NULL);
  int64_t shape[2] = {3, 5};
  ds_tensor *t = ds_tensor_new(ctx, DS_REAL, 2, shape);
  CHECK(t && t->count == 15 && t->ndim == 2 && t->dims[1] == 5 && t->refcount == 1);
  CHECK(((uintptr_t)t->ptr & 63) == 0); /* 64-byte aligned */
  CHECK(ds_tensor_get(t, 14) == 0.0);
  uint64_t v0 = t->ver;
  CHECK(ds_tensor_set(t, 3, 2.5) == DS_OK && t->ver == v0 + 1 && ds_tensor_get(t, 3) == 2.5);
  CHECK(ds_tensor_set(t, 15, 1) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "out of range");

  /* bad shapes and dtypes are errors, not crashes */
  int64_t neg[1] = {-1};
  CHECK(ds_tensor_new(ctx, DS_REAL, 1, neg) == NULL);
  CHECK_CONTAINS(ds_last_error(ctx), "invalid size");
  CHECK(ds_tensor_new(ctx, 7, 1, shape) == NULL);
  CHECK_CONTAINS(ds_last_error(ctx), "unknown dtype");
  CHECK(ds_tensor_new(ctx, DS_REAL, 5, shape) == NULL);
  CHECK(ds_tensor_set_requires_grad(ds_tensor_new(ctx, DS_I32, 1, shape), 1) == DS_ERR_ARG);

  /* reshape keeps the element count */
  int64_t flat[1] = {15}, wrong[2] = {4, 4};
  CHECK(ds_tensor_reshape(t, 1, flat) == DS_OK && t->ndim == 1 && t->dims[0] == 15);
  CHECK(ds_tensor_reshape(t, 2, wrong) == DS_ERR_ARG);

  /* grads are lazy and zero */
  CHECK(ds_tensor_grad(t) == NULL);
  ds_tensor *g = ds_tensor_ensure_grad(t);
  CHECK(g && g->count == 15 && ds_tensor_get(g, 7) == 0.0);

  /* memory accounting and block reuse: the same size comes back from the pool */
  int64_t live, peak, cached;
  ds_mem_stats(ctx, &live, &peak, &cached);
  CHECK(live > 0 && peak >= live);
  int64_t big[1] = {100000};
  ds_tensor *a = ds_tensor_empty(ctx, DS_REAL, 1, big);
  void *block = a->ptr;
  ds_tensor_release(a);
  ds_tensor *b = ds_tensor_empty(ctx, DS_REAL, 1, big);
  CHECK(b->ptr == block);
  ds_tensor_release(b);
  ds_mem_stats(ctx, &live, &peak, &cached);
  CHECK(cached >= 100000 * (int64_t)sizeof(ds_real));
  ds_mem_trim(ctx);
  ds_mem_stats(ctx, NULL, NULL, &cached);
  CHECK(cached == 0);

  /* seeded random fills repeat exactly */
  ds_tensor *r1 = ds_tensor_empty(ctx, DS_REAL, 1, big), *r2 = ds_tensor_empty(ctx, DS_REAL, 1, big);
  ds_fill_randn(r1, 42, 0, 1);
  ds_fill_randn(r2, 42, 0, 1);
  CHECK(memcmp(r1->ptr, r2->ptr, sizeof(ds_real) * 100000) == 0);
  double mean = ds_vdot(r1, r1) / 100000; /* E[x^2] = 1 */
  CHECK(fabs(mean - 1) < 0.02);

  /* refcounting: retain keeps it alive past one release */
  ds_tensor_retain(t);
  ds_tensor_release(t);
  CHECK(t->refcount == 1);
  ds_tensor_release(t);
  ds_tensor_release(r1);
  ds_tensor_release(r2);
  ds_ctx_free(ctx);
  TEST_DONE();
}
