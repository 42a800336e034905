/* Tensors: creation, reference counting, versions, lazily allocated grads. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t ds_dtype_size(int dtype) { return dtype == DS_I32 ? 4 : (int64_t)sizeof(ds_real); }
const char *ds_dtype_name(int dtype) { return dtype == DS_I32 ? "i32" : "real"; }

int ds_shape_str(const ds_tensor *t, char *buf, size_t n) {
  size_t k = 0;
  k += (size_t)snprintf(buf, n, "{");
  for (int d = 0; d < t->ndim && k < n; d++)
    k += (size_t)snprintf(buf + k, n - k, d ? ",%lld" : "%lld", (long long)t->dims[d]);
  if (k < n) k += (size_t)snprintf(buf + k, n - k, "}");
  return (int)k;
}

/* `fn` names the public entry point in messages; the plain (CPU) ones keep
 * their historical "tensor" prefix. */
/* Tensor structs are recycled per context: a step loop makes and drops the
 * same few tensors every step, and calloc/free of the header was a fifth of a
 * small launch. The sanitizer build keeps plain malloc/free, so a use after
 * release is still caught there. */
enum { SPARE_HEADERS = 1 << 16 }; /* up to ~8 MB of headers, the size of a long recording */
static ds_tensor *header_get(ds_ctx *ctx) {
  (void)ctx; /* unused in the sanitizer build */
#ifndef __SANITIZE_ADDRESS__
  ds_tensor *t = ctx->spare_headers;
  if (t) {
    ctx->spare_headers = t->grad_;
    ctx->nspare_headers--;
    memset(t, 0, sizeof *t);
    return t;
  }
#endif
  return calloc(1, sizeof(ds_tensor));
}
static void header_put(ds_ctx *ctx, ds_tensor *t) {
  (void)ctx; /* unused in the sanitizer build */
#ifndef __SANITIZE_ADDRESS__
  if (ctx->nspare_headers < SPARE_HEADERS) {
    t->grad_ = ctx->spare_headers;
    ctx->spare_headers = t;
    ctx->nspare_headers++;
    return;
  }
#endif
  free(t);
}
void ds_tensor_headers_free(ds_ctx *ctx) {
  while (ctx->spare_headers) {
    ds_tensor *n = ctx->spare_headers->grad_;
    free(ctx->spare_headers);
    ctx->spare_headers = n;
  }
  ctx->nspare_headers = 0;
}

static ds_tensor *make(ds_ctx *ctx, int dtype, int ndim, const int64_t *shape, int zero, int device, const char *fn) {
  if (!ctx) return NULL;
  if (dtype != DS_REAL && dtype != DS_I32) {
    ds_fail(ctx, DS_ERR_ARG, "%s: unknown dtype %d (expected real or i32)", fn, dtype);
    return NULL;
  }
  if (ndim < 0 || ndim > DS_MAX_DIMS) {
    ds_fail(ctx, DS_ERR_ARG, "%s: %d dims requested, at most %d are supported", fn, ndim, DS_MAX_DIMS);
    return NULL;
  }
  if (device < 0 || device >= DS_DEVICE_COUNT) {
    ds_fail(ctx, DS_ERR_ARG, "%s: unknown device id %d (cpu = 0, cuda = 1, mock = 2)", fn, device);
    return NULL;
  }
  const char *why = ds_device_unavailable(device);
  if (why) {
    ds_fail(ctx, DS_ERR_ARG, "%s: device '%s' is not available: %s", fn, ds_device_name(device), why);
    return NULL;
  }
  int64_t numel = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0 || shape[d] > ((int64_t)1 << 40)) {
      ds_fail(ctx, DS_ERR_ARG, "%s: dimension %d has invalid size %lld", fn, d + 1, (long long)shape[d]);
      return NULL;
    }
    numel *= shape[d];
    if (numel > ((int64_t)1 << 40)) {
      ds_fail(ctx, DS_ERR_ARG, "%s: too many elements", fn);
      return NULL;
    }
  }
  ds_tensor *t = header_get(ctx);
  if (!t) {
    ds_fail(ctx, DS_ERR_NOMEM, "%s: out of memory", fn);
    return NULL;
  }
  int64_t bytes = numel * ds_dtype_size(dtype);
  t->ptr = ds_pool_get(ctx, device, bytes);
  if (!t->ptr) {
    header_put(ctx, t);
    ds_fail(ctx, DS_ERR_NOMEM, "%s: out of memory allocating %lld bytes on %s", fn, (long long)bytes,
            ds_device_name(device));
    return NULL;
  }
  if (zero && ds_device_memset(ctx, device, t->ptr, 0, bytes) != DS_OK) {
    ds_pool_put(ctx, device, t->ptr, bytes);
    header_put(ctx, t);
    return NULL;
  }
  t->ctx = ctx;
  ds_ctx_ref(ctx);
  t->count = numel;
  t->ndim = ndim;
  for (int d = 0; d < ndim; d++) t->dims[d] = shape[d];
  t->dtype = dtype;
  t->device = device;
  t->refcount = 1;
  t->id = ++ctx->next_id;
  return t;
}

ds_tensor *ds_tensor_new(ds_ctx *ctx, int dtype, int ndim, const int64_t *shape) {
  return make(ctx, dtype, ndim, shape, 1, DS_CPU, "tensor");
}
ds_tensor *ds_tensor_empty(ds_ctx *ctx, int dtype, int ndim, const int64_t *shape) {
  return make(ctx, dtype, ndim, shape, 0, DS_CPU, "tensor");
}
ds_tensor *ds_tensor_new_on(ds_ctx *ctx, int dtype, int ndim, const int64_t *shape, int device) {
  return make(ctx, dtype, ndim, shape, 1, device, "tensor_new_on");
}
ds_tensor *ds_tensor_empty_on(ds_ctx *ctx, int dtype, int ndim, const int64_t *shape, int device) {
  return make(ctx, dtype, ndim, shape, 0, device, "tensor_empty_on");
}

ds_tensor *ds_tensor_empty_like(const ds_tensor *t) {
  return make(t->ctx, t->dtype, t->ndim, t->dims, 0, t->device, "tensor");
}

ds_tensor *ds_tensor_to(const ds_tensor *t, int device) {
  ds_tensor *out = make(t->ctx, t->dtype, t->ndim, t->dims, 0, device, "tensor_to");
  if (out && ds_device_copy(t->ctx, device, out->ptr, t->device, t->ptr, ds_tensor_bytes(t)) != DS_OK) {
    ds_tensor_release(out);
    return NULL;
  }
  return out;
}

void ds_tensor_retain(ds_tensor *t) {
  if (t) t->refcount++;
}

void ds_tensor_release(ds_tensor *t) {
  if (!t || --t->refcount > 0) return;
  if (t->grad_) ds_tensor_release(t->grad_);
  ds_ctx *ctx = t->ctx;
  ds_pool_put(ctx, t->device, t->ptr, ds_tensor_bytes(t));
  header_put(ctx, t);
  ds_ctx_unref(ctx);
}

int ds_tensor_bump(ds_tensor *t) {
  t->ver++;
  return DS_OK;
}

int ds_tensor_copy(ds_tensor *dst, const ds_tensor *src) {
  if (dst->count != src->count || dst->dtype != src->dtype) {
    char a[64], b[64];
    ds_shape_str(dst, a, sizeof a);
    ds_shape_str(src, b, sizeof b);
    return ds_fail(dst->ctx, DS_ERR_ARG, "copy: destination %s %s and source %s %s differ",
                   ds_dtype_name(dst->dtype), a, ds_dtype_name(src->dtype), b);
  }
  /* across devices too: the device interface picks the direction */
  int rc = ds_device_copy(dst->ctx, dst->device, dst->ptr, src->device, src->ptr, ds_tensor_bytes(dst));
  if (rc) return rc;
  dst->ver++;
  return DS_OK;
}

/* A double an i32 element can hold: NaN, +-Inf and out-of-range values are
 * refused (casting them is undefined behaviour, in practice -2147483648). */
static int i32_ok(double v) { return v >= -2147483648.0 && v <= 2147483647.0; }

int ds_tensor_fill(ds_tensor *t, double v) {
  int rc;
  if (t->dtype == DS_I32 && !i32_ok(v))
    return ds_fail(t->ctx, DS_ERR_ARG, "fill: value %g does not fit an i32 tensor", v);
  if (t->dtype == DS_I32) { /* converted only when asked: (int32_t)NaN is undefined */
    int32_t i32 = (int32_t)v;
    rc = ds_device_fill(t->ctx, t->device, t->ptr, &i32, 4, t->count);
  } else {
    ds_real r = (ds_real)v;
    rc = ds_device_fill(t->ctx, t->device, t->ptr, &r, (int)sizeof r, t->count);
  }
  if (rc) return rc;
  t->ver++;
  return DS_OK;
}

int ds_tensor_set_requires_grad(ds_tensor *t, int on) {
  if (on && t->dtype != DS_REAL)
    return ds_fail(t->ctx, DS_ERR_ARG, "requires_grad: an i32 tensor cannot require a gradient");
  if (on)
    t->flags |= DS_FLAG_REQUIRES_GRAD | DS_FLAG_LEAF;
  else
    t->flags &= ~(DS_FLAG_REQUIRES_GRAD | DS_FLAG_LEAF);
  return DS_OK;
}

int ds_tensor_retain_grad(ds_tensor *t) {
  t->flags |= DS_FLAG_RETAIN_GRAD;
  return DS_OK;
}

ds_tensor *ds_tensor_grad(ds_tensor *t) { return t->grad_; }

ds_tensor *ds_tensor_ensure_grad(ds_tensor *t) {
  /* a gradient lives where its tensor lives */
  if (!t->grad_) t->grad_ = make(t->ctx, DS_REAL, t->ndim, t->dims, 1, t->device, "ensure_grad");
  return t->grad_;
}

void ds_tensor_zero_grad(ds_tensor *t) {
  if (t->grad_) ds_device_memset(t->ctx, t->grad_->device, t->grad_->ptr, 0, ds_tensor_bytes(t->grad_));
}

void ds_tensor_drop_grad(ds_tensor *t) {
  if (t->grad_) ds_tensor_release(t->grad_);
  t->grad_ = NULL;
}

int ds_tensor_reshape(ds_tensor *t, int ndim, const int64_t *shape) {
  if (ndim < 0 || ndim > DS_MAX_DIMS)
    return ds_fail(t->ctx, DS_ERR_ARG, "reshape: %d dims requested, at most %d", ndim, DS_MAX_DIMS);
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0)
      return ds_fail(t->ctx, DS_ERR_ARG, "reshape: dimension %d is %lld; sizes must be non-negative", d + 1,
                     (long long)shape[d]);
    n *= shape[d];
  }
  if (n != t->count)
    return ds_fail(t->ctx, DS_ERR_ARG, "reshape: %lld elements cannot take a shape of %lld",
                   (long long)t->count, (long long)n);
  t->ndim = ndim;
  for (int d = 0; d < DS_MAX_DIMS; d++) t->dims[d] = d < ndim ? shape[d] : 0;
  if (t->grad_) ds_tensor_reshape(t->grad_, ndim, shape);
  return DS_OK;
}

double ds_tensor_get(const ds_tensor *t, int64_t i) {
  if (i < 0 || i >= t->count) {
    ds_fail(t->ctx, DS_ERR_ARG, "get: index %lld out of range [0, %lld)", (long long)i, (long long)t->count);
    return NAN;
  }
  /* one element through the device interface: cheap on every device */
  int64_t size = ds_dtype_size(t->dtype);
  union {
    int32_t i;
    ds_real r;
  } e;
  if (ds_device_copy(t->ctx, DS_CPU, &e, t->device, (const char *)t->ptr + i * size, size) != DS_OK) return NAN;
  return t->dtype == DS_I32 ? e.i : e.r;
}

int ds_tensor_set(ds_tensor *t, int64_t i, double v) {
  if (i < 0 || i >= t->count)
    return ds_fail(t->ctx, DS_ERR_ARG, "set: index %lld out of range [0, %lld)", (long long)i, (long long)t->count);
  int64_t size = ds_dtype_size(t->dtype);
  union {
    int32_t i;
    ds_real r;
  } e;
  if (t->dtype == DS_I32 && !i32_ok(v))
    return ds_fail(t->ctx, DS_ERR_ARG, "set: value %g at index %lld does not fit an i32 tensor", v, (long long)i);
  if (t->dtype == DS_I32)
    e.i = (int32_t)v;
  else
    e.r = (ds_real)v;
  int rc = ds_device_copy(t->ctx, t->device, (char *)t->ptr + i * size, DS_CPU, &e, size);
  if (rc) return rc;
  t->ver++;
  return DS_OK;
}

int ds_tensor_from_doubles(ds_tensor *t, const double *src, int64_t n) {
  if (n != t->count)
    return ds_fail(t->ctx, DS_ERR_ARG, "from_doubles: %lld values for %lld elements", (long long)n, (long long)t->count);
  if (t->dtype == DS_I32)
    for (int64_t i = 0; i < n; i++)
      if (!i32_ok(src[i]))
        return ds_fail(t->ctx, DS_ERR_ARG, "from_doubles: element %lld is %g, which does not fit an i32 tensor",
                       (long long)(i + 1), src[i]);
  void *host = ds_host_view(t, 0, "from_doubles");
  if (!host) return DS_ERR_NOMEM;
  if (t->dtype == DS_I32) {
    int32_t *p = host;
    for (int64_t i = 0; i < n; i++) p[i] = (int32_t)src[i];
  } else {
    ds_real *p = host;
    for (int64_t i = 0; i < n; i++) p[i] = (ds_real)src[i];
  }
  int rc = ds_host_commit(t, host);
  if (rc) return rc;
  t->ver++;
  return DS_OK;
}

int ds_tensor_to_doubles(const ds_tensor *t, double *dst, int64_t n) {
  if (n != t->count)
    return ds_fail(t->ctx, DS_ERR_ARG, "to_doubles: room for %lld values, tensor has %lld", (long long)n, (long long)t->count);
  const void *host = ds_host_view(t, 1, "to_doubles");
  if (!host) return DS_ERR_NOMEM;
  for (int64_t i = 0; i < n; i++) dst[i] = t->dtype == DS_I32 ? ((const int32_t *)host)[i] : ((const ds_real *)host)[i];
  ds_host_done(t, (void *)host);
  return DS_OK;
}

/* On a device the elements are copied to the host first: anomaly mode is for
 * debugging, where the copy's cost is fine. If that copy fails the answer is
 * 0 with ds_last_error set. */
int ds_tensor_has_nonfinite(const ds_tensor *t) {
  if (t->dtype != DS_REAL) return 0;
  const ds_real *p = ds_host_view(t, 1, "has_nonfinite");
  if (!p) return 0;
  int bad = 0;
  for (int64_t i = 0; i < t->count && !bad; i++)
    if (!isfinite(p[i])) bad = (int)(i + 1 > 0x7fffffff ? 0x7fffffff : i + 1);
  ds_host_done(t, (void *)p);
  return bad;
}
