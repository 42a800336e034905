/* diffsim plugin ABI.
 *
 * A plugin is a shared object that exports exactly one symbol:
 *
 *     int ds_plugin_init(const ds_host_api *host, ds_registrar *reg);
 *
 * It never links against the core: everything it needs comes through `host`,
 * a versioned table that only ever grows at its end. The first call a plugin
 * makes is ds_plugin_begin() (below), which hands the loader the plugin's ABI
 * version and the sizes it was compiled with; the loader refuses any mismatch
 * and rolls back whatever the plugin registered.
 *
 * Kernels have one uniform signature, int fn(const ds_call *), so a launch is
 * plain data (kernel, tensors, params) that the tape can store and replay.
 * Params are always an array of doubles, whatever the precision.
 */
#ifndef DIFFSIM_PLUGIN_H
#define DIFFSIM_PLUGIN_H

#include <stdio.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { DS_ABI_VERSION = 1 };

typedef struct ds_registrar ds_registrar;
typedef struct ds_host_api ds_host_api;

typedef struct ds_call {
  const ds_host_api *host;
  ds_ctx *ctx;
  const char *kernel_name;        /* "plugin.op" */
  const struct ds_arg_desc *arg_desc;
  ds_tensor *const *args;
  int32_t nargs;
  int32_t nparams;
  const double *params;
} ds_call;

typedef int (*ds_kernel_fn)(const ds_call *call);
typedef void (*ds_range_fn)(int64_t begin, int64_t end, void *user);

typedef struct ds_arg_desc {
  const char *name;
  int32_t role;    /* ds_role */
  int32_t dtype;   /* ds_dtype */
  int32_t ndim;    /* required number of dims, or -1 for any */
} ds_arg_desc;

typedef struct ds_kernel_desc {
  const char *name;               /* op name; the host prefixes "<plugin>." */
  int32_t nargs;
  const ds_arg_desc *args;
  int32_t nparams;                /* exact number of doubles in params */
  const char *const *param_names; /* nparams names, for messages; may be NULL */
  ds_kernel_fn check;             /* optional: shapes, ranges, stability limits */
  ds_kernel_fn forward[DS_DEVICE_COUNT];
  ds_kernel_fn adjoint[DS_DEVICE_COUNT]; /* NULL: not differentiable */
} ds_kernel_desc;

struct ds_host_api {
  uint32_t abi_version;
  uint32_t size;                  /* sizeof(ds_host_api) of the host */
  int (*begin)(ds_registrar *reg, const char *plugin_name, int abi_version,
               int real_size, int tensor_size, int kernel_desc_size);
  int (*register_kernel)(ds_registrar *reg, const ds_kernel_desc *desc);
  /* Sets the context error, prefixed with the kernel's name; returns DS_ERR_ARG. */
  int (*error)(const ds_call *call, const char *fmt, ...);
  void (*log)(ds_ctx *ctx, int level, const char *fmt, ...);
  /* Splits [0, n) into blocks of `grain` and runs them on the context's threads.
   * Blocks never depend on the thread count, so results are deterministic. */
  void (*parallel_for)(ds_ctx *ctx, int64_t n, int64_t grain, ds_range_fn fn, void *user);
  void *(*alloc)(size_t bytes);   /* 64-byte aligned scratch, thread-safe */
  void (*free)(void *p);
  int (*threads)(ds_ctx *ctx);
};

/* ---- helpers for plugin authors (header-only, no core symbols) -------- */
static inline int ds_plugin_begin(const ds_host_api *h, ds_registrar *r, const char *name) {
  return h->begin(r, name, DS_ABI_VERSION, (int)sizeof(ds_real), (int)sizeof(ds_tensor),
                  (int)sizeof(ds_kernel_desc));
}
static inline ds_real *ds_rdata(const ds_tensor *t) { return (ds_real *)t->ptr; }
static inline int32_t *ds_idata(const ds_tensor *t) { return (int32_t *)t->ptr; }
/* The gradient buffer of an argument, or NULL when no gradient is wanted. */
static inline ds_real *ds_rgrad(const ds_tensor *t) {
  return t->grad_ ? (ds_real *)t->grad_->ptr : (ds_real *)0;
}
/* Checks args[i] has the given dims (-1 = any). Returns 0 or an error status. */
static inline int ds_expect_shape(const ds_call *c, int i, int ndim, int64_t d0, int64_t d1,
                                  int64_t d2, int64_t d3) {
  const ds_tensor *t = c->args[i];
  const int64_t want[4] = {d0, d1, d2, d3};
  int ok = t->ndim == ndim;
  for (int d = 0; ok && d < ndim; d++) ok = want[d] < 0 || t->dims[d] == want[d];
  if (ok) return 0;
  char got[96], exp[96];
  int gn = 0, en = 0;
  for (int d = 0; d < t->ndim && gn < 80; d++)
    gn += snprintf(got + gn, sizeof got - gn, d ? ",%lld" : "%lld", (long long)t->dims[d]);
  for (int d = 0; d < ndim && en < 80; d++)
    en += want[d] < 0 ? snprintf(exp + en, sizeof exp - en, d ? ",*" : "*")
                      : snprintf(exp + en, sizeof exp - en, d ? ",%lld" : "%lld",
                                           (long long)want[d]);
  got[gn] = 0;
  exp[en] = 0;
  return c->host->error(c, "argument '%s' (#%d) has shape {%s}, expected {%s}",
                        c->arg_desc[i].name, i + 1, got, exp);
}

#ifdef __cplusplus
}
#endif
#endif
