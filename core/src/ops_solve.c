/* Differentiable sparse ops for the Lua layer (ds.sparse, A:matvec, ds.solve),
 * registered as core kernels on top of core/src/solve/.
 *
 *   sparse_matvec: y = A x,    A from triplets (rows, cols, vals), n x m.
 *                  xbar[c_k] += vals_k ybar[r_k],  valsbar_k += ybar[r_k] x[c_k].
 *   sparse_solve:  x = A^-1 b.
 *                  bbar = A^-T xbar  (ONE transposed solve, reusing the forward's
 *                  factorization), valsbar_k -= bbar[r_k] x[c_k].
 *
 * The factorization is kept in a small per-context cache keyed by the (id,
 * version) of rows, cols and vals, so the adjoint finds the forward's factor (the
 * tape guarantees the versions are unchanged). A miss rebuilds it: correct, only
 * slower. When an entry is evicted for a matrix with the same pattern (same rows
 * and cols tensors), its symbolic analysis is kept and only the values change.
 *
 * Only the descriptor table at the bottom depends on the kernel ABI. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "diffsim/solve.h"

enum { CACHE_SLOTS = 8 };

typedef struct cache_entry {
  uint64_t rid, rver, cid, cver, vid, vver;
  int64_t n, m;
  ds_sparse *A;
  uint64_t used; /* LRU stamp */
} cache_entry;

struct ds_solve_cache {
  cache_entry e[CACHE_SLOTS];
  uint64_t clock;
};

void ds_solve_cache_free(ds_ctx *ctx) {
  if (!ctx || !ctx->solve_cache) return;
  for (int i = 0; i < CACHE_SLOTS; i++) ds_sparse_free(ctx->solve_cache->e[i].A);
  free(ctx->solve_cache);
  ctx->solve_cache = NULL;
}

static int same_pattern(const cache_entry *e, const ds_tensor *r, const ds_tensor *c, int64_t n, int64_t m) {
  return e->A && e->rid == r->id && e->rver == r->ver && e->cid == c->id && e->cver == c->ver && e->n == n &&
         e->m == m;
}

/* The matrix of (rows, cols, vals, n, m) with its current values, or NULL with
 * the context error set. */
static ds_sparse *cached_matrix(ds_ctx *ctx, const ds_tensor *r, const ds_tensor *c, const ds_tensor *v, int64_t n,
                                int64_t m) {
  if (!ctx->solve_cache && !(ctx->solve_cache = calloc(1, sizeof *ctx->solve_cache))) {
    ds_fail(ctx, DS_ERR_NOMEM, "ds.solve: out of memory for the factorization cache");
    return NULL;
  }
  struct ds_solve_cache *C = ctx->solve_cache;
  cache_entry *victim = &C->e[0];
  for (int i = 0; i < CACHE_SLOTS; i++) {
    cache_entry *e = &C->e[i];
    if (same_pattern(e, r, c, n, m) && e->vid == v->id && e->vver == v->ver) {
      e->used = ++C->clock;
      return e->A;
    }
    if (!e->A) {
      if (victim->A) victim = e;
    } else if (victim->A && e->used < victim->used) {
      victim = e;
    }
  }
  if (same_pattern(victim, r, c, n, m)) {
    if (ds_sparse_set_values(victim->A, ds_rdata(v)) != DS_OK) return NULL;
  } else {
    ds_sparse_free(victim->A);
    memset(victim, 0, sizeof *victim);
    victim->A = ds_sparse_new(ctx, n, m, v->count, ds_idata(r), ds_idata(c), ds_rdata(v));
    if (!victim->A) return NULL;
    victim->rid = r->id, victim->rver = r->ver, victim->cid = c->id, victim->cver = c->ver;
    victim->n = n, victim->m = m;
  }
  victim->vid = v->id, victim->vver = v->ver;
  victim->used = ++C->clock;
  return victim->A;
}

/* Solver messages name the C function ("ds_sparse_factor: ...", "ds_cg in
 * ds.solve: ..."); Lua users called ds.solve, so say that instead. */
static int as_lua_error(ds_ctx *ctx, int rc) {
  char msg[DS_ERRMSG];
  const char *s = ctx->error, *colon = strstr(s, ": ");
  if (strncmp(s, "ds_", 3) == 0 && colon) s = colon + 2;
  snprintf(msg, sizeof msg, "%s", s);
  return ds_fail(ctx, rc, "ds.solve: %s", msg);
}

/* ---- shared argument checks ------------------------------------------------ */
static int check_triplets(const ds_call *c, int64_t n, int64_t m) {
  const ds_tensor *r = c->args[0], *cl = c->args[1], *v = c->args[2];
  if (n < 0 || m < 0 || n != (int64_t)n || n > INT32_MAX || m > INT32_MAX)
    return c->host->error(c, "shape {%lld, %lld} is invalid", (long long)n, (long long)m);
  if (r->count != v->count || cl->count != v->count)
    return c->host->error(c, "rows, cols and vals must have the same length, got %lld, %lld and %lld",
                          (long long)r->count, (long long)cl->count, (long long)v->count);
  const int32_t *ri = ds_idata(r), *ci = ds_idata(cl);
  for (int64_t k = 0; k < r->count; k++) {
    if (ri[k] < 0 || ri[k] >= n)
      return c->host->error(c, "rows[%lld] = %d is out of range for %lld rows (indices are 0-based)", (long long)k,
                            ri[k], (long long)n);
    if (ci[k] < 0 || ci[k] >= m)
      return c->host->error(c, "cols[%lld] = %d is out of range for %lld columns (indices are 0-based)", (long long)k,
                            ci[k], (long long)m);
  }
  return DS_OK;
}

/* ---- matvec ------------------------------------------------------------------ */
static int mv_check(const ds_call *c) {
  int64_t n = (int64_t)c->params[0], m = (int64_t)c->params[1];
  int rc = check_triplets(c, n, m);
  if (!rc) rc = ds_expect_shape(c, 3, 1, m, -1, -1, -1);
  if (!rc) rc = ds_expect_shape(c, 4, 1, n, -1, -1, -1);
  return rc;
}

/* Triplet order, serially: duplicates and rows are summed in a fixed order. */
static int mv_fwd(const ds_call *c) {
  const int32_t *r = ds_idata(c->args[0]), *cl = ds_idata(c->args[1]);
  const ds_real *v = ds_rdata(c->args[2]), *x = ds_rdata(c->args[3]);
  ds_real *y = ds_rdata(c->args[4]);
  memset(y, 0, (size_t)c->args[4]->count * sizeof *y);
  for (int64_t k = 0; k < c->args[2]->count; k++) y[r[k]] += v[k] * x[cl[k]];
  return DS_OK;
}

static int mv_adj(const ds_call *c) {
  const int32_t *r = ds_idata(c->args[0]), *cl = ds_idata(c->args[1]);
  const ds_real *v = ds_rdata(c->args[2]), *x = ds_rdata(c->args[3]), *gy = ds_rgrad(c->args[4]);
  ds_real *gv = ds_rgrad(c->args[2]), *gx = ds_rgrad(c->args[3]);
  for (int64_t k = 0; k < c->args[2]->count; k++) {
    if (gx) gx[cl[k]] += v[k] * gy[r[k]];
    if (gv) gv[k] += gy[r[k]] * x[cl[k]];
  }
  return DS_OK;
}

/* ---- solve ------------------------------------------------------------------ */
typedef struct solve_params { int64_t n, m; int method; ds_krylov_opts kry; } solve_params;

static solve_params sp_of(const ds_call *c) {
  solve_params p;
  memset(&p, 0, sizeof p);
  p.n = (int64_t)c->params[0], p.m = (int64_t)c->params[1], p.method = (int)c->params[2];
  p.kry.tol = c->params[3];
  p.kry.max_iters = (int32_t)c->params[4];
  p.kry.label = "ds.solve";
  return p;
}

static int solve_check(const ds_call *c) {
  solve_params p = sp_of(c);
  int rc = check_triplets(c, p.n, p.m);
  if (rc) return rc;
  if (p.n != p.m)
    return ds_fail(c->ctx, DS_ERR_ARG, "ds.solve: matrix is %lld x %lld, not square", (long long)p.n, (long long)p.m);
  if (p.method < DS_SOLVE_CHOLMOD || p.method > DS_SOLVE_BICGSTAB)
    return c->host->error(c, "param 'method' = %d is unknown (cholmod 0, umfpack 1, cg 2, bicgstab 3)", p.method);
  if (!rc) rc = ds_expect_shape(c, 3, 1, p.n, -1, -1, -1);
  if (!rc) rc = ds_expect_shape(c, 4, 1, p.n, -1, -1, -1);
  return rc;
}

static int solve_fwd(const ds_call *c) {
  solve_params p = sp_of(c);
  ds_sparse *A = cached_matrix(c->ctx, c->args[0], c->args[1], c->args[2], p.n, p.m);
  if (!A) return as_lua_error(c->ctx, DS_ERR_ARG);
  int rc = ds_sparse_solve(A, p.method, 0, ds_rdata(c->args[3]), ds_rdata(c->args[4]), &p.kry, NULL);
  return rc ? as_lua_error(c->ctx, rc) : DS_OK;
}

static int solve_adj(const ds_call *c) {
  solve_params p = sp_of(c);
  ds_real *gv = ds_rgrad(c->args[2]), *gb = ds_rgrad(c->args[3]);
  const ds_real *gx = ds_rgrad(c->args[4]), *x = ds_rdata(c->args[4]);
  if ((!gv && !gb) || p.n == 0) return DS_OK;
  ds_sparse *A = cached_matrix(c->ctx, c->args[0], c->args[1], c->args[2], p.n, p.m);
  if (!A) return as_lua_error(c->ctx, DS_ERR_ARG);
  ds_real *bbar = c->host->alloc((size_t)p.n * sizeof *bbar);
  if (!bbar) return ds_fail(c->ctx, DS_ERR_NOMEM, "ds.solve adjoint: out of memory");
  /* bbar = A^-T xbar: the implicit-function adjoint of A x - b = 0 */
  int rc = ds_sparse_solve(A, p.method, 1, gx, bbar, &p.kry, NULL);
  if (rc) {
    c->host->free(bbar);
    return as_lua_error(c->ctx, rc);
  }
  if (gb)
    for (int64_t i = 0; i < p.n; i++) gb[i] += bbar[i];
  if (gv) {
    const int32_t *r = ds_idata(c->args[0]), *cl = ds_idata(c->args[1]);
    for (int64_t k = 0; k < c->args[2]->count; k++) gv[k] -= bbar[r[k]] * x[cl[k]];
  }
  c->host->free(bbar);
  return DS_OK;
}

/* ---- registration (the only ABI-dependent part) --------------------------- */
static const ds_arg_desc MV_ARGS[] = {{"rows", DS_NODIFF, DS_I32, 1, 0}, {"cols", DS_NODIFF, DS_I32, 1, 0},
                                      {"vals", DS_IN, DS_REAL, 1, 0},    {"x", DS_IN, DS_REAL, 1, 0},
                                      {"y", DS_OUT, DS_REAL, 1, 0}, {0}};
static const ds_arg_desc SOLVE_ARGS[] = {{"rows", DS_NODIFF, DS_I32, 1, 0}, {"cols", DS_NODIFF, DS_I32, 1, 0},
                                         {"vals", DS_IN, DS_REAL, 1, 0},    {"b", DS_IN, DS_REAL, 1, 0},
                                         {"x", DS_OUT, DS_REAL, 1, 0}, {0}};
static const char *const MV_PARAMS[] = {"n", "m", 0};
static const char *const SOLVE_PARAMS[] = {"n", "m", "method", "tol", "max_iters", 0};

int ds_register_solve(const ds_host_api *h, ds_registrar *r) {
  const ds_kernel_desc mv = {"sparse_matvec", MV_ARGS, MV_PARAMS, mv_check, {mv_fwd}, {mv_adj}};
  const ds_kernel_desc sv = {"sparse_solve", SOLVE_ARGS, SOLVE_PARAMS, solve_check, {solve_fwd}, {solve_adj}};
  int rc = h->register_kernel(r, &mv);
  return rc ? rc : h->register_kernel(r, &sv);
}
