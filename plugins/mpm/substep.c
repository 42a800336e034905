/* mpm.substep: one fused 2D MLS-MPM substep (P2G -> grid update -> G2P) with
 * its adjoint. The state (x, v, C, F) in, the next state out; actuation per
 * group, the material constants and the physical constants are differentiable
 * inputs. mass, vol, mu, lam and bulk are each either one shared value (shape
 * {} or {1}) or one per particle ({n}); their grads follow the same shape.
 *
 * The adjoint needs the step's grid. With a {0} `aux` it recomputes it from the
 * step's inputs, so a rollout on the tape holds particle states only (and
 * tape:checkpoint bounds even that). With an `aux` of aux_count() int32 elements
 * (mpm.lua passes one on recorded substeps by default) the forward also keeps
 * its bins and the grid mass and momentum of the nodes some stencil reaches,
 * packed row by row (3 reals per node, room for n nodes; with the bins about a
 * third of a particle state), and the adjoint restores them instead of redoing
 * the binning and the P2G; a step whose stencils
 * reach more than n nodes (fewer than one particle per node) keeps nothing and
 * recomputes. Either way the numbers are the same, bit for bit. A launch split
 * into sub-substeps (the CFL limit, below) keeps nothing either (AUX_SPLIT).
 * Like substep3.c, it splits a substep whose particles would cross more than
 * one cell into k equal sub-substeps (docs/mpm.md, "CFL limit"). */
#include <string.h>

#include <diffsim/kit.h>

#include "passes.h" /* PARTICLE_GRAIN: pass F's blocks */

#define SUBSTEP_ARGS(A)                                                                                      \
  A(x, DS_IN, DS_REAL, 2, 0) A(v, DS_IN, DS_REAL, 2, 0) A(C, DS_IN, DS_REAL, 3, 0) A(F, DS_IN, DS_REAL, 3, 0) \
  A(act, DS_IN, DS_REAL, 1, 0) A(group, DS_NODIFF, DS_I32, 1, 0) A(material, DS_NODIFF, DS_I32, 1, 0)          \
  A(mass, DS_IN, DS_REAL, -1, 0) A(vol, DS_IN, DS_REAL, -1, 0) A(mu, DS_IN, DS_REAL, -1, 0)                    \
  A(lam, DS_IN, DS_REAL, -1, 0) A(bulk, DS_IN, DS_REAL, -1, 0) A(gravity, DS_IN, DS_REAL, 0, 0)                \
  A(friction, DS_IN, DS_REAL, 0, 0) A(x_out, DS_OUT, DS_REAL, 2, 0) A(v_out, DS_OUT, DS_REAL, 2, 0)            \
  A(C_out, DS_OUT, DS_REAL, 3, 0) A(F_out, DS_OUT, DS_REAL, 3, 0) A(aux, DS_OUT, DS_I32, 1, 0)
/* dt; dx: node spacing (the domain is [0, nx dx) x [0, ny dx)); nx, ny: nodes
 * per axis; bound: the band width in nodes; wall, floor, ceiling: 0 slip,
 * 1 sticky, 2 Coulomb (floor only); reference: 1 zeroes the floor velocity
 * before the friction projection, as the reference does (a sticky floor);
 * strength: actuation scale (stress += act strength (F e_y)(F e_y)^T). */
#define SUBSTEP_PARAMS(P) P(dt) P(dx) P(nx) P(ny) P(bound) P(wall) P(floor) P(ceiling) P(reference) P(strength)
DS_DECLARE_ARGS(substep, SUBSTEP_ARGS)
DS_DECLARE_PARAMS(substep, SUBSTEP_PARAMS)

static int is_int(double v, double lo, double hi) { return v == (double)(int64_t)v && v >= lo && v <= hi; }

/* aux: int32 [0] the kept node count (AUX_SPARSE: none kept, the stencils reach
 * more than n nodes; AUX_SPLIT: none kept, the launch was split), [1] padding, then the
 * forward's bins: cell {n}, order {n}, rowstart {nx + 1}, span {nx, 2}, rowoff
 * {nx + 1}, padded to an even count (the reals that follow stay 8-byte
 * aligned), then reals {n, 3}: the packed grid. */
enum { AUX_SPARSE = -1, AUX_SPLIT = -2 }; /* mpm.lua reads AUX_SPARSE */
static int64_t aux_ints(int64_t n, int64_t nx) { return (2 + 2 * n + 4 * nx + 2 + 1) / 2 * 2; }
static int64_t aux_count(int64_t n, int64_t nx) {
  return aux_ints(n, nx) + 3 * n * (int64_t)(sizeof(R) / sizeof(int32_t));
}

/* Points the bins and the packed grid into the launch's aux block. */
static void use_aux(sim *s, int32_t *ip) {
  const int64_t n = s->n, nx = s->nx;
  s->cell = ip + 2, s->order = ip + 2 + n, s->rowstart = ip + 2 + 2 * n;
  s->span = s->rowstart + nx + 1, s->rowoff = s->span + 2 * nx;
  s->kept = (R *)(void *)(ip + aux_ints(n, nx));
}

/* A shared-or-per-particle constant: {} or {1} (shared), or {n}. */
static int check_const(const ds_call *c, int slot, int64_t n) {
  const ds_tensor *t = c->args[slot];
  if (t->count == 1 && t->ndim <= 1) return DS_OK;
  if (t->ndim == 1 && t->dims[0] == n) return DS_OK;
  return c->host->error(c, "argument '%s' (#%d) must be one shared value (shape {} or {1}) or one per particle {%lld}",
                        substep_args[slot].name, slot + 1, (long long)n);
}

static int substep_check(const ds_call *c) {
  const substep_argv *a = DS_ARGV(c, substep);
  const substep_params *p = DS_PARAMS(c, substep);
  const int64_t n = a->x->dims[0];
  int rc;
  if (n < 1) return c->host->error(c, "argument 'x' (#1) has no particles");
#define SHAPE(name, nd, d1, d2) \
  if ((rc = ds_expect_shape(c, DS_SLOT(substep, name), nd, n, d1, d2, -1))) return rc;
  SHAPE(x, 2, 2, -1) SHAPE(v, 2, 2, -1) SHAPE(C, 3, 2, 2) SHAPE(F, 3, 2, 2) SHAPE(group, 1, -1, -1)
  SHAPE(material, 1, -1, -1) SHAPE(x_out, 2, 2, -1) SHAPE(v_out, 2, 2, -1) SHAPE(C_out, 3, 2, 2) SHAPE(F_out, 3, 2, 2)
#undef SHAPE
  if (a->act->dims[0] < 1)
    return c->host->error(c, "argument 'act' (#5) must have at least one entry (pass {0} without actuators)");
  static const int consts[] = {DS_SLOT(substep, mass), DS_SLOT(substep, vol), DS_SLOT(substep, mu),
                               DS_SLOT(substep, lam), DS_SLOT(substep, bulk)};
  for (int i = 0; i < 5; i++)
    if ((rc = check_const(c, consts[i], n))) return rc;
  if (!(p->dt > 0) || p->dt > 1e30) return c->host->error(c, "param 'dt' must be positive and finite, got %g", p->dt);
  if (!(p->dx > 0) || p->dx > 1e30) return c->host->error(c, "param 'dx' must be positive and finite, got %g", p->dx);
  if (!is_int(p->bound, 0, 1e6)) return c->host->error(c, "param 'bound' must be an integer >= 0, got %g", p->bound);
  /* the stencil needs 3 nodes, and each band must leave room for it */
  const double min_n = 2 * p->bound + 3 > 5 ? 2 * p->bound + 3 : 5;
  if (!is_int(p->nx, min_n, 1 << 20) || !is_int(p->ny, min_n, 1 << 20) || p->nx * p->ny > 7e8)
    return c->host->error(c, "grid too small or too large: params 'nx' = %g, 'ny' = %g must be integers in [%g, 2^20] "
                          "(3 stencil nodes plus a band of 'bound' = %g on each side), nx ny <= 7e8 (32-bit node offsets)",
                          p->nx, p->ny, min_n, p->bound);
  if (!is_int(p->wall, 0, 1)) return c->host->error(c, "param 'wall' must be 0 (slip) or 1 (sticky), got %g", p->wall);
  if (!is_int(p->ceiling, 0, 1))
    return c->host->error(c, "param 'ceiling' must be 0 (slip) or 1 (sticky), got %g", p->ceiling);
  if (!is_int(p->floor, 0, 2))
    return c->host->error(c, "param 'floor' must be 0 (slip), 1 (sticky) or 2 (Coulomb), got %g", p->floor);
  if (!is_int(p->reference, 0, 1)) return c->host->error(c, "param 'reference' must be 0 or 1, got %g", p->reference);
  if (!(p->strength == p->strength) || p->strength > 1e30 || p->strength < -1e30)
    return c->host->error(c, "param 'strength' must be finite, got %g", p->strength);
  const int64_t want = aux_count(n, (int64_t)p->nx);
  if (a->aux->dims[0] != 0 && a->aux->dims[0] != want)
    return c->host->error(c, "argument 'aux' (#%d) must have 0 elements (the adjoint recomputes the grid) or %lld "
                          "(this launch's bins and grid, kept for the adjoint), got %lld",
                          DS_SLOT(substep, aux) + 1, (long long)want, (long long)a->aux->dims[0]);
  return DS_OK;
}

static const R *rd(const ds_tensor *t) { return ds_rdata(t); }
static int stride(const ds_tensor *t) { return t->count == 1 ? 0 : 1; }

/* Scratch shared by forward and adjoint. */
static int sim_init(sim *s, const ds_call *c, int adjoint) {
  const substep_argv *a = DS_ARGV(c, substep);
  const substep_params *p = DS_PARAMS(c, substep);
  memset(s, 0, sizeof *s);
  s->ctx = c->ctx;
  s->host = c->host;
  s->n = a->x->dims[0];
  s->nx = (int64_t)p->nx, s->ny = (int64_t)p->ny, s->ncell = s->nx * s->ny;
  s->ngroup = a->act->dims[0];
  s->dt = (R)p->dt, s->dx = (R)p->dx, s->inv_dx = (R)(1 / p->dx), s->strength = (R)p->strength;
  s->gravity = rd(a->gravity)[0];
  s->bd.bound = (int32_t)p->bound, s->bd.nx = (int32_t)p->nx, s->bd.ny = (int32_t)p->ny;
  s->bd.wall = (int)p->wall, s->bd.ceiling = (int)p->ceiling, s->bd.floor = (int)p->floor;
  if (s->bd.floor == BC_COULOMB && p->reference != 0) s->bd.floor = BC_STICKY; /* v zeroed first */
  s->bd.mu = rd(a->friction)[0];
  s->x = rd(a->x), s->v = rd(a->v), s->C = rd(a->C), s->F = rd(a->F), s->act = rd(a->act);
  s->group = ds_idata(a->group), s->mat = ds_idata(a->material);
  s->mass = rd(a->mass), s->smass = stride(a->mass);
  s->vol = rd(a->vol), s->svol = stride(a->vol);
  s->mu = rd(a->mu), s->smu = stride(a->mu);
  s->lam = rd(a->lam), s->slam = stride(a->lam);
  s->bulk = rd(a->bulk), s->sbulk = stride(a->bulk);
  const int64_t n = s->n, nc = s->ncell;
  s->cell = c->host->scratch(c, (size_t)n * sizeof(int32_t));
  s->order = c->host->scratch(c, (size_t)n * sizeof(int32_t));
  s->start = c->host->scratch(c, (size_t)(nc + 1) * sizeof(int32_t));
  s->span = c->host->scratch(c, (size_t)s->nx * 2 * sizeof(int32_t));
  s->rowoff = c->host->scratch(c, (size_t)(s->nx + 1) * sizeof(int32_t));
  s->rowstart = c->host->scratch(c, (size_t)(s->nx + 1) * sizeof(int32_t));
  s->gmm = c->host->scratch(c, (size_t)nc * 3 * sizeof(R));
  s->gvel = c->host->scratch(c, (size_t)nc * 2 * sizeof(R));
  if (!s->cell || !s->order || !s->start || !s->span || !s->rowoff || !s->rowstart || !s->gmm || !s->gvel)
    return DS_ERR_NOMEM;
  if (!adjoint) return DS_OK;
  s->ggvel = c->host->scratch(c, (size_t)nc * 2 * sizeof(R));
  s->ggmm = c->host->scratch(c, (size_t)nc * 3 * sizeof(R));
  s->rows = c->host->scratch(c, (size_t)s->nx * 2 * sizeof(double));
  s->pg = c->host->scratch(c, (size_t)n * PG_COUNT * sizeof(R));
  s->gact_blk = c->host->scratch(c, (size_t)((n + PARTICLE_GRAIN - 1) / PARTICLE_GRAIN * s->ngroup) * sizeof(double));
  if (!s->ggvel || !s->ggmm || !s->rows || !s->pg || !s->gact_blk) return DS_ERR_NOMEM;
  return DS_OK;
}

/* ---- the CFL limit: sub-substeps (as substep3.c) ------------------------------------
 * A particle should cross at most one cell per step along each axis
 * (|v_d| dt <= dx). A launch whose input velocity breaks it is split into k
 * equal sub-substeps of dt / k, k the smallest with max |v_d| dt / k <= dx, so
 * k = 1 (the plain substep, bit for bit) whenever the limit holds. Each later
 * sub-substep's input goes through the data checks at dt / k; one that breaks
 * the limit restarts the substep with a larger k. Actuation, gravity and the
 * constants are the whole substep's. k depends on the launch's inputs alone, so
 * the adjoint recomputes the same k and intermediate states and chains the
 * sub-substeps' adjoints in reverse. Past SUB_MAX the launch is refused with
 * the CFL error. */
static void set_in(sim *s, mpm_state a) { s->x = a.x, s->v = a.v, s->C = a.C, s->F = a.F; }
static void set_out(sim *s, mpm_state a) { s->xo = a.x, s->vo = a.v, s->Co = a.C, s->Fo = a.F; }

/* Called when state `in` (s's input) breaks the limit at dt, its fastest
 * component vm (particle wp): chooses k and computes the inputs of sub-substeps
 * 2..k into mid[0..k-2]; leaves s reading the last sub-substep's input, its base
 * cells computed, with s->dt = dt / k, and nothing kept. */
static int plan(const ds_call *c, sim *s, mpm_state in, double dt, double vm, int64_t wp, mpm_state *mid, int *k_out) {
  const double dx = (double)s->dx;
  s->kept = NULL, s->kcap = 0;
  int k = mpm_split_for(vm, dt, dx);
  for (;;) {
    if (k > SUB_MAX)
      return c->host->error(c, "argument 'v': particle %lld moves (%g, %g), more than %d cells (dx = %g) in dt = %g "
                               "even split into %d sub-substeps (CFL limit); reduce 'dt'",
                            (long long)wp, (double)s->v[2 * wp], (double)s->v[2 * wp + 1], SUB_MAX, dx, dt, SUB_MAX);
    s->dt = (R)(dt / k);
    R *buf = c->host->scratch(c, (size_t)(k - 1) * s->n * mpm_state_reals(2) * sizeof(R));
    if (!buf) return DS_ERR_NOMEM;
    int again = 0;
    set_in(s, in);
    s->host->parallel_for(s->ctx, s->n, PARTICLE_GRAIN, pass_cells, s);
    for (int j = 1; j < k && !again; j++) {
      mid[j - 1] = mpm_state_at(buf + (int64_t)(j - 1) * s->n * mpm_state_reals(2), s->n, 2);
      set_out(s, mid[j - 1]);
      pass_forward(s);
      set_in(s, mid[j - 1]);
      int rc = validate(c, s, pass_cells, &vm, &wp); /* in the grid, uninverted, finite; the next cells */
      if (rc) return rc;
      if (vm * (double)s->dt > dx) {
        const int k2 = mpm_split_for(vm, dt, dx);
        k = k2 > k ? k2 : k + 1, again = 1;
      }
    }
    if (!again) break;
  }
  *k_out = k;
  return DS_OK;
}

static int substep_forward(const ds_call *c) {
  const substep_argv *a = DS_ARGV(c, substep);
  sim s;
  int rc = sim_init(&s, c, 0);
  if (rc) return rc;
  if (a->aux->dims[0] > 0) use_aux(&s, ds_idata(a->aux)), s.kcap = s.n; /* before the cells go into s.cell */
  double vm;
  int64_t wp;
  if ((rc = validate(c, &s, pass_cells, &vm, &wp))) return rc; /* and the base cells, in the same region */
  const mpm_state out = {ds_rdata(a->x_out), ds_rdata(a->v_out), ds_rdata(a->C_out), ds_rdata(a->F_out)};
  int64_t kept;
  if (vm * (double)s.dt > (double)s.dx) {
    mpm_state mid[SUB_MAX];
    int k;
    const mpm_state in = {(R *)s.x, (R *)s.v, (R *)s.C, (R *)s.F};
    if ((rc = plan(c, &s, in, DS_PARAMS(c, substep)->dt, vm, wp, mid, &k))) return rc;
    set_out(&s, out);
    pass_forward(&s);
    kept = AUX_SPLIT;
  } else {
    set_out(&s, out);
    kept = pass_forward(&s);
  }
  if (a->aux->dims[0] > 0) ds_idata(a->aux)[0] = (int32_t)kept, ds_idata(a->aux)[1] = 0;
  return DS_OK;
}

/* Adds one (sub-)substep adjoint's grads of the constants, actuation, gravity and friction. */
static void add_const_grads(const ds_call *c, const sim *s) {
  const substep_argv *a = DS_ARGV(c, substep);
  const int64_t n = s->n;
  const ds_tensor *const cs[5] = {a->mass, a->vol, a->mu, a->lam, a->bulk};
  mpm_add_material_grads(s->ctx, s->host, n, cs, s->pg);
  R *gact = ds_rgrad(a->act);
  if (gact) {
    /* pass F's per-block double sums (particle order inside a block), added in block order */
    const int64_t nblk = (n + PARTICLE_GRAIN - 1) / PARTICLE_GRAIN;
    for (int64_t g = 0; g < s->ngroup; g++) {
      double acc = 0;
      for (int64_t b = 0; b < nblk; b++) acc += s->gact_blk[b * s->ngroup + g];
      gact[g] += (R)acc;
    }
  }
  mpm_add_row_grads(s->rows, s->nx, ds_rgrad(a->gravity), ds_rgrad(a->friction));
}

static int substep_adjoint(const ds_call *c) {
  const substep_argv *a = DS_ARGV(c, substep);
  sim s;
  int rc = sim_init(&s, c, 1);
  if (rc) return rc;
  s.gxo = ds_rgrad(a->x_out), s.gvo = ds_rgrad(a->v_out), s.gCo = ds_rgrad(a->C_out), s.gFo = ds_rgrad(a->F_out);
  s.gx = ds_rgrad(a->x), s.gv = ds_rgrad(a->v), s.gC = ds_rgrad(a->C), s.gF = ds_rgrad(a->F);
  const int32_t kept = a->aux->dims[0] > 0 ? ds_idata(a->aux)[0] : AUX_SPARSE;
  if (kept >= 0) { /* a kept grid: an unsplit launch; else the scratch bins, recomputed */
    use_aux(&s, ds_idata(a->aux));
    s.kept_in = s.kept;
    pass_adjoint(&s);
    add_const_grads(c, &s);
    return DS_OK;
  }
  int64_t wp;
  const double vm = vmax2(&s, &wp);
  if (!(vm * (double)s.dt > (double)s.dx)) { /* k = 1: the plain substep's adjoint */
    pass_adjoint(&s);
    add_const_grads(c, &s);
    return DS_OK;
  }
  const mpm_state in = {(R *)s.x, (R *)s.v, (R *)s.C, (R *)s.F};
  mpm_state mid[SUB_MAX];
  int k;
  if ((rc = plan(c, &s, in, DS_PARAMS(c, substep)->dt, vm, wp, mid, &k))) return rc;
  /* the grads of sub-substep j's input, j = k..2, alternate between two buffers */
  R *gbuf = c->host->scratch(c, 2 * (size_t)s.n * mpm_state_reals(2) * sizeof(R));
  if (!gbuf) return DS_ERR_NOMEM;
  mpm_state gout = {(R *)s.gxo, (R *)s.gvo, (R *)s.gCo, (R *)s.gFo};
  const mpm_state gfirst = {s.gx, s.gv, s.gC, s.gF};
  for (int j = k; j >= 1; j--) {
    set_in(&s, j == 1 ? in : mid[j - 2]);
    s.gxo = gout.x, s.gvo = gout.v, s.gCo = gout.C, s.gFo = gout.F;
    mpm_state gin = gfirst;
    if (j > 1) {
      R *g = gbuf + (int64_t)(j % 2) * s.n * mpm_state_reals(2);
      memset(g, 0, (size_t)s.n * mpm_state_reals(2) * sizeof(R));
      gin = mpm_state_at(g, s.n, 2);
    }
    s.gx = gin.x, s.gv = gin.v, s.gC = gin.C, s.gF = gin.F;
    pass_adjoint(&s);
    add_const_grads(c, &s);
    gout = gin;
  }
  return DS_OK;
}

const ds_kernel_desc mpm_substep_kernel = {"substep", substep_args, substep_param_names, substep_check,
                                           {substep_forward}, {substep_adjoint}};
