/* fem: checks of the common slots, the system's setup from a launch, and the
 * per-context Hessian pattern. */
#include "fem.h"

#include <math.h>
#include <string.h>

#define HEAD(c, at) ((const sys_head *)(const void *)((c)->args + (at)))

int fem_check_head(const ds_call *c, int at, int params_slot, const ds_tensor *pin_pos) {
  const sys_head *a = HEAD(c, at);
  const int64_t n = a->x->dims[0];
  int rc;
  if ((rc = ds_expect_shape(c, at + 0, 2, -1, 3, 0, 0))) return rc;
  if ((rc = ds_expect_shape(c, at + 1, 2, n, 3, 0, 0))) return rc;
  if ((rc = ds_expect_shape(c, at + 2, 2, n, 3, 0, 0))) return rc;
  if ((rc = ds_expect_shape(c, at + 4, 2, -1, 3, 0, 0))) return rc;
  if ((rc = ds_expect_shape(c, at + 6, 1, 3, 0, 0, 0))) return rc;
  if (n < 1) return c->host->error(c, "argument 'x' has no vertices");
  const int64_t nsets = a->sets->dims[0];
  if (nsets > FEM_MAX_SETS) return c->host->error(c, "argument 'sets' has %lld element sets, at most %d", (long long)nsets, FEM_MAX_SETS);
  if (c->list_len != nsets)
    return c->host->error(c, "argument 'params' has %d tensors for %lld element sets (one per set)", c->list_len,
                          (long long)nsets);
  if (pin_pos) {
    if (pin_pos->ndim != 2 || pin_pos->dims[0] != a->pin_idx->dims[0] || pin_pos->dims[1] != 3)
      return c->host->error(c, "argument 'pin_pos' must be {%lld,3} (one row per pinned vertex in 'pin_idx')",
                            (long long)a->pin_idx->dims[0]);
  }
  for (int s = 0; s < c->list_len; s++) {
    const ds_tensor *p = ds_list_of(c, params_slot, s);
    if (p->ndim != 2) return c->host->error(c, "argument 'params' #%d must be 2-dim {params, elements}", s + 1);
  }
  const sys_params *P = (const sys_params *)(const void *)c->params;
  if (!(P->dt > 0) || !isfinite(P->dt)) return c->host->error(c, "param 'dt' must be positive, got %g", P->dt);
  if (P->mode != 0 && P->mode != 1 && P->mode != 2)
    return c->host->error(c, "param 'mode' must be 0 (implicit), 1 (static) or 2 (symplectic), got %g", P->mode);
  if (P->ground && !(P->contact_k > 0)) return c->host->error(c, "param 'contact_k' must be positive with a ground, got %g", P->contact_k);
  if (!(P->friction >= 0)) return c->host->error(c, "param 'friction' must be >= 0, got %g", P->friction);
  if (P->friction > 0 && !(P->friction_eps > 0))
    return c->host->error(c, "param 'friction_eps' must be positive with friction, got %g", P->friction_eps);
  if (!(P->alpha >= 0) || !(P->beta >= 0))
    return c->host->error(c, "params 'alpha' and 'beta' (Rayleigh damping) must be >= 0, got %g and %g", P->alpha, P->beta);
  return DS_OK;
}

int fem_setup(fem_sys *S, const ds_call *c, int at, int params_slot, int need_v) {
  const sys_head *a = HEAD(c, at);
  const sys_params *P = (const sys_params *)(const void *)c->params;
  memset(S, 0, sizeof *S);
  S->c = c;
  const int64_t n = S->n = a->x->dims[0];
  S->x0 = ds_rdata(a->x), S->v0 = need_v ? ds_rdata(a->v) : NULL, S->X = ds_rdata(a->rest);
  S->h = P->dt, S->mode = (int)P->mode, S->ground = P->ground != 0, S->ground_y = P->ground_y, S->kc = P->contact_k;
  S->mu = S->ground ? P->friction : 0, S->eps_v = P->friction_eps, S->alpha = P->alpha, S->beta = P->beta;
  for (int d = 0; d < 3; d++) {
    S->g[d] = ds_rdata(a->gravity)[d];
    if (!isfinite(S->g[d])) return c->host->error(c, "argument 'gravity'[%d] = %g is not finite", d, S->g[d]);
  }
  const int32_t *sets = ds_idata(a->sets), *conn = ds_idata(a->conn);
  const int64_t nconn = a->conn->count;
  S->nsets = (int)a->sets->dims[0];
  int64_t trip = 0;
  for (int s = 0; s < S->nsets; s++) {
    const int32_t type = sets[3 * s], off = sets[3 * s + 1], m = sets[3 * s + 2];
    if (type < 0 || type >= fem_ntypes)
      return c->host->error(c, "argument 'sets': set %d has type id %d, valid ids are 0..%d", s + 1, type, fem_ntypes - 1);
    const fem_elem_type *T = fem_types[type];
    if (off < 0 || m < 0 || (int64_t)off + (int64_t)m * T->k > nconn)
      return c->host->error(c, "argument 'sets': set %d (%s) takes %d elements of %d vertices from offset %d, beyond "
                               "the %lld entries of 'conn'", s + 1, T->name, m, T->k, off, (long long)nconn);
    const ds_tensor *pt = ds_list_of(c, params_slot, s);
    if (pt->dims[1] != m || pt->dims[0] != T->nparam)
      return c->host->error(c, "argument 'params' #%d must be {%d,%d} for %d %s elements (%d params each, one row per "
                               "param), got {%lld,%lld}", s + 1, T->nparam, m, m, T->name, T->nparam, (long long)pt->dims[0], (long long)pt->dims[1]);
    fem_set *st = &S->set[s];
    st->T = T, st->conn = conn + off, st->m = m, st->p = ds_rdata(pt), st->pgrad = ds_rgrad(pt), st->trip0 = trip;
    trip += (int64_t)m * 9 * T->k * T->k;
    for (int64_t i = 0; i < (int64_t)m * T->k; i++)
      if (st->conn[i] < 0 || st->conn[i] >= n)
        return c->host->error(c, "argument 'conn': set %d (%s) element %lld has vertex index %d, out of range for %lld "
                                 "vertices", s + 1, T->name, (long long)(i / T->k), st->conn[i], (long long)n);
  }
  S->ntrip = trip + 9 * n;
  S->mass = c->host->scratch(c, (size_t)n * sizeof(double));
  S->pinned = c->host->scratch(c, (size_t)n);
  if (!S->mass || !S->pinned) return DS_ERR_NOMEM;
  memset(S->pinned, 0, (size_t)n);
  for (int64_t i = 0; i < n; i++) S->mass[i] = 0;
  const int32_t *pins = ds_idata(a->pin_idx);
  for (int64_t j = 0; j < a->pin_idx->count; j++) {
    if (pins[j] < 0 || pins[j] >= n)
      return c->host->error(c, "argument 'pin_idx'[%lld] = %d is out of range for %lld vertices", (long long)j, pins[j],
                            (long long)n);
    S->pinned[pins[j]] = 1;
  }
  char msg[256];
  double Xe[FEM_MAX_DOF];
  for (int s = 0; s < S->nsets; s++) {
    const fem_set *st = &S->set[s];
    const fem_elem_type *T = st->T;
    for (int64_t e = 0; e < st->m; e++) {
      double pe[FEM_MAX_PARAM];
      for (int j = 0; j < T->nparam; j++) pe[j] = st->p[j * st->m + e];
      for (int a2 = 0; a2 < T->k; a2++)
        for (int d = 0; d < 3; d++) Xe[3 * a2 + d] = S->X[3 * (int64_t)st->conn[e * T->k + a2] + d];
      if (T->check && T->check(Xe, pe, msg, sizeof msg))
        return c->host->error(c, "set %d (%s) element %lld: %s", s + 1, T->name, (long long)e, msg);
      if (T->density_param >= 0) {
        const double mv = pe[T->density_param] * fem_elem_measure(T, Xe, NULL) / T->k;
        for (int a2 = 0; a2 < T->k; a2++) S->mass[st->conn[e * T->k + a2]] += mv;
      }
    }
  }
  if (S->mode != FEM_STATIC)
    for (int64_t i = 0; i < n; i++)
      if (!S->pinned[i] && !(S->mass[i] > 0))
        return c->host->error(c, "vertex %lld has no mass (it is in no element with a positive density) and is not "
                                 "pinned: a dynamic step cannot move it", (long long)i);
  for (int64_t i = 0; i < 3 * n; i++)
    if (!isfinite((double)S->x0[i]) || !isfinite((double)S->X[i]) || (S->v0 && !isfinite((double)S->v0[i])))
      return c->host->error(c, "vertex %lld has a non-finite position, rest position or velocity", (long long)(i / 3));
  return DS_OK;
}

void fem_state_destroy(void *state) {
  fem_state *st = state;
  if (st->host) {
    if (st->A) st->host->solve->sparse_free(st->A);
    st->host->free(st->rows);
    st->host->free(st->cols);
  }
  memset(st, 0, sizeof *st);
}

ds_sparse *fem_matrix(const ds_call *c, const fem_sys *S) {
  fem_state *st = c->state;
  const sys_head *a = HEAD(c, 0); /* every kernel's head starts at slot 0 */
  if (st->A && st->n == S->n && st->ntrip == S->ntrip && st->conn_id == a->conn->id && st->conn_ver == a->conn->ver &&
      st->sets_id == a->sets->id && st->sets_ver == a->sets->ver)
    return st->A;
  const ds_host_api *h = c->host;
  if (st->host) fem_state_destroy(st);
  st->host = h;
  st->rows = h->alloc((size_t)S->ntrip * sizeof(int32_t));
  st->cols = h->alloc((size_t)S->ntrip * sizeof(int32_t));
  if (!st->rows || !st->cols) {
    h->error(c, "out of memory for %lld Hessian triplets", (long long)S->ntrip);
    return NULL;
  }
  if (3 * S->n > 2147483647) {
    h->error(c, "%lld vertices are too many for 32-bit sparse indices", (long long)S->n);
    return NULL;
  }
  fem_sys_pattern(S, st->rows, st->cols);
  st->A = h->solve->sparse_new(c->ctx, 3 * S->n, 3 * S->n, S->ntrip, st->rows, st->cols, NULL);
  if (!st->A) return NULL;
  st->n = S->n, st->ntrip = S->ntrip;
  st->conn_id = a->conn->id, st->conn_ver = a->conn->ver, st->sets_id = a->sets->id, st->sets_ver = a->sets->ver;
  return st->A;
}
