/* The example plugin: point masses under a constant acceleration plus any
 * number of per-mass forces, one semi-implicit Euler step (example.h declares
 * the kernel). Small enough to read in a minute; docs/plugin-authoring.md
 * builds it line by line.
 *
 *   v' = v + dt a,  a = accel + sum_k forces_k        x' = x + dt v'
 *
 * Adjoint (reverse of the above, accumulating into input grads), with
 * G = gv' + dt gx' the whole gradient reaching v':
 *   gx += gx'   gv += G   gforces_k += dt G   gaccel += dt sum_i G_i */
#include <math.h>

#include "example.h"

/* Per-context state: whether this context was warned about a long step.
 * Not a static: two contexts (or two threads) must not share it. */
typedef struct example_state {
  int warned_long_step;
} example_state;

/* Shapes and params only: a check never reads tensor data (on a GPU it is
 * not on the host). The core has already checked counts, dtypes and dims. */
static int step_check(const ds_call *c) {
  const step_argv *a = DS_ARGV(c, step);
  const ds_tensor *x = a->x;
  const int same[] = {DS_SLOT(step, v), DS_SLOT(step, x_out), DS_SLOT(step, v_out)};
  for (int k = 0; k < 3; k++) {
    int rc = ds_expect_shape(c, same[k], x->ndim, x->dims[0], x->dims[1], x->dims[2], x->dims[3]);
    if (rc) return rc;
  }
  for (int k = 0; k < c->list_len; k++) { /* each force: flat argument nslots - 1 + k */
    int rc = ds_expect_shape(c, c->nslots - 1 + k, x->ndim, x->dims[0], x->dims[1], x->dims[2], x->dims[3]);
    if (rc) return rc;
  }
  double dt = DS_PARAMS(c, step)->dt;
  if (!(dt > 0)) return c->host->error(c, "param 'dt' must be positive, got %g", dt);
  return DS_OK;
}

static int step_forward(const ds_call *c) {
  const step_argv *a = DS_ARGV(c, step);
  const ds_real dt = (ds_real)DS_PARAMS(c, step)->dt;
  /* accel is tensor data: read (and checked) here, in the forward */
  const ds_real g = ds_rdata(a->accel)[0];
  if (!isfinite(g)) return c->host->error(c, "argument 'accel' must be finite, got %g", (double)g);
  example_state *st = c->state;
  if (dt > 1 && !st->warned_long_step) {
    st->warned_long_step = 1;
    c->host->log(c->ctx, 1, "example.step: dt = %g s is long; semi-implicit Euler's error grows with dt",
                 (double)dt);
  }
  const int64_t n = a->x->count;
  /* The total acceleration per mass, summed once into scratch memory owned by
   * the context: no allocation per step, nothing to free. */
  ds_real *acc = c->host->scratch(c, (size_t)n * sizeof(ds_real));
  if (!acc) return c->host->error(c, "out of memory for %lld accelerations", (long long)n);
  for (int64_t i = 0; i < n; i++) acc[i] = g;
  for (int k = 0; k < c->list_len; k++) {
    const ds_real *f = ds_rdata(ds_list(c, k));
    for (int64_t i = 0; i < n; i++) acc[i] += f[i];
  }
  const ds_real *x = ds_rdata(a->x), *v = ds_rdata(a->v);
  ds_real *xo = ds_rdata(a->x_out), *vo = ds_rdata(a->v_out);
  for (int64_t i = 0; i < n; i++) {
    vo[i] = v[i] + dt * acc[i];
    xo[i] = x[i] + dt * vo[i];
  }
  return DS_OK;
}

static int step_adjoint(const ds_call *c) {
  const step_argv *a = DS_ARGV(c, step);
  const ds_real dt = (ds_real)DS_PARAMS(c, step)->dt;
  const int64_t n = a->x->count;
  const ds_real *gxo = ds_rgrad(a->x_out), *gvo = ds_rgrad(a->v_out);
  /* G = gradient reaching v' (directly, and through x' = x + dt v'), once in scratch */
  ds_real *G = c->host->scratch(c, (size_t)n * sizeof(ds_real));
  if (!G) return c->host->error(c, "out of memory for %lld gradients", (long long)n);
  for (int64_t i = 0; i < n; i++) G[i] = gvo[i] + dt * gxo[i];
  ds_real *gx = ds_rgrad(a->x), *gv = ds_rgrad(a->v), *gacc = ds_rgrad(a->accel);
  if (gx)
    for (int64_t i = 0; i < n; i++) gx[i] += gxo[i];
  if (gv)
    for (int64_t i = 0; i < n; i++) gv[i] += G[i];
  for (int k = 0; k < c->list_len; k++) {
    ds_real *gf = ds_rgrad(ds_list(c, k));
    if (gf)
      for (int64_t i = 0; i < n; i++) gf[i] += dt * G[i];
  }
  if (gacc) { /* one sum, in index order: deterministic */
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += G[i];
    gacc[0] += (ds_real)(dt * s);
  }
  return DS_OK;
}

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "example");
  if (rc) return rc;
  if ((rc = host->state_size(reg, sizeof(example_state), NULL))) return rc;
  ds_kernel_desc cpu = {"step", step_args, step_param_names, step_check, {[DS_CPU] = step_forward},
                        {[DS_CPU] = step_adjoint}};
  if ((rc = host->register_kernel(reg, &cpu))) return rc;
  return example_register_mock(host, reg); /* the same kernel on another device, from another file */
}
