/* Forces and sources:
 *
 *   force(v, s, f, buoyancy, out)   out = v + dt (f + b s), one velocity component
 *                                   (params dt, axis): an external force field f
 *                                   and buoyancy b per unit of smoke s. One kernel
 *                                   for 2D and 3D; Lua launches it per component.
 *                                   b is a tensor: 0-dim (this component's
 *                                   coefficient) or {D} (all of them, element
 *                                   `axis` is used), and it is differentiable, so
 *                                   a script can identify buoyancy from data.
 *   inflow(s, mask, value, out)     out = s + mask (value - s): mask in [0, 1]
 *                                   blends a source into the field. The mask is
 *                                   not differentiable (DS_NODIFF: the core
 *                                   refuses a mask that requires grad while
 *                                   recording, rather than return a silent 0). */
#include <stdio.h>

#include "smoke.h"

/* ---- force ------------------------------------------------------------------------ */
#define FORCE_ARGS(A)                                                                                         \
  A(v, DS_IN, DS_REAL, -1, 0) A(s, DS_IN, DS_REAL, -1, 0) A(f, DS_IN, DS_REAL, -1, 0)                         \
  A(buoyancy, DS_IN, DS_REAL, -1, 0) A(out, DS_OUT, DS_REAL, -1, 0)
#define FORCE_PARAMS(P) P(dt) P(axis)
DS_DECLARE_ARGS(force, FORCE_ARGS)
DS_DECLARE_PARAMS(force, FORCE_PARAMS)

static int force_check(const ds_call *c) {
  const force_argv *a = DS_ARGV(c, force);
  const force_params *p = DS_PARAMS(c, force);
  const ds_tensor *v = a->v;
  if (v->ndim < 1 || v->ndim > 3) return c->host->error(c, "argument 'v' (#1) must be a 1D to 3D grid, got %d dims", v->ndim);
  const int slots[3] = {DS_SLOT(force, s), DS_SLOT(force, f), DS_SLOT(force, out)};
  for (int k = 0; k < 3; k++) {
    int rc = ds_expect_shape(c, slots[k], v->ndim, v->dims[0], v->ndim > 1 ? v->dims[1] : -1,
                             v->ndim > 2 ? v->dims[2] : -1, -1);
    if (rc) return rc;
  }
  int rc = smoke_check_int(c, "axis", p->axis, 0, v->ndim - 1);
  if (rc) return rc;
  const ds_tensor *b = a->buoyancy;
  if (!(b->ndim == 0 || (b->ndim == 1 && b->dims[0] == v->ndim)))
    return c->host->error(c, "argument 'buoyancy' (#4) must be a 0-dim tensor (this component's coefficient) or "
                          "have shape {%d} (one per component), got %d dims", v->ndim, b->ndim);
  if (!isfinite(p->dt)) return c->host->error(c, "param 'dt' must be finite, got %g", p->dt);
  return DS_OK;
}

/* This component's buoyancy coefficient: element `axis` of a {D} tensor. */
static int64_t buoyancy_index(const ds_call *c) {
  return DS_ARGV(c, force)->buoyancy->ndim == 0 ? 0 : (int64_t)DS_PARAMS(c, force)->axis;
}

static int force_forward(const ds_call *c) {
  const force_argv *a = DS_ARGV(c, force);
  const int64_t n = a->v->count;
  const ds_real *v = ds_rdata(a->v), *s = ds_rdata(a->s), *f = ds_rdata(a->f);
  ds_real *o = ds_rdata(a->out);
  const ds_real t = (ds_real)DS_PARAMS(c, force)->dt, b = ds_rdata(a->buoyancy)[buoyancy_index(c)];
  for (int64_t i = 0; i < n; i++) o[i] = v[i] + t * (f[i] + b * s[i]);
  return DS_OK;
}

/* gv += go, gf += dt go, gs += dt b go, gb += dt sum(go s) (summed in double, in
 * index order: deterministic). */
static int force_adjoint(const ds_call *c) {
  const force_argv *a = DS_ARGV(c, force);
  const double dt = DS_PARAMS(c, force)->dt;
  const int64_t n = a->v->count, bi = buoyancy_index(c);
  const ds_real *go = ds_rgrad(a->out), *s = ds_rdata(a->s);
  ds_real *gv = ds_rgrad(a->v), *gf = ds_rgrad(a->f), *gs = ds_rgrad(a->s), *gb = ds_rgrad(a->buoyancy);
  const ds_real t = (ds_real)dt, tb = (ds_real)(dt * ds_rdata(a->buoyancy)[bi]);
  if (gv) for (int64_t i = 0; i < n; i++) gv[i] += go[i];
  if (gf) for (int64_t i = 0; i < n; i++) gf[i] += t * go[i];
  if (gs) for (int64_t i = 0; i < n; i++) gs[i] += tb * go[i];
  if (gb) {
    double acc = 0;
    for (int64_t i = 0; i < n; i++) acc += (double)go[i] * s[i];
    gb[bi] += (ds_real)(dt * acc);
  }
  return DS_OK;
}

/* ---- inflow ------------------------------------------------------------------------ */
#define INFLOW_ARGS(A)                                                                                        \
  A(s, DS_IN, DS_REAL, -1, 0) A(mask, DS_NODIFF, DS_REAL, -1, 0) A(value, DS_IN, DS_REAL, -1, 0)               \
  A(out, DS_OUT, DS_REAL, -1, 0)
DS_DECLARE_ARGS(inflow, INFLOW_ARGS)

static int inflow_check(const ds_call *c) { return smoke_check_grid(c, -1, 0); }

static int inflow_forward(const ds_call *c) {
  const inflow_argv *a = DS_ARGV(c, inflow);
  const ds_real *s = ds_rdata(a->s), *m = ds_rdata(a->mask), *v = ds_rdata(a->value);
  ds_real *o = ds_rdata(a->out);
  for (int64_t i = 0; i < a->s->count; i++) o[i] = s[i] + m[i] * (v[i] - s[i]);
  return DS_OK;
}

static int inflow_adjoint(const ds_call *c) {
  const inflow_argv *a = DS_ARGV(c, inflow);
  const ds_real *m = ds_rdata(a->mask), *go = ds_rgrad(a->out);
  ds_real *gs = ds_rgrad(a->s), *gv = ds_rgrad(a->value);
  for (int64_t i = 0; i < a->s->count; i++) {
    if (gs) gs[i] += (1 - m[i]) * go[i];
    if (gv) gv[i] += m[i] * go[i];
  }
  return DS_OK;
}

int smoke_register_forces(const ds_host_api *host, ds_registrar *reg) {
  const ds_kernel_desc force = {"force", force_args, force_param_names, force_check, {force_forward},
                                {force_adjoint}};
  const ds_kernel_desc inflow = {"inflow", inflow_args, NULL, inflow_check, {inflow_forward}, {inflow_adjoint}};
  int rc = host->register_kernel(reg, &force);
  return rc ? rc : host->register_kernel(reg, &inflow);
}
