/* articulation.nn_rollout: T steps of a network controller and the physics in
 * one launch, for B copies (the kit's fused MLP, core/include/diffsim/kit.h).
 *
 * Per step and copy: the observation x = [q, qd, sin, cos][obs] (obs: indices
 * into the state followed by a clock sin/cos(2 pi freq t + phase_b)), the
 * controls u = scale * mlp(x), then one semi-implicit step (dyn.inc). The
 * adjoint runs backward over the stored states: the step's adjoint by dual
 * numbers (kernels.c: contract), the network's by the kit's mlp_backward on a
 * recomputed forward; weight and model-parameter gradients are summed over the
 * batch in index order. */
#include <diffsim/kit_rollout.h>

#include "kernels.h"

#define NNR_ARGS(A)                                                                                      \
  ART_MODEL_ARGS(A) A(q0, DS_IN, DS_REAL, 2, 0) A(qd0, DS_IN, DS_REAL, 2, 0)                             \
  A(obs, DS_NODIFF, DS_I32, 1, 0) A(phase, DS_NODIFF, DS_REAL, 1, 0) A(spec, DS_NODIFF, DS_I32, 1, 0)     \
  A(qs, DS_OUT, DS_REAL, 3, 0) A(qds, DS_OUT, DS_REAL, 3, 0) A(acts, DS_OUT, DS_REAL, 3, 0)              \
  A(w, DS_IN, DS_REAL, -1, DS_LIST)
#define NNR_PARAMS(P) P(dt) P(steps) P(freq) P(scale) P(dual) /* dual: see kernels.c, DT_PARAMS */
DS_DECLARE_ARGS(nnr, NNR_ARGS)
DS_DECLARE_PARAMS(nnr, NNR_PARAMS)

static const kspec ks_nstep = {ART_STEP, 3, 2, {D_NQ, D_NV, D_NU}, {D_NQ, D_NV}};

static int nnr_check(const ds_call *c) {
  art_topo t;
  int rc = art_check_model(c, &t);
  if (rc) return rc;
  const nnr_argv *a = DS_ARGV(c, nnr);
  const nnr_params *p = DS_PARAMS(c, nnr);
  if (!(p->dt > 0) || !isfinite(p->dt)) return c->host->error(c, "param 'dt' must be positive and finite, got %g", p->dt);
  if (!(p->steps >= 1 && p->steps <= 1e9 && p->steps == (double)(int64_t)p->steps))
    return c->host->error(c, "param 'steps' must be an integer >= 1, got %g", p->steps);
  if (!isfinite(p->freq) || !isfinite(p->scale)) return c->host->error(c, "params 'freq' and 'scale' must be finite");
  if ((rc = art_check_dual(c, p->dual))) return rc;
  const int64_t B = a->q0->dims[0], T = (int64_t)p->steps;
  if ((rc = ds_expect_shape(c, DS_SLOT(nnr, qd0), 2, B, t.nv, -1, -1)) ||
      (rc = ds_expect_shape(c, DS_SLOT(nnr, phase), 1, B, -1, -1, -1)) ||
      (rc = ds_expect_shape(c, DS_SLOT(nnr, qs), 3, T + 1, B, a->q0->dims[1], -1)) ||
      (rc = ds_expect_shape(c, DS_SLOT(nnr, qds), 3, T + 1, B, t.nv, -1)) ||
      (rc = ds_expect_shape(c, DS_SLOT(nnr, acts), 3, T, B, t.nu, -1)))
    return rc;
  if ((rc = ds_kit_check_spec(c, DS_SLOT(nnr, spec), a->obs->count, t.nu, "one per entry of 'obs'",
                              "one per actuator")))
    return rc;
  const ds_kit_mlp net = ds_kit_net_of(a->spec);
  ds_kit_mlp_sizes sz;
  if ((rc = c->host->kit->mlp_query(c->ctx, &net, 1, &sz))) return rc;
  return ds_kit_check_weights(c, DS_SLOT(nnr, w), &net, sz.weights);
}

typedef struct nnr_job {
  const ds_call *c;
  const art_topo *t;
  const R *p[P_COUNT];
  ds_kit_mlp net;
  ds_kit_mlp_sizes sz;
  const R *w;
  int64_t B, T, no;
  const int32_t *obs;
  double dt, freq, scale;
  char *work;
  size_t wsize;
  int64_t *bad;
  /* adjoint */
  adj_job *aj;
  R *gw;      /* B x nw weight gradients */
  int gw_on;
} nnr_job;

/* x = the observation of state (q, qd) at step s of copy b */
static void observe(const nnr_job *j, const R *q, const R *qd, int64_t s, int64_t b, R *x) {
  const int nq = j->t->nq, nv = j->t->nv;
  const double ph = 2 * 3.14159265358979323846 * j->freq * (double)s * j->dt + (double)ds_rdata(DS_ARGV(j->c, nnr)->phase)[b];
  for (int64_t k = 0; k < j->no; k++) {
    const int i = j->obs[k];
    x[k] = i < nq ? q[i] : i < nq + nv ? qd[i - nq] : i == nq + nv ? (R)sin(ph) : (R)cos(ph);
  }
}

static void nnr_fwd_block(int64_t b0, int64_t b1, void *user) {
  const nnr_job *j = user;
  const ds_call *c = j->c;
  const nnr_argv *a = DS_ARGV(c, nnr);
  const int64_t nq = j->t->nq, nv = j->t->nv, nu = j->t->nu, B = j->B;
  char *mine = j->work + (size_t)(b0 / art_grain(j->B)) * j->wsize;
  R *x = (R *)(mine + al64(art_work_r(j->t))), *y = x + j->no, *save = y + nu;
  R *qs = ds_rdata(a->qs), *qds = ds_rdata(a->qds), *acts = ds_rdata(a->acts);
  for (int64_t b = b0; b < b1; b++) {
    memcpy(qs + b * nq, ds_rdata(a->q0) + b * nq, (size_t)nq * sizeof(R));
    memcpy(qds + b * nv, ds_rdata(a->qd0) + b * nv, (size_t)nv * sizeof(R));
    j->bad[b] = -1;
    for (int64_t s = 0; s < j->T; s++) {
      const R *q = qs + (s * B + b) * nq, *qd = qds + (s * B + b) * nv;
      R *u = acts + (s * B + b) * nu;
      observe(j, q, qd, s, b, x);
      j->c->host->kit->mlp_forward(&j->net, j->w, x, y, save);
      for (int64_t k = 0; k < nu; k++) u[k] = (R)(j->scale * y[k]);
      const R *in[3] = {q, qd, u};
      R *out[2] = {qs + ((s + 1) * B + b) * nq, qds + ((s + 1) * B + b) * nv};
      art_eval_r(ART_STEP, j->t, j->p, in, out, j->dt, mine);
      int ok = 1;
      for (int64_t k = 0; k < nq; k++) ok &= isfinite(out[0][k]) != 0;
      for (int64_t k = 0; k < nv; k++) ok &= isfinite(out[1][k]) != 0;
      if (!ok && j->bad[b] < 0) j->bad[b] = s;
    }
  }
}

static int nnr_setup(const ds_call *c, art_topo *t, nnr_job *j) {
  int rc = art_check_model(c, t);
  if (!rc) rc = art_check_values(c, t);
  if (rc) return rc;
  const nnr_argv *a = DS_ARGV(c, nnr);
  const nnr_params *p = DS_PARAMS(c, nnr);
  memset(j, 0, sizeof *j);
  j->c = c, j->t = t, j->B = a->q0->dims[0], j->T = (int64_t)p->steps, j->no = a->obs->count;
  j->dt = p->dt, j->freq = p->freq, j->scale = p->scale, j->obs = ds_idata(a->obs);
  if (a->q0->dims[1] != t->nq)
    return c->host->error(c, "argument 'q0' has %lld columns but the model has nq = %d", (long long)a->q0->dims[1], t->nq);
  for (int64_t k = 0; k < j->no; k++)
    if (j->obs[k] < 0 || j->obs[k] >= t->nq + t->nv + 2)
      return c->host->error(c, "argument 'obs' entry %lld is %d; observations index [q, qd, sin, cos]: 0..%d",
                            (long long)k, j->obs[k], t->nq + t->nv + 1);
  const R *ph = ds_rdata(a->phase);
  for (int64_t b = 0; b < j->B; b++)
    if (!isfinite(ph[b])) return c->host->error(c, "argument 'phase' entry %lld is not finite", (long long)b);
  for (int s = DS_SLOT(nnr, q0); s <= DS_SLOT(nnr, qd0); s++)
    if ((rc = art_check_finite(c, s))) return rc;
  if ((rc = ds_kit_check_weights_finite(c, DS_SLOT(nnr, w)))) return rc;
  for (int k = 0; k < P_COUNT; k++) j->p[k] = ds_rdata(c->args[3 + k]);
  j->net = ds_kit_net_of(a->spec);
  return c->host->kit->mlp_query(c->ctx, &j->net, 1, &j->sz);
}

static int nnr_forward(const ds_call *c) {
  art_topo t;
  nnr_job j;
  int rc = nnr_setup(c, &t, &j);
  if (rc) return rc;
  const int64_t nw = j.sz.weights;
  j.wsize = al64(art_work_r(&t)) + al64((size_t)(j.no + t.nu + j.sz.save) * sizeof(R));
  const size_t nb = (size_t)art_blocks(j.B);
  char *base = c->host->scratch(c, j.wsize * nb + al64((size_t)j.B * sizeof(int64_t)) + al64((size_t)nw * sizeof(R)));
  if (!base) return c->host->error(c, "out of memory for %lld copies", (long long)j.B);
  j.work = base;
  j.bad = (int64_t *)(base + j.wsize * nb);
  j.w = ds_kit_flat_weights(c, (R *)((char *)j.bad + al64((size_t)j.B * sizeof(int64_t))));
  c->host->parallel_for(c->ctx, j.B, art_grain(j.B), nnr_fwd_block, &j);
  for (int64_t b = 0; b < j.B; b++)
    if (j.bad[b] >= 0)
      return c->host->error(c, "batch element %lld: the state became non-finite at step %lld (dt = %g s too long for "
                               "the model's stiffness, or the controls too large)", (long long)b, (long long)j.bad[b], j.dt);
  return DS_OK;
}

static void nnr_adj_block(int64_t b0, int64_t b1, void *user) {
  const nnr_job *j = user;
  const ds_call *c = j->c;
  const nnr_argv *a = DS_ARGV(c, nnr);
  const adj_job *aj = j->aj;
  const int64_t nq = j->t->nq, nv = j->t->nv, nu = j->t->nu, B = j->B, nw = j->sz.weights;
  const R *qs = ds_rdata(a->qs), *qds = ds_rdata(a->qds), *acts = ds_rdata(a->acts);
  const R *gqs = ds_rgrad(a->qs), *gqds = ds_rgrad(a->qds), *gacts = ds_rgrad(a->acts);
  for (int64_t b = b0; b < b1; b++) {
    char *mine = aj->ws + (size_t)(b0 / art_grain(B)) * aj->wsize;
    dual_ws w;
    ws_layout(aj, mine, &w);
    ws_tape(aj, &w, b0);
    for (int k = 0; k < P_COUNT; k++) load(w.p[k], j->p[k], aj->pcount[k]);
    R *aq = (R *)(mine + j->wsize), *aqd = aq + nq, *nq_ = aqd + nv, *nqd = nq_ + nq, *gu = nqd + nv;
    R *x = gu + nu, *y = x + j->no, *gx = y + nu, *save = gx + j->no, *kscr = save + j->sz.save;
    R *pg = aj->pdirs ? aj->pgrad + b * aj->pdirs : NULL;
    R *gw = j->gw_on ? j->gw + b * nw : NULL;
    art_state_grad(aq, aqd, gqs, gqds, j->T * B + b, nq, nv);
    for (int64_t s = j->T - 1; s >= 0; s--) {
      const R *q = qs + (s * B + b) * nq, *qd = qds + (s * B + b) * nv, *u = acts + (s * B + b) * nu;
      art_state_grad(nq_, nqd, gqs, gqds, s * B + b, nq, nv);
      for (int64_t e = 0; e < nu; e++) gu[e] = gacts ? gacts[(s * B + b) * nu + e] : 0;
      step_vjp(aj, &w, q, qd, u, qds + ((s + 1) * B + b) * nv, aq, aqd, nq_, nqd, gu, pg);
      /* the controller: u = scale mlp(x(q, qd)) */
      observe(j, q, qd, s, b, x);
      c->host->kit->mlp_forward(&j->net, j->w, x, y, save);
      for (int64_t e = 0; e < nu; e++) gu[e] = (R)(gu[e] * j->scale);
      for (int64_t e = 0; e < j->no; e++) gx[e] = 0;
      c->host->kit->mlp_backward(&j->net, j->w, x, save, gu, gx, gw, kscr);
      for (int64_t e = 0; e < j->no; e++) {
        const int i = j->obs[e];
        if (i < nq) nq_[i] += gx[e];
        else if (i < nq + nv) nqd[i - nq] += gx[e];
      }
      memcpy(aq, nq_, (size_t)nq * sizeof(R));
      memcpy(aqd, nqd, (size_t)nv * sizeof(R));
    }
    art_add_start_grad(ds_rgrad(a->q0), ds_rgrad(a->qd0), b, aq, aqd, nq, nv);
  }
}

static int nnr_adjoint(const ds_call *c) {
  art_topo t;
  nnr_job j;
  int rc = nnr_setup(c, &t, &j);
  if (rc) return rc;
  adj_job aj;
  memset(&aj, 0, sizeof aj);
  aj.c = c, aj.ks = &ks_nstep, aj.wks = &art_ks_step_ws, aj.t = &t, aj.dt = j.dt, aj.B = j.B;
  for (int k = 0; k < P_COUNT; k++) {
    aj.pcount[k] = c->args[3 + k]->count;
    if ((aj.pact[k] = ds_rgrad(c->args[3 + k]) != NULL)) aj.pdirs += aj.pcount[k];
  }
  const int64_t nw = j.sz.weights, B = j.B;
  j.wsize = al64(ws_bytes(&aj));
  const size_t reals = (size_t)(2 * t.nq + 2 * t.nv + 2 * t.nu + 2 * j.no + j.sz.save + j.sz.scratch + 8);
  aj.wsize = j.wsize + al64(reals * sizeof(R));
  const size_t pbytes = al64((size_t)B * (size_t)(aj.pdirs + 1) * sizeof(R));
  const size_t gwbytes = al64((size_t)B * (size_t)nw * sizeof(R));
  const size_t nb = (size_t)art_blocks(B);
  char *base = c->host->scratch(c, aj.wsize * nb + pbytes + gwbytes + 2 * al64((size_t)nw * sizeof(R)));
  if (!base) return c->host->error(c, "out of memory for the adjoint of %lld copies", (long long)B);
  aj.ws = base;
  aj.pgrad = (R *)(base + aj.wsize * nb);
  memset(aj.pgrad, 0, pbytes);
  j.gw = (R *)((char *)aj.pgrad + pbytes);
  R *wflat = (R *)((char *)j.gw + gwbytes), *gflat = wflat + al64((size_t)nw * sizeof(R)) / sizeof(R);
  j.w = ds_kit_flat_weights(c, wflat);
  R *gwt = ds_kit_weight_grad_begin(c, gflat, nw);
  j.gw_on = gwt != NULL;
  if (j.gw_on) memset(j.gw, 0, (size_t)B * (size_t)nw * sizeof(R));
  j.aj = &aj;
  aj.tapes = art_tapes(c, DS_PARAMS(c, nnr)->dual == ART_ADJ_DUAL);
  aj.analytic = DS_PARAMS(c, nnr)->dual == ART_ADJ_ANALYTIC;
  c->host->parallel_for(c->ctx, B, art_grain(B), nnr_adj_block, &j);
  if ((rc = art_tapes_check(c, aj.tapes, B))) return rc;
  if (j.gw_on) {
    for (int64_t e = 0; e < nw; e++) {
      double s = 0;
      for (int64_t b = 0; b < B; b++) s += j.gw[b * nw + e];
      gwt[e] += (R)s;
    }
    ds_kit_weight_grad_end(c, gwt);
  }
  if (aj.pdirs) {
    int64_t o = 0;
    for (int k = 0; k < P_COUNT; k++) {
      R *g = ds_rgrad(c->args[3 + k]);
      if (!aj.pact[k]) continue;
      for (int64_t e = 0; e < aj.pcount[k]; e++, o++) {
        double s = 0;
        for (int64_t b = 0; b < B; b++) s += aj.pgrad[b * aj.pdirs + o];
        g[e] += (R)s;
      }
    }
  }
  return DS_OK;
}

const ds_kernel_desc art_nn_rollout_kernel = {"nn_rollout", nnr_args, nnr_param_names, nnr_check,
                                              {[DS_CPU] = nnr_forward}, {[DS_CPU] = nnr_adjoint}};
