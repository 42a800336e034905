/* springs: differentiable mass-spring systems in 2D and 3D.
 *
 * Kernels (all params are doubles; the first 11 of every stepping kernel are the
 * physics params listed in springs_phys.h):
 *   springs.topology    springs {ns,2} i32 -> topo (CSR adjacency), built once
 *   springs.step        one step:  x, v, act, rest, stiff, amp, sdamp -> x', v'
 *   springs.rollout     T steps with a given actuation {T or 1, ns} -> xs, vs {T+1,n,D}
 *   springs.nn_rollout  T steps driven by the fused 2-layer tanh controller of the
 *                       reference robots -> xs, vs, hidden {T,H}, acts {T,ns}
 *   springs.nn_input    the controller's input vector for one state (for Lua controllers)
 *   springs.energy      kinetic, spring and gravity energy (diagnostics, no adjoint)
 *   springs.render      rasterises one frame into an RGB image (no adjoint)
 *   springs.pick        one element of a trajectory as a scalar (for losses)
 *
 * Why multi-step kernels: a robot rollout is 681 tiny steps (26 nodes); launching
 * one kernel per op per step from Lua would cost more than the physics. The
 * rollout kernels run the whole horizon in one launch and keep every state as an
 * output, so their adjoint is one launch too and needs no recomputation.
 *
 * Scratch: the step passes need per-spring and per-node buffers. They come from a
 * grow-only, thread-local workspace (a context belongs to one thread), so the
 * step loop does not allocate after its first launch. */
#include "springs_phys.h"

#include <stdint.h>
#include <stdlib.h>

/* ---- workspace ------------------------------------------------------------- */
static _Thread_local R *ws_buf;
static _Thread_local size_t ws_cap;

static R *workspace(const ds_call *c, size_t nreal) {
  if (nreal > ws_cap || !ws_buf) {
    size_t cap = nreal < 1024 ? 1024 : nreal + nreal / 2;
    R *p = c->host->alloc(cap * sizeof(R));
    if (!p) return NULL;
    if (ws_buf) c->host->free(ws_buf);
    ws_buf = p;
    ws_cap = cap;
  }
  return ws_buf;
}

/* ---- validation ------------------------------------------------------------ */
static int check_finite(const ds_call *c, int i) {
  const ds_tensor *t = c->args[i];
  const R *p = ds_rdata(t);
  for (int64_t k = 0; k < t->count; k++)
    if (!isfinite(p[k])) {
      int64_t row = t->ndim > 1 ? k / (t->count / t->dims[0]) : k;
      return c->host->error(c, "argument '%s' (#%d) has a non-finite value (%g) at element %lld (row %lld)",
                            c->arg_desc[i].name, i + 1, (double)p[k], (long long)k + 1, (long long)row + 1);
    }
  return DS_OK;
}

/* topo must describe n nodes and ns springs, with every index in range. */
static int check_topo(const ds_call *c, int i, int64_t n, int64_t ns) {
  const ds_tensor *t = c->args[i];
  if (t->ndim != 1 || t->count != topo_len(n, ns) || ds_idata(t)[0] != n || ds_idata(t)[1] != ns)
    return c->host->error(c,
                          "argument '%s' (#%d) is not a topology for %lld masses and %lld springs "
                          "(build it with springs.topology from the same scene)",
                          c->arg_desc[i].name, i + 1, (long long)n, (long long)ns);
  topo g = topo_from(ds_idata(t));
  for (int64_t s = 0; s < ns; s++)
    for (int e = 0; e < 2; e++) {
      int32_t m = g.pair[2 * s + e];
      if (m < 0 || m >= n)
        return c->host->error(c, "argument '%s' (#%d): spring %lld references mass %d, but there are %lld masses",
                              c->arg_desc[i].name, i + 1, (long long)s + 1, m + 1, (long long)n);
    }
  if (g.ptr[0] != 0 || g.ptr[n] != 2 * ns) return c->host->error(c, "argument '%s' (#%d): corrupt adjacency", c->arg_desc[i].name, i + 1);
  for (int64_t k = 0; k < n; k++)
    if (g.ptr[k + 1] < g.ptr[k]) return c->host->error(c, "argument '%s' (#%d): corrupt adjacency", c->arg_desc[i].name, i + 1);
  for (int64_t k = 0; k < n; k++)
    for (int32_t j = g.ptr[k]; j < g.ptr[k + 1]; j++) {
      int32_t e = g.adj[j], s = e >= 0 ? e : -e - 1;
      if (s >= ns || g.pair[2 * s + (e >= 0 ? 0 : 1)] != k)
        return c->host->error(c, "argument '%s' (#%d): corrupt adjacency", c->arg_desc[i].name, i + 1);
    }
  return DS_OK;
}

static int check_inv_mass(const ds_call *c, int i, int64_t n) {
  int rc = ds_expect_shape(c, i, 1, n, -1, -1, -1);
  if (rc) return rc;
  const R *m = ds_rdata(c->args[i]);
  for (int64_t k = 0; k < n; k++)
    if (!(m[k] >= 0) || !isfinite(m[k]))
      return c->host->error(c,
                            "argument '%s' (#%d): mass %lld has inverse mass %g; masses must be positive and "
                            "finite (inverse mass 0 pins a node)",
                            c->arg_desc[i].name, i + 1, (long long)k + 1, (double)m[k]);
  return DS_OK;
}

static int check_phys(const ds_call *c) {
  const double *p = c->params;
  if (!(p[P_DT] > 0)) return c->host->error(c, "param 'dt' must be positive, got %g", p[P_DT]);
  if (!(p[P_DAMPING] >= 0)) return c->host->error(c, "param 'damping' must be >= 0, got %g", p[P_DAMPING]);
  int g = (int)p[P_GROUND], w = (int)p[P_WALL];
  if (g != p[P_GROUND] || g < 0 || g > 2)
    return c->host->error(c, "param 'ground_mode' must be 0 (none), 1 (naive) or 2 (toi), got %g", p[P_GROUND]);
  if (w != p[P_WALL] || w < 0 || w > 2)
    return c->host->error(c, "param 'wall_mode' must be 0 (none), 1 (project) or 2 (reference), got %g", p[P_WALL]);
  if (!(p[P_RESTITUTION] >= 0 && p[P_RESTITUTION] <= 1))
    return c->host->error(c, "param 'restitution' must be in [0, 1], got %g", p[P_RESTITUTION]);
  if (!(p[P_FRICTION] >= 0 || p[P_FRICTION] == -1))
    return c->host->error(c, "param 'friction' must be >= 0 (Coulomb) or -1 (sticky), got %g", p[P_FRICTION]);
  if (!(p[P_WALL_FRICTION] >= 0)) return c->host->error(c, "param 'wall_friction' must be >= 0, got %g", p[P_WALL_FRICTION]);
  if (w && !(p[P_WALL_LO] < p[P_WALL_HI]))
    return c->host->error(c, "param 'wall_lo' (%g) must be below 'wall_hi' (%g)", p[P_WALL_LO], p[P_WALL_HI]);
  return DS_OK;
}

/* Explicit springs are stable only while dt sqrt(k (1/m_a + 1/m_b)) < 2 (the
 * two-body oscillator); past it the state blows up, so say so up front. */
static int check_stability(const ds_call *c, const topo *g, const R *stiff, const R *im, int stiff_arg) {
  double dt = c->params[P_DT];
  for (int64_t s = 0; s < g->ns; s++) {
    double k = stiff[s];
    if (!(k >= 0) || !isfinite(k))
      return c->host->error(c, "argument '%s' (#%d): spring %lld has stiffness %g; it must be finite and >= 0",
                            c->arg_desc[stiff_arg].name, stiff_arg + 1, (long long)s + 1, k);
    double w2 = k * ((double)im[g->pair[2 * s]] + (double)im[g->pair[2 * s + 1]]);
    if (dt * dt * w2 >= 4)
      return c->host->error(c,
                            "param 'dt' = %g is past the stability limit of spring %lld (stiffness %g): "
                            "dt must be below %g",
                            dt, (long long)s + 1, k, 2 / sqrt(w2));
  }
  return DS_OK;
}

/* Shapes shared by the stepping kernels: x, v {n, D}; the per-spring tensors
 * {ns}; topo; inv_mass. `mats` lists the arg indices of rest, stiff, amp, sdamp. */
static int check_system(const ds_call *c, int ix, int iv, const int mats[4], int itopo, int imass) {
  const ds_tensor *x = c->args[ix];
  if (x->ndim != 2 || (x->dims[1] != 2 && x->dims[1] != 3))
    return c->host->error(c, "argument '%s' (#%d) must have shape {n, 2} or {n, 3}", c->arg_desc[ix].name, ix + 1);
  int64_t n = x->dims[0], D = x->dims[1], ns = c->args[mats[0]]->count;
  int rc;
  if ((rc = ds_expect_shape(c, iv, 2, n, D, -1, -1))) return rc;
  for (int m = 0; m < 4; m++)
    if ((rc = ds_expect_shape(c, mats[m], 1, ns, -1, -1, -1))) return rc;
  if ((rc = check_phys(c))) return rc;
  if ((rc = check_inv_mass(c, imass, n))) return rc;
  if ((rc = check_topo(c, itopo, n, ns))) return rc;
  if ((rc = check_finite(c, ix)) || (rc = check_finite(c, iv))) return rc;
  for (int m = 0; m < 4; m++)
    if ((rc = check_finite(c, mats[m]))) return rc;
  topo g = topo_from(ds_idata(c->args[itopo]));
  return check_stability(c, &g, ds_rdata(c->args[mats[1]]), ds_rdata(c->args[imass]), mats[1]);
}

/* ---- one step as three parallel passes ------------------------------------- */
typedef struct step_job {
  const phys *p;
  int D;
  topo g;
  const R *im;
  const R *rest, *stiff, *amp, *sdamp; /* per spring */
  R *grest, *gstiff, *gamp, *gsdamp;   /* their grads (NULL: not wanted) */
  const R *x, *v, *act;                /* state at the start of the step; act may be NULL */
  R *xo, *vo;
  const R *gxo, *gvo;
  R *gx, *gv, *gact; /* may be NULL */
  R *f;              /* scratch: ns * D spring forces, or their grads */
  R *gd, *gvr;       /* scratch: ns * D grads of d and of the relative velocity */
} step_job;

enum { GRAIN_SPRINGS = 2048, GRAIN_NODES = 1024 };

#define SPRING_ARGS(j, s)                                                                    \
  j->x + (int64_t)a * D, j->x + (int64_t)b * D, j->v + (int64_t)a * D, j->v + (int64_t)b * D, \
      j->rest[s], j->stiff[s], j->amp[s], j->sdamp[s], j->act ? j->act[s] : 0

FORCE_INLINE void springs_fwd_body(const step_job *j, int64_t lo, int64_t hi, const int D) {
  for (int64_t s = lo; s < hi; s++) {
    int32_t a = j->g.pair[2 * s], b = j->g.pair[2 * s + 1];
    spring_fwd(D, SPRING_ARGS(j, s), j->f + s * D);
  }
}
/* D as a literal in each branch: two specialised copies of the loop body. */
#define DISPATCH_D(body, j, ...) \
  do {                           \
    if ((j)->D == 2)             \
      body(__VA_ARGS__, 2);      \
    else                         \
      body(__VA_ARGS__, 3);      \
  } while (0)
static void springs_fwd_range(int64_t lo, int64_t hi, void *user) {
  const step_job *j = user;
  DISPATCH_D(springs_fwd_body, j, j, lo, hi);
}

/* Sums the per-spring vectors of node i's springs with the sign of its end:
 * -vec at the a end, +vec at the b end. */
FORCE_INLINE void gather(const topo *g, int D, int64_t i, const R *vec, R *out) {
  for (int k = 0; k < D; k++) out[k] = 0;
  for (int32_t e = g->ptr[i]; e < g->ptr[i + 1]; e++) {
    int32_t q = g->adj[e];
    if (q >= 0)
      for (int k = 0; k < D; k++) out[k] -= vec[(int64_t)q * D + k];
    else
      for (int k = 0; k < D; k++) out[k] += vec[(int64_t)(-q - 1) * D + k];
  }
}

FORCE_INLINE void nodes_fwd_body(const step_job *j, int64_t lo, int64_t hi, const int D) {
  node_tmp t;
  R F[3];
  for (int64_t i = lo; i < hi; i++) {
    gather(&j->g, D, i, j->f, F);
    node_fwd(j->p, D, j->x + i * D, j->v + i * D, F, j->im[i], j->xo + i * D, j->vo + i * D, &t);
  }
}
static void nodes_fwd_range(int64_t lo, int64_t hi, void *user) {
  const step_job *j = user;
  DISPATCH_D(nodes_fwd_body, j, j, lo, hi);
}

/* Adjoint pass A: node integration, in reverse. Leaves the grad of each node's
 * force sum in gF (n * D scratch). */
typedef struct { const step_job *j; R *gF; } adjA;

FORCE_INLINE void nodes_adj_body(const adjA *u, int64_t lo, int64_t hi, const int D) {
  const step_job *j = u->j;
  R F[3];
  for (int64_t i = lo; i < hi; i++) {
    gather(&j->g, D, i, j->f, F);
    node_adj(j->p, D, j->x + i * D, j->v + i * D, F, j->im[i], j->gxo + i * D, j->gvo + i * D,
             j->gx ? j->gx + i * D : NULL, j->gv ? j->gv + i * D : NULL, u->gF + i * D);
  }
}
static void nodes_adj_range(int64_t lo, int64_t hi, void *user) {
  const adjA *u = user;
  DISPATCH_D(nodes_adj_body, u->j, u, lo, hi);
}

/* Pass B: per spring, grad of f = -gF[a] + gF[b]; back through the spring. */
FORCE_INLINE void springs_adj_body(const adjA *u, int64_t lo, int64_t hi, const int D) {
  const step_job *j = u->j;
  for (int64_t s = lo; s < hi; s++) {
    int32_t a = j->g.pair[2 * s], b = j->g.pair[2 * s + 1];
    R gf[3];
    for (int k = 0; k < D; k++) gf[k] = u->gF[(int64_t)b * D + k] - u->gF[(int64_t)a * D + k];
    spring_adj(D, SPRING_ARGS(j, s), gf, j->gd + s * D, j->gvr + s * D, j->grest ? j->grest + s : NULL,
               j->gstiff ? j->gstiff + s : NULL, j->gamp ? j->gamp + s : NULL, j->gsdamp ? j->gsdamp + s : NULL,
               j->gact ? j->gact + s : NULL);
  }
}
static void springs_adj_range(int64_t lo, int64_t hi, void *user) {
  const adjA *u = user;
  DISPATCH_D(springs_adj_body, u->j, u, lo, hi);
}

/* Pass C: gather the spring grads onto the nodes (+ at a, - at b). */
FORCE_INLINE void nodes_gather_body(const step_job *j, int64_t lo, int64_t hi, const int D) {
  R s[3];
  for (int64_t i = lo; i < hi; i++) {
    if (j->gx) {
      gather(&j->g, D, i, j->gd, s);
      for (int k = 0; k < D; k++) j->gx[i * D + k] -= s[k];
    }
    if (j->gv) {
      gather(&j->g, D, i, j->gvr, s);
      for (int k = 0; k < D; k++) j->gv[i * D + k] -= s[k];
    }
  }
}
static void nodes_gather_range(int64_t lo, int64_t hi, void *user) {
  const step_job *j = user;
  DISPATCH_D(nodes_gather_body, j, j, lo, hi);
}

static void step_forward(ds_ctx *ctx, const ds_host_api *h, step_job *j) {
  h->parallel_for(ctx, j->g.ns, GRAIN_SPRINGS, springs_fwd_range, j);
  h->parallel_for(ctx, j->g.n, GRAIN_NODES, nodes_fwd_range, j);
}

/* Needs j->f (ns*D), gF (n*D), j->gd, j->gvr (ns*D each) as scratch. j->f is
 * recomputed here because pass A reads the forces. */
static void step_adjoint(ds_ctx *ctx, const ds_host_api *h, step_job *j, R *gF) {
  adjA u = {j, gF};
  h->parallel_for(ctx, j->g.ns, GRAIN_SPRINGS, springs_fwd_range, j);
  h->parallel_for(ctx, j->g.n, GRAIN_NODES, nodes_adj_range, &u);
  h->parallel_for(ctx, j->g.ns, GRAIN_SPRINGS, springs_adj_range, &u);
  if (j->gx || j->gv) h->parallel_for(ctx, j->g.n, GRAIN_NODES, nodes_gather_range, j);
}

static void job_system(step_job *j, const phys *p, int D, const ds_tensor *topo_t, const ds_tensor *im,
                       ds_tensor *const mats[4]) {
  memset(j, 0, sizeof *j);
  j->p = p;
  j->D = D;
  j->g = topo_from(ds_idata(topo_t));
  j->im = ds_rdata(im);
  j->rest = ds_rdata(mats[0]);
  j->stiff = ds_rdata(mats[1]);
  j->amp = ds_rdata(mats[2]);
  j->sdamp = ds_rdata(mats[3]);
}
static void job_grads(step_job *j, ds_tensor *const mats[4]) {
  j->grest = ds_rgrad(mats[0]);
  j->gstiff = ds_rgrad(mats[1]);
  j->gamp = ds_rgrad(mats[2]);
  j->gsdamp = ds_rgrad(mats[3]);
}

/* ===================================================================== topology */
static int topology_check(const ds_call *c) {
  const ds_tensor *sp = c->args[0];
  if (sp->ndim != 2 || sp->dims[1] != 2)
    return c->host->error(c, "argument 'springs' (#1) must have shape {ns, 2} (mass index pairs, 0-based)");
  double nd = c->params[0];
  if (!(nd >= 1) || nd != (double)(int64_t)nd || nd > 1e9)
    return c->host->error(c, "param 'n' (the number of masses) must be a positive integer, got %g", nd);
  int64_t n = (int64_t)nd, ns = sp->dims[0];
  if (ns > 0x3fffffff) return c->host->error(c, "argument 'springs' (#1): too many springs (%lld)", (long long)ns);
  int rc = ds_expect_shape(c, 1, 1, topo_len(n, ns), -1, -1, -1);
  if (rc) return rc;
  const int32_t *p = ds_idata(sp);
  for (int64_t s = 0; s < ns; s++) {
    for (int e = 0; e < 2; e++)
      if (p[2 * s + e] < 0 || p[2 * s + e] >= n)
        return c->host->error(c, "argument 'springs' (#1): spring %lld references mass %d, but there are only %lld masses",
                              (long long)s + 1, p[2 * s + e] + 1, (long long)n);
    if (p[2 * s] == p[2 * s + 1])
      return c->host->error(c, "argument 'springs' (#1): spring %lld connects mass %d to itself", (long long)s + 1,
                            p[2 * s] + 1);
  }
  return DS_OK;
}

static int topology_fwd(const ds_call *c) {
  const int32_t *p = ds_idata(c->args[0]);
  int32_t *t = ds_idata(c->args[1]);
  int64_t n = (int64_t)c->params[0], ns = c->args[0]->dims[0];
  t[0] = (int32_t)n;
  t[1] = (int32_t)ns;
  memcpy(t + 2, p, (size_t)(2 * ns) * sizeof(int32_t));
  int32_t *ptr = t + 2 + 2 * ns, *adj = ptr + n + 1;
  memset(ptr, 0, (size_t)(n + 1) * sizeof(int32_t));
  for (int64_t s = 0; s < 2 * ns; s++) ptr[p[s] + 1]++;
  for (int64_t i = 0; i < n; i++) ptr[i + 1] += ptr[i];
  /* fill in spring order, so each node's list is sorted: a fixed summation order */
  int32_t *fill = c->host->alloc((size_t)(n + 1) * sizeof(int32_t));
  if (!fill) return c->host->error(c, "out of memory");
  memcpy(fill, ptr, (size_t)n * sizeof(int32_t));
  for (int64_t s = 0; s < ns; s++) {
    adj[fill[p[2 * s]]++] = (int32_t)s;
    adj[fill[p[2 * s + 1]]++] = (int32_t)(-s - 1);
  }
  c->host->free(fill);
  return DS_OK;
}

/* ========================================================================= step */
enum { S_X, S_V, S_ACT, S_REST, S_STIFF, S_AMP, S_SDAMP, S_TOPO, S_IMASS, S_XO, S_VO, S_NARGS };
static const int STEP_MATS[4] = {S_REST, S_STIFF, S_AMP, S_SDAMP};

static int step_check(const ds_call *c) {
  int rc = check_system(c, S_X, S_V, STEP_MATS, S_TOPO, S_IMASS);
  if (rc) return rc;
  const ds_tensor *x = c->args[S_X];
  int64_t ns = c->args[S_REST]->count;
  if ((rc = ds_expect_shape(c, S_ACT, 1, ns, -1, -1, -1))) return rc;
  if ((rc = check_finite(c, S_ACT))) return rc;
  if ((rc = ds_expect_shape(c, S_XO, 2, x->dims[0], x->dims[1], -1, -1))) return rc;
  return ds_expect_shape(c, S_VO, 2, x->dims[0], x->dims[1], -1, -1);
}

static int step_fwd(const ds_call *c) {
  ds_tensor *const *A = c->args;
  phys p = phys_from(c->params);
  step_job j;
  ds_tensor *const mats[4] = {A[S_REST], A[S_STIFF], A[S_AMP], A[S_SDAMP]};
  job_system(&j, &p, (int)A[S_X]->dims[1], A[S_TOPO], A[S_IMASS], mats);
  j.x = ds_rdata(A[S_X]);
  j.v = ds_rdata(A[S_V]);
  j.act = ds_rdata(A[S_ACT]);
  j.xo = ds_rdata(A[S_XO]);
  j.vo = ds_rdata(A[S_VO]);
  j.f = workspace(c, (size_t)j.g.ns * j.D);
  if (!j.f) return c->host->error(c, "out of memory");
  step_forward(c->ctx, c->host, &j);
  return DS_OK;
}

static int step_adj(const ds_call *c) {
  ds_tensor *const *A = c->args;
  phys p = phys_from(c->params);
  step_job j;
  ds_tensor *const mats[4] = {A[S_REST], A[S_STIFF], A[S_AMP], A[S_SDAMP]};
  job_system(&j, &p, (int)A[S_X]->dims[1], A[S_TOPO], A[S_IMASS], mats);
  job_grads(&j, mats);
  j.x = ds_rdata(A[S_X]);
  j.v = ds_rdata(A[S_V]);
  j.act = ds_rdata(A[S_ACT]);
  j.gxo = ds_rgrad(A[S_XO]);
  j.gvo = ds_rgrad(A[S_VO]);
  j.gx = ds_rgrad(A[S_X]);
  j.gv = ds_rgrad(A[S_V]);
  j.gact = ds_rgrad(A[S_ACT]);
  size_t ns = (size_t)j.g.ns * j.D, nn = (size_t)j.g.n * j.D;
  R *w = workspace(c, 3 * ns + nn);
  if (!w) return c->host->error(c, "out of memory");
  j.f = w;
  j.gd = w + ns;
  j.gvr = w + 2 * ns;
  step_adjoint(c->ctx, c->host, &j, w + 3 * ns);
  return DS_OK;
}

/* ====================================================================== rollout */
/* Open loop: act {T, ns} (one row per step) or {1, ns} (held for every step). */
enum { R_X0, R_V0, R_ACT, R_REST, R_STIFF, R_AMP, R_SDAMP, R_TOPO, R_IMASS, R_XS, R_VS, R_NARGS };
static const int ROLL_MATS[4] = {R_REST, R_STIFF, R_AMP, R_SDAMP};

static int64_t param_steps(const ds_call *c, int i, int *ok) {
  double T = c->params[i];
  *ok = T >= 1 && T == (double)(int64_t)T && T < 1e9;
  return *ok ? (int64_t)T : 0;
}

static int rollout_check(const ds_call *c) {
  int rc = check_system(c, R_X0, R_V0, ROLL_MATS, R_TOPO, R_IMASS);
  if (rc) return rc;
  int ok;
  int64_t T = param_steps(c, P_COMMON, &ok);
  if (!ok) return c->host->error(c, "param 'steps' must be a positive integer, got %g", c->params[P_COMMON]);
  const ds_tensor *x = c->args[R_X0], *act = c->args[R_ACT];
  int64_t ns = c->args[R_REST]->count;
  if (act->ndim != 2 || act->dims[1] != ns || (act->dims[0] != T && act->dims[0] != 1))
    return c->host->error(c, "argument 'act' (#3) must have shape {%lld, %lld} (one row per step) or {1, %lld}",
                          (long long)T, (long long)ns, (long long)ns);
  if ((rc = check_finite(c, R_ACT))) return rc;
  if ((rc = ds_expect_shape(c, R_XS, 3, T + 1, x->dims[0], x->dims[1], -1))) return rc;
  return ds_expect_shape(c, R_VS, 3, T + 1, x->dims[0], x->dims[1], -1);
}

static int rollout_fwd(const ds_call *c) {
  ds_tensor *const *A = c->args;
  phys p = phys_from(c->params);
  int64_t T = (int64_t)c->params[P_COMMON];
  step_job j;
  ds_tensor *const mats[4] = {A[R_REST], A[R_STIFF], A[R_AMP], A[R_SDAMP]};
  job_system(&j, &p, (int)A[R_X0]->dims[1], A[R_TOPO], A[R_IMASS], mats);
  size_t nn = (size_t)j.g.n * j.D, ns = (size_t)j.g.ns;
  R *xs = ds_rdata(A[R_XS]), *vs = ds_rdata(A[R_VS]);
  const R *act = ds_rdata(A[R_ACT]);
  int held = A[R_ACT]->dims[0] == 1;
  memcpy(xs, ds_rdata(A[R_X0]), nn * sizeof(R));
  memcpy(vs, ds_rdata(A[R_V0]), nn * sizeof(R));
  j.f = workspace(c, ns * j.D);
  if (!j.f) return c->host->error(c, "out of memory");
  for (int64_t t = 0; t < T; t++) {
    j.x = xs + t * nn;
    j.v = vs + t * nn;
    j.xo = xs + (t + 1) * nn;
    j.vo = vs + (t + 1) * nn;
    j.act = act + (held ? 0 : t * ns);
    step_forward(c->ctx, c->host, &j);
  }
  return DS_OK;
}

static int rollout_adj(const ds_call *c) {
  ds_tensor *const *A = c->args;
  phys p = phys_from(c->params);
  int64_t T = (int64_t)c->params[P_COMMON];
  step_job j;
  ds_tensor *const mats[4] = {A[R_REST], A[R_STIFF], A[R_AMP], A[R_SDAMP]};
  job_system(&j, &p, (int)A[R_X0]->dims[1], A[R_TOPO], A[R_IMASS], mats);
  job_grads(&j, mats);
  size_t nn = (size_t)j.g.n * j.D, ns = (size_t)j.g.ns, nsD = ns * j.D;
  const R *xs = ds_rdata(A[R_XS]), *vs = ds_rdata(A[R_VS]), *act = ds_rdata(A[R_ACT]);
  const R *gxs = ds_rgrad(A[R_XS]), *gvs = ds_rgrad(A[R_VS]);
  R *gact_all = ds_rgrad(A[R_ACT]);
  int held = A[R_ACT]->dims[0] == 1;
  R *w = workspace(c, 3 * nsD + 5 * nn);
  if (!w) return c->host->error(c, "out of memory");
  j.f = w;
  j.gd = w + nsD;
  j.gvr = w + 2 * nsD;
  R *gF = w + 3 * nsD, *gx_next = gF + nn, *gv_next = gx_next + nn, *gx_cur = gv_next + nn, *gv_cur = gx_cur + nn;
  memcpy(gx_next, gxs + T * nn, nn * sizeof(R));
  memcpy(gv_next, gvs + T * nn, nn * sizeof(R));
  for (int64_t t = T - 1; t >= 0; t--) {
    /* grads of state t: what the loss put there directly, plus step t's adjoint */
    memcpy(gx_cur, gxs + t * nn, nn * sizeof(R));
    memcpy(gv_cur, gvs + t * nn, nn * sizeof(R));
    j.x = xs + t * nn;
    j.v = vs + t * nn;
    j.act = act + (held ? 0 : t * ns);
    j.gact = gact_all ? gact_all + (held ? 0 : t * ns) : NULL;
    j.gxo = gx_next;
    j.gvo = gv_next;
    j.gx = gx_cur;
    j.gv = gv_cur;
    step_adjoint(c->ctx, c->host, &j, gF);
    R *tx = gx_next, *tv = gv_next;
    gx_next = gx_cur, gv_next = gv_cur;
    gx_cur = tx, gv_cur = tv;
  }
  R *gx0 = ds_rgrad(A[R_X0]), *gv0 = ds_rgrad(A[R_V0]);
  if (gx0)
    for (size_t i = 0; i < nn; i++) gx0[i] += gx_next[i];
  if (gv0)
    for (size_t i = 0; i < nn; i++) gv0[i] += gv_next[i];
  return DS_OK;
}

/* ============================================================ the controller */
/* The reference robots' controller, per step t (state x_t, v_t, center c = mean x):
 *   in  = [sin(omega (t0 + t) dt + 2 pi j / n_sin)]_j, [(x_i - c) s, v_i s]_i, goal - c
 *   h   = tanh(in W1 + b1)      (W1 {n_in, H}, the layout of ds.nn.linear)
 *   act = tanh(h W2 + b2)       (W2 {H, ns}) */
typedef struct ctrl {
  int n, D, n_sin, n_in, H, ns;
  R omega, scale, dt, goal[3];
  int64_t t0;
  const R *W1, *b1, *W2, *b2;
  R *gW1, *gb1, *gW2, *gb2;
} ctrl;

static void ctrl_input(const ctrl *k, int64_t t, const R *x, const R *v, R *in) {
  const int n = k->n, D = k->D;
  R c[3] = {0, 0, 0};
  for (int i = 0; i < n; i++)
    for (int d = 0; d < D; d++) c[d] += x[i * D + d];
  for (int d = 0; d < D; d++) c[d] /= n;
  const double two_pi = 6.283185307179586;
  for (int j = 0; j < k->n_sin; j++)
    in[j] = (R)sin((double)k->omega * (double)(k->t0 + t) * (double)k->dt + two_pi * j / k->n_sin);
  R *o = in + k->n_sin;
  for (int i = 0; i < n; i++)
    for (int d = 0; d < D; d++) {
      o[2 * D * i + d] = (x[i * D + d] - c[d]) * k->scale;
      o[2 * D * i + D + d] = v[i * D + d] * k->scale;
    }
  for (int d = 0; d < D; d++) o[2 * D * n + d] = k->goal[d] - c[d];
}

/* g_in -> grads of x and v (through the center, too). */
static void ctrl_input_adj(const ctrl *k, const R *gin, R *gx, R *gv) {
  const int n = k->n, D = k->D;
  const R *o = gin + k->n_sin;
  R gc[3];
  for (int d = 0; d < D; d++) gc[d] = -o[2 * D * n + d];
  for (int i = 0; i < n; i++)
    for (int d = 0; d < D; d++) {
      R gxi = o[2 * D * i + d] * k->scale;
      gc[d] -= gxi;
      if (gx) gx[i * D + d] += gxi;
      if (gv) gv[i * D + d] += o[2 * D * i + D + d] * k->scale;
    }
  if (gx)
    for (int i = 0; i < n; i++)
      for (int d = 0; d < D; d++) gx[i * D + d] += gc[d] / n;
}

/* in -> h (H), act (ns). Row-major W: the inner loops run over contiguous rows. */
/* The two matrix-vector products dominate a robot step; with target_clones the
 * loader picks an AVX2/FMA build of them where the CPU has it (the project's
 * baseline is x86-64-v2), and the portable one elsewhere. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define HOT_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define HOT_CLONES
#endif

/* A dot product in 8 independent lanes summed in a fixed order: the compiler
 * can vectorise it without -ffast-math, and the result does not depend on the
 * machine (the order is part of the code, not of the optimiser). */
FORCE_INLINE R dot_lanes(const R *restrict a, const R *restrict b, int n) {
  R lane[8] = {0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) lane[l] += a[i + l] * b[i + l];
  for (int l = 0; i < n; i++, l++) lane[l] += a[i] * b[i];
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

HOT_CLONES static void ctrl_fwd(const ctrl *k, const R *restrict in, R *restrict h, R *restrict act) {
  const int H = k->H, ns = k->ns;
  for (int o = 0; o < H; o++) h[o] = k->b1[o];
  for (int i = 0; i < k->n_in; i++) {
    const R xi = in[i], *restrict w = k->W1 + (int64_t)i * H;
    for (int o = 0; o < H; o++) h[o] += xi * w[o];
  }
  for (int o = 0; o < H; o++) h[o] = RTANH(h[o]);
  for (int s = 0; s < ns; s++) act[s] = k->b2[s];
  for (int i = 0; i < H; i++) {
    const R hi = h[i], *restrict w = k->W2 + (int64_t)i * ns;
    for (int s = 0; s < ns; s++) act[s] += hi * w[s];
  }
  for (int s = 0; s < ns; s++) act[s] = RTANH(act[s]);
}

/* gact, ghid: grads of act and h (ghid may be NULL). Accumulates the weight
 * grads and writes gin. gp (ns) and gh (H) are scratch. */
HOT_CLONES static void ctrl_adj(const ctrl *k, const R *restrict in, const R *restrict h, const R *restrict act,
                                const R *restrict gact, const R *restrict ghid, R *restrict gin, R *restrict gp,
                                R *restrict gh) {
  const int H = k->H, ns = k->ns, n_in = k->n_in;
  for (int s = 0; s < ns; s++) gp[s] = gact[s] * (1 - act[s] * act[s]);
  if (k->gb2)
    for (int s = 0; s < ns; s++) k->gb2[s] += gp[s];
  for (int i = 0; i < H; i++) {
    const R *restrict w = k->W2 + (int64_t)i * ns;
    R acc = (ghid ? ghid[i] : 0) + dot_lanes(w, gp, ns);
    gh[i] = acc * (1 - h[i] * h[i]);
    if (k->gW2) {
      R *restrict gw = k->gW2 + (int64_t)i * ns, hi = h[i];
      for (int s = 0; s < ns; s++) gw[s] += hi * gp[s];
    }
  }
  if (k->gb1)
    for (int o = 0; o < H; o++) k->gb1[o] += gh[o];
  for (int i = 0; i < n_in; i++) {
    const R *restrict w = k->W1 + (int64_t)i * H;
    gin[i] = dot_lanes(w, gh, H);
    if (k->gW1) {
      R *restrict gw = k->gW1 + (int64_t)i * H, xi = in[i];
      for (int o = 0; o < H; o++) gw[o] += xi * gh[o];
    }
  }
}

/* Params after the physics block: steps, t0, n_sin, omega, input_scale, goal x, y, z. */
enum { C_STEPS = P_COMMON, C_T0, C_NSIN, C_OMEGA, C_SCALE, C_GX, C_GY, C_GZ, C_NPARAMS };

static int ctrl_params_check(const ds_call *c, int64_t n, int64_t D, int64_t *n_in) {
  double ns = c->params[C_NSIN], t0 = c->params[C_T0];
  if (!(ns >= 0 && ns <= 1024 && ns == (double)(int64_t)ns))
    return c->host->error(c, "param 'n_sin' must be an integer in [0, 1024], got %g", ns);
  if (!(t0 >= 0 && t0 == (double)(int64_t)t0)) return c->host->error(c, "param 't0' must be an integer >= 0, got %g", t0);
  *n_in = (int64_t)ns + 2 * D * n + D;
  return DS_OK;
}

static ctrl ctrl_from(const ds_call *c, int n, int D, int H, int ns, ds_tensor *const w[4]) {
  ctrl k;
  k.n = n;
  k.D = D;
  k.n_sin = (int)c->params[C_NSIN];
  k.n_in = k.n_sin + 2 * D * n + D;
  k.H = H;
  k.ns = ns;
  k.omega = (R)c->params[C_OMEGA];
  k.scale = (R)c->params[C_SCALE];
  k.dt = (R)c->params[P_DT];
  k.t0 = (int64_t)c->params[C_T0];
  for (int d = 0; d < 3; d++) k.goal[d] = (R)c->params[C_GX + d];
  k.W1 = ds_rdata(w[0]);
  k.b1 = ds_rdata(w[1]);
  k.W2 = ds_rdata(w[2]);
  k.b2 = ds_rdata(w[3]);
  k.gW1 = ds_rgrad(w[0]);
  k.gb1 = ds_rgrad(w[1]);
  k.gW2 = ds_rgrad(w[2]);
  k.gb2 = ds_rgrad(w[3]);
  return k;
}

/* =================================================================== nn_rollout */
enum {
  N_X0, N_V0, N_REST, N_STIFF, N_AMP, N_SDAMP, N_W1, N_B1, N_W2, N_B2, N_TOPO, N_IMASS,
  N_XS, N_VS, N_HID, N_ACTS, N_NARGS
};
static const int NN_MATS[4] = {N_REST, N_STIFF, N_AMP, N_SDAMP};

static int nn_rollout_check(const ds_call *c) {
  int rc = check_system(c, N_X0, N_V0, NN_MATS, N_TOPO, N_IMASS);
  if (rc) return rc;
  int ok;
  int64_t T = param_steps(c, C_STEPS, &ok);
  if (!ok) return c->host->error(c, "param 'steps' must be a positive integer, got %g", c->params[C_STEPS]);
  const ds_tensor *x = c->args[N_X0];
  int64_t n = x->dims[0], D = x->dims[1], ns = c->args[N_REST]->count, n_in = 0;
  if ((rc = ctrl_params_check(c, n, D, &n_in))) return rc;
  const ds_tensor *W1 = c->args[N_W1];
  if (W1->ndim != 2 || W1->dims[0] != n_in)
    return c->host->error(c,
                          "argument 'W1' (#7) must have shape {%lld, hidden}: n_sin + 2 D n + D = %lld inputs for "
                          "%lld masses in %lldD",
                          (long long)n_in, (long long)n_in, (long long)n, (long long)D);
  int64_t H = W1->dims[1];
  if ((rc = ds_expect_shape(c, N_B1, 1, H, -1, -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, N_W2, 2, H, ns, -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, N_B2, 1, ns, -1, -1, -1))) return rc;
  for (int i = N_W1; i <= N_B2; i++)
    if ((rc = check_finite(c, i))) return rc;
  if ((rc = ds_expect_shape(c, N_XS, 3, T + 1, n, D, -1))) return rc;
  if ((rc = ds_expect_shape(c, N_VS, 3, T + 1, n, D, -1))) return rc;
  if ((rc = ds_expect_shape(c, N_HID, 2, T, H, -1, -1))) return rc;
  return ds_expect_shape(c, N_ACTS, 2, T, ns, -1, -1);
}

static int nn_rollout_fwd(const ds_call *c) {
  ds_tensor *const *A = c->args;
  phys p = phys_from(c->params);
  int64_t T = (int64_t)c->params[C_STEPS];
  step_job j;
  ds_tensor *const mats[4] = {A[N_REST], A[N_STIFF], A[N_AMP], A[N_SDAMP]};
  ds_tensor *const wts[4] = {A[N_W1], A[N_B1], A[N_W2], A[N_B2]};
  const int D = (int)A[N_X0]->dims[1];
  job_system(&j, &p, D, A[N_TOPO], A[N_IMASS], mats);
  const int H = (int)A[N_W1]->dims[1];
  ctrl k = ctrl_from(c, j.g.n, D, H, j.g.ns, wts);
  size_t nn = (size_t)j.g.n * D, ns = (size_t)j.g.ns;
  R *xs = ds_rdata(A[N_XS]), *vs = ds_rdata(A[N_VS]), *hid = ds_rdata(A[N_HID]), *acts = ds_rdata(A[N_ACTS]);
  memcpy(xs, ds_rdata(A[N_X0]), nn * sizeof(R));
  memcpy(vs, ds_rdata(A[N_V0]), nn * sizeof(R));
  R *w = workspace(c, ns * D + k.n_in);
  if (!w) return c->host->error(c, "out of memory");
  j.f = w;
  R *in = w + ns * D;
  for (int64_t t = 0; t < T; t++) {
    j.x = xs + t * nn;
    j.v = vs + t * nn;
    j.xo = xs + (t + 1) * nn;
    j.vo = vs + (t + 1) * nn;
    j.act = acts + t * ns;
    ctrl_input(&k, t, j.x, j.v, in);
    ctrl_fwd(&k, in, hid + t * H, acts + t * ns);
    step_forward(c->ctx, c->host, &j);
  }
  return DS_OK;
}

static int nn_rollout_adj(const ds_call *c) {
  ds_tensor *const *A = c->args;
  phys p = phys_from(c->params);
  int64_t T = (int64_t)c->params[C_STEPS];
  step_job j;
  ds_tensor *const mats[4] = {A[N_REST], A[N_STIFF], A[N_AMP], A[N_SDAMP]};
  ds_tensor *const wts[4] = {A[N_W1], A[N_B1], A[N_W2], A[N_B2]};
  const int D = (int)A[N_X0]->dims[1];
  job_system(&j, &p, D, A[N_TOPO], A[N_IMASS], mats);
  job_grads(&j, mats);
  const int H = (int)A[N_W1]->dims[1];
  ctrl k = ctrl_from(c, j.g.n, D, H, j.g.ns, wts);
  size_t nn = (size_t)j.g.n * D, ns = (size_t)j.g.ns, nsD = ns * D;
  const R *xs = ds_rdata(A[N_XS]), *vs = ds_rdata(A[N_VS]), *hid = ds_rdata(A[N_HID]), *acts = ds_rdata(A[N_ACTS]);
  const R *gxs = ds_rgrad(A[N_XS]), *gvs = ds_rgrad(A[N_VS]), *ghid = ds_rgrad(A[N_HID]), *gacts = ds_rgrad(A[N_ACTS]);
  R *w = workspace(c, 3 * nsD + 5 * nn + 2 * ns + 2 * (size_t)k.n_in + H);
  if (!w) return c->host->error(c, "out of memory");
  j.f = w;
  j.gd = w + nsD;
  j.gvr = w + 2 * nsD;
  R *gF = w + 3 * nsD, *gx_next = gF + nn, *gv_next = gx_next + nn, *gx_cur = gv_next + nn, *gv_cur = gx_cur + nn;
  R *gact = gv_cur + nn, *gp = gact + ns, *in = gp + ns, *gin = in + k.n_in, *gh = gin + k.n_in;
  memcpy(gx_next, gxs + T * nn, nn * sizeof(R));
  memcpy(gv_next, gvs + T * nn, nn * sizeof(R));
  for (int64_t t = T - 1; t >= 0; t--) {
    memcpy(gx_cur, gxs + t * nn, nn * sizeof(R));
    memcpy(gv_cur, gvs + t * nn, nn * sizeof(R));
    memcpy(gact, gacts + t * ns, ns * sizeof(R));
    j.x = xs + t * nn;
    j.v = vs + t * nn;
    j.act = acts + t * ns;
    j.gact = gact;
    j.gxo = gx_next;
    j.gvo = gv_next;
    j.gx = gx_cur;
    j.gv = gv_cur;
    step_adjoint(c->ctx, c->host, &j, gF);
    ctrl_input(&k, t, j.x, j.v, in);
    ctrl_adj(&k, in, hid + t * H, acts + t * ns, gact, ghid + t * H, gin, gp, gh);
    ctrl_input_adj(&k, gin, gx_cur, gv_cur);
    R *tx = gx_next, *tv = gv_next;
    gx_next = gx_cur, gv_next = gv_cur;
    gx_cur = tx, gv_cur = tv;
  }
  R *gx0 = ds_rgrad(A[N_X0]), *gv0 = ds_rgrad(A[N_V0]);
  if (gx0)
    for (size_t i = 0; i < nn; i++) gx0[i] += gx_next[i];
  if (gv0)
    for (size_t i = 0; i < nn; i++) gv0[i] += gv_next[i];
  return DS_OK;
}

/* ===================================================================== nn_input */
/* The controller input for one state, for controllers written in Lua.
 * params: t, dt, n_sin, omega, input_scale, goal x, y, z. */
enum { I_T, I_DT, I_NSIN, I_OMEGA, I_SCALE, I_GX, I_GY, I_GZ, I_NPARAMS };

static ctrl input_ctrl(const ds_call *c) {
  ctrl k;
  memset(&k, 0, sizeof k);
  k.n = (int)c->args[0]->dims[0];
  k.D = (int)c->args[0]->dims[1];
  k.n_sin = (int)c->params[I_NSIN];
  k.n_in = k.n_sin + 2 * k.D * k.n + k.D;
  k.omega = (R)c->params[I_OMEGA];
  k.scale = (R)c->params[I_SCALE];
  k.dt = (R)c->params[I_DT];
  k.t0 = (int64_t)c->params[I_T];
  for (int d = 0; d < 3; d++) k.goal[d] = (R)c->params[I_GX + d];
  return k;
}

static int nn_input_check(const ds_call *c) {
  const ds_tensor *x = c->args[0];
  if (x->ndim != 2 || (x->dims[1] != 2 && x->dims[1] != 3))
    return c->host->error(c, "argument 'x' (#1) must have shape {n, 2} or {n, 3}");
  int rc = ds_expect_shape(c, 1, 2, x->dims[0], x->dims[1], -1, -1);
  if (rc) return rc;
  double ns = c->params[I_NSIN], t = c->params[I_T];
  if (!(ns >= 0 && ns <= 1024 && ns == (double)(int64_t)ns))
    return c->host->error(c, "param 'n_sin' must be an integer in [0, 1024], got %g", ns);
  if (!(t >= 0 && t == (double)(int64_t)t)) return c->host->error(c, "param 't' must be an integer >= 0, got %g", t);
  return ds_expect_shape(c, 2, 1, (int64_t)ns + 2 * x->dims[1] * x->dims[0] + x->dims[1], -1, -1, -1);
}

static int nn_input_fwd(const ds_call *c) {
  ctrl k = input_ctrl(c);
  ctrl_input(&k, 0, ds_rdata(c->args[0]), ds_rdata(c->args[1]), ds_rdata(c->args[2]));
  return DS_OK;
}

static int nn_input_adj(const ds_call *c) {
  ctrl k = input_ctrl(c);
  ctrl_input_adj(&k, ds_rgrad(c->args[2]), ds_rgrad(c->args[0]), ds_rgrad(c->args[1]));
  return DS_OK;
}

/* ======================================================================= energy */
/* out = {kinetic, spring potential, gravity potential} at one state (springs at
 * rest length L0, no actuation). Pinned nodes carry no energy. */
enum { E_X, E_V, E_REST, E_STIFF, E_TOPO, E_IMASS, E_OUT };

static int energy_check(const ds_call *c) {
  const ds_tensor *x = c->args[E_X];
  if (x->ndim != 2 || (x->dims[1] != 2 && x->dims[1] != 3))
    return c->host->error(c, "argument 'x' (#1) must have shape {n, 2} or {n, 3}");
  int64_t n = x->dims[0], ns = c->args[E_REST]->count;
  int rc;
  if ((rc = ds_expect_shape(c, E_V, 2, n, x->dims[1], -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, E_STIFF, 1, ns, -1, -1, -1))) return rc;
  if ((rc = check_inv_mass(c, E_IMASS, n))) return rc;
  if ((rc = check_topo(c, E_TOPO, n, ns))) return rc;
  return ds_expect_shape(c, E_OUT, 1, 3, -1, -1, -1);
}

static int energy_fwd(const ds_call *c) {
  ds_tensor *const *A = c->args;
  const int D = (int)A[E_X]->dims[1];
  topo g = topo_from(ds_idata(A[E_TOPO]));
  const R *x = ds_rdata(A[E_X]), *v = ds_rdata(A[E_V]), *L0 = ds_rdata(A[E_REST]), *k = ds_rdata(A[E_STIFF]),
          *im = ds_rdata(A[E_IMASS]);
  double ke = 0, se = 0, ge = 0, grav = c->params[0];
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
  R *o = ds_rdata(A[E_OUT]);
  o[0] = (R)ke;
  o[1] = (R)se;
  o[2] = (R)ge;
  return DS_OK;
}

/* ======================================================================= render */
/* One frame {H, W, 3}: white sky, grey ground below ground_y, springs as lines
 * (red when the actuation contracts... i.e. act > 0 red, act < 0 blue, passive
 * springs dark grey), masses as black dots. 3D states are drawn with an oblique
 * projection (x + 0.35 z, y + 0.2 z). params: x_lo, x_hi, y_lo, y_hi, ground_y. */
enum { D_X, D_TOPO, D_ACT, D_AMP, D_IMG };

static int render_check(const ds_call *c) {
  const ds_tensor *x = c->args[D_X];
  if (x->ndim != 2 || (x->dims[1] != 2 && x->dims[1] != 3))
    return c->host->error(c, "argument 'x' (#1) must have shape {n, 2} or {n, 3}");
  const ds_tensor *img = c->args[D_IMG];
  if (img->ndim != 3 || img->dims[2] != 3 || img->dims[0] < 2 || img->dims[1] < 2)
    return c->host->error(c, "argument 'image' (#5) must have shape {h, w, 3}");
  int64_t ns = (c->args[D_TOPO]->count - 3 - x->dims[0]) / 4;
  int rc = check_topo(c, D_TOPO, x->dims[0], ns);
  if (rc) return rc;
  if ((rc = ds_expect_shape(c, D_ACT, 1, ns, -1, -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, D_AMP, 1, ns, -1, -1, -1))) return rc;
  if (!(c->params[1] > c->params[0] && c->params[3] > c->params[2]))
    return c->host->error(c, "params: the view (x_lo, x_hi, y_lo, y_hi) is empty");
  return DS_OK;
}

static void plot(R *img, int64_t H, int64_t W, double px, double py, int rad, const R *col) {
  int64_t cx = (int64_t)floor(px), cy = (int64_t)floor(py);
  for (int64_t y = cy - rad; y <= cy + rad; y++)
    for (int64_t x = cx - rad; x <= cx + rad; x++)
      if (x >= 0 && x < W && y >= 0 && y < H && (x - cx) * (x - cx) + (y - cy) * (y - cy) <= rad * rad + rad)
        for (int k = 0; k < 3; k++) img[(y * W + x) * 3 + k] = col[k];
}

static int render_fwd(const ds_call *c) {
  ds_tensor *const *A = c->args;
  const int D = (int)A[D_X]->dims[1];
  topo g = topo_from(ds_idata(A[D_TOPO]));
  const R *x = ds_rdata(A[D_X]), *act = ds_rdata(A[D_ACT]), *amp = ds_rdata(A[D_AMP]);
  R *img = ds_rdata(A[D_IMG]);
  int64_t H = A[D_IMG]->dims[0], W = A[D_IMG]->dims[1];
  double x0 = c->params[0], x1 = c->params[1], y0 = c->params[2], y1 = c->params[3], gy = c->params[4];
  double sx = (W - 1) / (x1 - x0), sy = (H - 1) / (y1 - y0);
  double gpix = (y1 - gy) * sy;
  for (int64_t y = 0; y < H; y++)
    for (int64_t xx = 0; xx < W; xx++) {
      R v = y > gpix ? (R)0.8 : (R)1.0;
      for (int k = 0; k < 3; k++) img[(y * W + xx) * 3 + k] = v;
    }
  int rad = (int)(W / 200) + 1;
#define PX(i) ((x[(i)*D] + (D == 3 ? 0.35 * x[(i)*D + 2] : 0) - x0) * sx)
#define PY(i) ((y1 - x[(i)*D + 1] - (D == 3 ? 0.2 * x[(i)*D + 2] : 0)) * sy)
  for (int64_t s = 0; s < g.ns; s++) {
    int32_t a = g.pair[2 * s], b = g.pair[2 * s + 1];
    double ax = PX(a), ay = PY(a), bx = PX(b), by = PY(b);
    R col[3] = {(R)0.3, (R)0.3, (R)0.3};
    if (amp[s] != 0) {
      double q = act[s] > 1 ? 1 : act[s] < -1 ? -1 : act[s];
      col[0] = (R)(0.5 + 0.5 * q);
      col[1] = (R)0.2;
      col[2] = (R)(0.5 - 0.5 * q);
    }
    double len = fabs(bx - ax) + fabs(by - ay);
    int64_t steps = (int64_t)len + 2;
    if (steps > 4 * (W + H)) steps = 4 * (W + H);
    for (int64_t q = 0; q <= steps; q++) {
      double t = (double)q / steps;
      plot(img, H, W, ax + t * (bx - ax), ay + t * (by - ay), rad / 2, col);
    }
  }
  const R black[3] = {0, 0, 0};
  for (int64_t i = 0; i < g.n; i++) plot(img, H, W, PX(i), PY(i), rad, black);
#undef PX
#undef PY
  return DS_OK;
}

/* ========================================================================= pick */
/* out = scale * xs[t, i, d]: one element of a trajectory as a differentiable
 * scalar, in O(1) (a dot product with a one-hot mask would touch every element
 * and start a parallel region just to read one number). Indices are 0-based. */
static int pick_check(const ds_call *c) {
  const ds_tensor *xs = c->args[0];
  for (int k = 0; k < 3; k++) {
    double q = c->params[k];
    int64_t lim = k < xs->ndim ? xs->dims[k] : 1;
    if (!(q >= 0 && q < (double)lim && q == (double)(int64_t)q))
      return c->host->error(c, "param #%d (index %g) is out of range for argument 'xs' (#1) with dim %lld = %lld", k + 1,
                            q, (long long)k, (long long)lim);
  }
  if (xs->ndim != 3) return c->host->error(c, "argument 'xs' (#1) must have 3 dims {T, n, D}");
  return ds_expect_shape(c, 1, 0, -1, -1, -1, -1);
}
static int64_t pick_index(const ds_call *c) {
  const ds_tensor *xs = c->args[0];
  return ((int64_t)c->params[0] * xs->dims[1] + (int64_t)c->params[1]) * xs->dims[2] + (int64_t)c->params[2];
}
static int pick_fwd(const ds_call *c) {
  ds_rdata(c->args[1])[0] = (R)c->params[3] * ds_rdata(c->args[0])[pick_index(c)];
  return DS_OK;
}
static int pick_adj(const ds_call *c) {
  R *g = ds_rgrad(c->args[0]);
  if (g) g[pick_index(c)] += (R)c->params[3] * ds_rgrad(c->args[1])[0];
  return DS_OK;
}

/* ================================================================ registration */
static const ds_arg_desc TOPO_ARGS[] = {{"springs", DS_NODIFF, DS_I32, 2, 0}, {"topo", DS_OUT, DS_I32, 1, 0}, {0}};
static const char *const TOPO_PARAMS[] = {"n", 0};

static const ds_arg_desc STEP_ARGS[] = {
    {"x", DS_IN, DS_REAL, 2, 0},         {"v", DS_IN, DS_REAL, 2, 0},        {"act", DS_IN, DS_REAL, 1, 0},
    {"rest", DS_IN, DS_REAL, 1, 0},      {"stiffness", DS_IN, DS_REAL, 1, 0}, {"amplitude", DS_IN, DS_REAL, 1, 0},
    {"damping", DS_IN, DS_REAL, 1, 0},   {"topo", DS_NODIFF, DS_I32, 1, 0},  {"inv_mass", DS_NODIFF, DS_REAL, 1, 0},
    {"x_out", DS_OUT, DS_REAL, 2, 0},    {"v_out", DS_OUT, DS_REAL, 2, 0}, {0}};
static const char *const STEP_PARAMS[] = {PHYS_PARAM_NAMES, 0};

static const ds_arg_desc ROLL_ARGS[] = {
    {"x0", DS_IN, DS_REAL, 2, 0},        {"v0", DS_IN, DS_REAL, 2, 0},        {"act", DS_IN, DS_REAL, 2, 0},
    {"rest", DS_IN, DS_REAL, 1, 0},      {"stiffness", DS_IN, DS_REAL, 1, 0}, {"amplitude", DS_IN, DS_REAL, 1, 0},
    {"damping", DS_IN, DS_REAL, 1, 0},   {"topo", DS_NODIFF, DS_I32, 1, 0},  {"inv_mass", DS_NODIFF, DS_REAL, 1, 0},
    {"xs", DS_OUT, DS_REAL, 3, 0},       {"vs", DS_OUT, DS_REAL, 3, 0}, {0}};
static const char *const ROLL_PARAMS[] = {PHYS_PARAM_NAMES, "steps", 0};

static const ds_arg_desc NN_ARGS[] = {
    {"x0", DS_IN, DS_REAL, 2, 0},        {"v0", DS_IN, DS_REAL, 2, 0},        {"rest", DS_IN, DS_REAL, 1, 0},
    {"stiffness", DS_IN, DS_REAL, 1, 0}, {"amplitude", DS_IN, DS_REAL, 1, 0}, {"damping", DS_IN, DS_REAL, 1, 0},
    {"W1", DS_IN, DS_REAL, 2, 0},        {"b1", DS_IN, DS_REAL, 1, 0},        {"W2", DS_IN, DS_REAL, 2, 0},
    {"b2", DS_IN, DS_REAL, 1, 0},        {"topo", DS_NODIFF, DS_I32, 1, 0},  {"inv_mass", DS_NODIFF, DS_REAL, 1, 0},
    {"xs", DS_OUT, DS_REAL, 3, 0},       {"vs", DS_OUT, DS_REAL, 3, 0},       {"hidden", DS_OUT, DS_REAL, 2, 0},
    {"acts", DS_OUT, DS_REAL, 2, 0}, {0}};
static const char *const NN_PARAMS[] = {PHYS_PARAM_NAMES, "steps", "t0", "n_sin", "omega", "input_scale",
                                        "goal_x", "goal_y", "goal_z", 0};

static const ds_arg_desc INPUT_ARGS[] = {{"x", DS_IN, DS_REAL, 2, 0}, {"v", DS_IN, DS_REAL, 2, 0}, {"input", DS_OUT, DS_REAL, 1, 0}, {0}};
static const char *const INPUT_PARAMS[] = {"t", "dt", "n_sin", "omega", "input_scale", "goal_x", "goal_y", "goal_z", 0};

static const ds_arg_desc ENERGY_ARGS[] = {
    {"x", DS_NODIFF, DS_REAL, 2, 0},        {"v", DS_NODIFF, DS_REAL, 2, 0},    {"rest", DS_NODIFF, DS_REAL, 1, 0},
    {"stiffness", DS_NODIFF, DS_REAL, 1, 0}, {"topo", DS_NODIFF, DS_I32, 1, 0}, {"inv_mass", DS_NODIFF, DS_REAL, 1, 0},
    {"energy", DS_OUT, DS_REAL, 1, 0}, {0}};
static const char *const ENERGY_PARAMS[] = {"gravity", 0};

static const ds_arg_desc RENDER_ARGS[] = {{"x", DS_NODIFF, DS_REAL, 2, 0},
                                          {"topo", DS_NODIFF, DS_I32, 1, 0},
                                          {"act", DS_NODIFF, DS_REAL, 1, 0},
                                          {"amplitude", DS_NODIFF, DS_REAL, 1, 0},
                                          {"image", DS_OUT, DS_REAL, 3, 0}, {0}};
static const ds_arg_desc PICK_ARGS[] = {{"xs", DS_IN, DS_REAL, 3, 0}, {"out", DS_OUT, DS_REAL, 0, 0}, {0}};
static const char *const PICK_PARAMS[] = {"t", "i", "d", "scale", 0};

static const char *const RENDER_PARAMS[] = {"x_lo", "x_hi", "y_lo", "y_hi", "ground_y", 0};

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "springs");
  if (rc) return rc;
  const ds_kernel_desc ks[] = {
      {"topology", TOPO_ARGS, TOPO_PARAMS, topology_check, {topology_fwd}, {NULL}},
      {"step", STEP_ARGS, STEP_PARAMS, step_check, {step_fwd}, {step_adj}},
      {"rollout", ROLL_ARGS, ROLL_PARAMS, rollout_check, {rollout_fwd}, {rollout_adj}},
      {"nn_rollout", NN_ARGS, NN_PARAMS, nn_rollout_check, {nn_rollout_fwd}, {nn_rollout_adj}},
      {"nn_input", INPUT_ARGS, INPUT_PARAMS, nn_input_check, {nn_input_fwd}, {nn_input_adj}},
      {"energy", ENERGY_ARGS, ENERGY_PARAMS, energy_check, {energy_fwd}, {NULL}},
      {"render", RENDER_ARGS, RENDER_PARAMS, render_check, {render_fwd}, {NULL}},
      {"pick", PICK_ARGS, PICK_PARAMS, pick_check, {pick_fwd}, {pick_adj}},
  };
  for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
    if ((rc = host->register_kernel(reg, &ks[i]))) return rc;
  return DS_OK;
}
