/* mpm.substep3: one fused 3D MLS-MPM substep (P2G -> grid update -> G2P) with
 * its adjoint, the 3D counterpart of mpm.substep (substep.c): state (x {n,3},
 * v {n,3}, C {n,3,3}, F {n,3,3}) in, next state out; actuation per group along
 * the material z axis; mass, vol, mu, lam, bulk shared ({}) or per particle ({n});
 * gravity (along -y) and floor friction. Materials: fluid (0), corotated (1, with
 * a 3D polar decomposition) and neo-Hookean (2).
 * Like the 2D kernel, the adjoint recomputes the grid from the step's inputs. */
#include <string.h>

#include <diffsim/kit.h>

#include "mpm3.h"

#define SUBSTEP3_ARGS(A)                                                                                     \
  A(x, DS_IN, DS_REAL, 2, 0) A(v, DS_IN, DS_REAL, 2, 0) A(C, DS_IN, DS_REAL, 3, 0) A(F, DS_IN, DS_REAL, 3, 0) \
  A(act, DS_IN, DS_REAL, 1, 0) A(group, DS_NODIFF, DS_I32, 1, 0) A(material, DS_NODIFF, DS_I32, 1, 0)          \
  A(mass, DS_IN, DS_REAL, -1, 0) A(vol, DS_IN, DS_REAL, -1, 0) A(mu, DS_IN, DS_REAL, -1, 0)                    \
  A(lam, DS_IN, DS_REAL, -1, 0) A(bulk, DS_IN, DS_REAL, -1, 0) A(gravity, DS_IN, DS_REAL, 0, 0)                \
  A(friction, DS_IN, DS_REAL, 0, 0) A(x_out, DS_OUT, DS_REAL, 2, 0) A(v_out, DS_OUT, DS_REAL, 2, 0)            \
  A(C_out, DS_OUT, DS_REAL, 3, 0) A(F_out, DS_OUT, DS_REAL, 3, 0)
/* As mpm.substep, plus nz; walls are the x and z sides, floor and ceiling the y ones. */
#define SUBSTEP3_PARAMS(P) \
  P(dt) P(dx) P(nx) P(ny) P(nz) P(bound) P(wall) P(floor) P(ceiling) P(reference) P(strength)
DS_DECLARE_ARGS(substep3, SUBSTEP3_ARGS)
DS_DECLARE_PARAMS(substep3, SUBSTEP3_PARAMS)

static int is_int(double v, double lo, double hi) { return v == (double)(int64_t)v && v >= lo && v <= hi; }

static int check_const(const ds_call *c, int slot, int64_t n) {
  const ds_tensor *t = c->args[slot];
  if (t->count == 1 && t->ndim <= 1) return DS_OK;
  if (t->ndim == 1 && t->dims[0] == n) return DS_OK;
  return c->host->error(c, "argument '%s' (#%d) must be one shared value (shape {} or {1}) or one per particle {%lld}",
                        substep3_args[slot].name, slot + 1, (long long)n);
}

static int substep3_check(const ds_call *c) {
  const substep3_argv *a = DS_ARGV(c, substep3);
  const substep3_params *p = DS_PARAMS(c, substep3);
  const int64_t n = a->x->dims[0];
  int rc;
  if (n < 1) return c->host->error(c, "argument 'x' (#1) has no particles");
#define SHAPE(name, nd, d1, d2) \
  if ((rc = ds_expect_shape(c, DS_SLOT(substep3, name), nd, n, d1, d2, -1))) return rc;
  SHAPE(x, 2, 3, -1) SHAPE(v, 2, 3, -1) SHAPE(C, 3, 3, 3) SHAPE(F, 3, 3, 3) SHAPE(group, 1, -1, -1)
  SHAPE(material, 1, -1, -1) SHAPE(x_out, 2, 3, -1) SHAPE(v_out, 2, 3, -1) SHAPE(C_out, 3, 3, 3) SHAPE(F_out, 3, 3, 3)
#undef SHAPE
  if (a->act->dims[0] < 1)
    return c->host->error(c, "argument 'act' (#5) must have at least one entry (pass {0} without actuators)");
  static const int consts[] = {DS_SLOT(substep3, mass), DS_SLOT(substep3, vol), DS_SLOT(substep3, mu),
                               DS_SLOT(substep3, lam), DS_SLOT(substep3, bulk)};
  for (int i = 0; i < 5; i++)
    if ((rc = check_const(c, consts[i], n))) return rc;
  if (!(p->dt > 0) || p->dt > 1e30) return c->host->error(c, "param 'dt' must be positive and finite, got %g", p->dt);
  if (!(p->dx > 0) || p->dx > 1e30) return c->host->error(c, "param 'dx' must be positive and finite, got %g", p->dx);
  if (!is_int(p->bound, 0, 1e6)) return c->host->error(c, "param 'bound' must be an integer >= 0, got %g", p->bound);
  const double min_n = 2 * p->bound + 3 > 5 ? 2 * p->bound + 3 : 5;
  if (!is_int(p->nx, min_n, 4096) || !is_int(p->ny, min_n, 4096) || !is_int(p->nz, min_n, 4096) ||
      p->nx * p->ny * p->nz > 5e8)
    return c->host->error(c, "grid too small or too large: params 'nx' = %g, 'ny' = %g, 'nz' = %g must be integers in "
                          "[%g, 4096] (3 stencil nodes plus a band of 'bound' = %g on each side), nx ny nz <= 5e8 "
                          "(32-bit node offsets)",
                          p->nx, p->ny, p->nz, min_n, p->bound);
  if (!is_int(p->wall, 0, 1)) return c->host->error(c, "param 'wall' must be 0 (slip) or 1 (sticky), got %g", p->wall);
  if (!is_int(p->ceiling, 0, 1))
    return c->host->error(c, "param 'ceiling' must be 0 (slip) or 1 (sticky), got %g", p->ceiling);
  if (!is_int(p->floor, 0, 2))
    return c->host->error(c, "param 'floor' must be 0 (slip), 1 (sticky) or 2 (Coulomb), got %g", p->floor);
  if (!is_int(p->reference, 0, 1)) return c->host->error(c, "param 'reference' must be 0 or 1, got %g", p->reference);
  if (!(p->strength == p->strength) || p->strength > 1e30 || p->strength < -1e30)
    return c->host->error(c, "param 'strength' must be finite, got %g", p->strength);
  return DS_OK;
}

static const R *rd(const ds_tensor *t) { return ds_rdata(t); }
static int stride(const ds_tensor *t) { return t->count == 1 ? 0 : 1; }

static int sim3_init(sim3 *s, const ds_call *c, int adjoint) {
  const substep3_argv *a = DS_ARGV(c, substep3);
  const substep3_params *p = DS_PARAMS(c, substep3);
  memset(s, 0, sizeof *s);
  s->ctx = c->ctx;
  s->host = c->host;
  s->n = a->x->dims[0];
  s->nx = (int64_t)p->nx, s->ny = (int64_t)p->ny, s->nz = (int64_t)p->nz, s->ncell = s->nx * s->ny * s->nz;
  s->ngroup = a->act->dims[0];
  s->dt = (R)p->dt, s->dx = (R)p->dx, s->inv_dx = (R)(1 / p->dx), s->strength = (R)p->strength;
  s->gravity = rd(a->gravity)[0];
  s->bd.bound = (int32_t)p->bound, s->bd.nx = (int32_t)p->nx, s->bd.ny = (int32_t)p->ny, s->bd.nz = (int32_t)p->nz;
  s->bd.wall = (int)p->wall, s->bd.ceiling = (int)p->ceiling, s->bd.floor = (int)p->floor;
  if (s->bd.floor == BC_COULOMB && p->reference != 0) s->bd.floor = BC_STICKY; /* the reference zeroes v first */
  s->bd.mu = rd(a->friction)[0];
  s->x = rd(a->x), s->v = rd(a->v), s->C = rd(a->C), s->F = rd(a->F), s->act = rd(a->act);
  s->group = ds_idata(a->group), s->mat = ds_idata(a->material);
  s->mass = rd(a->mass), s->smass = stride(a->mass);
  s->vol = rd(a->vol), s->svol = stride(a->vol);
  s->mu = rd(a->mu), s->smu = stride(a->mu);
  s->lam = rd(a->lam), s->slam = stride(a->lam);
  s->bulk = rd(a->bulk), s->sbulk = stride(a->bulk);
  const int64_t n = s->n, nc = s->ncell;
  s->contrib = c->host->scratch(c, (size_t)n * 108 * sizeof(R));
  s->cell = c->host->scratch(c, (size_t)n * sizeof(int32_t));
  s->order = c->host->scratch(c, (size_t)n * sizeof(int32_t));
  s->start = c->host->scratch(c, (size_t)(nc + 1) * sizeof(int32_t));
  s->cslot = c->host->scratch(c, (size_t)nc * sizeof(int32_t));
  s->span = c->host->scratch(c, (size_t)s->nx * s->ny * 2 * sizeof(int32_t));
  s->gmm = c->host->scratch(c, (size_t)nc * 4 * sizeof(R));
  s->gvel = c->host->scratch(c, (size_t)nc * 3 * sizeof(R));
  if (!s->contrib || !s->cell || !s->order || !s->start || !s->cslot || !s->span || !s->gmm || !s->gvel)
    return DS_ERR_NOMEM;
  if (!adjoint) return DS_OK;
  s->gcontrib = c->host->scratch(c, (size_t)n * 81 * sizeof(R));
  s->ggvel = c->host->scratch(c, (size_t)nc * 3 * sizeof(R));
  s->ggmm = c->host->scratch(c, (size_t)nc * 4 * sizeof(R));
  s->rows = c->host->scratch(c, (size_t)s->nx * 2 * sizeof(double));
  s->pg = c->host->scratch(c, (size_t)n * PG_COUNT * sizeof(R));
  s->cache = c->host->scratch(c, (size_t)n * 27 * sizeof(R));
  if (!s->gcontrib || !s->ggvel || !s->ggmm || !s->rows || !s->pg || !s->cache) return DS_ERR_NOMEM;
  return DS_OK;
}

/* ---- the CFL limit: sub-substeps -------------------------------------------------
 * A particle should cross at most one cell per step along each axis
 * (|v_d| dt <= dx): past that, explicit MPM's transfers lag the motion they
 * carry (grid forces act on a particle a cell behind where it ends up) and
 * the result is no longer a consistent discretisation. A launch whose input
 * velocity breaks it is not refused but split into k equal sub-substeps of
 * dt / k, k the smallest with max |v_d| dt / k <= dx: k = 1 (the plain substep,
 * unchanged bit for bit) whenever the limit holds. The input of every later
 * sub-substep is checked the same way, and one that breaks the limit (the
 * velocity grew inside the substep) restarts the substep with a larger k; so
 * every sub-substep starts within the limit, the same condition (one step
 * late, as the reference's explicit scheme is) that the kernel used to refuse
 * on. The actuation, gravity and constants are those of the whole substep.
 * k is a function of the launch's inputs alone (through the states it computes
 * from them), so the adjoint recomputes the same k and intermediate states and
 * runs the sub-substeps' adjoints in reverse: the gradient is exact for the
 * split the forward took. Where k changes with the inputs, the result jumps by
 * the difference of two time discretisations (O(dt^2) per substep), as any
 * adaptive step does. Past SUB_MAX sub-substeps (a particle crossing more
 * than 16 cells in one substep: a simulation that has blown up) the launch is
 * refused with the CFL error. */
static void set_in(sim3 *s, mpm_state a) { s->x = a.x, s->v = a.v, s->C = a.C, s->F = a.F; }
static void set_out(sim3 *s, mpm_state a) { s->xo = a.x, s->vo = a.v, s->Co = a.C, s->Fo = a.F; }

/* Chooses k for the substep from state `in` and computes the inputs of
 * sub-substeps 2..k into mid[0..k-2] (the adjoint needs them all); leaves s
 * reading the last sub-substep's input with s->dt = dt / k. */
static int plan3(const ds_call *c, sim3 *s, mpm_state in, double dt, mpm_state *mid, int *k_out) {
  const double dx = (double)s->dx;
  int64_t wp;
  int wd;
  R *cache = s->cache; /* the adjoint's stress cache: only the last pass A of a sub-substep adjoint fills it */
  s->cache = NULL;
  set_in(s, in);
  double vm = vmax3(s, &wp, &wd);
  int k = mpm_split_for(vm, dt, dx);
  for (;;) {
    if (k > SUB_MAX)
      return c->host->error(c, "argument 'v': particle %lld moves %g along axis %d, more than %d cells (dx = %g) in "
                               "dt = %g even split into %d sub-substeps (CFL limit); reduce 'dt'",
                            (long long)wp, vm, wd, SUB_MAX, dx, dt, SUB_MAX);
    s->dt = (R)(dt / k);
    R *buf = k > 1 ? c->host->scratch(c, (size_t)(k - 1) * s->n * mpm_state_reals(3) * sizeof(R)) : NULL;
    if (k > 1 && !buf) return DS_ERR_NOMEM;
    int again = 0;
    set_in(s, in);
    for (int j = 1; j < k && !again; j++) {
      mid[j - 1] = mpm_state_at(buf + (int64_t)(j - 1) * s->n * mpm_state_reals(3), s->n, 3);
      set_out(s, mid[j - 1]);
      pass3_forward(s);
      set_in(s, mid[j - 1]);
      int rc = validate3(c, s); /* in the grid, uninverted, finite */
      if (rc) return rc;
      vm = vmax3(s, &wp, &wd);
      if (vm * (double)s->dt > dx) {
        const int k2 = mpm_split_for(vm, dt, dx);
        k = k2 > k ? k2 : k + 1, again = 1;
      }
    }
    if (!again) break;
  }
  s->cache = cache;
  *k_out = k;
  return DS_OK;
}

static int substep3_forward(const ds_call *c) {
  const substep3_argv *a = DS_ARGV(c, substep3);
  sim3 s;
  int rc = sim3_init(&s, c, 0);
  if (rc) return rc;
  if ((rc = validate3(c, &s))) return rc;
  const mpm_state in = {(R *)s.x, (R *)s.v, (R *)s.C, (R *)s.F};
  mpm_state mid[SUB_MAX];
  int k;
  if ((rc = plan3(c, &s, in, DS_PARAMS(c, substep3)->dt, mid, &k))) return rc;
  set_out(&s, (mpm_state){ds_rdata(a->x_out), ds_rdata(a->v_out), ds_rdata(a->C_out), ds_rdata(a->F_out)});
  pass3_forward(&s);
  return DS_OK;
}

/* Adds one (sub-)substep adjoint's grads of the constants, actuation, gravity and friction. */
static void add_const_grads(const ds_call *c, const sim3 *s, double *acc) {
  const substep3_argv *a = DS_ARGV(c, substep3);
  const int64_t n = s->n;
  const ds_tensor *const cs[5] = {a->mass, a->vol, a->mu, a->lam, a->bulk};
  mpm_add_material_grads(s->ctx, s->host, n, cs, s->pg);
  R *gact = ds_rgrad(a->act);
  if (gact) {
    memset(acc, 0, (size_t)s->ngroup * sizeof(double));
    for (int64_t p = 0; p < n; p++)
      if (s->group[p] >= 0) acc[s->group[p]] += s->pg[PG_ACT * n + p];
    for (int64_t g = 0; g < s->ngroup; g++) gact[g] += (R)acc[g];
  }
  mpm_add_row_grads(s->rows, s->nx, ds_rgrad(a->gravity), ds_rgrad(a->friction));
}

static int substep3_adjoint(const ds_call *c) {
  const substep3_argv *a = DS_ARGV(c, substep3);
  sim3 s;
  int rc = sim3_init(&s, c, 1);
  if (rc) return rc;
  const mpm_state in = {(R *)s.x, (R *)s.v, (R *)s.C, (R *)s.F};
  mpm_state mid[SUB_MAX];
  int k;
  if ((rc = plan3(c, &s, in, DS_PARAMS(c, substep3)->dt, mid, &k))) return rc;
  double *acc = c->host->scratch(c, (size_t)s.ngroup * sizeof(double));
  /* the grads of sub-substep j's input, j = k..2, alternate between two buffers */
  R *gbuf = k > 1 ? c->host->scratch(c, 2 * (size_t)s.n * mpm_state_reals(3) * sizeof(R)) : NULL;
  if (!acc || (k > 1 && !gbuf)) return DS_ERR_NOMEM;
  mpm_state gout = {ds_rgrad(a->x_out), ds_rgrad(a->v_out), ds_rgrad(a->C_out), ds_rgrad(a->F_out)};
  for (int j = k; j >= 1; j--) {
    set_in(&s, j == 1 ? in : mid[j - 2]);
    s.gxo = gout.x, s.gvo = gout.v, s.gCo = gout.C, s.gFo = gout.F;
    mpm_state gin = {ds_rgrad(a->x), ds_rgrad(a->v), ds_rgrad(a->C), ds_rgrad(a->F)};
    if (j > 1) {
      R *g = gbuf + (int64_t)(j % 2) * s.n * mpm_state_reals(3);
      memset(g, 0, (size_t)s.n * mpm_state_reals(3) * sizeof(R));
      gin = mpm_state_at(g, s.n, 3);
    }
    s.gx = gin.x, s.gv = gin.v, s.gC = gin.C, s.gF = gin.F;
    pass3_adjoint(&s);
    add_const_grads(c, &s, acc);
    gout = gin;
  }
  return DS_OK;
}

const ds_kernel_desc mpm_substep3_kernel = {"substep3", substep3_args, substep3_param_names, substep3_check,
                                            {substep3_forward}, {substep3_adjoint}};
