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

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "two_devices");
  if (rc) return rc;
  if ((rc = host->state_size(reg, sizeof(counter), NULL))) return rc;
  ds_kernel_desc cpu = {"bump", bump_args, bump_param_names, 0, {[DS_CPU] = bump_cpu}, {[DS_CPU] = bump_cpu_adj}};
  ds_kernel_desc mock = {"bump", bump_args, bump_param_names, 0, {[DS_MOCK] = bump_mock}, {0}};
  ds_kernel_desc count = {"count", COUNT_ARGS, 0, 0, {count_cpu}, {0}};
  if ((rc = host->register_kernel(reg, &cpu)) || (rc = host->register_kernel(reg, &mock))) return rc;
  return host->register_kernel(reg, &count);
}
