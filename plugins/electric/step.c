/* electric.step: one step of the charge with given electrode charges, and the
 * checks every electric kernel shares. */
#include "electric.h"

int elec_check_params(const ds_call *c, double dt, double rmin) {
  if (!(dt > 0 && isfinite(dt))) return c->host->error(c, "param 'dt' must be a positive finite number, got %g", dt);
  if (!(rmin > 0 && isfinite(rmin)))
    return c->host->error(c, "param 'rmin' (the clamp on |r|) must be a positive finite number, got %g", rmin);
  return DS_OK;
}

int elec_check_electrodes(const ds_call *c, int slot) {
  const ds_tensor *p = c->args[slot];
  if (p->dims[1] != 2 || p->dims[0] < 1)
    return c->host->error(c, "argument '%s' (#%d) must be {E, 2} with E >= 1 electrodes, got {%lld, %lld}",
                          ds_arg_desc_of(c, slot)->name, slot + 1, (long long)p->dims[0], (long long)p->dims[1]);
  return DS_OK;
}

int elec_finite(const ds_call *c, int slot, const char *what) {
  const ds_tensor *t = c->args[slot];
  const R *d = ds_rdata(t);
  for (int64_t i = 0; i < t->count; i++)
    if (!isfinite(d[i]))
      return c->host->error(c, "argument '%s' (#%d, %s) has a non-finite value (%g) at element %lld",
                            ds_arg_desc_of(c, slot)->name, slot + 1, what, (double)d[i], (long long)i + 1);
  return DS_OK;
}

int elec_read_phys(const ds_call *c, const ds_tensor *pos, const ds_tensor *K, const ds_tensor *damping, double dt,
                   double rmin, elec_phys *out) {
  R k = ds_rdata(K)[0], dmp = ds_rdata(damping)[0];
  if (!isfinite(k)) return c->host->error(c, "argument 'K' (Coulomb constant) must be finite, got %g", (double)k);
  if (!(dmp >= 0 && isfinite(dmp)))
    return c->host->error(c, "argument 'damping' must be finite and >= 0, got %g", (double)dmp);
  out->K = k;
  out->decay = exp(-dmp * (R)dt);
  out->dt = (R)dt;
  out->rmin = (R)rmin;
  out->pos = ds_rdata(pos);
  out->E = pos->dims[0];
  return DS_OK;
}

void elec_finish_scalars(const elec_phys *p, const elec_grads *o, const ds_tensor *K, const ds_tensor *damping) {
  R *gK = ds_rgrad(K), *gd = ds_rgrad(damping);
  if (gK) gK[0] += (R)o->gK;
  if (gd) gd[0] += (R)(o->gdecay * -(double)p->dt * (double)p->decay); /* d exp(-damping dt) */
}

/* x, v {2}; charges {E}; electrodes {E, 2}; K, damping 0-dim. */
#define STEP_ARGS(A)                                                                                  \
  A(x, DS_IN, DS_REAL, 1, 0) A(v, DS_IN, DS_REAL, 1, 0) A(charges, DS_IN, DS_REAL, 1, 0)                \
  A(electrodes, DS_IN, DS_REAL, 2, 0) A(K, DS_IN, DS_REAL, 0, 0) A(damping, DS_IN, DS_REAL, 0, 0)       \
  A(x_out, DS_OUT, DS_REAL, 1, 0) A(v_out, DS_OUT, DS_REAL, 1, 0)
#define STEP_PARAMS(P) P(dt) P(rmin)
DS_DECLARE_ARGS(step, STEP_ARGS)
DS_DECLARE_PARAMS(step, STEP_PARAMS)

static int step_check(const ds_call *c) {
  const step_argv *a = DS_ARGV(c, step);
  const step_params *p = DS_PARAMS(c, step);
  int rc = elec_check_params(c, p->dt, p->rmin);
  if (rc) return rc;
  if ((rc = elec_check_electrodes(c, DS_SLOT(step, electrodes)))) return rc;
  const int two[] = {DS_SLOT(step, x), DS_SLOT(step, v), DS_SLOT(step, x_out), DS_SLOT(step, v_out)};
  for (int k = 0; k < 4; k++)
    if ((rc = ds_expect_shape(c, two[k], 1, 2, -1, -1, -1))) return rc;
  return ds_expect_shape(c, DS_SLOT(step, charges), 1, a->electrodes->dims[0], -1, -1, -1);
}

static int step_forward(const ds_call *c) {
  const step_argv *a = DS_ARGV(c, step);
  const step_params *p = DS_PARAMS(c, step);
  elec_phys ph = {0};
  int rc = elec_read_phys(c, a->electrodes, a->K, a->damping, p->dt, p->rmin, &ph);
  if (rc) return rc;
  const int slots[] = {DS_SLOT(step, x), DS_SLOT(step, v), DS_SLOT(step, charges), DS_SLOT(step, electrodes)};
  for (int k = 0; k < 4; k++)
    if ((rc = elec_finite(c, slots[k], "NaN or infinite state"))) return rc;
  elec_step(&ph, ds_rdata(a->x), ds_rdata(a->v), ds_rdata(a->charges), ds_rdata(a->x_out), ds_rdata(a->v_out));
  return DS_OK;
}

static int step_adjoint(const ds_call *c) {
  const step_argv *a = DS_ARGV(c, step);
  const step_params *p = DS_PARAMS(c, step);
  elec_phys ph = {0};
  int rc = elec_read_phys(c, a->electrodes, a->K, a->damping, p->dt, p->rmin, &ph);
  if (rc) return rc;
  const int64_t E = ph.E;
  R *buf = c->host->scratch(c, (size_t)(4 + E) * sizeof(R));
  if (!buf) return c->host->error(c, "out of memory for %lld gradients", (long long)(4 + E));
  memset(buf, 0, (size_t)(4 + E) * sizeof(R));
  elec_grads o = {buf, buf + 2, buf + 4, ds_rgrad(a->electrodes), 0, 0};
  elec_step_adjoint(&ph, ds_rdata(a->x), ds_rdata(a->v), ds_rdata(a->charges), ds_rgrad(a->x_out),
                    ds_rgrad(a->v_out), &o);
  R *gx = ds_rgrad(a->x), *gv = ds_rgrad(a->v), *gg = ds_rgrad(a->charges);
  for (int d = 0; d < 2; d++) {
    if (gx) gx[d] += o.gx[d];
    if (gv) gv[d] += o.gv[d];
  }
  if (gg)
    for (int64_t i = 0; i < E; i++) gg[i] += o.gg[i];
  elec_finish_scalars(&ph, &o, a->K, a->damping);
  return DS_OK;
}

const ds_kernel_desc electric_step_kernel = {"step", step_args, step_param_names, step_check,
                                             {[DS_CPU] = step_forward}, {[DS_CPU] = step_adjoint}};
