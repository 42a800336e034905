/* ds_sparse_factor / ds_sparse_solve: checks the request, then dispatches to
 * CHOLMOD, UMFPACK or a Krylov solver. Factorizations live in the matrix and
 * are reused for every solve (transposed ones included) until the values change. */
#include "solve_internal.h"

#include <math.h>

static int check_square(ds_sparse *A, const char *fn) {
  if (A->n != A->m)
    return ds_fail(A->ctx, DS_ERR_ARG, "%s: matrix is %lld x %lld, not square", fn, (long long)A->n, (long long)A->m);
  return DS_OK;
}

int ds_sparse_factor(ds_sparse *A, int method) {
  if (!A) return DS_ERR_ARG;
  int rc = check_square(A, "ds_sparse_factor");
  if (rc) return rc;
  if (A->n == 0 && method >= DS_SOLVE_CHOLMOD && method <= DS_SOLVE_BICGSTAB) return DS_OK;
  switch (method) {
    case DS_SOLVE_CHOLMOD:
      /* CHOLMOD reads one triangle only: an unsymmetric matrix would be
       * silently replaced by its symmetric part, so refuse it. */
      if (!ds_chol_current(A) && ds_sparse_is_symmetric(A) != 1)
        return ds_fail(A->ctx, DS_ERR_ARG,
                       "ds_sparse_factor: matrix is not symmetric; CHOLMOD needs a symmetric positive definite matrix "
                       "(use method 'umfpack', DS_SOLVE_UMFPACK)");
      return ds_chol_factor(A);
    case DS_SOLVE_UMFPACK: return ds_umf_factor(A);
    case DS_SOLVE_CG:
    case DS_SOLVE_BICGSTAB: return DS_OK; /* nothing to factor */
  }
  return ds_fail(A->ctx, DS_ERR_ARG, "ds_sparse_factor: unknown method %d (cholmod = 0, umfpack = 1, cg = 2, bicgstab = 3)",
                 method);
}

int ds_sparse_factored(const ds_sparse *A, int method) {
  if (!A) return 0;
  if (method == DS_SOLVE_CHOLMOD) return ds_chol_current(A);
  if (method == DS_SOLVE_UMFPACK) return ds_umf_current(A);
  return 0;
}

int ds_sparse_solve(ds_sparse *A, int method, int transpose, const ds_real *b, ds_real *x, const ds_krylov_opts *krylov,
                    ds_krylov_info *info) {
  if (!A) return DS_ERR_ARG;
  int rc = check_square(A, "ds_sparse_solve");
  if (rc) return rc;
  if (A->n > 0 && (!b || !x)) return ds_fail(A->ctx, DS_ERR_ARG, "ds_sparse_solve: %s is NULL", b ? "x" : "b");
  int bad = ds_sv_first_nonfinite(b, A->n);
  if (bad)
    return ds_fail(A->ctx, DS_ERR_ARG, "ds_sparse_solve: b[%d] is %s", bad - 1, isnan(b[bad - 1]) ? "NaN" : "infinite");
  if (method == DS_SOLVE_CG || method == DS_SOLVE_BICGSTAB) {
    if (method == DS_SOLVE_CG && ds_sparse_is_symmetric(A) != 1)
      return ds_fail(A->ctx, DS_ERR_ARG,
                     "ds_sparse_solve: method 'cg' needs a symmetric positive definite matrix; this one is not "
                     "symmetric (use 'umfpack' or 'bicgstab')");
    ds_linop op;
    if ((rc = ds_sparse_linop(A, &op))) return rc;
    ds_krylov_opts o = {0};
    if (krylov) o = *krylov;
    o.transpose = transpose != 0;
    if (!o.label) o.label = "ds_sparse_solve";
    return method == DS_SOLVE_CG ? ds_cg(A->ctx, &op, b, x, &o, info) : ds_bicgstab(A->ctx, &op, b, x, &o, info);
  }
  if ((rc = ds_sparse_factor(A, method))) return rc;
  if (info) info->iters = 0, info->converged = 1, info->residual = 0;
  if (A->n == 0) return DS_OK;
  if (method != DS_SOLVE_CHOLMOD && method != DS_SOLVE_UMFPACK) return DS_ERR_ARG; /* factor rejected it */
  if (method == DS_SOLVE_CHOLMOD) return ds_chol_solve(A, b, x); /* symmetric: A^T = A */
  return ds_umf_solve(A, transpose, b, x);
}
