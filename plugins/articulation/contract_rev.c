/* articulation: the reverse-mode contraction (rev.h) behind contract() and the
 * per-context tapes it records on.
 *
 * One recorded evaluation marks the active inputs (parameters with a gradient,
 * inputs whose gradient is wanted) as leaves, seeds the outputs' nodes with
 * the outputs' gradients and sweeps once: every input's adjoint at the cost of
 * a few forward evaluations, whatever the number of inputs. */
#include <string.h>

#include "kernels.h"

void art_state_destroy(void *state) {
  art_state *st = state;
  for (int b = 0; b < ART_MAX_BLOCKS; b++) rt_free(&st->tapes[b]);
}

rtape *art_tapes(const ds_call *c, int dual) {
  if (dual) return NULL;
  art_state *st = c->state;
  for (int b = 0; b < ART_MAX_BLOCKS; b++) st->tapes[b].host = c->host, st->tapes[b].oom = 0, st->tapes[b].len = 0;
  return st->tapes;
}

int art_tapes_check(const ds_call *c, const rtape *tapes, int64_t B) {
  if (!tapes) return DS_OK;
  for (int64_t b = 0; b < art_blocks(B); b++)
    if (tapes[b].oom)
      return c->host->error(c, "out of memory for the reverse-mode tape of the adjoint (%lld nodes recorded; "
                               "the limit is 2^31 per step)", (long long)tapes[b].len);
  return DS_OK;
}

void ws_tape(const adj_job *j, dual_ws *w, int64_t b0) {
  w->tape = j->tapes ? &j->tapes[b0 / art_grain(j->B)] : NULL;
}

/* Marks n values as leaves (when active) or constants; returns the first leaf's node. */
static int32_t mark(rtape *tp, rn *x, const R *v, int64_t n, int active) {
  int32_t first = (int32_t)tp->len;
  for (int64_t e = 0; e < n; e++) x[e] = active ? rn_leaf(tp, v[e]) : rn_c(v[e]);
  return first;
}

void contract_rev(const adj_job *j, dual_ws *w, const kspec *ks, const R *const *ins, R *const *gin,
                  const R *const *gout, R *pg) {
  const art_topo *t = j->t;
  rtape *tp = w->tape;
  tp->len = 0, tp->xlen = 0;
  /* the dual buffers are larger than these numbers: the reverse ones live there */
  rn *p[P_COUNT], *in[4], *out[2];
  int32_t pl[P_COUNT], il[4];
  for (int k = 0; k < P_COUNT; k++) { /* constants stay in place from one step to the next */
    p[k] = (rn *)w->p[k];
    const int active = pg && j->pact[k];
    if (active || !w->pconst[k]) pl[k] = mark(tp, p[k], ds_rdata(j->c->args[3 + k]), j->pcount[k], active);
    w->pconst[k] = !active;
  }
  for (int k = 0; k < ks->nin; k++) {
    in[k] = (rn *)w->in[k];
    il[k] = mark(tp, in[k], ins[k], dimsize(t, ks->in[k]), gin[k] != NULL);
  }
  for (int k = 0; k < ks->nout; k++) out[k] = (rn *)w->out[k];
  const int64_t nleaf = tp->len;
  if (!nleaf) return;
  art_eval_v(ks->kind, t, (const rn *const *)p, (const rn *const *)in, out, j->dt, w->work);
  if (tp->oom) return; /* reported by art_tapes_check */
  memset(tp->adj, 0, (size_t)tp->len * sizeof(double));
  for (int k = 0; k < ks->nout; k++) {
    if (!gout[k]) continue;
    const int64_t n = dimsize(t, ks->out[k]);
    for (int64_t e = 0; e < n; e++)
      if (out[k][e].i >= 0) tp->adj[out[k][e].i] += gout[k][e];
  }
  rt_sweep(tp);
  if (pg) {
    int64_t o = 0;
    for (int k = 0; k < P_COUNT; k++)
      if (j->pact[k])
        for (int64_t e = 0; e < j->pcount[k]; e++) pg[o++] += (R)tp->adj[pl[k] + e];
  }
  for (int k = 0; k < ks->nin; k++)
    if (gin[k]) {
      const int64_t n = dimsize(t, ks->in[k]);
      for (int64_t e = 0; e < n; e++) gin[k][e] += (R)tp->adj[il[k] + e];
    }
}
