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

static ds_tensor *make(ds_ctx *ctx, int dtype, int ndim, const int64_t *shape, int zero) {
  if (!ctx) return NULL;
  if (dtype != DS_REAL && dtype != DS_I32) {
    ds_fail(ctx, DS_ERR_ARG, "tensor: unknown dtype %d (expected real or i32)", dtype);
    return NULL;
  }
  if (ndim < 0 || ndim > DS_MAX_DIMS) {
    ds_fail(ctx, DS_ERR_ARG, "tensor: %d dims requested, at most %d are supported", ndim, DS_MAX_DIMS);
    return NULL;
  }
  int64_t numel = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0 || shape[d] > ((int64_t)1 << 40)) {
      ds_fail(ctx, DS_ERR_ARG, "tensor: dimension %d has invalid size %lld", d + 1, (long long)shape[d]);
      return NULL;
    }
    numel *= shape[d];
    if (numel > ((int64_t)1 << 40)) {
      ds_fail(ctx, DS_ERR_ARG, "tensor: too many elements");
      return NULL;
    }
  }
  ds_tensor *t = calloc(1, sizeof *t);
  if (!t) {
    ds_fail(ctx, DS_ERR_NOMEM, "tensor: out of memory");
    return NULL;
  }
  int64_t bytes = numel * ds_dtype_size(dtype);
  t->ptr = ds_pool_get(ctx, bytes);
  if (!t->ptr) {
    free(t);
    ds_fail(ctx, DS_ERR_NOMEM, "tensor: out of memory allocating %lld bytes", (long long)bytes);
    return NULL;
  }
  if (zero) memset(t->ptr, 0, (size_t)bytes);
  t->ctx = ctx;
  ds_ctx_ref(ctx);
  t->count = numel;
  t->ndim = ndim;
  for (int d = 0; d < ndim; d++) t->dims[d] = shape[d];
  t->dtype = dtype;
  t->device = DS_CPU;
  t->refcount = 1;
  t->id = ++ctx->next_id;
  return t;
}

ds_tensor *ds_tensor_new(ds_ctx *ctx, int dtype, int ndim, const int64_t *shape) {
  return make(ctx, dtype, ndim, shape, 1);
}
ds_tensor *ds_tensor_empty(ds_ctx *ctx, int dtype, int ndim, const int64_t *shape) {
  return make(ctx, dtype, ndim, shape, 0);
}

ds_tensor *ds_tensor_empty_like(const ds_tensor *t) { return make(t->ctx, t->dtype, t->ndim, t->dims, 0); }

void ds_tensor_retain(ds_tensor *t) {
  if (t) t->refcount++;
}

void ds_tensor_release(ds_tensor *t) {
  if (!t || --t->refcount > 0) return;
  if (t->grad_) ds_tensor_release(t->grad_);
  ds_ctx *ctx = t->ctx;
  ds_pool_put(ctx, t->ptr, t->count * ds_dtype_size(t->dtype));
  free(t);
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
  memcpy(dst->ptr, src->ptr, (size_t)(dst->count * ds_dtype_size(dst->dtype)));
  dst->ver++;
  return DS_OK;
}

int ds_tensor_fill(ds_tensor *t, double v) {
  if (t->dtype == DS_I32) {
    int32_t *p = t->ptr;
    for (int64_t i = 0; i < t->count; i++) p[i] = (int32_t)v;
  } else {
    ds_real *p = t->ptr;
    for (int64_t i = 0; i < t->count; i++) p[i] = (ds_real)v;
  }
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
  if (!t->grad_) t->grad_ = ds_tensor_new(t->ctx, DS_REAL, t->ndim, t->dims);
  return t->grad_;
}

void ds_tensor_zero_grad(ds_tensor *t) {
  if (t->grad_) memset(t->grad_->ptr, 0, (size_t)(t->count * (int64_t)sizeof(ds_real)));
}

void ds_tensor_drop_grad(ds_tensor *t) {
  if (t->grad_) ds_tensor_release(t->grad_);
  t->grad_ = NULL;
}

int ds_tensor_reshape(ds_tensor *t, int ndim, const int64_t *shape) {
  if (ndim < 0 || ndim > DS_MAX_DIMS)
    return ds_fail(t->ctx, DS_ERR_ARG, "reshape: %d dims requested, at most %d", ndim, DS_MAX_DIMS);
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d] < 0 ? -1 : shape[d];
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
  return t->dtype == DS_I32 ? ((int32_t *)t->ptr)[i] : ((ds_real *)t->ptr)[i];
}

int ds_tensor_set(ds_tensor *t, int64_t i, double v) {
  if (i < 0 || i >= t->count)
    return ds_fail(t->ctx, DS_ERR_ARG, "set: index %lld out of range [0, %lld)", (long long)i, (long long)t->count);
  if (t->dtype == DS_I32)
    ((int32_t *)t->ptr)[i] = (int32_t)v;
  else
    ((ds_real *)t->ptr)[i] = (ds_real)v;
  t->ver++;
  return DS_OK;
}

int ds_tensor_from_doubles(ds_tensor *t, const double *src, int64_t n) {
  if (n != t->count)
    return ds_fail(t->ctx, DS_ERR_ARG, "from_doubles: %lld values for %lld elements", (long long)n, (long long)t->count);
  if (t->dtype == DS_I32) {
    int32_t *p = t->ptr;
    for (int64_t i = 0; i < n; i++) p[i] = (int32_t)src[i];
  } else {
    ds_real *p = t->ptr;
    for (int64_t i = 0; i < n; i++) p[i] = (ds_real)src[i];
  }
  t->ver++;
  return DS_OK;
}

int ds_tensor_to_doubles(const ds_tensor *t, double *dst, int64_t n) {
  if (n != t->count)
    return ds_fail(t->ctx, DS_ERR_ARG, "to_doubles: room for %lld values, tensor has %lld", (long long)n, (long long)t->count);
  for (int64_t i = 0; i < n; i++)
    dst[i] = t->dtype == DS_I32 ? ((int32_t *)t->ptr)[i] : ((ds_real *)t->ptr)[i];
  return DS_OK;
}

int ds_tensor_has_nonfinite(const ds_tensor *t) {
  if (t->dtype != DS_REAL) return 0;
  const ds_real *p = t->ptr;
  for (int64_t i = 0; i < t->count; i++)
    if (!isfinite(p[i])) return (int)(i + 1 > 0x7fffffff ? 0x7fffffff : i + 1);
  return 0;
}
