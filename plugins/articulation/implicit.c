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
static int setup(const ds_call *c, art_topo *t, adj_job *j, dual_ws *w, ictx *u, R **tmp, int adjoint) {
  int rc = art_check_model(c, t);
  if (!rc) rc = adjoint ? art_check_values(c, t) : check_data(c, &ks_istep, t, 0);
  if (rc) return rc;
  memset(j, 0, sizeof *j);
  j->c = c, j->ks = &ks_ires, j->t = t, j->dt = c->params[0], j->B = c->args[ART_NMODEL]->dims[0];
  for (int k = 0; k < P_COUNT; k++) {
    j->pcount[k] = c->args[3 + k]->count;
    if ((j->pact[k] = adjoint && ds_rgrad(c->args[3 + k]) != NULL)) j->pdirs += j->pcount[k];
  }
  const int nv = t->nv, nq = t->nq;
  j->wsize = al64(ws_bytes(j));
  const size_t wr = al64(art_work_r(t)), nreal = (size_t)(nq + 2 * nv * nv + 6 * nv + 2 * nq + j->pdirs + 8);
  char *base = c->host->scratch(c, j->wsize + wr + al64(nreal * sizeof(R)) + al64((size_t)nv * nv * 2 * sizeof(int32_t)));
  if (!base) return c->host->error(c, "out of memory for the implicit step");
  ws_layout(j, base, w);
  u->work = base + j->wsize;
  R *r = (R *)(base + j->wsize + wr);
  u->qhat = r, r += nq;
  u->Jv = r, r += (size_t)nv * nv;
  *tmp = r;
  j->pgrad = r + (size_t)nv * nv + 6 * nv + 2 * nq;
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

static int istep_forward(const ds_call *c) {
  art_topo t;
  adj_job j;
  dual_ws w;
  ictx u;
  R *tmp;
  int rc = setup(c, &t, &j, &w, &u, &tmp, 0);
  if (rc) return rc;
  const int nq = t.nq, nv = t.nv, nu = t.nu;
  const ds_newton_fns fns = {&u, residual, solve};
  const ds_newton_opts opts = {0, 0, 0, "articulation.implicit_step"};
  for (int64_t b = 0; b < j.B && !rc; b++) {
    u.q = ds_rdata(c->args[ART_NMODEL]) + b * nq;
    u.qd = ds_rdata(c->args[ART_NMODEL + 1]) + b * nv;
    u.ctrl = ds_rdata(c->args[ART_NMODEL + 2]) + b * nu;
    R *qo = ds_rdata(c->args[ART_NMODEL + 3]) + b * nq, *y = ds_rdata(c->args[ART_NMODEL + 4]) + b * nv;
    /* warm start: the semi-implicit step */
    const R *in[3] = {u.q, u.qd, u.ctrl};
    R *out[2] = {qo, y};
    art_eval_r(ART_STEP, &t, u.p, in, out, u.dt, u.work);
    for (int k = 0; k < nv; k++)
      if (!isfinite(y[k])) memcpy(y, u.qd, (size_t)nv * sizeof(R));
    rc = c->host->solve->newton(c->ctx, nv, y, &fns, &opts, NULL);
    if (!rc) rc = residual(&u, y, tmp);
    if (!rc) memcpy(qo, u.qhat, (size_t)nq * sizeof(R));
  }
  c->host->solve->sparse_free(u.J);
  return rc;
}

static int istep_adjoint(const ds_call *c) {
  art_topo t;
  adj_job j;
  dual_ws w;
  ictx u;
  R *tmp;
  int rc = setup(c, &t, &j, &w, &u, &tmp, 1);
  if (rc) return rc;
  const int nq = t.nq, nv = t.nv, nu = t.nu;
  R *ybar = tmp, *lam = ybar + nv, *gqd = lam + nv, *gq = gqd + 2 * nv;
  R *gq_in = ds_rgrad(c->args[ART_NMODEL]), *gqd_in = ds_rgrad(c->args[ART_NMODEL + 1]);
  R *gctrl = ds_rgrad(c->args[ART_NMODEL + 2]);
  const R *gqo = ds_rgrad(c->args[ART_NMODEL + 3]), *gvo = ds_rgrad(c->args[ART_NMODEL + 4]);
  for (int64_t b = 0; b < j.B && !rc; b++) {
    u.q = ds_rdata(c->args[ART_NMODEL]) + b * nq;
    u.qd = ds_rdata(c->args[ART_NMODEL + 1]) + b * nv;
    u.ctrl = ds_rdata(c->args[ART_NMODEL + 2]) + b * nu;
    const R *v = ds_rdata(c->args[ART_NMODEL + 4]) + b * nv;
    const R *ins[4] = {u.q, u.qd, u.ctrl, v};
    /* vbar = gradient of v' plus the path through q' = q (+) dt v; q's direct path into gq */
    for (int k = 0; k < nv; k++) ybar[k] = gvo ? gvo[b * nv + k] : 0;
    for (int k = 0; k < nq; k++) gq[k] = 0;
    if (gqo) {
      R *gin[4] = {gq, NULL, NULL, ybar};
      const R *gout[2] = {NULL, gqo + b * nq};
      contract(&j, &w, &ks_ires, ins, gin, gout, NULL);
    }
    /* lambda = (dG/dv)^-T vbar at the solution */
    rc = jacobian(&u, v);
    if (!rc) {
      const ds_jacobian J = {u.J, DS_SOLVE_UMFPACK, NULL, NULL};
      rc = c->host->solve->ift_adjoint(c->ctx, &J, ybar, lam, NULL);
    }
    if (rc) break;
    for (int k = 0; k < nv; k++) lam[k] = -lam[k];
    for (int k = 0; k < nv; k++) gqd[k] = 0;
    R *gin[4] = {gq, gqd, gctrl ? gctrl + b * nu : NULL, NULL};
    const R *gout[2] = {lam, NULL};
    contract(&j, &w, &ks_ires, ins, gin, gout, j.pdirs ? j.pgrad : NULL);
    if (gq_in)
      for (int k = 0; k < nq; k++) gq_in[b * nq + k] += gq[k];
    if (gqd_in)
      for (int k = 0; k < nv; k++) gqd_in[b * nv + k] += gqd[k];
  }
  if (!rc && j.pdirs) { /* accumulated over the batch in index order */
    int64_t o = 0;
    for (int k = 0; k < P_COUNT; k++) {
      R *g = ds_rgrad(c->args[3 + k]);
      if (!j.pact[k]) continue;
      for (int64_t e = 0; e < j.pcount[k]; e++, o++) g[e] += j.pgrad[o];
    }
  }
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

const ds_kernel_desc art_implicit_step_kernel = {"implicit_step", istep_args, istep_param_names, istep_check,
                                                 {[DS_CPU] = istep_forward}, {[DS_CPU] = istep_adjoint}};
