/* In-place vector updates used by optimizers and projected methods, outside any
 * tape: y += a x, y *= a, clamps, Adam, dot products, and seeded random fills.
 * They exist so that Lua never loops over elements. Every write bumps the
 * tensor's version, so a tape recorded before an update refuses to run backward. */
#include "internal.h"
#include "kit/kit_internal.h"

#include <math.h>
#include <string.h>

/* The vector kernels of each device; NULL: not implemented there yet (the
 * CUDA kernels come with the CUDA backend). */
static const ds_vec_ops *const vec_ops[DS_DEVICE_COUNT] = {
    [DS_CPU] = &ds_vec_cpu,
    [DS_CUDA] = NULL,
    [DS_MOCK] = &ds_vec_mock,
};

/* The kernels for tensor `a`'s device, or NULL with a message naming fn. */
static const ds_vec_ops *ops_for(const char *fn, const ds_tensor *a) {
  const ds_vec_ops *o = a->device >= 0 && a->device < DS_DEVICE_COUNT ? vec_ops[a->device] : NULL;
  if (!o) ds_fail(a->ctx, DS_ERR_ARG, "%s: not implemented on %s yet", fn, ds_device_name(a->device));
  return o;
}

static int real(const char *fn, const ds_tensor *a) {
  return a->dtype == DS_REAL ? DS_OK : ds_fail(a->ctx, DS_ERR_ARG, "%s: tensor must be real, not i32", fn);
}

/* b is an operand of a's op: real, equal in size, on the same device. */
static int same(const char *fn, const ds_tensor *a, const char *an, const ds_tensor *b, const char *bn) {
  if (a->count != b->count || a->dtype != DS_REAL || b->dtype != DS_REAL)
    return ds_fail(a->ctx, DS_ERR_ARG, "%s: tensors of %lld and %lld elements (both must be real and equal in size)", fn,
                   (long long)a->count, (long long)b->count);
  if (a->device != b->device)
    return ds_fail(a->ctx, DS_ERR_ARG, "%s: '%s' is on %s but '%s' is on %s (operands must share a device)", fn, an,
                   ds_device_name(a->device), bn, ds_device_name(b->device));
  return DS_OK;
}

int ds_axpy(ds_tensor *y, double a, const ds_tensor *x) {
  int rc = same("axpy", y, "y", x, "x");
  if (rc) return rc;
  const ds_vec_ops *o = ops_for("axpy", y);
  if (!o) return DS_ERR_ARG;
  o->axpy(y->ptr, a, x->ptr, y->count);
  y->ver++;
  return DS_OK;
}

int ds_scal(ds_tensor *y, double a) {
  int rc = real("scal", y);
  if (rc) return rc;
  const ds_vec_ops *o = ops_for("scal", y);
  if (!o) return DS_ERR_ARG;
  o->scal(y->ptr, a, y->count);
  y->ver++;
  return DS_OK;
}

int ds_clamp_inplace(ds_tensor *y, double lo, double hi) {
  int rc = real("clamp_", y);
  if (rc) return rc;
  if (lo > hi) return ds_fail(y->ctx, DS_ERR_ARG, "clamp_: lo=%g is above hi=%g", lo, hi);
  const ds_vec_ops *o = ops_for("clamp_", y);
  if (!o) return DS_ERR_ARG;
  o->clamp(y->ptr, lo, hi, y->count);
  y->ver++;
  return DS_OK;
}

/* Deterministic blocked dot product in double (same blocks as core.dot);
 * NaN with ds_last_error set on bad operands. */
double ds_vdot(const ds_tensor *a, const ds_tensor *b) {
  if (same("vdot", a, "a", b, "b")) return NAN;
  const ds_vec_ops *o = ops_for("vdot", a);
  if (!o) return NAN;
  return o->dot(a->ptr, b->ptr, a->count);
}

int ds_adam_step(ds_tensor *p, const ds_tensor *g, ds_tensor *m, ds_tensor *v, double lr, double b1, double b2,
                 double eps, int64_t step) {
  int rc = same("adam", p, "param", g, "grad");
  if (!rc) rc = same("adam", p, "param", m, "m");
  if (!rc) rc = same("adam", p, "param", v, "v");
  if (rc) return rc;
  if (step < 1) return ds_fail(p->ctx, DS_ERR_ARG, "adam: step must be >= 1, got %lld", (long long)step);
  const ds_vec_ops *o = ops_for("adam", p);
  if (!o) return DS_ERR_ARG;
  const double c[6] = {lr, b1, b2, eps, 1 - pow(b1, (double)step), 1 - pow(b2, (double)step)};
  o->adam(p->ptr, g->ptr, m->ptr, v->ptr, p->count, c);
  p->ver++;
  m->ver++;
  v->ver++;
  return DS_OK;
}

int ds_tensor_add_grad(ds_tensor *t, const ds_tensor *g) {
  int rc = same("add_grad", t, "tensor", g, "grad");
  if (rc) return rc;
  const ds_vec_ops *o = ops_for("add_grad", t);
  if (!o) return DS_ERR_ARG;
  ds_tensor *dst = ds_tensor_ensure_grad(t);
  if (!dst) return ds_fail(t->ctx, DS_ERR_NOMEM, "add_grad: out of memory");
  /* grad += 1 * g is bitwise grad += g: 1 * x and its rounding are exact */
  o->axpy(dst->ptr, 1.0, g->ptr, t->count);
  return DS_OK;
}

/* splitmix64: a seed gives the same stream on every machine. */
static uint64_t mix(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static double uniform01(uint64_t *s) { return ((mix(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

int ds_fill_randn(ds_tensor *t, uint64_t seed, double mean, double std) {
  int rc = real("randn", t);
  if (rc) return rc;
  uint64_t s = seed * 0x2545f4914f6cdd1dull + 1;
  ds_real *p = ds_host_view(t, 0, "randn"); /* generated on the host, the same stream for every device */
  if (!p) return DS_ERR_NOMEM;
  for (int64_t i = 0; i < t->count; i += 2) {
    double u = uniform01(&s), v = uniform01(&s);
    double r = sqrt(-2 * log(u));
    p[i] = (ds_real)(mean + std * r * cos(2 * M_PI * v));
    if (i + 1 < t->count) p[i + 1] = (ds_real)(mean + std * r * sin(2 * M_PI * v));
  }
  if ((rc = ds_host_commit(t, p))) return rc;
  t->ver++;
  return DS_OK;
}

int ds_fill_uniform(ds_tensor *t, uint64_t seed, double lo, double hi) {
  int rc = real("rand", t);
  if (rc) return rc;
  uint64_t s = seed * 0x2545f4914f6cdd1dull + 7;
  ds_real *p = ds_host_view(t, 0, "rand");
  if (!p) return DS_ERR_NOMEM;
  for (int64_t i = 0; i < t->count; i++) p[i] = (ds_real)(lo + (hi - lo) * uniform01(&s));
  if ((rc = ds_host_commit(t, p))) return rc;
  t->ver++;
  return DS_OK;
}

/* Where destination pixel i of n lands among n_src source pixels (centres
 * aligned, clamped at the border): the two neighbours and the weight of the second. */
static double source_coord(int64_t i, int64_t n, int64_t n_src, int64_t *lo, int64_t *hi) {
  double x = (i + 0.5) * n_src / n - 0.5;
  if (x < 0) x = 0;
  if (x > n_src - 1) x = (double)(n_src - 1);
  *lo = (int64_t)x;
  *hi = *lo + 1 < n_src ? *lo + 1 : *lo;
  return x - *lo;
}

/* Bilinear resampling of an image {h, w} or {h, w, c} to dst's size, sampling at
 * pixel centres (area-averaging is left to the caller for big downscales). */
int ds_image_resize(ds_tensor *dst, const ds_tensor *src) {
  if (src->ndim < 2 || src->ndim > 3 || dst->ndim != src->ndim || (src->ndim == 3 && src->dims[2] != dst->dims[2]) ||
      src->dtype != DS_REAL || dst->dtype != DS_REAL)
    return ds_fail(src->ctx, DS_ERR_ARG, "image_resize: source and destination must be real {h, w[, c]} with equal channels");
  if (src->device != dst->device)
    return ds_fail(src->ctx, DS_ERR_ARG, "image_resize: destination is on %s but source is on %s", ds_device_name(dst->device),
                   ds_device_name(src->device));
  int64_t H = dst->dims[0], W = dst->dims[1], h = src->dims[0], w = src->dims[1];
  int64_t c = src->ndim == 3 ? src->dims[2] : 1;
  /* resampled on the host; off the CPU both images travel through host copies */
  const ds_real *s = ds_host_view(src, 1, "image_resize");
  ds_real *d = s ? ds_host_view(dst, 0, "image_resize") : NULL;
  if (!d) {
    if (s) ds_host_done(src, (void *)s);
    return DS_ERR_NOMEM;
  }
  for (int64_t i = 0; i < H; i++) {
    int64_t y0, y1;
    double fy = source_coord(i, H, h, &y0, &y1);
    for (int64_t j = 0; j < W; j++) {
      int64_t x0, x1;
      double fx = source_coord(j, W, w, &x0, &x1);
      for (int64_t k = 0; k < c; k++) {
        double v = (1 - fy) * ((1 - fx) * s[(y0 * w + x0) * c + k] + fx * s[(y0 * w + x1) * c + k]) +
                   fy * ((1 - fx) * s[(y1 * w + x0) * c + k] + fx * s[(y1 * w + x1) * c + k]);
        d[(i * W + j) * c + k] = (ds_real)v;
      }
    }
  }
  ds_host_done(src, (void *)s);
  int rc = ds_host_commit(dst, d);
  if (rc) return rc;
  dst->ver++;
  return DS_OK;
}

int ds_tensor_range(const ds_tensor *t, double *lo, double *hi) {
  if (t->count == 0) return ds_fail(t->ctx, DS_ERR_ARG, "range: empty tensor");
  const void *p = ds_host_view(t, 1, "range");
  if (!p) return DS_ERR_NOMEM;
  double a = INFINITY, b = -INFINITY;
  for (int64_t i = 0; i < t->count; i++) {
    double v = t->dtype == DS_I32 ? ((const int32_t *)p)[i] : ((const ds_real *)p)[i];
    if (v < a) a = v;
    if (v > b) b = v;
  }
  ds_host_done(t, (void *)p);
  *lo = a;
  *hi = b;
  return DS_OK;
}
