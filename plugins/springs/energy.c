/* springs.energy: diagnostics, no adjoint (every input is DS_NODIFF, so the core
 * refuses a tensor that requires grad while recording). */
#include "springs.h"

#define ENERGY_ARGS(A)                                                                               \
  A(x, DS_NODIFF, DS_REAL, 2, 0) A(v, DS_NODIFF, DS_REAL, 2, 0) A(rest, DS_NODIFF, DS_REAL, 1, 0)     \
  A(stiffness, DS_NODIFF, DS_REAL, 1, 0) A(topo, DS_NODIFF, DS_I32, 1, 0)                             \
  A(inv_mass, DS_NODIFF, DS_REAL, 1, 0) A(gravity, DS_NODIFF, DS_REAL, 0, 0) A(energy, DS_OUT, DS_REAL, 1, 0)
DS_DECLARE_ARGS(energy, ENERGY_ARGS)

/* out = {kinetic, spring potential, gravity potential} at one state (springs at
 * rest length L0, no actuation). Pinned nodes carry no energy. */
static int energy_check(const ds_call *c) {
  const energy_argv *a = DS_ARGV(c, energy);
  const ds_tensor *x = a->x;
  if (x->ndim != 2 || (x->dims[1] != 2 && x->dims[1] != 3))
    return c->host->error(c, "argument 'x' (#1) must have shape {n, 2} or {n, 3}");
  int64_t n = x->dims[0], ns = a->rest->count;
  int rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(energy, v), 2, n, x->dims[1], -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(energy, stiffness), 1, ns, -1, -1, -1))) return rc;
  if ((rc = check_inv_mass(c, DS_SLOT(energy, inv_mass), n))) return rc;
  if ((rc = check_topo(c, DS_SLOT(energy, topo), n, ns))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(energy, gravity), 0, -1, -1, -1, -1))) return rc;
  return ds_expect_shape(c, DS_SLOT(energy, energy), 1, 3, -1, -1, -1);
}

static int energy_forward(const ds_call *c) {
  const energy_argv *a = DS_ARGV(c, energy);
  const int D = (int)a->x->dims[1];
  topo g = topo_from(ds_idata(a->topo));
  const R *x = ds_rdata(a->x), *v = ds_rdata(a->v), *L0 = ds_rdata(a->rest), *k = ds_rdata(a->stiffness),
          *im = ds_rdata(a->inv_mass);
  double ke = 0, se = 0, ge = 0, grav = scalar_of(a->gravity);
  for (int64_t i = 0; i < g.n; i++) {
    if (im[i] == 0) continue;
    double v2 = 0;
    for (int d = 0; d < D; d++) v2 += (double)v[i * D + d] * v[i * D + d];
    ke += 0.5 * v2 / im[i];
    ge += -grav * x[i * D + 1] / im[i];
  }
  for (int64_t s = 0; s < g.ns; s++) {
    int32_t a = g.pair[2 * s], b = g.pair[2 * s + 1];
    double q2 = 0;
    for (int d = 0; d < D; d++) {
      double dd = (double)x[a * D + d] - x[b * D + d];
      q2 += dd * dd;
    }
    /* the potential whose gradient is exactly the kernel's force k (l - L) d / l with
     * l = q + eps: k ((q - L)^2 / 2 + L eps log((q + eps) / (L + eps))) */
    double q = sqrt(q2), L = L0[s], eps = SPRING_EPS;
    se += k[s] * (0.5 * (q - L) * (q - L) + L * eps * log((q + eps) / (L + eps)));
  }
  R *o = ds_rdata(a->energy);
  o[0] = (R)ke;
  o[1] = (R)se;
  o[2] = (R)ge;
  return DS_OK;
}

const ds_kernel_desc springs_energy_kernel = {"energy", energy_args, NULL, energy_check,
                                              {[DS_CPU] = energy_forward}, {NULL}};
