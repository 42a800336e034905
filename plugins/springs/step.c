/* springs: the step engine (one step as parallel passes over springs and nodes)
 * and the two kernels that use it directly: springs.step (one step) and
 * springs.rollout (T steps with a given actuation, every state kept).
 *
 * Why multi-step kernels: a robot rollout is 681 tiny steps (26 nodes); launching
 * one kernel per op per step from Lua would cost more than the physics. A
 * rollout runs the whole horizon in one launch and keeps every state as an
 * output, so its adjoint is one launch too and needs no recomputation.
 *
 * Scratch comes from the host (valid for the call, grow-only per context), asked
 * for once per call in the calling thread, before any parallel pass. */
#include "springs.h"

enum { GRAIN_SPRINGS = 2048, GRAIN_NODES = 1024 };

#define SPRING_ARGS(j, s)                                                                    \
  j->x + (int64_t)a * D, j->x + (int64_t)b * D, j->v + (int64_t)a * D, j->v + (int64_t)b * D, \
      j->rest[s], j->stiff[s], j->amp[s], j->sdamp[s], j->act ? j->act[s] : 0

/* D as a literal in each branch: two specialised copies of the loop body. */
#define DISPATCH_D(body, j, ...) \
  do {                           \
    if ((j)->D == 2)             \
      body(__VA_ARGS__, 2);      \
    else                         \
      body(__VA_ARGS__, 3);      \
  } while (0)

FORCE_INLINE void springs_fwd_body(const step_job *j, int64_t lo, int64_t hi, const int D) {
  for (int64_t s = lo; s < hi; s++) {
    int32_t a = j->g.pair[2 * s], b = j->g.pair[2 * s + 1];
    spring_fwd(D, SPRING_ARGS(j, s), j->f + s * D);
  }
}
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
 * force sum in gF, and the block's physical grads in its own slot of j->blocks
 * (blocks are fixed by GRAIN_NODES, not by the thread count). */
FORCE_INLINE void nodes_adj_body(const step_job *j, int64_t lo, int64_t hi, const int D) {
  R F[3];
  phys_grad pg = {0, 0, 0, 0}, *want = j->blocks ? &pg : NULL;
  for (int64_t i = lo; i < hi; i++) {
    gather(&j->g, D, i, j->f, F);
    node_adj(j->p, D, j->x + i * D, j->v + i * D, F, j->im[i], j->gxo + i * D, j->gvo + i * D,
             j->gx ? j->gx + i * D : NULL, j->gv ? j->gv + i * D : NULL, j->gF + i * D, want,
             j->gim ? j->gim + i : NULL);
  }
  if (want) j->blocks[lo / GRAIN_NODES] = pg;
}
static void nodes_adj_range(int64_t lo, int64_t hi, void *user) {
  const step_job *j = user;
  DISPATCH_D(nodes_adj_body, j, j, lo, hi);
}

/* Pass B: per spring, grad of f = -gF[a] + gF[b]; back through the spring. */
FORCE_INLINE void springs_adj_body(const step_job *j, int64_t lo, int64_t hi, const int D) {
  for (int64_t s = lo; s < hi; s++) {
    int32_t a = j->g.pair[2 * s], b = j->g.pair[2 * s + 1];
    R gf[3];
    for (int k = 0; k < D; k++) gf[k] = j->gF[(int64_t)b * D + k] - j->gF[(int64_t)a * D + k];
    spring_adj(D, SPRING_ARGS(j, s), gf, j->gd + s * D, j->gvr + s * D, j->grest ? j->grest + s : NULL,
               j->gstiff ? j->gstiff + s : NULL, j->gamp ? j->gamp + s : NULL, j->gsdamp ? j->gsdamp + s : NULL,
               j->gact ? j->gact + s : NULL);
  }
}
static void springs_adj_range(int64_t lo, int64_t hi, void *user) {
  const step_job *j = user;
  DISPATCH_D(springs_adj_body, j, j, lo, hi);
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

void sim_forward(step_job *j) {
  j->host->parallel_for(j->ctx, j->g.ns, GRAIN_SPRINGS, springs_fwd_range, j);
  j->host->parallel_for(j->ctx, j->g.n, GRAIN_NODES, nodes_fwd_range, j);
}

/* j->f is recomputed here because pass A reads the forces. */
void sim_adjoint(step_job *j) {
  j->host->parallel_for(j->ctx, j->g.ns, GRAIN_SPRINGS, springs_fwd_range, j);
  j->host->parallel_for(j->ctx, j->g.n, GRAIN_NODES, nodes_adj_range, j);
  j->host->parallel_for(j->ctx, j->g.ns, GRAIN_SPRINGS, springs_adj_range, j);
  if (j->gx || j->gv) j->host->parallel_for(j->ctx, j->g.n, GRAIN_NODES, nodes_gather_range, j);
  if (j->blocks) /* the block partials, in block order: deterministic */
    for (int64_t b = 0, nb = (j->g.n + GRAIN_NODES - 1) / GRAIN_NODES; b < nb; b++) {
      j->pg.gravity += j->blocks[b].gravity;
      j->pg.decay += j->blocks[b].decay;
      j->pg.e += j->blocks[b].e;
      j->pg.mu += j->blocks[b].mu;
    }
}

int job_init(step_job *j, const ds_call *c, const phys *p, int adjoint) {
  const stepper_argv *a = STEPPER(c);
  memset(j, 0, sizeof *j);
  j->ctx = c->ctx;
  j->host = c->host;
  j->p = p;
  j->D = (int)a->x->dims[1];
  j->g = topo_from(ds_idata(a->topo));
  j->im = ds_rdata(a->inv_mass);
  j->rest = ds_rdata(a->rest);
  j->stiff = ds_rdata(a->stiffness);
  j->amp = ds_rdata(a->amplitude);
  j->sdamp = ds_rdata(a->spring_damping);
  size_t nsD = (size_t)j->g.ns * j->D, nD = (size_t)j->g.n * j->D;
  if (!adjoint) {
    j->f = c->host->scratch(c, (nsD ? nsD : 1) * sizeof(R));
    return j->f ? DS_OK : DS_ERR_NOMEM;
  }
  j->grest = ds_rgrad(a->rest);
  j->gstiff = ds_rgrad(a->stiffness);
  j->gamp = ds_rgrad(a->amplitude);
  j->gsdamp = ds_rgrad(a->spring_damping);
  j->gim = ds_rgrad(a->inv_mass);
  int want_phys = ds_rgrad(a->gravity) || ds_rgrad(a->damping) || ds_rgrad(a->restitution) ||
                  (!p->sticky && ds_rgrad(a->friction));
  size_t nblocks = want_phys ? (size_t)(j->g.n + GRAIN_NODES - 1) / GRAIN_NODES : 0;
  R *w = c->host->scratch(c, (3 * nsD + nD + 1) * sizeof(R) + nblocks * sizeof(phys_grad));
  if (!w) return DS_ERR_NOMEM;
  j->f = w;
  j->gd = w + nsD;
  j->gvr = w + 2 * nsD;
  j->gF = w + 3 * nsD;
  /* doubles after the reals: align the block sums to 8 bytes */
  if (want_phys) {
    uintptr_t q = (uintptr_t)(j->gF + nD);
    q = (q + 7) & ~(uintptr_t)7;
    j->blocks = (phys_grad *)q;
  }
  return DS_OK;
}

/* decay = exp(-damping dt): d decay / d damping = -dt decay. */
void job_finish_grads(const step_job *j, const ds_call *c) {
  if (!j->blocks) return;
  const stepper_argv *a = STEPPER(c);
  R *g;
  if ((g = ds_rgrad(a->gravity))) g[0] += (R)j->pg.gravity;
  if ((g = ds_rgrad(a->damping))) g[0] += (R)(j->pg.decay * -(double)j->p->dt * j->p->decay);
  if ((g = ds_rgrad(a->restitution))) g[0] += (R)j->pg.e;
  if (!j->p->sticky && (g = ds_rgrad(a->friction))) g[0] += (R)j->pg.mu;
}

/* ========================================================================= step */
#define STEP_ARGS(A) \
  STEPPER_ARGS(A) A(act, DS_IN, DS_REAL, 1, 0) A(x_out, DS_OUT, DS_REAL, 2, 0) A(v_out, DS_OUT, DS_REAL, 2, 0)
#define STEP_PARAMS(P) PHYS_PARAMS(P)
DS_DECLARE_ARGS(step, STEP_ARGS)
DS_DECLARE_PARAMS(step, STEP_PARAMS)

static int step_check(const ds_call *c) {
  int rc = check_system(c);
  if (rc) return rc;
  const step_argv *a = DS_ARGV(c, step);
  int64_t n = a->x->dims[0], D = a->x->dims[1];
  if ((rc = ds_expect_shape(c, DS_SLOT(step, act), 1, a->rest->count, -1, -1, -1))) return rc;
  if ((rc = ds_expect_finite(c, DS_SLOT(step, act)))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(step, x_out), 2, n, D, -1, -1))) return rc;
  return ds_expect_shape(c, DS_SLOT(step, v_out), 2, n, D, -1, -1);
}

static int step_forward(const ds_call *c) {
  const step_argv *a = DS_ARGV(c, step);
  phys p = phys_of(c);
  step_job j;
  if (job_init(&j, c, &p, 0)) return DS_ERR_NOMEM;
  j.x = ds_rdata(a->x);
  j.v = ds_rdata(a->v);
  j.act = ds_rdata(a->act);
  j.xo = ds_rdata(a->x_out);
  j.vo = ds_rdata(a->v_out);
  sim_forward(&j);
  return DS_OK;
}

static int step_adjoint(const ds_call *c) {
  const step_argv *a = DS_ARGV(c, step);
  phys p = phys_of(c);
  step_job j;
  if (job_init(&j, c, &p, 1)) return DS_ERR_NOMEM;
  j.x = ds_rdata(a->x);
  j.v = ds_rdata(a->v);
  j.act = ds_rdata(a->act);
  j.gxo = ds_rgrad(a->x_out);
  j.gvo = ds_rgrad(a->v_out);
  j.gx = ds_rgrad(a->x);
  j.gv = ds_rgrad(a->v);
  j.gact = ds_rgrad(a->act);
  sim_adjoint(&j);
  job_finish_grads(&j, c);
  return DS_OK;
}

const ds_kernel_desc springs_step_kernel = {"step", step_args, step_param_names, step_check,
                                            {[DS_CPU] = step_forward}, {[DS_CPU] = step_adjoint}};

/* ====================================================================== rollout */
/* Open loop: act {T, ns} (one row per step) or {1, ns} (held for every step). */
#define ROLLOUT_ARGS(A)                                                              \
  A(x0, DS_IN, DS_REAL, 2, 0) A(v0, DS_IN, DS_REAL, 2, 0) SYSTEM_ARGS(A)              \
  A(act, DS_IN, DS_REAL, 2, 0) A(xs, DS_OUT, DS_REAL, 3, 0) A(vs, DS_OUT, DS_REAL, 3, 0)
#define ROLLOUT_PARAMS(P) PHYS_PARAMS(P) P(steps)
DS_DECLARE_ARGS(rollout, ROLLOUT_ARGS)
DS_DECLARE_PARAMS(rollout, ROLLOUT_PARAMS)

static int rollout_check(const ds_call *c) {
  int rc = check_system(c);
  if (rc) return rc;
  int64_t T;
  if ((rc = check_steps(c, (int)(offsetof(rollout_params, steps) / sizeof(double)), "steps", &T))) return rc;
  const rollout_argv *a = DS_ARGV(c, rollout);
  int64_t n = a->x0->dims[0], D = a->x0->dims[1], ns = a->rest->count;
  const ds_tensor *act = a->act;
  if (act->ndim != 2 || act->dims[1] != ns || (act->dims[0] != T && act->dims[0] != 1))
    return c->host->error(c, "argument 'act' (#%d) must have shape {%lld, %lld} (one row per step) or {1, %lld}",
                          DS_SLOT(rollout, act) + 1, (long long)T, (long long)ns, (long long)ns);
  if ((rc = ds_expect_finite(c, DS_SLOT(rollout, act)))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(rollout, xs), 3, T + 1, n, D, -1))) return rc;
  return ds_expect_shape(c, DS_SLOT(rollout, vs), 3, T + 1, n, D, -1);
}

static int rollout_forward(const ds_call *c) {
  const rollout_argv *a = DS_ARGV(c, rollout);
  phys p = phys_of(c);
  int64_t T = (int64_t)DS_PARAMS(c, rollout)->steps;
  step_job j;
  if (job_init(&j, c, &p, 0)) return DS_ERR_NOMEM;
  size_t nn = (size_t)j.g.n * j.D, ns = (size_t)j.g.ns;
  R *xs = ds_rdata(a->xs), *vs = ds_rdata(a->vs);
  const R *act = ds_rdata(a->act);
  int held = a->act->dims[0] == 1;
  memcpy(xs, ds_rdata(a->x0), nn * sizeof(R));
  memcpy(vs, ds_rdata(a->v0), nn * sizeof(R));
  for (int64_t t = 0; t < T; t++) {
    j.x = xs + t * nn;
    j.v = vs + t * nn;
    j.xo = xs + (t + 1) * nn;
    j.vo = vs + (t + 1) * nn;
    j.act = act + (held ? 0 : t * ns);
    sim_forward(&j);
  }
  return DS_OK;
}

static int rollout_adjoint(const ds_call *c) {
  const rollout_argv *a = DS_ARGV(c, rollout);
  phys p = phys_of(c);
  int64_t T = (int64_t)DS_PARAMS(c, rollout)->steps;
  step_job j;
  if (job_init(&j, c, &p, 1)) return DS_ERR_NOMEM;
  size_t nn = (size_t)j.g.n * j.D, ns = (size_t)j.g.ns;
  const R *xs = ds_rdata(a->xs), *vs = ds_rdata(a->vs), *act = ds_rdata(a->act);
  const R *gxs = ds_rgrad(a->xs), *gvs = ds_rgrad(a->vs);
  R *gact_all = ds_rgrad(a->act);
  int held = a->act->dims[0] == 1;
  R *w = c->host->scratch(c, (4 * nn + 1) * sizeof(R));
  if (!w) return DS_ERR_NOMEM;
  R *gx_next = w, *gv_next = w + nn, *gx_cur = w + 2 * nn, *gv_cur = w + 3 * nn;
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
    sim_adjoint(&j);
    R *tx = gx_next, *tv = gv_next;
    gx_next = gx_cur, gv_next = gv_cur;
    gx_cur = tx, gv_cur = tv;
  }
  R *gx0 = ds_rgrad(a->x0), *gv0 = ds_rgrad(a->v0);
  if (gx0)
    for (size_t i = 0; i < nn; i++) gx0[i] += gx_next[i];
  if (gv0)
    for (size_t i = 0; i < nn; i++) gv0[i] += gv_next[i];
  job_finish_grads(&j, c);
  return DS_OK;
}

const ds_kernel_desc springs_rollout_kernel = {"rollout", rollout_args, rollout_param_names, rollout_check,
                                               {[DS_CPU] = rollout_forward}, {[DS_CPU] = rollout_adjoint}};
