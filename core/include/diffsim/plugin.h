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

#include <math.h>
#include <stddef.h>
#include <stdio.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Version 2: argument and parameter tables are NULL-terminated (their counts
 * come from the tables), one argument may be a list of tensors, parameters are
 * named, kernels register per device and merge by name, plugins get per-context
 * state and scratch, and the solver and kit services hang off the host table.
 * Every change of a struct below bumps the version: rebuild plugins with the
 * diffsim they load into (the loader says so when they differ). */
enum { DS_ABI_VERSION = 2 };

typedef struct ds_registrar ds_registrar;
typedef struct ds_host_api ds_host_api;
struct ds_solve_api; /* diffsim/solve.h */
struct ds_kit_api;   /* diffsim/kit.h */

/* Argument flags. */
typedef enum ds_arg_flags {
  DS_LIST = 1, /* a list of tensors (network weights, 2D/3D velocity components). List slots come last;
                  a kernel may have several (e.g. velocity in and velocity out), all of one length per launch */
  DS_GUESS = 2 /* a DS_NODIFF starting guess the result does not depend on (an iterative solver's warm
                  start): a tensor that requires grad may be passed, since no gradient is lost */
} ds_arg_flags;

typedef struct ds_arg_desc {
  const char *name;  /* NULL ends the table */
  int32_t role;      /* ds_role */
  int32_t dtype;     /* ds_dtype */
  int32_t ndim;      /* required number of dims, or -1 for any (each element of a list) */
  int32_t flags;     /* ds_arg_flags */
} ds_arg_desc;

/* One launch as the kernel sees it. `args` is flat: one entry per fixed slot,
 * then list_len entries for each list slot in declared order. List slots come
 * last, so args[slot] is right for every fixed slot; use ds_list_of for lists. */
typedef struct ds_call {
  const ds_host_api *host;
  ds_ctx *ctx;
  const char *kernel_name;        /* "plugin.op" */
  const struct ds_arg_desc *arg_desc; /* the declared slots */
  ds_tensor *const *args;         /* flat, nargs entries */
  int32_t nargs;
  int32_t nparams;
  const double *params;           /* in the order of the kernel's param table */
  int32_t nslots;                 /* declared slots */
  int32_t list_len;               /* tensors in each list slot, 0 if none */
  int32_t nlists;                 /* list slots (the last nlists declared slots) */
  void *state;                    /* the plugin's per-context state (NULL if it asked for none) */
  int32_t device;                 /* ds_device the launch runs on */
  const ds_kernel *kernel;        /* the kernel being run (opaque) */
} ds_call;

typedef int (*ds_kernel_fn)(const ds_call *call);
typedef void (*ds_range_fn)(int64_t begin, int64_t end, void *user);

typedef struct ds_kernel_desc {
  const char *name;               /* op name; the host prefixes "<plugin>." */
  const ds_arg_desc *args;        /* terminated by {NULL} */
  const char *const *params;      /* parameter names terminated by NULL; NULL: none */
  ds_kernel_fn check;             /* optional, host side: shapes and params only, never tensor data */
  ds_kernel_fn forward[DS_DEVICE_COUNT];
  ds_kernel_fn adjoint[DS_DEVICE_COUNT]; /* NULL: not differentiable on that device */
} ds_kernel_desc;

struct ds_host_api {
  uint32_t abi_version;
  uint32_t size;                  /* sizeof(ds_host_api) of the host */
  int (*begin)(ds_registrar *reg, const char *plugin_name, int abi_version,
               int real_size, int tensor_size, int kernel_desc_size);
  /* Registers a kernel, or adds device implementations to one this plugin
   * registered before under the same name with the same tables. */
  int (*register_kernel)(ds_registrar *reg, const ds_kernel_desc *desc);
  /* Sets the context error, prefixed with the kernel's name; returns DS_ERR_ARG. */
  int (*error)(const ds_call *call, const char *fmt, ...);
  void (*log)(ds_ctx *ctx, int level, const char *fmt, ...);
  /* Splits [0, n) into blocks of `grain` and runs them on the context's threads.
   * Blocks never depend on the thread count, so results are deterministic. */
  void (*parallel_for)(ds_ctx *ctx, int64_t n, int64_t grain, ds_range_fn fn, void *user);
  void *(*alloc)(size_t bytes);   /* 64-byte aligned, thread-safe, for long-lived buffers */
  void (*free)(void *p);
  int (*threads)(ds_ctx *ctx);
  /* Per-context plugin state: asked for once during init; every context that
   * loads the plugin gets its own zeroed block of `bytes`, handed to each call
   * as call->state, and `destroy` (may be NULL) runs on it when the context goes. */
  int (*state_size)(ds_registrar *reg, size_t bytes, void (*destroy)(void *state));
  /* Scratch memory for the running call: 64-byte aligned, valid until the call
   * returns, owned by the context (grow-only, so a step loop stops allocating). */
  void *(*scratch)(const ds_call *call, size_t bytes);
  const struct ds_solve_api *solve; /* shared solvers (diffsim/solve.h) */
  const struct ds_kit_api *kit;     /* shared kit (diffsim/kit.h) */
};

/* The entry point every plugin defines. ds_add_plugin builds plugins with hidden
 * visibility: this is their one exported symbol, and calls between a plugin's
 * own files bind directly instead of through the PLT. */
#if defined(__GNUC__)
__attribute__((visibility("default")))
#endif
int ds_plugin_init(const ds_host_api *host, ds_registrar *reg);

/* Declaring a kernel once. The argument list is an X-macro that makes a struct
 * of tensor pointers overlaying call->args (prefix_argv) and the
 * NULL-terminated table (prefix_args); the parameter list makes a struct of
 * doubles overlaying call->params (prefix_params) and the NULL-terminated name
 * table (prefix_param_names). List slots come last; the struct's members are
 * right for the fixed slots, and lists are read with ds_list_of.
 *
 *   #define STEP_ARGS(A) A(x, DS_IN, DS_REAL, 2, 0) A(x_out, DS_OUT, DS_REAL, 2, 0)
 *   #define STEP_PARAMS(P) P(dt) P(accel)
 *   DS_DECLARE_ARGS(step, STEP_ARGS)
 *   DS_DECLARE_PARAMS(step, STEP_PARAMS)
 *   static int step_forward(const ds_call *c) {
 *     const step_argv *a = DS_ARGV(c, step);
 *     const step_params *p = DS_PARAMS(c, step);   ... a->x, p->dt ...
 *   ds_kernel_desc d = {"step", step_args, step_param_names, check, {step_forward}, {step_adjoint}}; */
#define DS_DECLARE_ARGS(prefix, LIST)                                  \
  typedef struct prefix##_argv { LIST(DS__AFIELD) } prefix##_argv;     \
  static const ds_arg_desc prefix##_args[] = {LIST(DS__ADESC){0, 0, 0, 0, 0}};
#define DS__AFIELD(name, role, dtype, ndim, flags) ds_tensor *name;
#define DS__ADESC(name, role, dtype, ndim, flags) {#name, role, dtype, ndim, flags},
#define DS_DECLARE_PARAMS(prefix, LIST)                                \
  typedef struct prefix##_params { LIST(DS__PFIELD) } prefix##_params; \
  static const char *const prefix##_param_names[] = {LIST(DS__PNAME) 0};
#define DS__PFIELD(name) double name;
#define DS__PNAME(name) #name,
#define DS_ARGV(call, prefix) ((const prefix##_argv *)(const void *)(call)->args)
#define DS_PARAMS(call, prefix) ((const prefix##_params *)(const void *)(call)->params)
/* The index of an argument slot, for messages and ds_expect_shape. */
#define DS_SLOT(prefix, name) ((int)(offsetof(prefix##_argv, name) / sizeof(ds_tensor *)))

/* ---- helpers for plugin authors (header-only, no core symbols) -------- */
static inline int ds_plugin_begin(const ds_host_api *h, ds_registrar *r, const char *name) {
  return h->begin(r, name, DS_ABI_VERSION, (int)sizeof(ds_real), (int)sizeof(ds_tensor),
                  (int)sizeof(ds_kernel_desc));
}
/* The i-th tensor of list slot `slot` (a declared slot index, e.g. DS_SLOT(step, v)). */
static inline ds_tensor *ds_list_of(const ds_call *c, int slot, int i) {
  int first = c->nslots - c->nlists;
  return c->args[first + (slot - first) * c->list_len + i];
}
/* The i-th tensor of the first list slot. */
static inline ds_tensor *ds_list(const ds_call *c, int i) { return c->args[c->nslots - c->nlists + i]; }
/* The declaration of flat argument i (list entries share their slot's). */
static inline const ds_arg_desc *ds_arg_desc_of(const ds_call *c, int i) {
  int first = c->nslots - c->nlists;
  return &c->arg_desc[i < first ? i : first + (i - first) / (c->list_len > 0 ? c->list_len : 1)];
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
                        ds_arg_desc_of(c, i)->name, i + 1, got, exp);
}

/* Checks every element of real argument i is finite (a NaN or infinity in an
 * input would otherwise flow silently into every result). Reads tensor data:
 * call it where the data is on the host (a forward, not a device-agnostic
 * check). Returns 0 or an error status naming the argument and the element. */
static inline int ds_expect_finite(const ds_call *c, int i) {
  const ds_tensor *t = c->args[i];
  const ds_real *p = ds_rdata(t);
  for (int64_t k = 0; k < t->count; k++)
    if (!isfinite((double)p[k]))
      return c->host->error(c, "argument '%s' (#%d) has a non-finite value (%g) at element %lld (0-based)",
                            ds_arg_desc_of(c, i)->name, i + 1, (double)p[k], (long long)k);
  return 0;
}

#ifdef __cplusplus
}
#endif
#endif
