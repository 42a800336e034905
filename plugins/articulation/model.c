/* articulation: checks of the packed model and of state arguments.
 *
 * Shapes (host side) in art_check_model; values in art_check_values, which
 * runs at the start of every forward (it reads tensor data): the integer
 * tables must describe a tree in topological order, masses must be positive,
 * inertias positive definite, quaternions non-zero, values finite. */
#include "art.h"

static const char *nonfinite(double x) { return isnan(x) ? "NaN" : x > 0 ? "+inf" : "-inf"; }

static const char *const pnames[P_COUNT] = {"mass", "com", "inertia", "pos", "quat", "anchor", "axis", "damping",
                                            "armature", "range", "gpos", "gquat", "gsize", "friction", "gain", "opt"};

int art_check_model(const ds_call *c, art_topo *t) {
  ds_tensor *const *a = c->args;
  const ds_tensor *link = a[0], *geom = a[1], *act = a[2];
  int rc;
  if ((rc = ds_expect_shape(c, 0, 2, -1, LINK_W, -1, -1)) || (rc = ds_expect_shape(c, 1, 2, -1, GEOM_W, -1, -1)) ||
      (rc = ds_expect_shape(c, 2, 2, -1, ACT_W, -1, -1)))
    return rc;
  t->nl = (int)link->dims[0];
  t->ng = (int)geom->dims[0];
  t->nu = (int)act->dims[0];
  const int64_t nl = t->nl, ng = t->ng, nu = t->nu;
  const int64_t nv = a[3 + P_DAMPING]->dims[0];
  t->nv = (int)nv;
  const int64_t want[P_COUNT][2] = {{nl, -2}, {nl, 3}, {nl, 6}, {nl, 3}, {nl, 4}, {nl, 3}, {nl, 3}, {nv, -2},
                                    {nv, -2}, {nl, 2}, {ng, 3}, {ng, 4}, {ng, 3}, {ng, -2}, {nu, GAIN_W}, {O_COUNT, -2}};
  for (int k = 0; k < P_COUNT; k++) {
    if (want[k][1] == -2) rc = ds_expect_shape(c, 3 + k, 1, want[k][0], -1, -1, -1);
    else rc = ds_expect_shape(c, 3 + k, 2, want[k][0], want[k][1], -1, -1);
    if (rc) return rc;
  }
  if (nl < 1) return c->host->error(c, "argument 'link': the model has no links");
  t->nq = -1; /* known once the joint types are read (art_check_values) */
  t->link = NULL, t->geom = NULL, t->act = NULL;
  return DS_OK;
}

int art_check_values(const ds_call *c, art_topo *t) {
  ds_tensor *const *a = c->args;
  const int32_t *link = ds_idata(a[0]), *geom = ds_idata(a[1]), *act = ds_idata(a[2]);
  int nq = 0, nv = 0;
  for (int i = 0; i < t->nl; i++) {
    const int32_t *li = link + LINK_W * i;
    if (li[0] < -1 || li[0] >= i)
      return c->host->error(c, "argument 'link': link %d has parent %d; a parent must be -1 (the world) or an "
                               "earlier link (0..%d), so the tree has no cycles", i, li[0], i - 1);
    if (li[1] < J_FIXED || li[1] > J_FREE)
      return c->host->error(c, "argument 'link': link %d has joint type %d (expected 0..4)", i, li[1]);
    if (li[1] == J_FREE && li[0] != -1)
      return c->host->error(c, "argument 'link': link %d has a free joint but parent %d (a free joint's parent "
                               "must be the world)", i, li[0]);
    if (li[2] != nq || li[3] != nv)
      return c->host->error(c, "argument 'link': link %d has q address %d and v address %d, expected %d and %d",
                            i, li[2], li[3], nq, nv);
    nq += art_jnq(li[1]), nv += art_jnv(li[1]);
  }
  if (nv != t->nv)
    return c->host->error(c, "argument 'damping' has %d entries but the joints have %d dofs", t->nv, nv);
  for (int g = 0; g < t->ng; g++)
    if (geom[GEOM_W * g] < 0 || geom[GEOM_W * g] >= t->nl || geom[GEOM_W * g + 1] < G_NONE ||
        geom[GEOM_W * g + 1] > G_BOX)
      return c->host->error(c, "argument 'geom': geom %d has link %d and type %d (links 0..%d, types -1..2)", g,
                            geom[GEOM_W * g], geom[GEOM_W * g + 1], t->nl - 1);
  for (int u = 0; u < t->nu; u++) {
    const int li = act[ACT_W * u], type = act[ACT_W * u + 1], flags = act[ACT_W * u + 2];
    if (type == A_NONE) continue;
    if (li < 0 || li >= t->nl || type < A_MOTOR || type > A_VELOCITY || flags < 0 || flags > (AF_CTRL | AF_FORCE) ||
        art_jnv(link[LINK_W * li + 1]) != 1)
      return c->host->error(c, "argument 'act': actuator %d has joint link %d, type %d and flags %d (a link 0..%d "
                               "with a revolute or prismatic joint; types -1..2; flags 0..3)", u, li, type, flags,
                            t->nl - 1);
  }
  t->nq = nq;
  t->link = link, t->geom = geom, t->act = act;
  for (int k = 0; k < P_COUNT; k++) {
    const R *p = ds_rdata(a[3 + k]);
    for (int64_t e = 0; e < a[3 + k]->count; e++)
      if (!isfinite(p[e]))
        return c->host->error(c, "argument '%s' entry %lld is %s (must be finite)", pnames[k], (long long)e,
                              nonfinite(p[e]));
  }
  const R *o = ds_rdata(a[3 + P_OPT]);
  static const struct { int k; const char *what; } positive[] = {
      {O_DELTA, "contact smoothing"}, {O_EPSF, "friction smoothing"}, {O_LIMW, "limit smoothing"}};
  for (int k = 0; k < 3; k++)
    if (!(o[positive[k].k] > 0))
      return c->host->error(c, "argument 'opt' entry %d (%s) is %g (must be > 0)", positive[k].k, positive[k].what,
                            (double)o[positive[k].k]);
  static const struct { int k; const char *what; } nonneg[] = {
      {O_KC, "contact stiffness"}, {O_BC, "contact damping"}, {O_KLIM, "limit stiffness"}, {O_BLIM, "limit damping"}};
  for (int k = 0; k < 4; k++)
    if (!(o[nonneg[k].k] >= 0))
      return c->host->error(c, "argument 'opt' entry %d (%s) is %g (must be >= 0)", nonneg[k].k, nonneg[k].what,
                            (double)o[nonneg[k].k]);
  /* the ranges the act flags switch on (NaN failed above). The gains' signs are
   * checked where a model is built (articulation.lua): here they are parameters
   * a finite-difference check may move through 0. */
  const R *gn = ds_rdata(a[3 + P_GAIN]);
  for (int u = 0; u < t->nu; u++) {
    const R *g = gn + GAIN_W * u;
    const int type = act[ACT_W * u + 1], flags = act[ACT_W * u + 2];
    if (type == A_NONE) continue;
    if ((flags & AF_CTRL) && !(g[AG_CLO] < g[AG_CHI]))
      return c->host->error(c, "argument 'gain': actuator %d's control range [%g, %g] must have lower < upper", u,
                            (double)g[AG_CLO], (double)g[AG_CHI]);
    if ((flags & AF_FORCE) && !(g[AG_FLO] < g[AG_FHI]))
      return c->host->error(c, "argument 'gain': actuator %d's force range [%g, %g] must have lower < upper", u,
                            (double)g[AG_FLO], (double)g[AG_FHI]);
  }
  const R *m = ds_rdata(a[3 + P_MASS]), *in = ds_rdata(a[3 + P_INERTIA]);
  for (int i = 0; i < t->nl; i++) {
    if (!(m[i] > 0)) return c->host->error(c, "argument 'mass': link %d has mass %g (must be > 0)", i, (double)m[i]);
    const R *I = in + 6 * i; /* xx yy zz xy xz yz: leading minors (Sylvester) */
    const double d1 = I[0], d2 = (double)I[0] * I[1] - (double)I[3] * I[3];
    const double d3 = I[0] * ((double)I[1] * I[2] - (double)I[5] * I[5]) - I[3] * ((double)I[3] * I[2] - (double)I[5] * I[4]) +
                      I[4] * ((double)I[3] * I[5] - (double)I[1] * I[4]);
    const double scale = fabs(I[0]) + fabs(I[1]) + fabs(I[2]);
    if (!(d1 > 0 && d2 > 0 && d3 > 1e-12 * scale * scale * scale))
      return c->host->error(c, "argument 'inertia': link %d's inertia {%g, %g, %g, %g, %g, %g} is not positive "
                               "definite", i, (double)I[0], (double)I[1], (double)I[2], (double)I[3], (double)I[4],
                            (double)I[5]);
  }
  const R *qt = ds_rdata(a[3 + P_QUAT]), *gq = ds_rdata(a[3 + P_GQUAT]), *ax = ds_rdata(a[3 + P_AXIS]);
  for (int i = 0; i < t->nl; i++) {
    const R *q = qt + 4 * i;
    if (!(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3] > 1e-12))
      return c->host->error(c, "argument 'quat': link %d's quaternion is zero", i);
    const R *x = ax + 3 * i;
    const int ty = link[LINK_W * i + 1];
    if ((ty == J_REVOLUTE || ty == J_PRISMATIC) && !(x[0] * x[0] + x[1] * x[1] + x[2] * x[2] > 1e-12))
      return c->host->error(c, "argument 'axis': link %d's joint axis is zero", i);
  }
  for (int g = 0; g < t->ng; g++) {
    const R *q = gq + 4 * g;
    if (!(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3] > 1e-12))
      return c->host->error(c, "argument 'gquat': geom %d's quaternion is zero", g);
  }
  return DS_OK;
}

int art_expect_rows(const ds_call *c, int slot, int64_t batch, int n) {
  return ds_expect_shape(c, slot, 2, batch, n, -1, -1);
}

int art_check_finite(const ds_call *c, int slot) {
  const ds_tensor *x = c->args[slot];
  const R *p = ds_rdata(x);
  for (int64_t e = 0; e < x->count; e++)
    if (!isfinite(p[e]))
      return c->host->error(c, "argument '%s' entry %lld is %s (states and controls must be finite)",
                            ds_arg_desc_of(c, slot)->name, (long long)e, nonfinite(p[e]));
  return DS_OK;
}
