/* Fixed-block passes over vectors with deterministic reductions (vec.c). */
#ifndef DS_SOLVE_VEC_H
#define DS_SOLVE_VEC_H

#include <stdint.h>

#include "diffsim/core.h"

enum { DS_SV_BLOCK = 4096, DS_SV_SUMS = 3 };

/* Works on [lo, hi) and writes up to DS_SV_SUMS partial sums of that block into s. */
typedef void (*ds_sv_block_fn)(int64_t lo, int64_t hi, double *s, void *user);

/* Runs fn over fixed blocks of [0, n) on the context's threads and adds the
 * block sums in block order into out. */
int ds_sv_pass(ds_ctx *ctx, int64_t n, ds_sv_block_fn fn, void *user, double out[DS_SV_SUMS]);
double ds_sv_sum4(const double acc[4]);

#endif
