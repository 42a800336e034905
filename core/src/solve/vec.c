/* Vector helpers for the solvers. Reductions are computed per fixed block of
 * DS_SV_BLOCK elements in double (four interleaved partial sums, so the inner
 * loop vectorises) and the block sums are added in block order: the result
 * depends on n only, never on the number of threads. */
#include "solve_internal.h"

#include <math.h>
#include <stdlib.h>

#include "vec.h"

double ds_sv_eps(void) { return sizeof(ds_real) == 8 ? 2.220446049250313e-16 : 1.1920929e-07; }

int ds_sv_first_nonfinite(const ds_real *a, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(a[i])) return (int)(i < 2147483646 ? i + 1 : 2147483647);
  return 0;
}

typedef struct pass_job {
  ds_sv_block_fn fn;
  void *user;
  int64_t n;
  double *part; /* DS_SV_SUMS per block */
} pass_job;

static void pass_range(int64_t b0, int64_t b1, void *u) {
  pass_job *J = u;
  for (int64_t b = b0; b < b1; b++) {
    int64_t lo = b * DS_SV_BLOCK, hi = lo + DS_SV_BLOCK < J->n ? lo + DS_SV_BLOCK : J->n;
    double *s = J->part + DS_SV_SUMS * b;
    for (int k = 0; k < DS_SV_SUMS; k++) s[k] = 0;
    J->fn(lo, hi, s, J->user);
  }
}

int ds_sv_pass(ds_ctx *ctx, int64_t n, ds_sv_block_fn fn, void *user, double out[DS_SV_SUMS]) {
  for (int k = 0; k < DS_SV_SUMS; k++) out[k] = 0;
  if (n <= 0) return DS_OK;
  int64_t nb = (n + DS_SV_BLOCK - 1) / DS_SV_BLOCK;
  double stack[DS_SV_SUMS * 64];
  double *part = nb <= 64 ? stack : malloc((size_t)nb * DS_SV_SUMS * sizeof(double));
  if (!part) return ds_fail(ctx, DS_ERR_NOMEM, "solver: out of memory for %lld partial sums", (long long)nb);
  pass_job J = {fn, user, n, part};
  /* Eight blocks (32k elements) per task: enough work per thread wake-up; the sums do not
   * depend on how blocks are grouped into tasks. */
  ds_parallel_for(ctx, nb, 8, pass_range, &J);
  for (int64_t b = 0; b < nb; b++)
    for (int k = 0; k < DS_SV_SUMS; k++) out[k] += part[DS_SV_SUMS * b + k];
  if (part != stack) free(part);
  return DS_OK;
}

typedef struct dot_job { const ds_real *a, *b; } dot_job;

static void dot_block(int64_t lo, int64_t hi, double *s, void *u) {
  const dot_job *J = u;
  double acc[4] = {0, 0, 0, 0};
  int64_t i = lo;
  for (; i + 4 <= hi; i += 4)
    for (int k = 0; k < 4; k++) acc[k] += (double)J->a[i + k] * J->b[i + k];
  for (int k = 0; i < hi; i++, k++) acc[k] += (double)J->a[i] * J->b[i];
  s[0] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

double ds_sv_dot(ds_ctx *ctx, int64_t n, const ds_real *a, const ds_real *b) {
  dot_job J = {a, b};
  double s[DS_SV_SUMS];
  if (ds_sv_pass(ctx, n, dot_block, &J, s) != DS_OK) return NAN;
  return s[0];
}

double ds_solve_dot(ds_ctx *ctx, int64_t n, const ds_real *a, const ds_real *b) { return ds_sv_dot(ctx, n, a, b); }

/* Adds four interleaved partials like dot_block; shared by the Krylov passes. */
double ds_sv_sum4(const double acc[4]) { return (acc[0] + acc[1]) + (acc[2] + acc[3]); }
