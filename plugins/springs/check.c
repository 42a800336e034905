/* springs: validation shared by the kernels. Every message names the kernel (the
 * host prefixes it) and the argument or param, so a Lua script learns what to fix. */
#include "springs.h"

static const char *slot_name(const ds_call *c, int i) { return c->arg_desc[i].name; }


/* topo must describe n nodes and ns springs, with every index in range. */
int check_topo(const ds_call *c, int i, int64_t n, int64_t ns) {
  const ds_tensor *t = c->args[i];
  if (t->ndim != 1 || t->count != topo_len(n, ns) || ds_idata(t)[0] != n || ds_idata(t)[1] != ns)
    return c->host->error(c,
                          "argument '%s' (#%d) is not a topology for %lld masses and %lld springs "
                          "(build it with springs.topology from the same scene)",
                          slot_name(c, i), i + 1, (long long)n, (long long)ns);
  topo g = topo_from(ds_idata(t));
  for (int64_t s = 0; s < ns; s++)
    for (int e = 0; e < 2; e++) {
      int32_t m = g.pair[2 * s + e];
      if (m < 0 || m >= n)
        return c->host->error(c, "argument '%s' (#%d): spring %lld references mass %d, but there are %lld masses",
                              slot_name(c, i), i + 1, (long long)s + 1, m + 1, (long long)n);
    }
  int bad = g.ptr[0] != 0 || g.ptr[n] != 2 * ns;
  for (int64_t k = 0; !bad && k < n; k++) bad = g.ptr[k + 1] < g.ptr[k];
  for (int64_t k = 0; !bad && k < n; k++)
    for (int32_t j = g.ptr[k]; !bad && j < g.ptr[k + 1]; j++) {
      int32_t e = g.adj[j], s = e >= 0 ? e : -e - 1;
      bad = s >= ns || g.pair[2 * s + (e >= 0 ? 0 : 1)] != k;
    }
  if (bad) return c->host->error(c, "argument '%s' (#%d): corrupt adjacency", slot_name(c, i), i + 1);
  return DS_OK;
}

int check_inv_mass(const ds_call *c, int i, int64_t n) {
  int rc = ds_expect_shape(c, i, 1, n, -1, -1, -1);
  if (rc) return rc;
  const R *m = ds_rdata(c->args[i]);
  for (int64_t k = 0; k < n; k++)
    if (!(m[k] >= 0) || !isfinite(m[k]))
      return c->host->error(c,
                            "argument '%s' (#%d): mass %lld has inverse mass %g; masses must be positive and "
                            "finite (inverse mass 0 pins a node)",
                            slot_name(c, i), i + 1, (long long)k + 1, (double)m[k]);
  return DS_OK;
}

/* A 0-dim physical input in [lo, hi] (either bound may be +-INFINITY). */
static int check_scalar(const ds_call *c, int i, double lo, double hi, const char *what) {
  int rc = ds_expect_shape(c, i, 0, -1, -1, -1, -1);
  if (rc) return rc;
  double v = scalar_of(c->args[i]);
  if (!(v >= lo && v <= hi) || !isfinite(v))
    return c->host->error(c, "argument '%s' (#%d) must be %s, got %g", slot_name(c, i), i + 1, what, v);
  return DS_OK;
}

static int check_phys(const ds_call *c) {
  const phys_params *p = PHYS(c);
  if (!(p->dt > 0)) return c->host->error(c, "param 'dt' must be positive, got %g", p->dt);
  int g = (int)p->ground_mode, w = (int)p->wall_mode;
  if (g != p->ground_mode || g < 0 || g > 2)
    return c->host->error(c, "param 'ground_mode' must be 0 (none), 1 (naive) or 2 (toi), got %g", p->ground_mode);
  if (p->sticky != 0 && p->sticky != 1)
    return c->host->error(c, "param 'sticky' must be 0 (Coulomb friction) or 1 (sticky ground), got %g", p->sticky);
  if (w != p->wall_mode || w < 0 || w > 2)
    return c->host->error(c, "param 'wall_mode' must be 0 (none), 1 (project) or 2 (reference), got %g", p->wall_mode);
  if (!(p->wall_friction >= 0)) return c->host->error(c, "param 'wall_friction' must be >= 0, got %g", p->wall_friction);
  if (w && !(p->wall_lo < p->wall_hi))
    return c->host->error(c, "param 'wall_lo' (%g) must be below 'wall_hi' (%g)", p->wall_lo, p->wall_hi);
  int rc;
  if ((rc = check_scalar(c, STEPPER_SLOT(gravity), -INFINITY, INFINITY, "finite"))) return rc;
  if ((rc = check_scalar(c, STEPPER_SLOT(damping), 0, INFINITY, "finite and >= 0"))) return rc;
  if ((rc = check_scalar(c, STEPPER_SLOT(restitution), 0, 1, "in [0, 1]"))) return rc;
  if (!p->sticky && (rc = check_scalar(c, STEPPER_SLOT(friction), 0, INFINITY, "a Coulomb coefficient >= 0")))
    return rc;
  return DS_OK;
}

/* Explicit springs are stable only while dt sqrt(k (1/m_a + 1/m_b)) < 2 (the
 * two-body oscillator); past it the state blows up, so say so up front. */
static int check_stability(const ds_call *c, const topo *g, const R *stiff, const R *im, int stiff_slot) {
  double dt = PHYS(c)->dt;
  for (int64_t s = 0; s < g->ns; s++) {
    double k = stiff[s];
    if (!(k >= 0) || !isfinite(k))
      return c->host->error(c, "argument '%s' (#%d): spring %lld has stiffness %g; it must be finite and >= 0",
                            slot_name(c, stiff_slot), stiff_slot + 1, (long long)s + 1, k);
    double w2 = k * ((double)im[g->pair[2 * s]] + (double)im[g->pair[2 * s + 1]]);
    if (dt * dt * w2 >= 4)
      return c->host->error(c,
                            "param 'dt' = %g is past the stability limit of spring %lld (stiffness %g): "
                            "dt must be below %g",
                            dt, (long long)s + 1, k, 2 / sqrt(w2));
  }
  return DS_OK;
}

int check_system(const ds_call *c) {
  const stepper_argv *a = STEPPER(c);
  const int ix = STEPPER_SLOT(x), iv = STEPPER_SLOT(v);
  const int mats[4] = {STEPPER_SLOT(rest), STEPPER_SLOT(stiffness), STEPPER_SLOT(amplitude),
                       STEPPER_SLOT(spring_damping)};
  const ds_tensor *x = a->x;
  if (x->ndim != 2 || (x->dims[1] != 2 && x->dims[1] != 3))
    return c->host->error(c, "argument '%s' (#%d) must have shape {n, 2} or {n, 3}", slot_name(c, ix), ix + 1);
  int64_t n = x->dims[0], D = x->dims[1], ns = a->rest->count;
  int rc;
  if ((rc = ds_expect_shape(c, iv, 2, n, D, -1, -1))) return rc;
  for (int m = 0; m < 4; m++)
    if ((rc = ds_expect_shape(c, mats[m], 1, ns, -1, -1, -1))) return rc;
  if ((rc = check_phys(c))) return rc;
  if ((rc = check_inv_mass(c, STEPPER_SLOT(inv_mass), n))) return rc;
  if ((rc = check_topo(c, STEPPER_SLOT(topo), n, ns))) return rc;
  if ((rc = ds_expect_finite(c, ix)) || (rc = ds_expect_finite(c, iv))) return rc;
  for (int m = 0; m < 4; m++)
    if ((rc = ds_expect_finite(c, mats[m]))) return rc;
  /* a negative rest length or damping coefficient is no spring at all (it
   * pushes where it should pull, or feeds energy in) */
  const int nonneg[2] = {mats[0], mats[3]};
  for (int m = 0; m < 2; m++) {
    const R *d = ds_rdata(c->args[nonneg[m]]);
    for (int64_t s = 0; s < ns; s++)
      if (d[s] < 0)
        return c->host->error(c, "argument '%s' (#%d): spring %lld has %g; it must be >= 0", slot_name(c, nonneg[m]),
                              nonneg[m] + 1, (long long)s + 1, (double)d[s]);
  }
  topo g = topo_from(ds_idata(a->topo));
  return check_stability(c, &g, ds_rdata(a->stiffness), ds_rdata(a->inv_mass), mats[1]);
}

int check_steps(const ds_call *c, int i, const char *name, int64_t *T) {
  double v = c->params[i];
  if (!(v >= 1 && v == (double)(int64_t)v && v < 1e9))
    return c->host->error(c, "param '%s' must be a positive integer, got %g", name, v);
  *T = (int64_t)v;
  return DS_OK;
}
