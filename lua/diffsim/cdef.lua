-- The only ffi.cdef of diffsim: the public C API of core/include/diffsim/core.h
-- and device.h. tests/lua/cdef_spec.lua checks that every function declared
-- there appears here.
-- `real` is substituted with float or double for the precision in use.
return function(real)
  return ([[
typedef REAL ds_real;
typedef enum ds_status { DS_OK = 0, DS_ERR_ARG = 1, DS_ERR_NOMEM = 2, DS_ERR_NOT_FOUND = 3,
  DS_ERR_PLUGIN = 4, DS_ERR_VERSION = 5, DS_ERR_ANOMALY = 6, DS_ERR_STATE = 7, DS_ERR_IO = 8,
  DS_SEGMENT = 100 } ds_status;
typedef enum ds_dtype { DS_REAL = 0, DS_I32 = 1 } ds_dtype;
typedef enum ds_device { DS_CPU = 0, DS_CUDA = 1, DS_MOCK = 2, DS_DEVICE_COUNT = 3 } ds_device;
typedef enum ds_log_level { DS_LOG_DEBUG = 0, DS_LOG_INFO = 1, DS_LOG_WARN = 2, DS_LOG_ERROR = 3 } ds_log_level;
typedef enum ds_role { DS_IN = 0, DS_NODIFF = 1, DS_OUT = 2, DS_ACC = 3 } ds_role;
typedef enum ds_limits { DS_MAX_DIMS = 4, DS_MAX_ARGS = 64, DS_MAX_PARAMS = 64 } ds_limits;
typedef enum ds_tensor_flags { DS_FLAG_REQUIRES_GRAD = 1, DS_FLAG_LEAF = 2, DS_FLAG_RETAIN_GRAD = 4 } ds_tensor_flags;
typedef struct ds_ctx ds_ctx;
typedef struct ds_tape ds_tape;
typedef struct ds_kernel ds_kernel;
typedef struct ds_tensor {
  void *ptr;
  struct ds_tensor *grad_;
  ds_ctx *ctx;
  int64_t count;
  int64_t dims[4];
  int32_t ndim;
  int32_t dtype;
  int32_t device;
  int32_t flags;
  int64_t refcount;
  uint64_t ver;
  uint64_t id;
} ds_tensor;
typedef void (*ds_log_fn)(void *user, int level, const char *msg);

ds_ctx *ds_ctx_new(int threads);
void ds_ctx_free(ds_ctx *ctx);
int ds_real_size(void);
int ds_abi_version(void);
const char *ds_last_error(const ds_ctx *ctx);
void ds_clear_error(ds_ctx *ctx);
void ds_set_log(ds_ctx *ctx, ds_log_fn fn, void *user);
int ds_set_threads(ds_ctx *ctx, int threads);
int ds_threads(const ds_ctx *ctx);
void ds_set_anomaly(ds_ctx *ctx, int on);
int ds_anomaly(const ds_ctx *ctx);
void ds_mem_stats(const ds_ctx *ctx, int64_t *live, int64_t *peak, int64_t *cached);
void ds_mem_reset_peak(ds_ctx *ctx);
void ds_mem_trim(ds_ctx *ctx);

ds_tensor *ds_tensor_new(ds_ctx *ctx, int dtype, int ndim, const int64_t *shape);
ds_tensor *ds_tensor_empty(ds_ctx *ctx, int dtype, int ndim, const int64_t *shape);
ds_tensor *ds_tensor_empty_like(const ds_tensor *t);
ds_tensor *ds_tensor_new_on(ds_ctx *ctx, int dtype, int ndim, const int64_t *shape, int device);
ds_tensor *ds_tensor_empty_on(ds_ctx *ctx, int dtype, int ndim, const int64_t *shape, int device);
ds_tensor *ds_tensor_to(const ds_tensor *t, int device);
void ds_tensor_retain(ds_tensor *t);
void ds_tensor_release(ds_tensor *t);
int ds_tensor_bump(ds_tensor *t);
int ds_tensor_copy(ds_tensor *dst, const ds_tensor *src);
int ds_tensor_fill(ds_tensor *t, double v);
int ds_tensor_set_requires_grad(ds_tensor *t, int on);
int ds_tensor_retain_grad(ds_tensor *t);
ds_tensor *ds_tensor_grad(ds_tensor *t);
ds_tensor *ds_tensor_ensure_grad(ds_tensor *t);
void ds_tensor_zero_grad(ds_tensor *t);
void ds_tensor_drop_grad(ds_tensor *t);
int ds_tensor_reshape(ds_tensor *t, int ndim, const int64_t *shape);
double ds_tensor_get(const ds_tensor *t, int64_t i);
int ds_tensor_set(ds_tensor *t, int64_t i, double v);
int ds_tensor_from_doubles(ds_tensor *t, const double *src, int64_t n);
int ds_tensor_to_doubles(const ds_tensor *t, double *dst, int64_t n);
int ds_tensor_has_nonfinite(const ds_tensor *t);

int ds_plugin_load(ds_ctx *ctx, const char *name_or_path);
int ds_plugin_add_path(ds_ctx *ctx, const char *dir);
const char *ds_plugin_path(const ds_ctx *ctx);
const ds_kernel *ds_kernel_find(ds_ctx *ctx, const char *name);
int ds_kernel_count(const ds_ctx *ctx);
const char *ds_kernel_name_at(const ds_ctx *ctx, int i);
const char *ds_kernel_name(const ds_kernel *k);
int ds_kernel_nargs(const ds_kernel *k);
int ds_kernel_nparams(const ds_kernel *k);
int ds_kernel_arg_role(const ds_kernel *k, int i);
int ds_kernel_arg_dtype(const ds_kernel *k, int i);
const char *ds_kernel_arg_name(const ds_kernel *k, int i);
int ds_kernel_arg_ndim(const ds_kernel *k, int i);
int ds_kernel_arg_flags(const ds_kernel *k, int i);
const char *ds_kernel_param_name(const ds_kernel *k, int i);
int ds_kernel_has_device(const ds_kernel *k, int device, int adjoint);
int ds_launch(ds_ctx *ctx, const ds_kernel *k, ds_tensor *const *args, int nargs,
              const double *params, int nparams);
int ds_launch_adjoint(ds_ctx *ctx, const ds_kernel *k, ds_tensor *const *args, int nargs,
                      const double *params, int nparams);

ds_tape *ds_tape_new(ds_ctx *ctx);
void ds_tape_free(ds_tape *tape);
int ds_tape_begin(ds_tape *tape);
int ds_tape_end(ds_tape *tape);
int ds_tape_clear(ds_tape *tape);
int64_t ds_tape_size(const ds_tape *tape);
const char *ds_tape_kernel_name(const ds_tape *tape, int64_t i);
int ds_tape_recording(const ds_tape *tape);
ds_tape *ds_active_tape(ds_ctx *ctx);
int ds_pause_recording(ds_ctx *ctx);
int ds_resume_recording(ds_ctx *ctx);
int64_t ds_tape_add_segment(ds_tape *tape, int64_t segment_id,
                            ds_tensor *const *inputs, int ninputs,
                            ds_tensor *const *outputs, int noutputs);
int ds_tape_backward(ds_tape *tape, ds_tensor *loss, int64_t *segment_id);
int ds_tape_backward_seeded(ds_tape *tape, int64_t *segment_id);
int ds_tape_backward_continue(ds_tape *tape, int64_t *segment_id);
int64_t ds_tape_current_segment(const ds_tape *tape);
int ds_watch_push(ds_ctx *ctx);
uint64_t ds_watch_pop(ds_ctx *ctx);
int ds_tape_segment_io(ds_tape *tape, int64_t record, ds_tensor **inputs, int *ninputs,
                       ds_tensor **outputs, int *noutputs);

int ds_axpy(ds_tensor *y, double a, const ds_tensor *x);
int ds_scal(ds_tensor *y, double a);
int ds_clamp_inplace(ds_tensor *y, double lo, double hi);
double ds_vdot(const ds_tensor *a, const ds_tensor *b);
int ds_adam_step(ds_tensor *p, const ds_tensor *g, ds_tensor *m, ds_tensor *v, double lr, double b1, double b2,
                 double eps, int64_t step);
int ds_tensor_add_grad(ds_tensor *t, const ds_tensor *g);
int ds_fill_randn(ds_tensor *t, uint64_t seed, double mean, double std);
int ds_fill_uniform(ds_tensor *t, uint64_t seed, double lo, double hi);
int ds_tensor_range(const ds_tensor *t, double *lo, double *hi);

int ds_device_count(void);
const char *ds_device_name(int device);
int ds_device_find(const char *name);
int ds_device_available(int device);
const char *ds_device_unavailable(int device);
void *ds_device_alloc(ds_ctx *ctx, int device, int64_t bytes);
void ds_device_free(ds_ctx *ctx, int device, void *ptr);
int ds_device_copy(ds_ctx *ctx, int dst_device, void *dst, int src_device, const void *src, int64_t bytes);
int ds_device_memset(ds_ctx *ctx, int device, void *dst, int byte, int64_t bytes);
int ds_device_fill(ds_ctx *ctx, int device, void *dst, const void *value, int elem_size, int64_t count);
int ds_device_sync(ds_ctx *ctx, int device);

ds_tensor *ds_png_read(ds_ctx *ctx, const char *path);
int ds_png_write(ds_ctx *ctx, const char *path, const ds_tensor *img);
int ds_image_resize(ds_tensor *dst, const ds_tensor *src);
int ds_gif_write(ds_ctx *ctx, const char *path, const ds_tensor *frames, int delay_cs);

/* media.h: plots, text in images, MP4 */
typedef enum ds_plot_flags { DS_PLOT_XLOG = 1, DS_PLOT_YLOG = 2, DS_PLOT_GRID = 4, DS_PLOT_LEGEND_BOTTOM = 8,
  DS_PLOT_LEGEND_LEFT = 16, DS_PLOT_LEGEND_MIDDLE = 32 } ds_plot_flags;
typedef enum ds_colormap { DS_CMAP_VIRIDIS = 0, DS_CMAP_DIVERGING = 1, DS_CMAP_GREY = 2 } ds_colormap;
int ds_plot_lines(ds_ctx *ctx, const char *path, const char *format, int width, int height, const char *title,
                  const char *xlabel, const char *ylabel, int flags, int nseries, const int64_t *offsets,
                  const double *x, const double *y, const char *const *labels);
int ds_plot_field(ds_ctx *ctx, const char *path, const char *format, int width, int height, const ds_tensor *field,
                  double lo, double hi, int colormap, const char *title, const char *xlabel, const char *ylabel,
                  const char *bar_label);
int ds_image_text(ds_ctx *ctx, ds_tensor *img, const char *text, double x, double y, double size, double r, double g,
                  double b);
int ds_mp4_write(ds_ctx *ctx, const char *path, const ds_tensor *frames, int fps);
const char *ds_mp4_codec(void);

void *malloc(size_t);
void free(void *);
int isatty(int fd);
typedef struct { long tv_sec; long tv_nsec; } ds_timespec;
int clock_gettime(int clk, ds_timespec *ts);
/* OpenBLAS, for benchmarks that compare against it directly */
void cblas_sgemm(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
void cblas_dgemm(int, int, int, int, int, int, double, const double *, int, const double *, int, double, double *, int);
]]):gsub("REAL", real), nil
end
