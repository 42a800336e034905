/* articulation: the kernels fk, rnea, crba, aba, momentum, step, rollout, and
 * the adjoint machinery the other kernel files share (implicit.c, nn_rollout.c).
 *
 * Every kernel takes the model (ART_MODEL_ARGS) and batched states. Forwards
 * run dyn.inc on reals, blocks of copies on the host's parallel_for. Adjoints
 * run it on dual numbers (dual.h, contract): for each copy the active inputs
 * are seeded NL at a time and the outputs' tangents are contracted with the
 * outputs' gradients; the step's adjoint (step_vjp) goes through its
 * acceleration residual instead of differentiating ABA. Model-parameter
 * gradients are summed over the batch in index order (deterministic, the same
 * for any thread count). */
#include <string.h>

#include "kernels.h"

int64_t dimsize(const art_topo *t, int d) {
  switch (d) {
  case D_NQ: return t->nq;
  case D_NV: return t->nv;
  case D_NU: return t->nu;
  case D_NL3: return 3 * (int64_t)t->nl;
  case D_NL9: return 9 * (int64_t)t->nl;
  case D_6: return 6;
  case D_NL18: return 18 * (int64_t)t->nl;
  case D_NL6: return 6 * (int64_t)t->nl;
  case D_WIDE: return 18 * (int64_t)t->nl + t->nq + t->nv;
  default: return (int64_t)t->nv * t->nv;
  }
}

/* The model slots, shared by every kernel's table. */
#define MODEL_FIELDS(A) ART_MODEL_ARGS(A)

/* ---- shared checks -------------------------------------------------------- */
/* Host side: model shapes, batch sizes agree, outputs shaped. For the rollout,
 * `steps` > 0 and ins/outs carry a leading time dimension (ctrl: T, outs: T+1). */
int check_common(const ds_call *c, const kspec *ks, int rollout) {
  art_topo t;
  int rc = art_check_model(c, &t);
  if (rc) return rc;
  const ds_tensor *q = c->args[ART_NMODEL];
  if (q->ndim != 2) return c->host->error(c, "argument '%s' must be {B, nq} (2 dims), got %d dims",
                                           ds_arg_desc_of(c, ART_NMODEL)->name, q->ndim);
  const int64_t B = q->dims[0];
  const int64_t T = rollout ? c->args[ART_NMODEL + 2]->dims[0] : 0;
  for (int k = 0; k < ks->nin; k++) {
    const int s = ART_NMODEL + k, d = ks->in[k];
    const int64_t n = d == D_NQ ? -1 : dimsize(&t, d);
    if (rollout && k == 2) rc = ds_expect_shape(c, s, 3, -1, B, n, -1);
    else rc = ds_expect_shape(c, s, 2, B, n, -1, -1);
    if (rc) return rc;
  }
  for (int k = 0; k < ks->nout; k++) {
    const int s = ART_NMODEL + ks->nin + k, d = ks->out[k];
    if (rollout) rc = ds_expect_shape(c, s, 3, T + 1, B, d == D_NQ ? -1 : dimsize(&t, d), -1);
    else if (d == D_NL3) rc = ds_expect_shape(c, s, 3, B, t.nl, 3, -1);
    else if (d == D_NL9) rc = ds_expect_shape(c, s, 3, B, t.nl, 9, -1);
    else if (d == D_NVNV) rc = ds_expect_shape(c, s, 3, B, t.nv, t.nv, -1);
    else rc = ds_expect_shape(c, s, 2, B, d == D_NQ ? -1 : dimsize(&t, d), -1, -1);
    if (rc) return rc;
  }
  if (rollout && T < 1) return c->host->error(c, "argument 'ctrl' must hold at least one step (got %lld)", (long long)T);
  return DS_OK;
}

/* Forward side: values of the model, q's width, finite states, unit quaternions. */
int check_data(const ds_call *c, const kspec *ks, art_topo *t, int rollout) {
  int rc = art_check_model(c, t);
  if (!rc) rc = art_check_values(c, t);
  if (rc) return rc;
  for (int k = 0; k < ks->nin; k++)
    if (ks->in[k] == D_NQ && c->args[ART_NMODEL + k]->dims[1] != t->nq)
      return c->host->error(c, "argument '%s' has %lld columns but the model has nq = %d",
                            ds_arg_desc_of(c, ART_NMODEL + k)->name, (long long)c->args[ART_NMODEL + k]->dims[1], t->nq);
  for (int k = 0; k < ks->nout; k++)
    if (ks->out[k] == D_NQ && c->args[ART_NMODEL + ks->nin + k]->dims[rollout ? 2 : 1] != t->nq)
      return c->host->error(c, "argument '%s' must have nq = %d columns", ds_arg_desc_of(c, ART_NMODEL + ks->nin + k)->name,
                            t->nq);
  for (int k = 0; k < ks->nin; k++)
    if ((rc = art_check_finite(c, ART_NMODEL + k))) return rc;
  const ds_tensor *q = c->args[ART_NMODEL];
  const R *qp = ds_rdata(q);
  for (int64_t b = 0; b < q->dims[0]; b++)
    for (int i = 0; i < t->nl; i++) {
      const int type = t->link[LINK_W * i + 1];
      if (type != J_SPHERICAL && type != J_FREE) continue;
      const R *e = qp + b * t->nq + t->link[LINK_W * i + 2] + (type == J_FREE ? 3 : 0);
      const double n = sqrt((double)e[0] * e[0] + (double)e[1] * e[1] + (double)e[2] * e[2] + (double)e[3] * e[3]);
      if (!(fabs(n - 1) < 1e-3))
        return c->host->error(c, "argument '%s' row %lld: the quaternion of link %d's joint has norm %g (must be a "
                                 "unit quaternion {w, x, y, z})", ds_arg_desc_of(c, ART_NMODEL)->name, (long long)b, i, n);
    }
  return DS_OK;
}

/* ---- forward ---------------------------------------------------------------- */
typedef struct fwd_job {
  const ds_call *c;
  const kspec *ks;
  const art_topo *t;
  const R *p[P_COUNT];
  char *work;
  size_t wsize;
  double dt;
  int64_t T; /* rollout steps, 0 for single evaluations */
  int64_t B;
  int64_t *bad; /* per batch element: the first step whose result is not finite, or -1 */
} fwd_job;

static int finite_all(const R *x, int64_t n) {
  for (int64_t k = 0; k < n; k++)
    if (!isfinite(x[k])) return 0;
  return 1;
}

static void fwd_block(int64_t b0, int64_t b1, void *user) {
  const fwd_job *j = user;
  void *work = j->work + (size_t)(b0 / art_grain(j->B)) * j->wsize;
  for (int64_t b = b0; b < b1; b++) {
    const R *in[3];
    R *out[2];
    if (!j->T) {
      for (int k = 0; k < j->ks->nin; k++) in[k] = ds_rdata(j->c->args[ART_NMODEL + k]) + b * dimsize(j->t, j->ks->in[k]);
      for (int k = 0; k < j->ks->nout; k++)
        out[k] = ds_rdata(j->c->args[ART_NMODEL + j->ks->nin + k]) + b * dimsize(j->t, j->ks->out[k]);
      art_eval_r(j->ks->kind, j->t, j->p, in, out, j->dt, work);
      j->bad[b] = -1;
      for (int k = 0; k < j->ks->nout; k++)
        if (!finite_all(out[k], dimsize(j->t, j->ks->out[k]))) j->bad[b] = 0;
      continue;
    }
    /* rollout: qs[0] = q0, qs[t+1] = step(qs[t], qds[t], ctrl[t]) */
    const int64_t nq = j->t->nq, nv = j->t->nv, nu = j->t->nu, B = j->B;
    R *qs = ds_rdata(j->c->args[ART_NMODEL + 3]), *qds = ds_rdata(j->c->args[ART_NMODEL + 4]);
    const R *ctrl = ds_rdata(j->c->args[ART_NMODEL + 2]);
    memcpy(qs + b * nq, ds_rdata(j->c->args[ART_NMODEL]) + b * nq, (size_t)nq * sizeof(R));
    memcpy(qds + b * nv, ds_rdata(j->c->args[ART_NMODEL + 1]) + b * nv, (size_t)nv * sizeof(R));
    j->bad[b] = -1;
    for (int64_t s = 0; s < j->T; s++) {
      in[0] = qs + (s * B + b) * nq, in[1] = qds + (s * B + b) * nv, in[2] = ctrl + (s * B + b) * nu;
      out[0] = qs + ((s + 1) * B + b) * nq, out[1] = qds + ((s + 1) * B + b) * nv;
      art_eval_r(ART_STEP, j->t, j->p, in, out, j->dt, work);
      if (j->bad[b] < 0 && !(finite_all(out[0], nq) && finite_all(out[1], nv))) j->bad[b] = s;
    }
  }
}

static int run_forward(const ds_call *c, const kspec *ks, double dt, int rollout) {
  art_topo t;
  int rc = check_data(c, ks, &t, rollout);
  if (rc) return rc;
  fwd_job j = {c, ks, &t, {0}, NULL, 0, dt, 0, c->args[ART_NMODEL]->dims[0], NULL};
  for (int k = 0; k < P_COUNT; k++) j.p[k] = ds_rdata(c->args[3 + k]);
  if (rollout) j.T = c->args[ART_NMODEL + 2]->dims[0];
  j.wsize = (art_work_r(&t) + 63) & ~(size_t)63;
  const size_t nb = (size_t)art_blocks(j.B);
  j.work = c->host->scratch(c, j.wsize * nb + al64((size_t)j.B * sizeof(int64_t)));
  if (!j.work) return c->host->error(c, "out of memory for the work of %lld batch elements", (long long)j.B);
  j.bad = (int64_t *)(j.work + j.wsize * nb);
  c->host->parallel_for(c->ctx, j.B, art_grain(j.B), fwd_block, &j);
  /* a state that blew up is an error, never a silent NaN (reported for the first batch element) */
  for (int64_t b = 0; b < j.B; b++)
    if (j.bad[b] >= 0) {
      char when[48] = "";
      if (rollout) snprintf(when, sizeof when, " at step %lld", (long long)j.bad[b]);
      if (ks->kind == ART_STEP)
        return c->host->error(c, "batch element %lld: the state became non-finite%s (dt = %g s is too long for the "
                                 "model's stiffness: contact, limits or PD gains; use a smaller dt or "
                                 "options.integrator = \"implicit\")", (long long)b, when, dt);
      return c->host->error(c, "batch element %lld: the result is not finite", (long long)b);
    }
  return DS_OK;
}

/* ---- adjoint: dual-number directions ------------------------------------ */
size_t al64(size_t n) { return (n + 63) & ~(size_t)63; }

void ws_layout(const adj_job *j0, char *base, dual_ws *w) {
  adj_job jj = *j0;
  const adj_job *j = &jj;
  if (j0->wks) jj.ks = j0->wks;
  char *p = base;
  for (int k = 0; k < P_COUNT; k++) w->p[k] = (dn *)p, p += al64((size_t)j->pcount[k] * sizeof(dn));
  for (int k = 0; k < j->ks->nin; k++) w->in[k] = (dn *)p, p += al64((size_t)dimsize(j->t, j->ks->in[k]) * sizeof(dn));
  for (int k = 0; k < j->ks->nout; k++) w->out[k] = (dn *)p, p += al64((size_t)dimsize(j->t, j->ks->out[k]) * sizeof(dn));
  int64_t ndir = j->pdirs;
  for (int k = 0; k < j->ks->nin; k++) ndir += dimsize(j->t, j->ks->in[k]);
  w->dirs = (dir *)p, p += al64((size_t)ndir * sizeof(dir));
  w->rtmp = (R *)p, p += al64((size_t)(4 * j->t->nv + 2 * j->t->nq) * sizeof(R));
  w->work = p;
  {
    const size_t wd = art_work_d(j->t), wv = art_work_v(j->t);
    p += al64(wd > wv ? wd : wv);
  }
  w->awork = p, p += al64(art_adj_work(j->t));
  w->abuf = (R *)p;
  w->tape = NULL; /* dual directions unless ws_tape gives the block its tape */
  for (int k = 0; k < P_COUNT; k++) w->pconst[k] = 0;
}
size_t ws_bytes(const adj_job *j0) {
  adj_job jj = *j0;
  const adj_job *j = &jj;
  if (j0->wks) jj.ks = j0->wks;
  size_t n = al64((size_t)(4 * j->t->nv + 2 * j->t->nq) * sizeof(R));
  int64_t ndir = j->pdirs;
  for (int k = 0; k < P_COUNT; k++) n += al64((size_t)j->pcount[k] * sizeof(dn));
  for (int k = 0; k < j->ks->nin; k++) n += al64((size_t)dimsize(j->t, j->ks->in[k]) * sizeof(dn)), ndir += dimsize(j->t, j->ks->in[k]);
  for (int k = 0; k < j->ks->nout; k++) n += al64((size_t)dimsize(j->t, j->ks->out[k]) * sizeof(dn));
  const size_t wd = art_work_d(j->t), wv = art_work_v(j->t);
  return n + al64((size_t)ndir * sizeof(dir)) + al64(wd > wv ? wd : wv) + al64(art_adj_work(j->t)) +
         al64(art_abuf_bytes(j->t));
}

void load(dn *d, const R *v, int64_t n) {
  for (int64_t e = 0; e < n; e++) d[e] = dn_c(v[e]);
}

/* Contracts the output gradients with the tangents of the inputs in dirs.
 * ins: values; gin[k]: where input k's gradient goes (NULL: not wanted);
 * gout[k]: output k's gradient (NULL: zero). Parameter directions come first. */
void contract(const adj_job *j, dual_ws *w, const kspec *ks, const R *const *ins, R *const *gin, const R *const *gout,
              R *pg) {
  if (w->tape) {
    contract_rev(j, w, ks, ins, gin, gout, pg);
    return;
  }
  const int kind = ks->kind;
  const art_topo *t = j->t;
  int64_t nd = 0;
  if (pg) {
    int64_t o = 0;
    for (int k = 0; k < P_COUNT; k++)
      if (j->pact[k])
        for (int64_t e = 0; e < j->pcount[k]; e++) w->dirs[nd++] = (dir){w->p[k] + e, pg + o++};
  }
  for (int k = 0; k < ks->nin; k++) {
    const int64_t n = dimsize(t, ks->in[k]);
    load(w->in[k], ins[k], n);
    if (gin[k])
      for (int64_t e = 0; e < n; e++) w->dirs[nd++] = (dir){w->in[k] + e, gin[k] + e};
  }
  const dn *const *pp = (const dn *const *)w->p;
  for (int64_t d0 = 0; d0 < nd; d0 += NL) {
    const int lanes = nd - d0 < NL ? (int)(nd - d0) : NL;
    for (int l = 0; l < lanes; l++) w->dirs[d0 + l].x->d[l] = 1;
    art_eval_d(kind, t, pp, (const dn *const *)w->in, w->out, j->dt, w->work);
    for (int l = 0; l < lanes; l++) {
      double s = 0;
      for (int k = 0; k < ks->nout; k++) {
        if (!gout[k]) continue;
        const int64_t n = dimsize(t, ks->out[k]);
        for (int64_t e = 0; e < n; e++) s += (double)gout[k][e] * w->out[k][e].d[l];
      }
      *w->dirs[d0 + l].g += (R)s;
      w->dirs[d0 + l].x->d[l] = 0;
    }
  }
}

const kspec art_ks_step_ws = {ART_STEP, 4, 2, {D_WIDE, D_NV, D_NU, D_NV}, {D_WIDE, D_NV}};
static const kspec ks_integ = {ART_INTEG, 2, 1, {D_NQ, D_NV}, {D_NQ}};
static const kspec ks_sres = {ART_SRES, 4, 1, {D_NQ, D_NV, D_NU, D_NV}, {D_NV}};

void step_vjp(const adj_job *j, dual_ws *w, const R *q, const R *qd, const R *u, const R *qdn, const R *gqo,
              const R *gqdo, R *gq, R *gqd, R *gu, R *pg) {
  const art_topo *t = j->t;
  const int nv = t->nv;
  const double dt = j->dt;
  const R *p[P_COUNT];
  for (int k = 0; k < P_COUNT; k++) p[k] = ds_rdata(j->c->args[3 + k]);
  if (p[P_OPT][O_TOI] > 0.5 && p[P_OPT][O_GROUND] > 0.5) {
    /* a step split at the time of impact is not one ABA solve: dual directions through all of it */
    static const kspec ks_full = {ART_STEP, 3, 2, {D_NQ, D_NV, D_NU}, {D_NQ, D_NV}};
    const R *ins[3] = {q, qd, u}, *gout[2] = {gqo, gqdo};
    R *gin[3] = {gq, gqd, gu};
    contract(j, w, &ks_full, ins, gin, gout, pg);
    return;
  }
  if (j->analytic) {
    step_vjp_analytic(j, w, q, qd, u, qdn, gqo, gqdo, gq, gqd, gu, pg);
    return;
  }
  R *qdd = w->rtmp, *v = qdd + nv, *gv = v + nv, *lam = gv + nv;
  { /* the step's acceleration and end velocity, as the forward computed them */
    const R *in[3] = {q, qd, u};
    R *out[1] = {qdd};
    art_eval_r(ART_ACC, t, p, in, out, dt, w->work);
    for (int k = 0; k < nv; k++) v[k] = qd[k] + (R)dt * qdd[k];
  }
  /* q' = q (+) dt v: its adjoint into gq and gv */
  for (int k = 0; k < nv; k++) gv[k] = gqdo ? gqdo[k] : 0;
  if (gqo) {
    const R *ins[2] = {q, v}, *gout[1] = {gqo};
    R *gin[2] = {gq, gv};
    contract(j, w, &ks_integ, ins, gin, gout, NULL);
  }
  if (gqd)
    for (int k = 0; k < nv; k++) gqd[k] += gv[k];
  /* v = qd + dt qdd: lambda = A^-1 (dt vbar) */
  for (int k = 0; k < nv; k++) gv[k] *= (R)dt;
  {
    const R *in[4] = {q, qd, u, gv};
    R *out[1] = {lam};
    /* the integrator's contraction above touches no work: the ACC links are still there */
    art_eval_r(ART_SMINV_ACC, t, p, in, out, dt, w->work);
  }
  /* controls: dR/du = -d tau/du, on the actuated dof only (gear x gain x the clamps' slopes) */
  if (gu) {
    for (int a = 0; a < t->nu; a++) {
      if (t->act[ACT_W * a + 1] == A_NONE) continue;
      const int va = t->link[LINK_W * t->act[ACT_W * a] + 3];
      gu[a] += lam[va] * art_act_du_r(t, p, q, qd, u, a);
    }
  }
  /* the rest: -lambda^T dR/dx at fixed qdd */
  for (int k = 0; k < nv; k++) lam[k] = -lam[k];
  const R *ins[4] = {q, qd, u, qdd}, *gout[1] = {lam};
  R *gin[4] = {gq, gqd, NULL, NULL};
  if (gq || gqd || pg) contract(j, w, &ks_sres, ins, gin, gout, pg);
}

static void adj_block(int64_t b0, int64_t b1, void *user) {
  const adj_job *j = user;
  const ds_call *c = j->c;
  const kspec *ks = j->ks;
  const art_topo *t = j->t;
  for (int64_t b = b0; b < b1; b++) {
    dual_ws w;
    ws_layout(j, j->ws + (size_t)(b0 / art_grain(j->B)) * j->wsize, &w);
    ws_tape(j, &w, b0);
    for (int k = 0; k < P_COUNT; k++) load(w.p[k], ds_rdata(c->args[3 + k]), j->pcount[k]);
    R *pg = j->pdirs ? j->pgrad + b * j->pdirs : NULL;
    if (!j->T) {
      const R *ins[3], *gout[2];
      R *gin[3];
      for (int k = 0; k < ks->nin; k++) {
        const int64_t n = dimsize(t, ks->in[k]);
        ins[k] = ds_rdata(c->args[ART_NMODEL + k]) + b * n;
        R *g = ds_rgrad(c->args[ART_NMODEL + k]);
        gin[k] = g ? g + b * n : NULL;
      }
      for (int k = 0; k < ks->nout; k++) {
        const int64_t n = dimsize(t, ks->out[k]);
        const R *g = ds_rgrad(c->args[ART_NMODEL + ks->nin + k]);
        gout[k] = g ? g + b * n : NULL;
      }
      if (ks->kind == ART_STEP)
        step_vjp(j, &w, ins[0], ins[1], ins[2], ds_rdata(c->args[ART_NMODEL + 4]) + b * t->nv, gout[0], gout[1], gin[0],
                 gin[1], gin[2], pg);
      else contract(j, &w, ks, ins, gin, gout, pg);
      continue;
    }
    /* rollout: reverse over the steps with the adjoint state (aq, aqd) */
    const int64_t nq = t->nq, nv = t->nv, nu = t->nu, B = j->B;
    const R *qs = ds_rdata(c->args[ART_NMODEL + 3]), *qds = ds_rdata(c->args[ART_NMODEL + 4]);
    const R *ctrl = ds_rdata(c->args[ART_NMODEL + 2]);
    const R *gqs = ds_rgrad(c->args[ART_NMODEL + 3]), *gqds = ds_rgrad(c->args[ART_NMODEL + 4]);
    R *gctrl = ds_rgrad(c->args[ART_NMODEL + 2]);
    R *aq = j->adj + b * 2 * (nq + nv), *aqd = aq + nq, *nq_ = aqd + nv, *nqd = nq_ + nq;
    art_state_grad(aq, aqd, gqs, gqds, j->T * B + b, nq, nv);
    for (int64_t s = j->T - 1; s >= 0; s--) {
      art_state_grad(nq_, nqd, gqs, gqds, s * B + b, nq, nv);
      step_vjp(j, &w, qs + (s * B + b) * nq, qds + (s * B + b) * nv, ctrl + (s * B + b) * nu,
               qds + ((s + 1) * B + b) * nv, aq, aqd, nq_, nqd, gctrl ? gctrl + (s * B + b) * nu : NULL, pg);
      memcpy(aq, nq_, (size_t)nq * sizeof(R));
      memcpy(aqd, nqd, (size_t)nv * sizeof(R));
    }
    art_add_start_grad(ds_rgrad(c->args[ART_NMODEL]), ds_rgrad(c->args[ART_NMODEL + 1]), b, aq, aqd, nq, nv);
  }
}

/* dual (ART_ADJ_*): the step's adjoint analytic, recorded on the tape, or by
 * dual directions (the reference path); the other kernels record unless dual */
static int run_adjoint(const ds_call *c, const kspec *ks, double dt, int rollout, int dual) {
  art_topo t;
  int rc = art_check_model(c, &t);
  if (!rc) rc = art_check_values(c, &t);
  if (rc) return rc;
  adj_job j;
  memset(&j, 0, sizeof j);
  j.c = c, j.ks = ks, j.t = &t, j.dt = dt, j.B = c->args[ART_NMODEL]->dims[0];
  if (ks->kind == ART_STEP) j.wks = &art_ks_step_ws;
  j.T = rollout ? c->args[ART_NMODEL + 2]->dims[0] : 0;
  for (int k = 0; k < P_COUNT; k++) {
    j.pcount[k] = c->args[3 + k]->count; /* every parameter's values enter the dual model */
  }
  for (int k = 0; k < P_COUNT; k++)
    if ((j.pact[k] = ds_rgrad(c->args[3 + k]) != NULL)) j.pdirs += j.pcount[k];
  /* the dual model holds every parameter; only those with gradients get directions */
  j.wsize = al64(ws_bytes(&j));
  const size_t nb = (size_t)art_blocks(j.B);
  j.ws = c->host->scratch(c, j.wsize * nb + al64((size_t)j.B * (size_t)(j.pdirs + 1) * sizeof(R)) +
                                 al64((size_t)j.B * 2 * (size_t)(t.nq + t.nv) * sizeof(R)));
  if (!j.ws) return c->host->error(c, "out of memory for the adjoint of %lld batch elements", (long long)j.B);
  j.pgrad = (R *)(j.ws + j.wsize * nb);
  j.adj = (R *)((char *)j.pgrad + al64((size_t)j.B * (size_t)(j.pdirs + 1) * sizeof(R)));
  memset(j.pgrad, 0, (size_t)j.B * (size_t)(j.pdirs + 1) * sizeof(R));
  j.tapes = art_tapes(c, dual == ART_ADJ_DUAL);
  j.analytic = dual == ART_ADJ_ANALYTIC;
  c->host->parallel_for(c->ctx, j.B, art_grain(j.B), adj_block, &j);
  if ((rc = art_tapes_check(c, j.tapes, j.B))) return rc;
  /* parameter gradients: summed over the batch in index order */
  if (j.pdirs) {
    int64_t o = 0;
    for (int k = 0; k < P_COUNT; k++) {
      R *g = ds_rgrad(c->args[3 + k]);
      if (!g) continue;
      for (int64_t e = 0; e < j.pcount[k]; e++, o++) {
        double s = 0;
        for (int64_t b = 0; b < j.B; b++) s += j.pgrad[b * j.pdirs + o];
        g[e] += (R)s;
      }
    }
  }
  return DS_OK;
}

/* ---- the kernel tables -------------------------------------------------- */
#define FK_ARGS(A) MODEL_FIELDS(A) A(q, DS_IN, DS_REAL, 2, 0) A(xpos, DS_OUT, DS_REAL, 3, 0) A(xmat, DS_OUT, DS_REAL, 3, 0)
#define RNEA_ARGS(A)                                                                                     \
  MODEL_FIELDS(A) A(q, DS_IN, DS_REAL, 2, 0) A(qd, DS_IN, DS_REAL, 2, 0) A(qdd, DS_IN, DS_REAL, 2, 0)     \
  A(tau, DS_OUT, DS_REAL, 2, 0)
#define CRBA_ARGS(A) MODEL_FIELDS(A) A(q, DS_IN, DS_REAL, 2, 0) A(M, DS_OUT, DS_REAL, 3, 0)
#define ABA_ARGS(A)                                                                                      \
  MODEL_FIELDS(A) A(q, DS_IN, DS_REAL, 2, 0) A(qd, DS_IN, DS_REAL, 2, 0) A(tau, DS_IN, DS_REAL, 2, 0)     \
  A(qdd, DS_OUT, DS_REAL, 2, 0)
#define STEP_ARGS(A)                                                                                     \
  MODEL_FIELDS(A) A(q, DS_IN, DS_REAL, 2, 0) A(qd, DS_IN, DS_REAL, 2, 0) A(ctrl, DS_IN, DS_REAL, 2, 0)    \
  A(q_out, DS_OUT, DS_REAL, 2, 0) A(qd_out, DS_OUT, DS_REAL, 2, 0)
#define ROLLOUT_ARGS(A)                                                                                  \
  MODEL_FIELDS(A) A(q0, DS_IN, DS_REAL, 2, 0) A(qd0, DS_IN, DS_REAL, 2, 0) A(ctrl, DS_IN, DS_REAL, 3, 0)  \
  A(qs, DS_OUT, DS_REAL, 3, 0) A(qds, DS_OUT, DS_REAL, 3, 0)
#define MOMENTUM_ARGS(A) MODEL_FIELDS(A) A(q, DS_IN, DS_REAL, 2, 0) A(qd, DS_IN, DS_REAL, 2, 0) A(h, DS_OUT, DS_REAL, 2, 0)
/* dual: the step's adjoint (kernels.h, ART_ADJ_*): 0 the reverse-mode tape,
 * 1 dual-number directions, 2 analytic (slower ones kept so tests can compare) */
#define DT_PARAMS(P) P(dt) P(dual)
DS_DECLARE_ARGS(fk, FK_ARGS)
DS_DECLARE_ARGS(rnea, RNEA_ARGS)
DS_DECLARE_ARGS(crba, CRBA_ARGS)
DS_DECLARE_ARGS(aba, ABA_ARGS)
DS_DECLARE_ARGS(step, STEP_ARGS)
DS_DECLARE_ARGS(momentum, MOMENTUM_ARGS)
DS_DECLARE_ARGS(rollout, ROLLOUT_ARGS)
DS_DECLARE_PARAMS(step, DT_PARAMS)

static const kspec ks_fk = {ART_FK, 1, 2, {D_NQ}, {D_NL3, D_NL9}};
static const kspec ks_rnea = {ART_RNEA, 3, 1, {D_NQ, D_NV, D_NV}, {D_NV}};
static const kspec ks_crba = {ART_CRBA, 1, 1, {D_NQ}, {D_NVNV}};
static const kspec ks_aba = {ART_ABA, 3, 1, {D_NQ, D_NV, D_NV}, {D_NV}};
static const kspec ks_momentum = {ART_MOMENTUM, 2, 1, {D_NQ, D_NV}, {D_6}};
static const kspec ks_step = {ART_STEP, 3, 2, {D_NQ, D_NV, D_NU}, {D_NQ, D_NV}};

static int dt_of(const ds_call *c, double *dt) {
  *dt = c->params[0];
  if (!(*dt > 0) || !isfinite(*dt)) return c->host->error(c, "param 'dt' must be positive and finite, got %g", *dt);
  return art_check_dual(c, c->params[1]);
}

#define PLAIN_KERNEL(name, ks)                                                                          \
  static int name##_check(const ds_call *c) { return check_common(c, &ks, 0); }                          \
  static int name##_forward(const ds_call *c) { return run_forward(c, &ks, 0, 0); }                      \
  static int name##_adjoint(const ds_call *c) { return run_adjoint(c, &ks, 0, 0, 0); }                      \
  const ds_kernel_desc art_##name##_kernel = {#name, name##_args, NULL, name##_check, {[DS_CPU] = name##_forward}, \
                                              {[DS_CPU] = name##_adjoint}};
PLAIN_KERNEL(fk, ks_fk)
PLAIN_KERNEL(rnea, ks_rnea)
PLAIN_KERNEL(crba, ks_crba)
PLAIN_KERNEL(aba, ks_aba)
PLAIN_KERNEL(momentum, ks_momentum)

static int step_check(const ds_call *c) {
  double dt;
  int rc = dt_of(c, &dt);
  return rc ? rc : check_common(c, &ks_step, 0);
}
static int step_forward(const ds_call *c) { return run_forward(c, &ks_step, c->params[0], 0); }
static int step_adjoint(const ds_call *c) { return run_adjoint(c, &ks_step, c->params[0], 0, (int)c->params[1]); }
const ds_kernel_desc art_step_kernel = {"step", step_args, step_param_names, step_check, {[DS_CPU] = step_forward},
                                        {[DS_CPU] = step_adjoint}};

static int rollout_check(const ds_call *c) {
  double dt;
  int rc = dt_of(c, &dt);
  return rc ? rc : check_common(c, &ks_step, 1);
}
static int rollout_forward(const ds_call *c) { return run_forward(c, &ks_step, c->params[0], 1); }
static int rollout_adjoint(const ds_call *c) { return run_adjoint(c, &ks_step, c->params[0], 1, (int)c->params[1]); }
const ds_kernel_desc art_rollout_kernel = {"rollout", rollout_args, step_param_names, rollout_check,
                                           {[DS_CPU] = rollout_forward}, {[DS_CPU] = rollout_adjoint}};
