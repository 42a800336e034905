/* Two contexts on two threads at once: each loads the same plugins, keeps its
 * own plugin state, scratch, tape and memory, and computes exactly what one
 * context alone computes. Also the per-context state is per context: a plugin's
 * launch counter counts only its own context's launches. */
#include <diffsim/core.h>
#include <pthread.h>
#include <stdlib.h>

#include "check.h"

enum { N = 4096, ROUNDS = 300 };

typedef struct worker {
  int id, failures;
  double result;      /* sum of the final state, to compare across runs */
  double launches;    /* the plugin's per-context launch counter */
} worker;

static const char *prec(void) { return ds_real_size() == 8 ? "f64" : "f32"; }

static int load_two_devices(ds_ctx *ctx) {
  char path[1024];
  const char *dir = getenv("DIFFSIM_TEST_PLUGIN_DIR");
  snprintf(path, sizeof path, "%s/libds_two_devices_%s.so", dir ? dir : ".", prec());
  return ds_plugin_load(ctx, path);
}

/* Repeats: x <- scale * x (plugin kernel with scratch and state), y <- tanh(x) + y
 * (core ops on the ctx's threads), on a tape, then backward. */
static void *run(void *arg) {
  worker *w = arg;
  ds_ctx *ctx = ds_ctx_new(2);
  if (!ctx || load_two_devices(ctx) || ds_plugin_load(ctx, "example")) {
    w->failures++;
    return NULL;
  }
  const ds_kernel *bump = ds_kernel_find(ctx, "two_devices.bump"), *count = ds_kernel_find(ctx, "two_devices.count");
  const ds_kernel *tanh_k = ds_kernel_find(ctx, "core.tanh"), *add = ds_kernel_find(ctx, "core.add");
  const ds_kernel *sum = ds_kernel_find(ctx, "core.sum");
  int64_t n = N;
  ds_tensor *x0 = ds_tensor_new(ctx, DS_REAL, 1, &n);
  for (int64_t i = 0; i < n; i++) ds_tensor_set(x0, i, 0.001 * (double)(i % 97) - 0.05 * w->id);
  ds_tensor_set_requires_grad(x0, 1);
  ds_tape *tape = ds_tape_new(ctx);
  ds_tape_begin(tape);
  ds_tensor *x = x0, *y = ds_tensor_new(ctx, DS_REAL, 1, &n);
  ds_tensor_retain(x);
  double scale = 1.001;
  for (int r = 0; r < ROUNDS; r++) {
    ds_tensor *xn = ds_tensor_empty(ctx, DS_REAL, 1, &n), *t = ds_tensor_empty(ctx, DS_REAL, 1, &n);
    ds_tensor *yn = ds_tensor_empty(ctx, DS_REAL, 1, &n);
    ds_tensor *a1[2] = {x, xn}, *a2[2] = {xn, t}, *a3[3] = {t, y, yn};
    if (ds_launch(ctx, bump, a1, 2, &scale, 1) || ds_launch(ctx, tanh_k, a2, 2, NULL, 0) ||
        ds_launch(ctx, add, a3, 3, NULL, 0))
      w->failures++;
    ds_tensor_release(x);
    ds_tensor_release(y);
    ds_tensor_release(t);
    x = xn;
    y = yn;
  }
  ds_tensor *loss = ds_tensor_empty(ctx, DS_REAL, 0, NULL), *a4[2] = {y, loss};
  if (ds_launch(ctx, sum, a4, 2, NULL, 0)) w->failures++;
  ds_tape_end(tape);
  if (ds_tape_backward(tape, loss, NULL)) w->failures++;
  w->result = ds_tensor_get(loss, 0) + ds_tensor_get(ds_tensor_grad(x0), 7);
  ds_tensor *c = ds_tensor_new(ctx, DS_REAL, 0, NULL), *a5[1] = {c};
  if (ds_launch(ctx, count, a5, 1, NULL, 0)) w->failures++;
  w->launches = ds_tensor_get(c, 0);
  ds_tensor_release(c);
  ds_tensor_release(loss);
  ds_tensor_release(x);
  ds_tensor_release(y);
  ds_tensor_release(x0);
  ds_tape_free(tape);
  ds_ctx_free(ctx);
  return NULL;
}

int main(void) {
  /* alone, one after the other: the reference */
  worker solo[2] = {{0, 0, 0, 0}, {1, 0, 0, 0}};
  run(&solo[0]);
  run(&solo[1]);
  CHECK(solo[0].failures == 0 && solo[1].failures == 0);
  CHECK(solo[0].result != solo[1].result); /* the two workers really compute different things */
  /* together, twice */
  for (int rep = 0; rep < 2; rep++) {
    worker w[2] = {{0, 0, 0, 0}, {1, 0, 0, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, run, &w[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
      CHECK(w[i].failures == 0);
      CHECK(w[i].result == solo[i].result); /* bitwise */
      CHECK(w[i].launches == ROUNDS);       /* state is per context */
    }
  }
  TEST_DONE();
}
