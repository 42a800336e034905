/* Devices: the interface, tensors on the mock device (whose pointers the host
 * cannot dereference, so every check here also proves the core's host paths go
 * through the interface), cross-device copies, grads on the tensor's device,
 * the optimizers' vector ops equal to the CPU's bitwise, anomaly checks, and
 * the CUDA device: exercised when a GPU is present, else skipped with the
 * reason. */
#include <diffsim/core.h>
#include <diffsim/device.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"

static int bitwise_equal(const ds_tensor *a, const ds_tensor *b) {
  int64_t n = a->count;
  double *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
  int eq = ds_tensor_to_doubles(a, x, n) == DS_OK && ds_tensor_to_doubles(b, y, n) == DS_OK &&
           memcmp(x, y, (size_t)n * sizeof *x) == 0;
  free(x);
  free(y);
  return eq;
}

static void test_names(void) {
  CHECK(ds_device_count() == DS_DEVICE_COUNT);
  CHECK(!strcmp(ds_device_name(DS_CPU), "cpu") && !strcmp(ds_device_name(DS_CUDA), "cuda") &&
        !strcmp(ds_device_name(DS_MOCK), "mock") && !strcmp(ds_device_name(9), "unknown"));
  CHECK(ds_device_find("mock") == DS_MOCK && ds_device_find("gpu") == -1 && ds_device_find(NULL) == -1);
  CHECK(ds_device_available(DS_CPU) && ds_device_available(DS_MOCK) && !ds_device_available(-1));
  CHECK(ds_device_unavailable(DS_CPU) == NULL && ds_device_unavailable(DS_MOCK) == NULL);
}

/* Raw interface: host <-> mock <-> mock, fills, and the non-canonical pointers. */
static void test_raw(ds_ctx *ctx) {
  uint8_t src[100], back[100];
  for (int i = 0; i < 100; i++) src[i] = (uint8_t)(i * 7 + 1);
  void *a = ds_device_alloc(ctx, DS_MOCK, 100), *b = ds_device_alloc(ctx, DS_MOCK, 100);
  CHECK(a && b);
  CHECK(((uintptr_t)a >> 62) & 1); /* a host dereference of this would fault */
  CHECK(ds_device_copy(ctx, DS_MOCK, a, DS_CPU, src, 100) == DS_OK);
  CHECK(ds_device_copy(ctx, DS_MOCK, b, DS_MOCK, a, 100) == DS_OK);
  CHECK(ds_device_copy(ctx, DS_CPU, back, DS_MOCK, b, 100) == DS_OK && !memcmp(src, back, 100));
  CHECK(ds_device_memset(ctx, DS_MOCK, (char *)b + 10, 0xAB, 5) == DS_OK);
  CHECK(ds_device_copy(ctx, DS_CPU, back, DS_MOCK, b, 100) == DS_OK && back[9] == src[9] && back[10] == 0xAB &&
        back[14] == 0xAB && back[15] == src[15]);
  int32_t seven = 7, got[25];
  CHECK(ds_device_fill(ctx, DS_MOCK, a, &seven, 4, 25) == DS_OK);
  CHECK(ds_device_copy(ctx, DS_CPU, got, DS_MOCK, a, sizeof got) == DS_OK && got[0] == 7 && got[24] == 7);
  CHECK(ds_device_fill(ctx, DS_MOCK, a, &seven, 3, 25) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "element size must be 4 or 8");
  CHECK(ds_device_copy(ctx, 7, a, DS_CPU, src, 4) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "unknown device id 7");
  CHECK(ds_device_sync(ctx, DS_MOCK) == DS_OK);
  ds_device_free(ctx, DS_MOCK, a);
  ds_device_free(ctx, DS_MOCK, b);
}

/* Tensors on mock: creation, element access, round trips, versions. */
static void test_tensors(ds_ctx *ctx) {
  int64_t shape[2] = {3, 7};
  ds_tensor *z = ds_tensor_new_on(ctx, DS_REAL, 2, shape, DS_MOCK);
  CHECK(z && z->device == DS_MOCK && z->count == 21 && ((uintptr_t)z->ptr >> 62));
  CHECK(ds_tensor_get(z, 20) == 0.0 && ds_tensor_has_nonfinite(z) == 0);

  ds_tensor *c = ds_tensor_empty(ctx, DS_REAL, 2, shape);
  ds_fill_randn(c, 3, 0, 1);
  ds_tensor *m = ds_tensor_to(c, DS_MOCK);
  CHECK(m && m->device == DS_MOCK && m->ndim == 2 && m->dims[1] == 7);
  ds_tensor *back = ds_tensor_to(m, DS_CPU);
  CHECK(back && back->device == DS_CPU && !memcmp(back->ptr, c->ptr, 21 * sizeof(ds_real))); /* bitwise */
  CHECK(ds_tensor_get(m, 5) == ds_tensor_get(c, 5));

  /* copies across devices both ways, and mock to mock */
  uint64_t v = z->ver;
  CHECK(ds_tensor_copy(z, c) == DS_OK && z->ver == v + 1 && bitwise_equal(z, c));
  ds_tensor *m2 = ds_tensor_empty_like(m);
  CHECK(m2 && m2->device == DS_MOCK && ds_tensor_copy(m2, m) == DS_OK && bitwise_equal(m2, c));
  ds_tensor *c2 = ds_tensor_new(ctx, DS_REAL, 2, shape);
  CHECK(ds_tensor_copy(c2, m2) == DS_OK && !memcmp(c2->ptr, c->ptr, 21 * sizeof(ds_real)));

  /* set / get / fill / from_doubles / to_doubles / range */
  CHECK(ds_tensor_set(m, 4, 2.5) == DS_OK && ds_tensor_get(m, 4) == 2.5);
  CHECK(ds_tensor_set(m, 21, 1) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "out of range");
  CHECK(ds_tensor_fill(m, -1.5) == DS_OK && ds_tensor_get(m, 0) == -1.5 && ds_tensor_get(m, 20) == -1.5);
  double vals[21], out[21];
  for (int i = 0; i < 21; i++) vals[i] = i - 10;
  CHECK(ds_tensor_from_doubles(m, vals, 21) == DS_OK && ds_tensor_to_doubles(m, out, 21) == DS_OK &&
        !memcmp(vals, out, sizeof vals));
  double lo, hi;
  CHECK(ds_tensor_range(m, &lo, &hi) == DS_OK && lo == -10 && hi == 10);

  int64_t n4[1] = {4};
  ds_tensor *iz = ds_tensor_new_on(ctx, DS_I32, 1, n4, DS_MOCK);
  CHECK(ds_tensor_fill(iz, 42) == DS_OK && ds_tensor_get(iz, 3) == 42.0 && ds_tensor_set(iz, 1, -3) == DS_OK &&
        ds_tensor_get(iz, 1) == -3.0);

  /* seeded random fills give the same numbers on every device */
  ds_tensor *rc = ds_tensor_empty(ctx, DS_REAL, 2, shape), *rm = ds_tensor_empty_on(ctx, DS_REAL, 2, shape, DS_MOCK);
  CHECK(ds_fill_randn(rc, 9, 1, 2) == DS_OK && ds_fill_randn(rm, 9, 1, 2) == DS_OK && bitwise_equal(rc, rm));
  CHECK(ds_fill_uniform(rc, 9, -1, 1) == DS_OK && ds_fill_uniform(rm, 9, -1, 1) == DS_OK && bitwise_equal(rc, rm));

  /* bad device ids */
  CHECK(ds_tensor_new_on(ctx, DS_REAL, 2, shape, 5) == NULL);
  CHECK_CONTAINS(ds_last_error(ctx), "tensor_new_on: unknown device id 5");
  CHECK(ds_tensor_to(c, -1) == NULL);
  CHECK_CONTAINS(ds_last_error(ctx), "tensor_to: unknown device id -1");

  ds_tensor *all[] = {z, c, m, back, m2, c2, iz, rc, rm};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) ds_tensor_release(all[i]);
}

/* The pool keeps blocks per device: a freed mock block comes back for mock,
 * never for the CPU. */
static void test_pool(ds_ctx *ctx) {
  int64_t n[1] = {5000};
  ds_tensor *m = ds_tensor_empty_on(ctx, DS_REAL, 1, n, DS_MOCK);
  void *block = m->ptr;
  ds_tensor_release(m);
  ds_tensor *c = ds_tensor_empty(ctx, DS_REAL, 1, n);
  CHECK(c->ptr != block && !(((uintptr_t)c->ptr >> 62) & 1));
  ds_tensor *m2 = ds_tensor_empty_on(ctx, DS_REAL, 1, n, DS_MOCK);
  CHECK(m2->ptr == block);
  ds_tensor_release(c);
  ds_tensor_release(m2);
  ds_mem_trim(ctx);
  int64_t cached;
  ds_mem_stats(ctx, NULL, NULL, &cached);
  CHECK(cached == 0);
}

/* Grads live on their tensor's device. */
static void test_grads(ds_ctx *ctx) {
  int64_t n[1] = {6};
  ds_tensor *p = ds_tensor_new_on(ctx, DS_REAL, 1, n, DS_MOCK);
  ds_tensor_set_requires_grad(p, 1);
  ds_tensor *g = ds_tensor_ensure_grad(p);
  CHECK(g && g->device == DS_MOCK && ds_tensor_get(g, 5) == 0.0);
  ds_tensor *d = ds_tensor_new_on(ctx, DS_REAL, 1, n, DS_MOCK);
  ds_tensor_fill(d, 0.25);
  CHECK(ds_tensor_add_grad(p, d) == DS_OK && ds_tensor_add_grad(p, d) == DS_OK && ds_tensor_get(g, 2) == 0.5);
  ds_tensor_zero_grad(p);
  CHECK(ds_tensor_get(g, 2) == 0.0 && ds_tensor_get(g, 5) == 0.0);
  ds_tensor *cpu = ds_tensor_new(ctx, DS_REAL, 1, n);
  CHECK(ds_tensor_add_grad(p, cpu) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "add_grad: 'tensor' is on mock but 'grad' is on cpu");
  ds_tensor_release(p);
  ds_tensor_release(d);
  ds_tensor_release(cpu);
}

/* The optimizers' vector ops on mock equal the CPU's bitwise; mixing devices
 * is an error naming the function and both devices. */
static void test_vector_ops(ds_ctx *ctx) {
  int64_t n[1] = {9001}; /* more than one dot block */
  ds_tensor *c[4], *m[4];
  for (int i = 0; i < 4; i++) {
    c[i] = ds_tensor_empty(ctx, DS_REAL, 1, n);
    ds_fill_randn(c[i], (uint64_t)(10 + i), 0, 1);
    m[i] = ds_tensor_to(c[i], DS_MOCK);
  }
  ds_fill_uniform(c[3], 4, 0.1, 1); /* Adam's v must be non-negative */
  ds_tensor_copy(m[3], c[3]);
  for (int step = 1; step <= 3; step++) {
    CHECK(ds_axpy(c[0], 0.3, c[1]) == DS_OK && ds_axpy(m[0], 0.3, m[1]) == DS_OK);
    CHECK(ds_scal(c[1], 0.9) == DS_OK && ds_scal(m[1], 0.9) == DS_OK);
    CHECK(ds_adam_step(c[0], c[1], c[2], c[3], 1e-2, 0.9, 0.999, 1e-8, step) == DS_OK);
    CHECK(ds_adam_step(m[0], m[1], m[2], m[3], 1e-2, 0.9, 0.999, 1e-8, step) == DS_OK);
  }
  CHECK(ds_clamp_inplace(c[0], -0.5, 0.5) == DS_OK && ds_clamp_inplace(m[0], -0.5, 0.5) == DS_OK);
  for (int i = 0; i < 4; i++) CHECK(bitwise_equal(c[i], m[i]));
  double dc = ds_vdot(c[0], c[1]), dm = ds_vdot(m[0], m[1]);
  CHECK(memcmp(&dc, &dm, sizeof dc) == 0);

  CHECK(ds_axpy(m[0], 1, c[1]) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "axpy: 'y' is on mock but 'x' is on cpu");
  CHECK(isnan(ds_vdot(c[0], m[1])));
  CHECK_CONTAINS(ds_last_error(ctx), "vdot: 'a' is on cpu but 'b' is on mock");
  CHECK(ds_adam_step(m[0], m[1], c[2], m[3], 1e-2, 0.9, 0.999, 1e-8, 1) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "adam: 'param' is on mock but 'm' is on cpu");
  for (int i = 0; i < 4; i++) {
    ds_tensor_release(c[i]);
    ds_tensor_release(m[i]);
  }
}

/* Anomaly checks and image writing read mock tensors through the host. */
static void test_host_paths(ds_ctx *ctx) {
  int64_t shape[3] = {4, 5, 3};
  ds_tensor *m = ds_tensor_new_on(ctx, DS_REAL, 3, shape, DS_MOCK);
  CHECK(ds_tensor_has_nonfinite(m) == 0);
  ds_tensor_set(m, 17, INFINITY);
  CHECK(ds_tensor_has_nonfinite(m) == 18);
  ds_tensor_set(m, 17, 0.5);
  CHECK(ds_png_write(ctx, "test_device_mock.png", m) == DS_OK);
  ds_tensor *r = ds_png_read(ctx, "test_device_mock.png");
  CHECK(r && r->device == DS_CPU && fabs(ds_tensor_get(r, 17) - 128 / 255.0) < 1e-6);
  remove("test_device_mock.png");
  int64_t big[3] = {8, 10, 3};
  ds_tensor *out = ds_tensor_empty_on(ctx, DS_REAL, 3, big, DS_MOCK);
  ds_tensor *out_cpu = ds_tensor_empty(ctx, DS_REAL, 3, big), *m_cpu = ds_tensor_to(m, DS_CPU);
  CHECK(ds_image_resize(out, m) == DS_OK && ds_image_resize(out_cpu, m_cpu) == DS_OK && bitwise_equal(out, out_cpu));
  CHECK(ds_image_resize(out_cpu, m) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "image_resize: destination is on cpu but source is on mock");
  int64_t frames[3] = {2, 4, 5};
  ds_tensor *f = ds_tensor_new_on(ctx, DS_REAL, 3, frames, DS_MOCK);
  CHECK(ds_gif_write(ctx, "test_device_mock.gif", f, 4) == DS_OK);
  remove("test_device_mock.gif");
  ds_tensor *all[] = {m, r, out, out_cpu, m_cpu, f};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) ds_tensor_release(all[i]);
}

/* CUDA: a clear error when unavailable; on a GPU, the same round trips. */
static void test_cuda(ds_ctx *ctx) {
  int64_t n[1] = {1000};
  const char *why = ds_device_unavailable(DS_CUDA);
  if (why) {
    CHECK(!ds_device_available(DS_CUDA));
    CHECK(ds_tensor_new_on(ctx, DS_REAL, 1, n, DS_CUDA) == NULL);
    CHECK_CONTAINS(ds_last_error(ctx), "tensor_new_on: device 'cuda' is not available: ");
    CHECK_CONTAINS(ds_last_error(ctx), why);
    printf("skip: cuda tests: %s\n", why);
    return;
  }
  ds_tensor *c = ds_tensor_empty(ctx, DS_REAL, 1, n);
  ds_fill_randn(c, 5, 0, 1);
  ds_tensor *g = ds_tensor_to(c, DS_CUDA);
  CHECK(g && g->device == DS_CUDA);
  ds_tensor *g2 = ds_tensor_empty_like(g);
  CHECK(g2 && ds_tensor_copy(g2, g) == DS_OK);
  ds_tensor *m = ds_tensor_to(g2, DS_MOCK); /* across two non-CPU devices */
  CHECK(m && bitwise_equal(m, c) && bitwise_equal(g2, c));
  CHECK(ds_tensor_fill(g, 0.75) == DS_OK && ds_tensor_get(g, 999) == 0.75 && ds_device_sync(ctx, DS_CUDA) == DS_OK);
  ds_tensor_set_requires_grad(g, 1);
  ds_tensor *gg = ds_tensor_ensure_grad(g);
  CHECK(gg && gg->device == DS_CUDA && ds_tensor_get(gg, 3) == 0.0);
  ds_tensor_set(g, 3, NAN);
  CHECK(ds_tensor_has_nonfinite(g) == 4);
  CHECK(ds_axpy(g, 1, g2) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "axpy: not implemented on cuda yet");
  printf("cuda tests ran\n");
  ds_tensor *all[] = {c, g, g2, m};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) ds_tensor_release(all[i]);
}

int main(void) {
  ds_ctx *ctx = ds_ctx_new(2);
  CHECK(ctx != NULL);
  test_names();
  test_raw(ctx);
  test_tensors(ctx);
  test_pool(ctx);
  test_grads(ctx);
  test_vector_ops(ctx);
  test_host_paths(ctx);
  test_cuda(ctx);
  ds_ctx_free(ctx);
  TEST_DONE();
}
