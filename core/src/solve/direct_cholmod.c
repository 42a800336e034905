/* Sparse Cholesky through CHOLMOD (SuiteSparse 5, double precision, 64-bit
 * indices). ds_real arrays are converted to double at this boundary, so the
 * float32 build factors in double as well.
 *
 * Supernodal LL' always: it is robust in both precisions and, unlike the
 * simplicial LDL', it reports an indefinite matrix instead of factoring it.
 * The symbolic analysis (ordering, elimination tree, supernodes) is computed
 * once per pattern; new values only refactor numerically. A is symmetric, so
 * the transposed (adjoint) solve is the same solve with the same factor. */
#include "solve_internal.h"

#include <cholmod.h>
#include <math.h>
#include <stdlib.h>

struct ds_chol {
  cholmod_common c;
  cholmod_sparse *A;   /* double copy of the CSR arrays, read as the upper triangle */
  cholmod_factor *L;
  cholmod_dense *B, *X, *Y, *E;
  uint64_t ver;        /* values version of the numeric factor */
  int valid;           /* numeric factor matches ver */
};

void ds_chol_free(ds_chol *h) {
  if (!h) return;
  cholmod_l_free_dense(&h->B, &h->c);
  cholmod_l_free_dense(&h->X, &h->c);
  cholmod_l_free_dense(&h->Y, &h->c);
  cholmod_l_free_dense(&h->E, &h->c);
  cholmod_l_free_factor(&h->L, &h->c);
  cholmod_l_free_sparse(&h->A, &h->c);
  cholmod_l_finish(&h->c);
  free(h);
}

int ds_chol_current(const ds_sparse *A) { return A->chol && A->chol->valid && A->chol->ver == A->ver; }

static int setup(ds_sparse *S) {
  ds_chol *h = calloc(1, sizeof *h);
  if (!h) return ds_fail(S->ctx, DS_ERR_NOMEM, "ds_sparse_factor: out of memory");
  cholmod_l_start(&h->c);
  h->c.print = 0;              /* errors go to the context, not stderr */
  h->c.error_handler = NULL;
  h->c.supernodal = CHOLMOD_SUPERNODAL;
  h->c.final_ll = 1;
  /* stype 1: CHOLMOD reads the upper triangle of column j = our row j */
  h->A = cholmod_l_allocate_sparse((size_t)S->n, (size_t)S->n, (size_t)(S->nnz ? S->nnz : 1), 1, 1, 1, CHOLMOD_REAL,
                                   &h->c);
  h->B = cholmod_l_allocate_dense((size_t)S->n, 1, (size_t)S->n, CHOLMOD_REAL, &h->c);
  if (!h->A || !h->B) {
    ds_chol_free(h);
    return ds_fail(S->ctx, DS_ERR_NOMEM, "ds_sparse_factor: CHOLMOD is out of memory");
  }
  SuiteSparse_long *p = h->A->p, *i = h->A->i;
  for (int64_t r = 0; r <= S->n; r++) p[r] = S->rp[r];
  for (int64_t q = 0; q < S->nnz; q++) i[q] = S->ci[q];
  h->L = cholmod_l_analyze(h->A, &h->c);
  if (!h->L) {
    int st = h->c.status;
    ds_chol_free(h);
    return ds_fail(S->ctx, st == CHOLMOD_OUT_OF_MEMORY ? DS_ERR_NOMEM : DS_ERR_ARG,
                   "ds_sparse_factor: CHOLMOD analysis failed (status %d)", st);
  }
  S->chol = h;
  return DS_OK;
}

int ds_chol_factor(ds_sparse *S) {
  if (ds_chol_current(S)) return DS_OK;
  int rc;
  if (!S->chol && (rc = setup(S))) return rc;
  ds_chol *h = S->chol;
  double *x = h->A->x;
  for (int64_t q = 0; q < S->nnz; q++) x[q] = S->v[q];
  h->valid = 0;
  cholmod_l_factorize(h->A, h->L, &h->c);
  if (h->c.status == CHOLMOD_NOT_POSDEF || (h->c.status >= 0 && h->L->minor < (size_t)S->n))
    return ds_fail(S->ctx, DS_ERR_ARG,
                   "ds_sparse_factor: matrix is not positive definite (CHOLMOD failed at column %lld); use method "
                   "'umfpack' (DS_SOLVE_UMFPACK) for indefinite or singular matrices",
                   (long long)h->L->minor);
  if (h->c.status < 0)
    return ds_fail(S->ctx, h->c.status == CHOLMOD_OUT_OF_MEMORY ? DS_ERR_NOMEM : DS_ERR_ARG,
                   "ds_sparse_factor: CHOLMOD factorization failed (status %d)", h->c.status);
  h->ver = S->ver;
  h->valid = 1;
  return DS_OK;
}

int ds_chol_solve(ds_sparse *S, const ds_real *b, ds_real *x) {
  ds_chol *h = S->chol;
  double *bd = h->B->x;
  for (int64_t r = 0; r < S->n; r++) bd[r] = b[r];
  if (!cholmod_l_solve2(CHOLMOD_A, h->L, h->B, NULL, &h->X, NULL, &h->Y, &h->E, &h->c))
    return ds_fail(S->ctx, DS_ERR_NOMEM, "ds_sparse_solve: CHOLMOD solve failed (status %d)", h->c.status);
  const double *xd = h->X->x;
  for (int64_t r = 0; r < S->n; r++) x[r] = (ds_real)xd[r];
  return DS_OK;
}
