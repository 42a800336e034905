/* The tape: gradients of a small chain, version checks that refuse stale
 * inputs, state errors, and determinism across runs and thread counts. */
#include <diffsim/core.h>
#include <math.h>
#include <stdlib.h>

#include "check.h"

static ds_tensor *vec(ds_ctx *ctx, int64_t n) { return ds_tensor_new(ctx, DS_REAL, 1, &n); }
static ds_tensor *scalar(ds_ctx *ctx) { return ds_tensor_new(ctx, DS_REAL, 0, NULL); }

static int run(ds_ctx *ctx, const char *k, ds_tensor *a, ds_tensor *b, ds_tensor *c) {
  ds_tensor *args[3] = {a, b, c};
  const ds_kernel *kk = ds_kernel_find(ctx, k);
  return ds_launch(ctx, kk, args, c ? 3 : 2, NULL, 0);
}

/* loss = sum(tanh(x) * y); returns loss, fills gx */
static double chain(int threads, int64_t n, double *gx_out) {
  ds_ctx *ctx = ds_ctx_new(threads);
  ds_tensor *x = vec(ctx, n), *y = vec(ctx, n), *t = vec(ctx, n), *m = vec(ctx, n), *loss = scalar(ctx);
  ds_fill_randn(x, 1, 0, 1);
  ds_fill_randn(y, 2, 0, 1);
  ds_tensor_set_requires_grad(x, 1);
  ds_tape *tape = ds_tape_new(ctx);
  ds_tape_begin(tape);
  CHECK(run(ctx, "core.tanh", x, t, NULL) == DS_OK);
  CHECK(run(ctx, "core.mul", t, y, m) == DS_OK);
  CHECK(run(ctx, "core.sum", m, loss, NULL) == DS_OK);
  ds_tape_end(tape);
  CHECK(ds_tape_size(tape) == 3);
  int64_t seg = -1;
  CHECK(ds_tape_backward(tape, loss, &seg) == DS_OK);
  const ds_real *gx = ds_tensor_grad(x)->ptr, *px = x->ptr, *py = y->ptr;
  double worst = 0;
  for (int64_t i = 0; i < n; i++) {
    double th = tanh(px[i]), want = (1 - th * th) * py[i];
    double err = fabs(gx[i] - want) / (fabs(want) + 1);
    if (err > worst) worst = err;
    if (gx_out) gx_out[i] = gx[i];
  }
  CHECK(worst < (ds_real_size() == 8 ? 1e-12 : 1e-5));
  CHECK(ds_tensor_grad(y) == NULL);   /* y does not require grad */
  CHECK(ds_tensor_grad(t) == NULL);   /* intermediate grads are freed */
  double l = ds_tensor_get(loss, 0);
  ds_tape_free(tape);
  ds_tensor *all[5] = {x, y, t, m, loss};
  for (int i = 0; i < 5; i++) ds_tensor_release(all[i]);
  ds_ctx_free(ctx);
  return l;
}

int main(void) {
  /* determinism: identical runs and thread counts give identical bits */
  int64_t n = 100003;
  double *g1 = malloc(sizeof(double) * n), *g2 = malloc(sizeof(double) * n), *g3 = malloc(sizeof(double) * n);
  double l1 = chain(2, n, g1), l2 = chain(2, n, g2), l3 = chain(1, n, g3);
  CHECK(l1 == l2 && l1 == l3);
  CHECK(memcmp(g1, g2, sizeof(double) * n) == 0);
  CHECK(memcmp(g1, g3, sizeof(double) * n) == 0);
  free(g1);
  free(g2);
  free(g3);

  ds_ctx *ctx = ds_ctx_new(2);
  ds_tensor *x = vec(ctx, 4), *y = vec(ctx, 4), *z = vec(ctx, 4), *loss = scalar(ctx);
  ds_tensor_set_requires_grad(x, 1);
  ds_tape *tape = ds_tape_new(ctx);

  /* overwriting a recorded input makes backward refuse, naming the kernel */
  ds_tape_begin(tape);
  run(ctx, "core.mul", x, x, y);
  run(ctx, "core.sum", y, loss, NULL);
  ds_tape_end(tape);
  ds_tensor_set(x, 0, 3.0); /* an optimizer step, too early */
  int64_t seg;
  CHECK(ds_tape_backward(tape, loss, &seg) == DS_ERR_VERSION);
  CHECK_CONTAINS(ds_last_error(ctx), "core.mul");
  CHECK_CONTAINS(ds_last_error(ctx), "'a'");
  CHECK_CONTAINS(ds_last_error(ctx), "overwritten");

  /* backward while recording, and a loss that does not depend on anything */
  ds_tape_begin(tape);
  CHECK(ds_tape_backward(tape, loss, &seg) == DS_ERR_STATE);
  ds_tape_end(tape);
  ds_tensor_set_requires_grad(x, 0);
  ds_tape_begin(tape);
  run(ctx, "core.sum", z, loss, NULL);
  ds_tape_end(tape);
  CHECK(ds_tape_size(tape) == 0); /* nothing needed a gradient: nothing recorded */

  /* a second tape cannot record while the first does */
  ds_tape *other = ds_tape_new(ctx);
  ds_tape_begin(tape);
  CHECK(ds_tape_begin(other) == DS_ERR_STATE);
  ds_tape_end(tape);
  ds_tape_free(other);
  ds_tape_free(tape);
  ds_tensor_release(x);
  ds_tensor_release(y);
  ds_tensor_release(z);
  ds_tensor_release(loss);
  ds_ctx_free(ctx);
  TEST_DONE();
}
