/* In-place vector updates used by optimizers and projected methods, outside any
 * tape: y += a x, y *= a, clamps, Adam, dot products, and seeded random fills.
 * They exist so that Lua never loops over elements. Every write bumps the
 * tensor's version, so a tape recorded before an update refuses to run backward. */
#include "internal.h"
#include "kit/kit_internal.h"

#include <math.h>
#include <string.h>

static int same(const char *fn, const ds_tensor *a, const ds_tensor *b) {
  if (a->count != b->count || a->dtype != DS_REAL || b->dtype != DS_REAL)
    return ds_fail(a->ctx, DS_ERR_ARG, "%s: tensors of %lld and %lld elements (both must be real and equal in size)", fn,
                   (long long)a->count, (long long)b->count);
  return DS_OK;
}

static int real(const char *fn, const ds_tensor *a) {
  return a->dtype == DS_REAL ? DS_OK : ds_fail(a->ctx, DS_ERR_ARG, "%s: tensor must be real, not i32", fn);
}

int ds_axpy(ds_tensor *y, double a, const ds_tensor *x) {
  int rc = same("axpy", y, x);
  if (rc) return rc;
  ds_real *py = y->ptr;
  const ds_real *px = x->ptr;
  for (int64_t i = 0; i < y->count; i++) py[i] += (ds_real)(a * px[i]);
  y->ver++;
  return DS_OK;
}

int ds_scal(ds_tensor *y, double a) {
  int rc = real("scal", y);
  if (rc) return rc;
  ds_real *p = y->ptr;
  for (int64_t i = 0; i < y->count; i++) p[i] = (ds_real)(a * p[i]);
  y->ver++;
  return DS_OK;
}

int ds_clamp_inplace(ds_tensor *y, double lo, double hi) {
  int rc = real("clamp_", y);
  if (rc) return rc;
  if (lo > hi) return ds_fail(y->ctx, DS_ERR_ARG, "clamp_: lo=%g is above hi=%g", lo, hi);
  ds_real *p = y->ptr;
  for (int64_t i = 0; i < y->count; i++) p[i] = p[i] < lo ? (ds_real)lo : p[i] > hi ? (ds_real)hi : p[i];
  y->ver++;
  return DS_OK;
}

/* The kit's deterministic blocked dot product (same blocks as core.dot), on
 * the tensor's context threads. */
double ds_vdot(const ds_tensor *a, const ds_tensor *b) {
  if (same("vdot", a, b)) return NAN;
  return ds_kit_dot(a->ctx, a->ptr, b->ptr, a->count);
}

int ds_adam_step(ds_tensor *p, const ds_tensor *g, ds_tensor *m, ds_tensor *v, double lr, double b1, double b2,
                 double eps, int64_t step) {
  int rc = same("adam", p, g);
  if (!rc) rc = same("adam", p, m);
  if (!rc) rc = same("adam", p, v);
  if (rc) return rc;
  if (step < 1) return ds_fail(p->ctx, DS_ERR_ARG, "adam: step must be >= 1, got %lld", (long long)step);
  ds_real *pp = p->ptr, *pm = m->ptr, *pv = v->ptr;
  const ds_real *pg = g->ptr;
  double c1 = 1 - pow(b1, (double)step), c2 = 1 - pow(b2, (double)step);
  for (int64_t i = 0; i < p->count; i++) {
    double gi = pg[i];
    pm[i] = (ds_real)(b1 * pm[i] + (1 - b1) * gi);
    pv[i] = (ds_real)(b2 * pv[i] + (1 - b2) * gi * gi);
    pp[i] -= (ds_real)(lr * (pm[i] / c1) / (sqrt(pv[i] / c2) + eps));
  }
  p->ver++;
  m->ver++;
  v->ver++;
  return DS_OK;
}

int ds_tensor_add_grad(ds_tensor *t, const ds_tensor *g) {
  int rc = same("add_grad", t, g);
  if (rc) return rc;
  ds_tensor *dst = ds_tensor_ensure_grad(t);
  if (!dst) return ds_fail(t->ctx, DS_ERR_NOMEM, "add_grad: out of memory");
  ds_real *pd = dst->ptr;
  const ds_real *ps = g->ptr;
  for (int64_t i = 0; i < t->count; i++) pd[i] += ps[i];
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
  ds_real *p = t->ptr;
  for (int64_t i = 0; i < t->count; i += 2) {
    double u = uniform01(&s), v = uniform01(&s);
    double r = sqrt(-2 * log(u));
    p[i] = (ds_real)(mean + std * r * cos(2 * M_PI * v));
    if (i + 1 < t->count) p[i + 1] = (ds_real)(mean + std * r * sin(2 * M_PI * v));
  }
  t->ver++;
  return DS_OK;
}

int ds_fill_uniform(ds_tensor *t, uint64_t seed, double lo, double hi) {
  int rc = real("rand", t);
  if (rc) return rc;
  uint64_t s = seed * 0x2545f4914f6cdd1dull + 7;
  ds_real *p = t->ptr;
  for (int64_t i = 0; i < t->count; i++) p[i] = (ds_real)(lo + (hi - lo) * uniform01(&s));
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
  int64_t H = dst->dims[0], W = dst->dims[1], h = src->dims[0], w = src->dims[1];
  int64_t c = src->ndim == 3 ? src->dims[2] : 1;
  const ds_real *s = src->ptr;
  ds_real *d = dst->ptr;
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
  dst->ver++;
  return DS_OK;
}

int ds_tensor_range(const ds_tensor *t, double *lo, double *hi) {
  if (t->count == 0) return ds_fail(t->ctx, DS_ERR_ARG, "range: empty tensor");
  double a = INFINITY, b = -INFINITY;
  for (int64_t i = 0; i < t->count; i++) {
    double v = t->dtype == DS_I32 ? ((const int32_t *)t->ptr)[i] : ((const ds_real *)t->ptr)[i];
    if (v < a) a = v;
    if (v > b) b = v;
  }
  *lo = a;
  *hi = b;
  return DS_OK;
}
