/* A well-formed plugin that registers one kernel from two "files": a CPU
 * implementation first, then a mock-device one under the same name and tables,
 * as a CUDA file would. It also keeps per-context state (a launch counter) and
 * uses host scratch, for the loader and context tests. */
#include <diffsim/plugin.h>
#include <string.h>

typedef struct counter { int64_t launches; } counter;

#define BUMP_ARGS(A) A(x, DS_IN, DS_REAL, -1, 0) A(out, DS_OUT, DS_REAL, -1, 0)
#define BUMP_PARAMS(P) P(scale)
DS_DECLARE_ARGS(bump, BUMP_ARGS)
DS_DECLARE_PARAMS(bump, BUMP_PARAMS)

/* out = scale * x, computed through a scratch copy; counts launches per context. */
static int bump_cpu(const ds_call *c) {
  const bump_argv *a = DS_ARGV(c, bump);
  const bump_params *p = DS_PARAMS(c, bump);
  int64_t n = a->x->count;
  ds_real *tmp = c->host->scratch(c, (size_t)n * sizeof(ds_real));
  if (!tmp) return DS_ERR_NOMEM;
  memcpy(tmp, ds_rdata(a->x), (size_t)n * sizeof(ds_real));
  for (int64_t i = 0; i < n; i++) ds_rdata(a->out)[i] = (ds_real)p->scale * tmp[i];
  ((counter *)c->state)->launches++;
  return DS_OK;
}
static int bump_cpu_adj(const ds_call *c) {
  const bump_argv *a = DS_ARGV(c, bump);
  ds_real *gx = ds_rgrad(a->x);
  if (gx)
    for (int64_t i = 0; i < a->x->count; i++) gx[i] += (ds_real)DS_PARAMS(c, bump)->scale * ds_rgrad(a->out)[i];
  return DS_OK;
}
/* The "other device" refuses to run: the test only checks that it is registered. */
static int bump_mock(const ds_call *c) { return c->host->error(c, "mock implementation reached"); }

static int count_cpu(const ds_call *c) {
  ds_rdata(c->args[0])[0] = (ds_real)((counter *)c->state)->launches;
  return DS_OK;
}
static const ds_arg_desc COUNT_ARGS[] = {{"out", DS_OUT, DS_REAL, -1, 0}, {0}};

/* Two list slots of one length: ys[i] = a * xs[i] (velocity in / velocity out
 * in a real plugin). */
#define SCALE_ARGS(A) A(a, DS_IN, DS_REAL, 0, 0) A(xs, DS_IN, DS_REAL, -1, DS_LIST) A(ys, DS_OUT, DS_REAL, -1, DS_LIST)
DS_DECLARE_ARGS(scale_all, SCALE_ARGS)

static int scale_all_check(const ds_call *c) {
  for (int i = 0; i < c->list_len; i++) {
    const ds_tensor *x = ds_list_of(c, DS_SLOT(scale_all, xs), i), *y = ds_list_of(c, DS_SLOT(scale_all, ys), i);
    if (x->count != y->count) return c->host->error(c, "xs[%d] and ys[%d] differ in size", i + 1, i + 1);
  }
  return DS_OK;
}
static int scale_all_forward(const ds_call *c) {
  const ds_real a = ds_rdata(DS_ARGV(c, scale_all)->a)[0];
  for (int i = 0; i < c->list_len; i++) {
    const ds_tensor *x = ds_list_of(c, DS_SLOT(scale_all, xs), i), *y = ds_list_of(c, DS_SLOT(scale_all, ys), i);
    for (int64_t e = 0; e < x->count; e++) ds_rdata(y)[e] = a * ds_rdata(x)[e];
  }
  return DS_OK;
}
static int scale_all_adjoint(const ds_call *c) {
  const ds_tensor *at = DS_ARGV(c, scale_all)->a;
  const ds_real a = ds_rdata(at)[0];
  ds_real *ga = ds_rgrad(at);
  for (int i = 0; i < c->list_len; i++) {
    const ds_tensor *x = ds_list_of(c, DS_SLOT(scale_all, xs), i), *y = ds_list_of(c, DS_SLOT(scale_all, ys), i);
    ds_real *gx = ds_rgrad(x);
    const ds_real *gy = ds_rgrad(y);
    for (int64_t e = 0; e < x->count; e++) {
      if (gx) gx[e] += a * gy[e];
      if (ga) ga[0] += ds_rdata(x)[e] * gy[e];
    }
  }
  return DS_OK;
}

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "two_devices");
  if (rc) return rc;
  if ((rc = host->state_size(reg, sizeof(counter), NULL))) return rc;
  ds_kernel_desc cpu = {"bump", bump_args, bump_param_names, 0, {[DS_CPU] = bump_cpu}, {[DS_CPU] = bump_cpu_adj}};
  ds_kernel_desc mock = {"bump", bump_args, bump_param_names, 0, {[DS_MOCK] = bump_mock}, {0}};
  ds_kernel_desc count = {"count", COUNT_ARGS, 0, 0, {count_cpu}, {0}};
  if ((rc = host->register_kernel(reg, &cpu)) || (rc = host->register_kernel(reg, &mock))) return rc;
  ds_kernel_desc scale = {"scale_all", scale_all_args, 0, scale_all_check, {scale_all_forward}, {scale_all_adjoint}};
  if ((rc = host->register_kernel(reg, &scale))) return rc;
  return host->register_kernel(reg, &count);
}
