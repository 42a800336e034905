/* The implicit-function adjoint. For G(y, x, p) = 0, dy/dp = -(dG/dy)^-1 dG/dp,
 * so for a loss with gradient ybar in y,
 *     pbar = -(dG/dp)^T (dG/dy)^-T ybar = -(dG/dp)^T lambda,  (dG/dy)^T lambda = ybar.
 * This file solves for lambda once (one transposed solve, reusing the forward
 * factorization when the Jacobian's values are unchanged); the caller contracts
 * it with its own dG/dx and dG/dp. */
#include "solve_internal.h"

#include <stdio.h>

int ds_ift_adjoint(ds_ctx *ctx, const ds_jacobian *J, const ds_real *ybar, ds_real *lambda, ds_krylov_info *info) {
  if (!ctx) return DS_ERR_ARG;
  if (!J || (!J->sparse && !J->op))
    return ds_fail(ctx, DS_ERR_ARG, "ds_ift_adjoint: J needs either a sparse Jacobian or a linear operator");
  int rc;
  if (J->sparse) {
    rc = ds_sparse_solve(J->sparse, J->method, 1, ybar, lambda, J->krylov, info);
  } else {
    ds_krylov_opts o = {0};
    if (J->krylov) o = *J->krylov;
    o.transpose = 1;
    if (!o.label) o.label = "ds_ift_adjoint";
    /* symmetric (no apply_t): CG; otherwise BiCGSTAB on the transpose */
    rc = J->op->apply_t ? ds_bicgstab(ctx, J->op, ybar, lambda, &o, info) : ds_cg(ctx, J->op, ybar, lambda, &o, info);
  }
  if (rc) {
    char msg[DS_ERRMSG];
    snprintf(msg, sizeof msg, "%s", ctx->error);
    ds_fail(ctx, rc, "ds_ift_adjoint: the transposed Jacobian solve failed: %s", msg);
  }
  return rc;
}
