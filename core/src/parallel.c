/* parallel_for over fixed-size blocks. The block boundaries depend only on n and
 * grain, never on the thread count, so any kernel that writes per block (or
 * reduces per block and combines in block order) is deterministic, and the
 * number of threads that run the blocks may change from one call to the next. */
#include "internal.h"

#include <omp.h>

/* The threads a region runs on now: the requested count, or with "auto" the
 * requested count capped by the cores other processes leave free (cpuload.c),
 * so a competing CPU-bound process does not turn every barrier into a wait for
 * a descheduled worker. An explicit count is used as given. */
static int effective_threads(ds_ctx *ctx) {
  if (!ctx) return 1;
  int t = ctx->threads;
  if (t < 1) t = 1; /* never 0: a context always has at least one thread */
  if (ctx->threads_auto && t > 1) {
    int avail = ds_free_cpus();
    if (avail > 0 && avail < t) t = avail;
  }
  return t;
}

void ds_parallel_for(ds_ctx *ctx, int64_t n, int64_t grain, ds_range_fn fn, void *user) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t nblocks = (n + grain - 1) / grain;
  /* a call from inside a region (a kernel's block calling parallel_for) runs
   * serially: nested regions would only add threads the cores do not have */
  int threads = nblocks > 1 && !omp_in_parallel() ? effective_threads(ctx) : 1;
  if (threads <= 1) {
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

/* What plugins see as the thread count (to size per-thread tiles): the count a
 * region would run on now. */
int ds_host_threads(ds_ctx *ctx) { return effective_threads(ctx); }

/* threads == 0: auto, all the cores of this process's affinity mask, fewer
 * while other processes keep some of them busy. A negative count, or more than
 * DS_MAX_THREADS, is an error that leaves the context's threads unchanged. */
enum { DS_MAX_THREADS = 1024 };
int ds_set_threads(ds_ctx *ctx, int threads) {
  if (threads < 0 || threads > DS_MAX_THREADS)
    return ds_fail(ctx, DS_ERR_ARG, "set_threads: threads=%d is out of range (0 for all cores, or 1..%d)", threads,
                   DS_MAX_THREADS);
  int autom = threads == 0;
  if (autom) threads = omp_get_num_procs();
  if (threads < 1) threads = 1;
  ctx->threads = threads;
  ctx->threads_auto = autom;
  return DS_OK;
}

int ds_threads(const ds_ctx *ctx) { return ctx->threads; }
