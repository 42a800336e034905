/* articulation.implicit_step: one step of implicit (backward) Euler.
 *
 * The end velocity v solves G(v) = 0 (dyn.inc, implicit_residual: the
 * equations of motion at the end of the step, contact and joint forces
 * included) by the core's Newton method (host->solve->newton); the Jacobian
 * dG/dv comes from dual numbers (nv directions) and is solved with UMFPACK
 * (it is not symmetric: friction, damping along moving axes). The adjoint is
 * the implicit-function one: lambda = (dG/dv)^-T vbar by one transposed solve
 * (host->solve->ift_adjoint, reusing the factorization), then
 * xbar = -(dG/dx)^T lambda for x = q, qd, ctrl and every model parameter, by
 * dual directions; q' = q (+) dt v adds its own path. Never an unrolled solver. */
#include <diffsim/solve.h>

#include "kernels.h"

static const kspec ks_istep = {ART_STEP, 3, 2, {D_NQ, D_NV, D_NU}, {D_NQ, D_NV}};
static const kspec ks_ires = {ART_IRES, 4, 2, {D_NQ, D_NV, D_NU, D_NV}, {D_NV, D_NQ}};

typedef struct ictx {
  const ds_call *c;
  const art_topo *t;
  const R *p[P_COUNT];
  const R *q, *qd, *ctrl;
  double dt;
  void *work;      /* real evaluation work */
  R *qhat, *Jv;    /* nq; nv * nv row major */
  adj_job *j;
  dual_ws *w;
  ds_sparse *J;
} ictx;

static int residual(void *user, const R *y, R *G) {
  ictx *u = user;
  const R *in[4] = {u->q, u->qd, u->ctrl, y};
  R *out[2] = {G, u->qhat};
  art_eval_r(ART_IRES, u->t, u->p, in, out, u->dt, u->work);
  for (int k = 0; k < u->t->nv; k++)
    if (!isfinite(G[k])) return u->c->host->error(u->c, "the implicit Euler residual is not finite (dt too large?)");
  return DS_OK;
}

/* dG/dv at y into the sparse matrix (dense pattern), column by column in dual lanes. */
static int jacobian(ictx *u, const R *y) {
  const int nv = u->t->nv;
  dual_ws *w = u->w;
  const R *ins[4] = {u->q, u->qd, u->ctrl, y};
  for (int k = 0; k < 4; k++) load(w->in[k], ins[k], dimsize(u->t, ks_ires.in[k]));
  for (int c0 = 0; c0 < nv; c0 += NL) {
    const int lanes = nv - c0 < NL ? nv - c0 : NL;
    for (int l = 0; l < lanes; l++) w->in[3][c0 + l].d[l] = 1;
    art_eval_d(ART_IRES, u->t, (const dn *const *)w->p, (const dn *const *)w->in, w->out, u->dt, w->work);
    for (int l = 0; l < lanes; l++) {
      for (int i = 0; i < nv; i++) u->Jv[i * nv + c0 + l] = w->out[0][i].d[l];
      w->in[3][c0 + l].d[l] = 0;
    }
  }
  return u->c->host->solve->sparse_set_values(u->J, u->Jv);
}

static int solve(void *user, const R *y, const R *G, R *dy) {
  ictx *u = user;
  int rc = jacobian(u, y);
  if (rc) return rc;
  return u->c->host->solve->sparse_solve(u->J, DS_SOLVE_UMFPACK, 0, G, dy, NULL, NULL);
}

/* Everything a call needs, carved from one scratch block. */
static int setup(const ds_call *c, art_topo *t, adj_job *j, dual_ws *w, ictx *u, R **tmp, int adjoint, int rollout) {
  int rc = art_check_model(c, t);
  if (!rc) rc = adjoint ? art_check_values(c, t) : check_data(c, &ks_istep, t, rollout);
  if (rc) return rc;
  memset(j, 0, sizeof *j);
  j->c = c, j->ks = &ks_ires, j->t = t, j->dt = c->params[0], j->B = c->args[ART_NMODEL]->dims[0];
  for (int k = 0; k < P_COUNT; k++) {
    j->pcount[k] = c->args[3 + k]->count;
    if ((j->pact[k] = adjoint && ds_rgrad(c->args[3 + k]) != NULL)) j->pdirs += j->pcount[k];
  }
  const int nv = t->nv, nq = t->nq;
  j->wsize = al64(ws_bytes(j));
  const size_t wr = al64(art_work_r(t)), nreal = (size_t)(nq + 2 * nv * nv + 8 * nv + 4 * nq + j->pdirs + 8);
  char *base = c->host->scratch(c, j->wsize + wr + al64(nreal * sizeof(R)) + al64((size_t)nv * nv * 2 * sizeof(int32_t)));
  if (!base) return c->host->error(c, "out of memory for the implicit step");
  ws_layout(j, base, w);
  u->work = base + j->wsize;
  R *r = (R *)(base + j->wsize + wr);
  u->qhat = r, r += nq;
  u->Jv = r, r += (size_t)nv * nv;
  *tmp = r;
  j->pgrad = r + (size_t)nv * nv + 8 * nv + 4 * nq;
  memset(j->pgrad, 0, (size_t)(j->pdirs + 1) * sizeof(R));
  int32_t *rows = (int32_t *)((char *)base + j->wsize + wr + al64(nreal * sizeof(R))), *cols = rows + nv * nv;
  for (int i = 0; i < nv; i++)
    for (int k = 0; k < nv; k++) rows[i * nv + k] = i, cols[i * nv + k] = k;
  for (int k = 0; k < nv * nv; k++) u->Jv[k] = 0;
  u->J = c->host->solve->sparse_new(c->ctx, nv, nv, (int64_t)nv * nv, rows, cols, u->Jv);
  if (!u->J) return DS_ERR_ARG;
  u->c = c, u->t = t, u->dt = c->params[0], u->j = j, u->w = w;
  for (int k = 0; k < P_COUNT; k++) u->p[k] = ds_rdata(c->args[3 + k]);
  for (int k = 0; k < P_COUNT; k++) load(w->p[k], u->p[k], j->pcount[k]);
  return DS_OK;
}

/* One step from (q, qd, ctrl): qo, vo (nq, nv) receive the solution. */
static int solve_one(ictx *u, const R *q, const R *qd, const R *ctrl, R *qo, R *vo, R *tmp) {
  const art_topo *t = u->t;
  const ds_call *c = u->c;
  const ds_newton_fns fns = {.user = u, .residual = residual, .solve = solve};
  const ds_newton_opts opts = {.label = "articulation.implicit_step"};
  u->q = q, u->qd = qd, u->ctrl = ctrl;
  /* warm start: the semi-implicit step */
  const R *in[3] = {q, qd, ctrl};
  R *out[2] = {qo, vo};
  art_eval_r(ART_STEP, t, u->p, in, out, u->dt, u->work);
  for (int k = 0; k < t->nv; k++)
    if (!isfinite(vo[k])) memcpy(vo, qd, (size_t)t->nv * sizeof(R));
  int rc = c->host->solve->newton(c->ctx, t->nv, vo, &fns, &opts, NULL);
  if (!rc) rc = residual(u, vo, tmp);
  if (!rc) memcpy(qo, u->qhat, (size_t)t->nq * sizeof(R));
  return rc;
}

/* The adjoint of one step whose solution is v: adds to gq, gqd, gctrl (each may
 * be NULL) and pg the gradients from gqo, gvo (may be NULL). tmp: 4 nv + nq. */
static int adjoint_one(ictx *u, const R *q, const R *qd, const R *ctrl, const R *v, const R *gqo, const R *gvo, R *gq,
                       R *gqd, R *gctrl, R *pg, R *tmp) {
  const art_topo *t = u->t;
  const ds_call *c = u->c;
  const int nq = t->nq, nv = t->nv;
  R *ybar = tmp, *lam = ybar + nv, *lgqd = lam + nv, *lgq = lgqd + 2 * nv;
  u->q = q, u->qd = qd, u->ctrl = ctrl;
  const R *ins[4] = {q, qd, ctrl, v};
  /* vbar = gradient of v' plus the path through q' = q (+) dt v; q's direct path into lgq */
  for (int k = 0; k < nv; k++) ybar[k] = gvo ? gvo[k] : 0;
  for (int k = 0; k < nq; k++) lgq[k] = 0;
  if (gqo) {
    R *gin[4] = {lgq, NULL, NULL, ybar};
    const R *gout[2] = {NULL, gqo};
    contract(u->j, u->w, &ks_ires, ins, gin, gout, NULL);
  }
  /* lambda = (dG/dv)^-T vbar at the solution */
  int rc = jacobian(u, v);
  if (!rc) {
    const ds_jacobian J = {u->J, DS_SOLVE_UMFPACK, NULL, NULL};
    rc = c->host->solve->ift_adjoint(c->ctx, &J, ybar, lam, NULL);
  }
  if (rc) return rc;
  for (int k = 0; k < nv; k++) lam[k] = -lam[k], lgqd[k] = 0;
  R *gin[4] = {lgq, lgqd, gctrl, NULL};
  const R *gout[2] = {lam, NULL};
  contract(u->j, u->w, &ks_ires, ins, gin, gout, pg);
  if (gq)
    for (int k = 0; k < nq; k++) gq[k] += lgq[k];
  if (gqd)
    for (int k = 0; k < nv; k++) gqd[k] += lgqd[k];
  return DS_OK;
}

/* Parameter gradients, accumulated over the batch (and steps) in index order. */
static void param_grads(const ds_call *c, const adj_job *j) {
  int64_t o = 0;
  for (int k = 0; k < P_COUNT; k++) {
    R *g = ds_rgrad(c->args[3 + k]);
    if (!j->pact[k]) continue;
    for (int64_t e = 0; e < j->pcount[k]; e++, o++) g[e] += j->pgrad[o];
  }
}

static int istep_forward(const ds_call *c) {
  art_topo t;
  adj_job j;
  dual_ws w;
  ictx u;
  R *tmp;
  int rc = setup(c, &t, &j, &w, &u, &tmp, 0, 0);
  if (rc) return rc;
  const int nq = t.nq, nv = t.nv, nu = t.nu;
  for (int64_t b = 0; b < j.B && !rc; b++)
    rc = solve_one(&u, ds_rdata(c->args[ART_NMODEL]) + b * nq, ds_rdata(c->args[ART_NMODEL + 1]) + b * nv,
                   ds_rdata(c->args[ART_NMODEL + 2]) + b * nu, ds_rdata(c->args[ART_NMODEL + 3]) + b * nq,
                   ds_rdata(c->args[ART_NMODEL + 4]) + b * nv, tmp);
  c->host->solve->sparse_free(u.J);
  return rc;
}

static int istep_adjoint(const ds_call *c) {
  art_topo t;
  adj_job j;
  dual_ws w;
  ictx u;
  R *tmp;
  int rc = setup(c, &t, &j, &w, &u, &tmp, 1, 0);
  if (rc) return rc;
  const int nq = t.nq, nv = t.nv, nu = t.nu;
  R *gq = ds_rgrad(c->args[ART_NMODEL]), *gqd = ds_rgrad(c->args[ART_NMODEL + 1]);
  R *gctrl = ds_rgrad(c->args[ART_NMODEL + 2]);
  const R *gqo = ds_rgrad(c->args[ART_NMODEL + 3]), *gvo = ds_rgrad(c->args[ART_NMODEL + 4]);
  for (int64_t b = 0; b < j.B && !rc; b++)
    rc = adjoint_one(&u, ds_rdata(c->args[ART_NMODEL]) + b * nq, ds_rdata(c->args[ART_NMODEL + 1]) + b * nv,
                     ds_rdata(c->args[ART_NMODEL + 2]) + b * nu, ds_rdata(c->args[ART_NMODEL + 4]) + b * nv,
                     gqo ? gqo + b * nq : NULL, gvo ? gvo + b * nv : NULL, gq ? gq + b * nq : NULL,
                     gqd ? gqd + b * nv : NULL, gctrl ? gctrl + b * nu : NULL, j.pdirs ? j.pgrad : NULL, tmp);
  if (!rc && j.pdirs) param_grads(c, &j);
  c->host->solve->sparse_free(u.J);
  return rc;
}

/* ---- articulation.implicit_rollout: T implicit steps in one launch ------- */
static int irol_forward(const ds_call *c) {
  art_topo t;
  adj_job j;
  dual_ws w;
  ictx u;
  R *tmp;
  int rc = setup(c, &t, &j, &w, &u, &tmp, 0, 1);
  if (rc) return rc;
  const int64_t nq = t.nq, nv = t.nv, nu = t.nu, B = j.B, T = c->args[ART_NMODEL + 2]->dims[0];
  R *qs = ds_rdata(c->args[ART_NMODEL + 3]), *qds = ds_rdata(c->args[ART_NMODEL + 4]);
  const R *ctrl = ds_rdata(c->args[ART_NMODEL + 2]);
  for (int64_t b = 0; b < B && !rc; b++) {
    memcpy(qs + b * nq, ds_rdata(c->args[ART_NMODEL]) + b * nq, (size_t)nq * sizeof(R));
    memcpy(qds + b * nv, ds_rdata(c->args[ART_NMODEL + 1]) + b * nv, (size_t)nv * sizeof(R));
    for (int64_t s = 0; s < T && !rc; s++)
      rc = solve_one(&u, qs + (s * B + b) * nq, qds + (s * B + b) * nv, ctrl + (s * B + b) * nu,
                     qs + ((s + 1) * B + b) * nq, qds + ((s + 1) * B + b) * nv, tmp);
  }
  c->host->solve->sparse_free(u.J);
  return rc;
}

static int irol_adjoint(const ds_call *c) {
  art_topo t;
  adj_job j;
  dual_ws w;
  ictx u;
  R *tmp;
  int rc = setup(c, &t, &j, &w, &u, &tmp, 1, 1);
  if (rc) return rc;
  const int64_t nq = t.nq, nv = t.nv, nu = t.nu, B = j.B, T = c->args[ART_NMODEL + 2]->dims[0];
  const R *qs = ds_rdata(c->args[ART_NMODEL + 3]), *qds = ds_rdata(c->args[ART_NMODEL + 4]);
  const R *ctrl = ds_rdata(c->args[ART_NMODEL + 2]);
  const R *gqs = ds_rgrad(c->args[ART_NMODEL + 3]), *gqds = ds_rgrad(c->args[ART_NMODEL + 4]);
  R *gctrl = ds_rgrad(c->args[ART_NMODEL + 2]);
  R *aq = tmp + 4 * nv + nq, *aqd = aq + nq, *nq_ = aqd + nv, *nqd = nq_ + nq;
  for (int64_t b = 0; b < B && !rc; b++) {
    art_state_grad(aq, aqd, gqs, gqds, T * B + b, nq, nv);
    for (int64_t s = T - 1; s >= 0 && !rc; s--) {
      art_state_grad(nq_, nqd, gqs, gqds, s * B + b, nq, nv);
      rc = adjoint_one(&u, qs + (s * B + b) * nq, qds + (s * B + b) * nv, ctrl + (s * B + b) * nu,
                       qds + ((s + 1) * B + b) * nv, aq, aqd, nq_, nqd, gctrl ? gctrl + (s * B + b) * nu : NULL,
                       j.pdirs ? j.pgrad : NULL, tmp);
      memcpy(aq, nq_, (size_t)nq * sizeof(R));
      memcpy(aqd, nqd, (size_t)nv * sizeof(R));
    }
    art_add_start_grad(ds_rgrad(c->args[ART_NMODEL]), ds_rgrad(c->args[ART_NMODEL + 1]), b, aq, aqd, nq, nv);
  }
  if (!rc && j.pdirs) param_grads(c, &j);
  c->host->solve->sparse_free(u.J);
  return rc;
}

#define ISTEP_ARGS(A)                                                                                    \
  ART_MODEL_ARGS(A) A(q, DS_IN, DS_REAL, 2, 0) A(qd, DS_IN, DS_REAL, 2, 0) A(ctrl, DS_IN, DS_REAL, 2, 0)  \
  A(q_out, DS_OUT, DS_REAL, 2, 0) A(qd_out, DS_OUT, DS_REAL, 2, 0)
#define ISTEP_PARAMS(P) P(dt)
DS_DECLARE_ARGS(istep, ISTEP_ARGS)
DS_DECLARE_PARAMS(istep, ISTEP_PARAMS)

static int istep_check(const ds_call *c) {
  const double dt = c->params[0];
  if (!(dt > 0) || !isfinite(dt)) return c->host->error(c, "param 'dt' must be positive and finite, got %g", dt);
  return check_common(c, &ks_istep, 0);
}

#define IROL_ARGS(A)                                                                                     \
  ART_MODEL_ARGS(A) A(q0, DS_IN, DS_REAL, 2, 0) A(qd0, DS_IN, DS_REAL, 2, 0) A(ctrl, DS_IN, DS_REAL, 3, 0) \
  A(qs, DS_OUT, DS_REAL, 3, 0) A(qds, DS_OUT, DS_REAL, 3, 0)
DS_DECLARE_ARGS(irol, IROL_ARGS)

static int irol_check(const ds_call *c) {
  const double dt = c->params[0];
  if (!(dt > 0) || !isfinite(dt)) return c->host->error(c, "param 'dt' must be positive and finite, got %g", dt);
  return check_common(c, &ks_istep, 1);
}

const ds_kernel_desc art_implicit_rollout_kernel = {"implicit_rollout", irol_args, istep_param_names, irol_check,
                                                    {[DS_CPU] = irol_forward}, {[DS_CPU] = irol_adjoint}};

const ds_kernel_desc art_implicit_step_kernel = {"implicit_step", istep_args, istep_param_names, istep_check,
                                                 {[DS_CPU] = istep_forward}, {[DS_CPU] = istep_adjoint}};
