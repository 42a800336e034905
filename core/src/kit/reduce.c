/* The one deterministic reduction: partial sums of fixed 4096-element blocks,
 * accumulated in double, then added in block order. Block boundaries depend
 * only on n, so the result is bitwise the same for every thread count. These
 * are the blocks core.sum / core.dot / ds_vdot always used, so routing them
 * through here changed no printed number. */
#include "kit_internal.h"

#include <math.h>

/* Threads take PER_TASK blocks at a time: arrays under 64 K elements never pay
 * for waking a thread. Up to STACK_BLOCKS partials (4 M elements) live on the
 * stack; longer arrays allocate the partials (the only allocation here). */
enum { BLOCK = 4096, PER_TASK = 16, STACK_BLOCKS = 1024 };

typedef struct red_job {
  const ds_real *a, *b; /* b == NULL: sum */
  int64_t n;
  double *partial;
} red_job;

static void partial_blocks(int64_t b0, int64_t b1, void *u) {
  const red_job *j = u;
  for (int64_t blk = b0; blk < b1; blk++) {
    int64_t lo = blk * BLOCK, hi = lo + BLOCK < j->n ? lo + BLOCK : j->n;
    double s = 0;
    if (j->b)
      for (int64_t i = lo; i < hi; i++) s += (double)j->a[i] * j->b[i];
    else
      for (int64_t i = lo; i < hi; i++) s += j->a[i];
    j->partial[blk] = s;
  }
}

static double reduce(ds_ctx *ctx, const char *who, const ds_real *a, const ds_real *b, int is_dot, int64_t n) {
  if (n <= 0) return 0;
  if (!a || (is_dot && !b)) {
    if (ctx) ds_fail(ctx, DS_ERR_ARG, "%s: array is NULL with n = %lld", who, (long long)n);
    return NAN;
  }
  int64_t nb = (n + BLOCK - 1) / BLOCK;
  double stack[STACK_BLOCKS];
  double *partial = nb <= STACK_BLOCKS ? stack : ds_aligned_alloc((size_t)nb * sizeof(double));
  if (!partial) {
    if (ctx) ds_fail(ctx, DS_ERR_NOMEM, "%s: out of memory for %lld partial sums", who, (long long)nb);
    return NAN;
  }
  red_job j = {a, b, n, partial};
  ds_parallel_for(ctx, nb, PER_TASK, partial_blocks, &j);
  double s = 0;
  for (int64_t i = 0; i < nb; i++) s += partial[i];
  if (partial != stack) ds_aligned_free(partial);
  return s;
}

double ds_kit_sum(ds_ctx *ctx, const ds_real *a, int64_t n) { return reduce(ctx, "kit.sum", a, NULL, 0, n); }
double ds_kit_dot(ds_ctx *ctx, const ds_real *a, const ds_real *b, int64_t n) {
  return reduce(ctx, "kit.dot", a, b, 1, n);
}
