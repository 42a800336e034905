/* Shared internals of the core library; never installed, never seen by plugins. */
#ifndef DIFFSIM_INTERNAL_H
#define DIFFSIM_INTERNAL_H

#include "diffsim/device.h"
#include "diffsim/plugin.h"

#include <stdarg.h>

enum { DS_ERRMSG = 1024, DS_POOL_CLASSES = 96 };

struct ds_kernel {
  ds_kernel_desc desc;        /* copy of the plugin's description, device slots merged */
  char name[96];              /* "plugin.op" */
  int plugin;                 /* index into ctx->plugins; 0 = built-in core */
  int nslots, nparams;        /* counted from the NULL-terminated tables */
  int nlists;                 /* list slots: the last nlists declared slots */
};

/* The length of each list in a launch of nargs flat arguments. */
static inline int ds_list_len(const ds_kernel *k, int nargs) {
  return k->nlists ? (nargs - (k->nslots - k->nlists)) / k->nlists : 0;
}
/* The declared slot of flat argument i of a launch with nargs arguments. */
static inline const ds_arg_desc *ds_slot_of(const ds_kernel *k, int nargs, int i) {
  int first = k->nslots - k->nlists, len = ds_list_len(k, nargs);
  return &k->desc.args[i < first ? i : first + (i - first) / (len > 0 ? len : 1)];
}

typedef struct ds_plugin_rec {
  char name[64];
  char path[1024];
  void *handle;               /* dlopen handle; NULL for the built-in core */
  void *state;                /* per-context state block (state_size), or NULL */
  size_t state_bytes;
  void (*state_destroy)(void *state);
} ds_plugin_rec;

/* Per-context scratch for the running launch: chunks that live until the
 * launch returns, merged into one when it does (grow-only). */
typedef struct ds_scratch_chunk { struct ds_scratch_chunk *next; size_t cap, used; } ds_scratch_chunk;

struct ds_registrar {
  ds_ctx *ctx;
  int plugin;                 /* plugin index being loaded */
  int begun;                  /* ds_plugin_begin accepted */
  int failed;
  char name[64];
};

/* A cached block of one device. The link lives outside the block because the
 * host may not touch device memory; spent links are recycled, not freed. */
typedef struct ds_pool_block {
  struct ds_pool_block *next;
  void *ptr;
} ds_pool_block;

struct ds_ctx {
  char error[DS_ERRMSG];
  int64_t refs;               /* the owner plus every live tensor and tape */
  ds_log_fn log_fn;
  void *log_user;
  int threads;                /* requested; all cores when auto */
  int threads_auto;           /* asked for 0: use only the cores other processes leave free */
  int anomaly;
  /* kernels: an array of pointers so handles stay valid as it grows */
  ds_kernel **kernels;
  int nkernels, capkernels;
  ds_plugin_rec *plugins;
  int nplugins, capplugins;
  char *search_path;          /* ':'-separated user additions */
  char path_buf[4096];
  /* tape */
  ds_tape *active;
  int paused;
  /* checkpoint watch frames: hash of (id, version) of pre-existing tensors read */
  int nwatch;
  uint64_t watch_limit[8], watch_hash[8];
  /* memory */
  int64_t live, peak, cached;
  ds_pool_block *free_lists[DS_DEVICE_COUNT][DS_POOL_CLASSES];
  ds_pool_block *spare_links;
  ds_tensor *spare_headers;   /* recycled tensor structs, linked through grad_ (tensor.c) */
  int nspare_headers;
  uint64_t next_id;
  ds_scratch_chunk *scratch;  /* newest first */
  ds_host_api host;
  /* ops_solve.c: sparse matrices and their factorizations, keyed by the
   * (id, version) of the tensors they were built from, so a backward pass
   * reuses the forward's factorization. Freed in ds_ctx_unref. */
  struct ds_solve_cache *solve_cache;
};

/* error.c */
int ds_fail(ds_ctx *ctx, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int ds_vfail(ds_ctx *ctx, int code, const char *prefix, const char *fmt, va_list ap);
void ds_logf(ds_ctx *ctx, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int ds_host_error(const ds_call *call, const char *fmt, ...);
void ds_host_log(ds_ctx *ctx, int level, const char *fmt, ...);

/* ctx.c */
void ds_ctx_ref(ds_ctx *ctx);
void ds_ctx_unref(ds_ctx *ctx);

/* pool.c: tensor memory of any device, recycled per device and size class */
void *ds_pool_get(ds_ctx *ctx, int device, int64_t bytes);
void ds_pool_put(ds_ctx *ctx, int device, void *p, int64_t bytes);
void ds_pool_free_all(ds_ctx *ctx);

/* device_cpu.c: 64-byte aligned host memory (also the plugins' scratch) */
void *ds_aligned_alloc(size_t bytes);
void ds_aligned_free(void *p);

/* device_mock.c: the host address behind a mock device pointer, for the
 * core's mock kernel trampolines (NULL stays NULL). Only mock pointers. */
void *ds_mock_host_ptr(const void *device_ptr);

/* stage.c: host access to a tensor's elements for the core's host-side code.
 * On the CPU the view is the tensor's own memory; on other devices a
 * temporary host copy (with the elements when `read`, uninitialised if not).
 * ds_host_commit writes a view back to the device (nothing to do on the CPU);
 * ds_host_done drops it. Both free a temporary. `fn` names the caller in
 * messages; a failed view returns NULL with ds_last_error set. */
void *ds_host_view(const ds_tensor *t, int read, const char *fn);
int ds_host_commit(ds_tensor *t, void *view);
void ds_host_done(const ds_tensor *t, void *view);

/* image.c: a [0, 1] value to a byte (NaN -> 0), shared by the image writers */
unsigned char ds_to_byte(double v);

/* parallel.c */
void ds_parallel_for(ds_ctx *ctx, int64_t n, int64_t grain, ds_range_fn fn, void *user);
int ds_host_threads(ds_ctx *ctx);

/* scratch.c */
void *ds_scratch_get(const ds_call *call, size_t bytes);
void ds_scratch_reset(ds_ctx *ctx);
void ds_scratch_free(ds_ctx *ctx);

/* cpuload.c */
int ds_free_cpus(void); /* CPUs other processes leave us, 0 = unknown */

/* vector_<device>.c: the optimizers' vector kernels on one device's
 * pointers; vector.c checks operands and dispatches through one table by
 * device (a NULL table: the optimizers refuse tensors on that device). */
typedef struct ds_vec_ops {
  void (*axpy)(ds_real *y, double a, const ds_real *x, int64_t n);      /* y += a x */
  void (*scal)(ds_real *y, double a, int64_t n);                         /* y *= a */
  void (*clamp)(ds_real *y, double lo, double hi, int64_t n);
  double (*dot)(const ds_real *a, const ds_real *b, int64_t n);          /* blocked, in double */
  /* c: lr, b1, b2, eps, 1 - b1^step, 1 - b2^step */
  void (*adam)(ds_real *p, const ds_real *g, ds_real *m, ds_real *v, int64_t n, const double c[6]);
} ds_vec_ops;
extern const ds_vec_ops ds_vec_cpu, ds_vec_mock;

/* registry.c */
int ds_registry_init(ds_ctx *ctx);
void ds_registry_free(ds_ctx *ctx);
int ds_builtin_begin(ds_registrar *reg);

/* tensor.c */
void ds_tensor_headers_free(ds_ctx *ctx);
int64_t ds_dtype_size(int dtype);
int64_t ds_tensor_bytes(const ds_tensor *t);
const char *ds_dtype_name(int dtype);
int ds_shape_str(const ds_tensor *t, char *buf, size_t n);

/* launch.c */
ds_call ds_make_call(ds_ctx *ctx, const ds_kernel *k, ds_tensor *const *args, int nargs, const double *params,
                     int nparams, int device);

/* mock.c: core kernels on the mock device run their CPU code on translated pointers */
int ds_mock_forward(const ds_call *call);
int ds_mock_adjoint(const ds_call *call);

/* tape.c */
int ds_tape_record_launch(ds_tape *tape, const ds_kernel *k, ds_tensor *const *args, int nargs,
                          const double *params, int nparams);
int ds_run_adjoint(ds_ctx *ctx, const ds_kernel *k, ds_tensor *const *args, int nargs,
                   const double *params, int nparams);

/* ops_*.c: the built-in differentiable ops, registered as plugin "core" */
int ds_register_core_ops(const ds_host_api *host, ds_registrar *reg);
int ds_register_elementwise(const ds_host_api *host, ds_registrar *reg);
int ds_register_reduce(const ds_host_api *host, ds_registrar *reg);
int ds_register_linalg(const ds_host_api *host, ds_registrar *reg);
int ds_register_index(const ds_host_api *host, ds_registrar *reg);
int ds_register_solve(const ds_host_api *host, ds_registrar *reg);
void ds_solve_cache_free(ds_ctx *ctx);

/* solve/api.c: the solver table for plugins (to hang off ds_host_api as
 * `const struct ds_solve_api *solve;`) */
struct ds_solve_api;
const struct ds_solve_api *ds_solve_api_get(void);
int ds_register_kit_ops(const ds_host_api *host, ds_registrar *reg); /* ops_kit.c */

#endif
