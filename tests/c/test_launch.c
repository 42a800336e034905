/* Launch validation and anomaly mode: every mistake is an error that names
 * the kernel and the argument; nothing crashes. */
#include <diffsim/core.h>
#include <math.h>

#include "check.h"

int main(void) {
  ds_ctx *ctx = ds_ctx_new(2);
  int64_t n3 = 3, n4 = 4, sq[2] = {2, 2};
  ds_tensor *a = ds_tensor_new(ctx, DS_REAL, 1, &n3), *b = ds_tensor_new(ctx, DS_REAL, 1, &n4);
  ds_tensor *o = ds_tensor_new(ctx, DS_REAL, 1, &n3), *idx = ds_tensor_new(ctx, DS_I32, 1, &n3);
  ds_tensor *m = ds_tensor_new(ctx, DS_REAL, 2, sq);
  const ds_kernel *add = ds_kernel_find(ctx, "core.add");
  const ds_kernel *mm = ds_kernel_find(ctx, "core.matmul");
  const ds_kernel *gather = ds_kernel_find(ctx, "core.gather");
  CHECK(add && mm && gather);

  ds_tensor *args3[3] = {a, b, o};
  CHECK(ds_launch(ctx, add, args3, 3, NULL, 0) == DS_ERR_ARG); /* 3 vs 4 elements */
  CHECK_CONTAINS(ds_last_error(ctx), "core.add");
  CHECK(ds_launch(ctx, add, args3, 2, NULL, 0) == DS_ERR_ARG); /* argument count */
  CHECK_CONTAINS(ds_last_error(ctx), "expected 3 tensor arguments, got 2");
  ds_tensor *wrong_dtype[3] = {a, idx, o};
  CHECK(ds_launch(ctx, add, wrong_dtype, 3, NULL, 0) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "argument 'b' (#2) has dtype i32, expected real");
  ds_tensor *alias[3] = {a, a, a};
  CHECK(ds_launch(ctx, add, alias, 3, NULL, 0) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "output 'out'");
  ds_tensor *null_arg[3] = {a, NULL, o};
  CHECK(ds_launch(ctx, add, null_arg, 3, NULL, 0) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "is nil");
  CHECK(ds_launch(ctx, NULL, args3, 3, NULL, 0) == DS_ERR_ARG);

  /* params: count and finiteness */
  ds_tensor *m2 = ds_tensor_new(ctx, DS_REAL, 2, sq);
  ds_tensor *mmargs[3] = {m, m, m2}, *mmbad[3] = {m, m, o};
  double p2[2] = {0, 0}, pnan[2] = {NAN, 0};
  CHECK(ds_launch(ctx, mm, mmargs, 3, p2, 1) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "expected 2 params, got 1");
  CHECK(ds_launch(ctx, mm, mmargs, 3, pnan, 2) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "param 'transpose_a' is not finite");
  CHECK(ds_launch(ctx, mm, mmargs, 3, p2, 2) == DS_OK);
  CHECK(ds_launch(ctx, mm, mmbad, 3, p2, 2) == DS_ERR_ARG); /* out is {3}, needs 2 dims */
  CHECK_CONTAINS(ds_last_error(ctx), "argument 'out' (#3) has 1 dims");

  /* out-of-range indices are caught before anything is written */
  ds_tensor_set(idx, 1, 7);
  ds_tensor *gargs[3] = {a, idx, o};
  CHECK(ds_launch(ctx, gather, gargs, 3, NULL, 0) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "index 7 at position 1 is out of range [0, 3)");

  /* anomaly mode names the first kernel that makes a NaN */
  const ds_kernel *lg = ds_kernel_find(ctx, "core.log");
  ds_tensor_fill(a, -1);
  ds_tensor *largs[2] = {a, o};
  CHECK(ds_launch(ctx, lg, largs, 2, NULL, 0) == DS_OK); /* off: NaN passes silently */
  ds_set_anomaly(ctx, 1);
  CHECK(ds_launch(ctx, lg, largs, 2, NULL, 0) == DS_ERR_ANOMALY);
  CHECK_CONTAINS(ds_last_error(ctx), "kernel core.log forward produced NaN in 'out' at element 0");
  ds_set_anomaly(ctx, 0);

  ds_tensor *all[6] = {a, b, o, idx, m, m2};
  for (int i = 0; i < 6; i++) ds_tensor_release(all[i]);
  ds_ctx_free(ctx);
  TEST_DONE();
}
