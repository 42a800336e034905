/* diffsim public C API.
 *
 * FFI-clean on purpose: enums instead of #define constants, no struct passed by
 * value, every type a plain C typedef. lua/diffsim/cdef.lua mirrors this file and
 * tests/lua/cdef_spec.lua checks that the two agree.
 *
 * Every function that can fail returns a ds_status (or NULL) and leaves a message
 * in ds_last_error(ctx) that names the function or kernel and the argument.
 */
#ifndef DIFFSIM_CORE_H
#define DIFFSIM_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The floating-point type of a build: the core and the plugins are compiled
 * twice, once per precision, and a context uses one set. */
#ifdef DS_REAL_F64
typedef double ds_real;
#else
typedef float ds_real;
#endif

typedef enum ds_status {
  DS_OK = 0,
  DS_ERR_ARG = 1,        /* wrong argument: shape, dtype, count, range, value */
  DS_ERR_NOMEM = 2,
  DS_ERR_NOT_FOUND = 3,  /* unknown kernel or plugin */
  DS_ERR_PLUGIN = 4,     /* a plugin failed to load or initialise */
  DS_ERR_VERSION = 5,    /* a recorded input was overwritten before backward */
  DS_ERR_ANOMALY = 6,    /* anomaly mode found a NaN or Inf */
  DS_ERR_STATE = 7,      /* call out of order (e.g. backward while recording) */
  DS_ERR_IO = 8,
  DS_SEGMENT = 100       /* not an error: backward stopped at a checkpoint segment */
} ds_status;

typedef enum ds_dtype { DS_REAL = 0, DS_I32 = 1 } ds_dtype;
typedef enum ds_device { DS_CPU = 0, DS_CUDA = 1, DS_MOCK = 2, DS_DEVICE_COUNT = 3 } ds_device;
typedef enum ds_log_level { DS_LOG_DEBUG = 0, DS_LOG_INFO = 1, DS_LOG_WARN = 2, DS_LOG_ERROR = 3 } ds_log_level;

/* How a kernel uses an argument. */
typedef enum ds_role {
  DS_IN = 0,      /* differentiable input, read only */
  DS_NODIFF = 1,  /* non-differentiable input (indices, masks), read only */
  DS_OUT = 2,     /* output, overwritten; its value may be read by the adjoint */
  DS_ACC = 3      /* accumulated output: forward adds into it */
} ds_role;

typedef enum ds_limits { DS_MAX_DIMS = 4, DS_MAX_ARGS = 64, DS_MAX_PARAMS = 64 } ds_limits;
typedef enum ds_tensor_flags { DS_FLAG_REQUIRES_GRAD = 1, DS_FLAG_LEAF = 2, DS_FLAG_RETAIN_GRAD = 4 } ds_tensor_flags;

typedef struct ds_ctx ds_ctx;
typedef struct ds_tape ds_tape;
typedef struct ds_kernel ds_kernel;

/* A dense, contiguous, 64-byte aligned array of up to four dimensions.
 * Fields are public for fast reads (Lua, plugins); change them only through
 * the API. `ver` is bumped on every write the engine sees. */
typedef struct ds_tensor {
  void *ptr;                 /* the elements (use ds_rdata / ds_idata in plugins) */
  struct ds_tensor *grad_;   /* NULL until a gradient reaches this tensor */
  ds_ctx *ctx;
  int64_t count;             /* number of elements */
  int64_t dims[4];
  int32_t ndim;
  int32_t dtype;             /* ds_dtype */
  int32_t device;            /* ds_device */
  int32_t flags;             /* ds_tensor_flags */
  int64_t refcount;
  uint64_t ver;              /* bumped on every write */
  uint64_t id;               /* unique per context, for messages and debugging */
} ds_tensor;

/* ---- context ---------------------------------------------------------- */
typedef void (*ds_log_fn)(void *user, int level, const char *msg);

ds_ctx *ds_ctx_new(int threads);            /* threads <= 0: all cores */
void ds_ctx_free(ds_ctx *ctx);
int ds_real_size(void);                      /* sizeof(ds_real) of this build */
int ds_abi_version(void);
const char *ds_last_error(const ds_ctx *ctx);
void ds_clear_error(ds_ctx *ctx);
void ds_set_log(ds_ctx *ctx, ds_log_fn fn, void *user);
int ds_set_threads(ds_ctx *ctx, int threads);
int ds_threads(const ds_ctx *ctx);
void ds_set_anomaly(ds_ctx *ctx, int on);
int ds_anomaly(const ds_ctx *ctx);
/* Bytes held by live tensors now, at the peak since the last reset, and cached
 * in the allocator's free lists. */
void ds_mem_stats(const ds_ctx *ctx, int64_t *live, int64_t *peak, int64_t *cached);
void ds_mem_reset_peak(ds_ctx *ctx);
void ds_mem_trim(ds_ctx *ctx);              /* return cached blocks to the OS */

/* ---- tensors ---------------------------------------------------------- */
ds_tensor *ds_tensor_new(ds_ctx *ctx, int dtype, int ndim, const int64_t *shape);  /* zeroed */
ds_tensor *ds_tensor_empty(ds_ctx *ctx, int dtype, int ndim, const int64_t *shape); /* uninitialised */
ds_tensor *ds_tensor_empty_like(const ds_tensor *t); /* same shape, dtype and device, uninitialised */
/* On a device (ds_device; see diffsim/device.h for which are available). An
 * unavailable device is an error that says why. */
ds_tensor *ds_tensor_new_on(ds_ctx *ctx, int dtype, int ndim, const int64_t *shape, int device);   /* zeroed */
ds_tensor *ds_tensor_empty_on(ds_ctx *ctx, int dtype, int ndim, const int64_t *shape, int device); /* uninitialised */
ds_tensor *ds_tensor_to(const ds_tensor *t, int device); /* a new copy on `device` (no grad, not recorded) */
void ds_tensor_retain(ds_tensor *t);
void ds_tensor_release(ds_tensor *t);
int ds_tensor_bump(ds_tensor *t);            /* record an outside write (raw pointer) */
int ds_tensor_copy(ds_tensor *dst, const ds_tensor *src); /* across devices too */
int ds_tensor_fill(ds_tensor *t, double v);
int ds_tensor_set_requires_grad(ds_tensor *t, int on);
int ds_tensor_retain_grad(ds_tensor *t);
ds_tensor *ds_tensor_grad(ds_tensor *t);     /* borrowed; NULL if none */
ds_tensor *ds_tensor_ensure_grad(ds_tensor *t); /* allocates a zero grad if none */
void ds_tensor_zero_grad(ds_tensor *t);
void ds_tensor_drop_grad(ds_tensor *t);
int ds_tensor_reshape(ds_tensor *t, int ndim, const int64_t *shape); /* same numel */
/* element access for tests and small host work; index is the flat index.
 * On a device other than the CPU these copy through the host. */
double ds_tensor_get(const ds_tensor *t, int64_t i);
int ds_tensor_set(ds_tensor *t, int64_t i, double v);
int ds_tensor_from_doubles(ds_tensor *t, const double *src, int64_t n);
int ds_tensor_to_doubles(const ds_tensor *t, double *dst, int64_t n);
int ds_tensor_has_nonfinite(const ds_tensor *t); /* index of first NaN/Inf + 1, 0 if none */

/* ---- plugins and kernels ---------------------------------------------- */
int ds_plugin_load(ds_ctx *ctx, const char *name_or_path);
int ds_plugin_add_path(ds_ctx *ctx, const char *dir);
const char *ds_plugin_path(const ds_ctx *ctx);   /* ':'-separated search path */
const ds_kernel *ds_kernel_find(ds_ctx *ctx, const char *name);
int ds_kernel_count(const ds_ctx *ctx);
const char *ds_kernel_name_at(const ds_ctx *ctx, int i);
const char *ds_kernel_name(const ds_kernel *k);
int ds_kernel_nargs(const ds_kernel *k);
int ds_kernel_nparams(const ds_kernel *k);
int ds_kernel_arg_role(const ds_kernel *k, int i);
int ds_kernel_arg_dtype(const ds_kernel *k, int i);
const char *ds_kernel_arg_name(const ds_kernel *k, int i);
int ds_kernel_arg_ndim(const ds_kernel *k, int i);    /* -1: any */
int ds_kernel_arg_flags(const ds_kernel *k, int i);   /* DS_LIST (plugin.h) for a list slot */
const char *ds_kernel_param_name(const ds_kernel *k, int i);
int ds_kernel_has_device(const ds_kernel *k, int device, int adjoint); /* 1 if implemented there */

/* Validate and run a kernel; records it on the context's active tape when any
 * differentiable input requires grad. `args` is flat: one tensor per declared
 * slot, except a list slot (always the last), which takes nargs - (slots - 1)
 * tensors. `params` follow the kernel's param table. */
int ds_launch(ds_ctx *ctx, const ds_kernel *k, ds_tensor *const *args, int nargs,
              const double *params, int nparams);
/* Run a kernel's adjoint directly (no tape): used by the gradient checker. */
int ds_launch_adjoint(ds_ctx *ctx, const ds_kernel *k, ds_tensor *const *args, int nargs,
                      const double *params, int nparams);

/* ---- tape ------------------------------------------------------------- */
ds_tape *ds_tape_new(ds_ctx *ctx);
void ds_tape_free(ds_tape *tape);
int ds_tape_begin(ds_tape *tape);     /* clears the tape and makes it the active one */
int ds_tape_end(ds_tape *tape);       /* stops recording */
int ds_tape_clear(ds_tape *tape);     /* drops every record and the references it held */
int64_t ds_tape_size(const ds_tape *tape);
const char *ds_tape_kernel_name(const ds_tape *tape, int64_t i); /* NULL for a segment or out of range */
int ds_tape_recording(const ds_tape *tape);
ds_tape *ds_active_tape(ds_ctx *ctx);
int ds_pause_recording(ds_ctx *ctx);  /* returns nesting depth; resume undoes one pause */
int ds_resume_recording(ds_ctx *ctx);
/* A checkpoint segment: the caller ran it unrecorded; inputs and outputs are
 * kept, intermediates are not. Returns the segment's record index, or -1. */
int64_t ds_tape_add_segment(ds_tape *tape, int64_t segment_id,
                            ds_tensor *const *inputs, int ninputs,
                            ds_tensor *const *outputs, int noutputs);
/* Backward. ds_tape_backward seeds loss.grad = 1 (loss holds one element);
 * ds_tape_backward_seeded starts from grads already placed on outputs (used for
 * recomputed checkpoint segments). Both run adjoints in reverse and return
 * DS_OK when done, or DS_SEGMENT with *segment_id set when they reach a
 * checkpoint segment: the caller recomputes it, back-propagates the segment
 * outputs' grads through the recomputation, then calls ds_tape_backward_continue. */
int ds_tape_backward(ds_tape *tape, ds_tensor *loss, int64_t *segment_id);
int ds_tape_backward_seeded(ds_tape *tape, int64_t *segment_id);
int ds_tape_backward_continue(ds_tape *tape, int64_t *segment_id);
int64_t ds_tape_current_segment(const ds_tape *tape); /* record index of the pending segment */
/* Checkpoint frames: between push and pop, every launch folds the (id, version)
 * of each pre-existing tensor it reads into a hash; equal hashes prove that a
 * recomputation read the same data as the original run. */
int ds_watch_push(ds_ctx *ctx);
uint64_t ds_watch_pop(ds_ctx *ctx);
int ds_tape_segment_io(ds_tape *tape, int64_t record, ds_tensor **inputs, int *ninputs,
                       ds_tensor **outputs, int *noutputs);

/* ---- in-place vector updates (optimizers; never recorded) -------------
 * Operands must share a device; cpu and mock are implemented, cuda not yet. */
int ds_axpy(ds_tensor *y, double a, const ds_tensor *x);    /* y += a x */
int ds_scal(ds_tensor *y, double a);                         /* y *= a */
int ds_clamp_inplace(ds_tensor *y, double lo, double hi);
double ds_vdot(const ds_tensor *a, const ds_tensor *b);      /* deterministic, in double */
int ds_adam_step(ds_tensor *p, const ds_tensor *g, ds_tensor *m, ds_tensor *v, double lr, double b1, double b2,
                 double eps, int64_t step);
int ds_tensor_add_grad(ds_tensor *t, const ds_tensor *g);    /* t.grad += g */
int ds_fill_randn(ds_tensor *t, uint64_t seed, double mean, double std);
int ds_fill_uniform(ds_tensor *t, uint64_t seed, double lo, double hi);
int ds_tensor_range(const ds_tensor *t, double *lo, double *hi); /* min and max */

/* ---- images ----------------------------------------------------------- */
/* PNG -> real tensor of shape {h, w, c} with values in [0, 1]. */
ds_tensor *ds_png_read(ds_ctx *ctx, const char *path);
/* real tensor {h, w} or {h, w, c} (c = 1..4), values clamped to [0, 1]. */
int ds_png_write(ds_ctx *ctx, const char *path, const ds_tensor *img);
/* Bilinear resampling into dst's size; {h, w} or {h, w, c}. */
int ds_image_resize(ds_tensor *dst, const ds_tensor *src);
/* Animated GIF from frames {n, h, w} (grey) or {n, h, w, 3}, values in [0, 1]. */
int ds_gif_write(ds_ctx *ctx, const char *path, const ds_tensor *frames, int delay_cs);

#ifdef __cplusplus
}
#endif
#endif
