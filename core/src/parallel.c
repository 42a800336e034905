/* parallel_for over fixed-size blocks. The block boundaries depend only on n and
 * grain, never on the thread count, so any kernel that writes per block (or
 * reduces per block and combines in block order) is deterministic. */
#include "internal.h"

#include <omp.h>

void ds_parallel_for(ds_ctx *ctx, int64_t n, int64_t grain, ds_range_fn fn, void *user) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t nblocks = (n + grain - 1) / grain;
  int threads = ctx ? ctx->threads : 1;
  if (nblocks == 1 || threads <= 1) {
    for (int64_t b = 0; b < nblocks; b++) {
      int64_t lo = b * grain, hi = lo + grain < n ? lo + grain : n;
      fn(lo, hi, user);
    }
    return;
  }
  if (nblocks < threads) threads = (int)nblocks;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t b = 0; b < nblocks; b++) {
    int64_t lo = b * grain, hi = lo + grain < n ? lo + grain : n;
    fn(lo, hi, user);
  }
}

int ds_host_threads(ds_ctx *ctx) { return ctx ? ctx->threads : 1; }

int ds_set_threads(ds_ctx *ctx, int threads) {
  if (threads <= 0) threads = omp_get_num_procs();
  if (threads > 1024) return ds_fail(ctx, DS_ERR_ARG, "ds_set_threads: threads=%d is out of range", threads);
  ctx->threads = threads;
  return DS_OK;
}

int ds_threads(const ds_ctx *ctx) { return ctx->threads; }
