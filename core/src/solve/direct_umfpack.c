/* Sparse LU through UMFPACK (SuiteSparse 5, double precision, 64-bit indices).
 *
 * UMFPACK takes compressed columns; our CSR arrays of A are exactly the CSC
 * arrays of A^T, so we hand those over unchanged and ask UMFPACK for the
 * transposed system: A x = b is UMFPACK_At on A^T, and the adjoint A^T x = b
 * is UMFPACK_A on it. Both use the same numeric factorization, which is why
 * the adjoint of a solve costs one triangular-solve pair, not a factorization.
 * The symbolic object depends on the pattern only and is kept across values. */
#include "solve_internal.h"

#include <math.h>
#include <stdlib.h>
#include <umfpack.h>

struct ds_umf {
  SuiteSparse_long *p, *i;
  double *x, *b, *xo;
  void *sym, *num;
  double control[UMFPACK_CONTROL], info[UMFPACK_INFO];
  uint64_t ver;
  int valid;
};

void ds_umf_free(ds_umf *u) {
  if (!u) return;
  if (u->num) umfpack_dl_free_numeric(&u->num);
  if (u->sym) umfpack_dl_free_symbolic(&u->sym);
  free(u->p), free(u->i), free(u->x), free(u->b), free(u->xo);
  free(u);
}

int ds_umf_current(const ds_sparse *A) { return A->umf && A->umf->valid && A->umf->ver == A->ver; }

static int setup(ds_sparse *S) {
  ds_umf *u = calloc(1, sizeof *u);
  size_t nn = (size_t)(S->nnz ? S->nnz : 1), n1 = (size_t)S->n + 1;
  if (u) {
    u->p = malloc(n1 * sizeof *u->p), u->i = malloc(nn * sizeof *u->i), u->x = malloc(nn * sizeof *u->x);
    u->b = malloc(n1 * sizeof *u->b), u->xo = malloc(n1 * sizeof *u->xo);
  }
  if (!u || !u->p || !u->i || !u->x || !u->b || !u->xo) {
    ds_umf_free(u);
    return ds_fail(S->ctx, DS_ERR_NOMEM, "ds_sparse_factor: out of memory for UMFPACK");
  }
  umfpack_dl_defaults(u->control);
  for (int64_t r = 0; r <= S->n; r++) u->p[r] = S->rp[r];
  for (int64_t q = 0; q < S->nnz; q++) u->i[q] = S->ci[q], u->x[q] = S->v[q];
  SuiteSparse_long st = umfpack_dl_symbolic(S->n, S->n, u->p, u->i, u->x, &u->sym, u->control, u->info);
  if (st != UMFPACK_OK) {
    ds_umf_free(u);
    return ds_fail(S->ctx, st == UMFPACK_ERROR_out_of_memory ? DS_ERR_NOMEM : DS_ERR_ARG,
                   "ds_sparse_factor: UMFPACK symbolic analysis failed (status %ld)", (long)st);
  }
  S->umf = u;
  return DS_OK;
}

int ds_umf_factor(ds_sparse *S) {
  if (ds_umf_current(S)) return DS_OK;
  int rc;
  if (!S->umf && (rc = setup(S))) return rc;
  ds_umf *u = S->umf;
  for (int64_t q = 0; q < S->nnz; q++) u->x[q] = S->v[q];
  if (u->num) umfpack_dl_free_numeric(&u->num);
  u->valid = 0;
  SuiteSparse_long st = umfpack_dl_numeric(u->p, u->i, u->x, u->sym, &u->num, u->control, u->info);
  if (st == UMFPACK_WARNING_singular_matrix)
    return ds_fail(S->ctx, DS_ERR_ARG,
                   "ds_sparse_factor: matrix is singular (UMFPACK found a zero pivot: %.0f nonzero pivots of %lld); check for empty or dependent rows",
                   u->info[UMFPACK_UDIAG_NZ], (long long)S->n);
  if (st != UMFPACK_OK)
    return ds_fail(S->ctx, st == UMFPACK_ERROR_out_of_memory ? DS_ERR_NOMEM : DS_ERR_ARG,
                   "ds_sparse_factor: UMFPACK numeric factorization failed (status %ld)", (long)st);
  u->ver = S->ver;
  u->valid = 1;
  return DS_OK;
}

int ds_umf_solve(ds_sparse *S, int transpose, const ds_real *b, ds_real *x) {
  ds_umf *u = S->umf;
  for (int64_t r = 0; r < S->n; r++) u->b[r] = b[r];
  SuiteSparse_long st =
      umfpack_dl_solve(transpose ? UMFPACK_A : UMFPACK_At, u->p, u->i, u->x, u->xo, u->b, u->num, u->control, u->info);
  if (st != UMFPACK_OK)
    return ds_fail(S->ctx, DS_ERR_ARG, "ds_sparse_solve: UMFPACK solve failed (status %ld)", (long)st);
  for (int64_t r = 0; r < S->n; r++) x[r] = (ds_real)u->xo[r];
  return DS_OK;
}
