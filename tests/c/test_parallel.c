/* parallel_for's contract: results and gradients are bitwise identical for 1, 2
 * and 3 threads and for the auto setting (threads = 0), also while another
 * CPU-bound process competes for the cores, which is when the auto setting
 * changes the number of threads a region runs on from one call to the next
 * and workers get descheduled in the middle of a region. */
#include <diffsim/core.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

enum { N = 100003 }; /* several blocks of every kernel below, the last one short */

typedef struct {
  double loss;
  ds_real t[N], gx[N], gy[N];
} result;

static int run(ds_ctx *ctx, const char *k, ds_tensor *a, ds_tensor *b, ds_tensor *c) {
  ds_tensor *args[3] = {a, b, c};
  return ds_launch(ctx, ds_kernel_find(ctx, k), args, c ? 3 : 2, NULL, 0);
}

/* loss = sum(tanh(x) * y) and its gradients: elementwise kernels and a blocked
 * reduction, forward and adjoint, all through parallel_for. */
static void compute(ds_ctx *ctx, result *r) {
  int64_t n = N;
  ds_tensor *x = ds_tensor_new(ctx, DS_REAL, 1, &n), *y = ds_tensor_new(ctx, DS_REAL, 1, &n);
  ds_tensor *t = ds_tensor_new(ctx, DS_REAL, 1, &n), *m = ds_tensor_new(ctx, DS_REAL, 1, &n);
  ds_tensor *loss = ds_tensor_new(ctx, DS_REAL, 0, NULL);
  ds_fill_randn(x, 1, 0, 1);
  ds_fill_randn(y, 2, 0, 1);
  ds_tensor_set_requires_grad(x, 1);
  ds_tensor_set_requires_grad(y, 1);
  ds_tape *tape = ds_tape_new(ctx);
  ds_tape_begin(tape);
  CHECK(run(ctx, "core.tanh", x, t, NULL) == DS_OK);
  CHECK(run(ctx, "core.mul", t, y, m) == DS_OK);
  CHECK(run(ctx, "core.sum", m, loss, NULL) == DS_OK);
  ds_tape_end(tape);
  int64_t seg = -1;
  CHECK(ds_tape_backward(tape, loss, &seg) == DS_OK);
  r->loss = ds_tensor_get(loss, 0);
  memcpy(r->t, t->ptr, sizeof r->t);
  memcpy(r->gx, ds_tensor_grad(x)->ptr, sizeof r->gx);
  memcpy(r->gy, ds_tensor_grad(y)->ptr, sizeof r->gy);
  ds_tape_free(tape);
  ds_tensor *all[5] = {x, y, t, m, loss};
  for (int i = 0; i < 5; i++) ds_tensor_release(all[i]);
}

static int same(const result *a, const result *b) {
  return memcmp(&a->loss, &b->loss, sizeof a->loss) == 0 && memcmp(a->t, b->t, sizeof a->t) == 0 &&
         memcmp(a->gx, b->gx, sizeof a->gx) == 0 && memcmp(a->gy, b->gy, sizeof a->gy) == 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Repeats compute() for at least `seconds` (the auto setting samples the load
 * every quarter second) and checks every repetition against ref. */
static void repeat_same(int threads, const result *ref, result *r, double seconds) {
  ds_ctx *ctx = ds_ctx_new(threads);
  double t0 = now();
  int reps = 0, bad = 0;
  while (reps < 10 || now() - t0 < seconds) {
    compute(ctx, r);
    bad += !same(ref, r);
    reps++;
  }
  if (bad) fprintf(stderr, "threads=%d: %d of %d repetitions differ\n", threads, bad, reps);
  CHECK(bad == 0);
  ds_ctx_free(ctx);
}

int main(void) {
  result *ref = malloc(sizeof *ref), *r = malloc(sizeof *r);
  ds_ctx *ctx = ds_ctx_new(1);
  compute(ctx, ref);
  ds_ctx_free(ctx);

  /* quiet machine (as far as this test knows) */
  repeat_same(2, ref, r, 0);
  repeat_same(3, ref, r, 0);
  repeat_same(0, ref, r, 0.3);

  /* one competing CPU-bound process: the auto setting drops threads, explicit
   * counts keep theirs and get preempted mid-region */
  pid_t busy = fork();
  if (busy == 0) {
    alarm(60); /* never outlive the test, even if it crashes */
    for (volatile unsigned long i = 0;; i++) {
    }
  }
  CHECK(busy > 0);
  repeat_same(0, ref, r, 0.6);
  repeat_same(2, ref, r, 0.2);
  repeat_same(3, ref, r, 0.2);
  repeat_same(0, ref, r, 0.3);
  if (busy > 0) {
    kill(busy, SIGKILL);
    waitpid(busy, NULL, 0);
  }
  free(ref);
  free(r);
  TEST_DONE();
}
