/* Newton's method with a backtracking line search, for implicit steps.
 *
 * With dy = J^-1 G the Newton direction is -dy, and the merit function
 * f = |G|^2 / 2 has directional derivative -G.G = -2 f along it, so the Armijo
 * condition with c = 1e-4 reads f(y - t dy) <= (1 - 2 c t) f(y). Halving t
 * keeps the iteration safe far from the solution (stiff springs overshoot with
 * full steps) and costs nothing near it, where t = 1 is accepted.
 *
 * With an energy callback (G = dE/dy, a minimisation) the merit is E itself:
 * a Newton step with a projected (SPD) Hessian always descends E but need not
 * descend |G|^2 far from the minimum, and |G|^2 has spurious stationary
 * points where E has none. Near the minimum E stalls at round-off before |G|
 * does, so there a step that keeps E within round-off and lowers |G| passes. */
#include "solve_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int cb_fail(ds_ctx *ctx, int rc, const char *label, const char *what, int it) {
  char msg[DS_ERRMSG];
  snprintf(msg, sizeof msg, "%s", ctx->error[0] ? ctx->error : "no message");
  return ds_fail(ctx, rc, "ds_newton: step '%s': the %s callback failed at iteration %d: %s", label, what, it, msg);
}

int ds_newton(ds_ctx *ctx, int64_t n, ds_real *y, const ds_newton_fns *fns, const ds_newton_opts *o,
              ds_newton_info *info) {
  if (!ctx) return DS_ERR_ARG;
  const char *label = o && o->label ? o->label : "(unnamed)";
  if (n < 0) return ds_fail(ctx, DS_ERR_ARG, "ds_newton: step '%s': n = %lld is negative", label, (long long)n);
  if (!fns || !fns->residual || !fns->solve)
    return ds_fail(ctx, DS_ERR_ARG, "ds_newton: step '%s': fns needs both a residual and a solve callback", label);
  if (n > 0 && !y) return ds_fail(ctx, DS_ERR_ARG, "ds_newton: step '%s': y is NULL", label);
  int bad = ds_sv_first_nonfinite(y, n);
  if (bad) return ds_fail(ctx, DS_ERR_ARG, "ds_newton: step '%s': initial y[%d] is not finite", label, bad - 1);
  const double tol = o && o->tol > 0 ? o->tol : (sizeof(ds_real) == 8 ? 1e-10 : 1e-4);
  const int max_iters = o && o->max_iters > 0 ? o->max_iters : 50;
  const int max_halvings = o && o->max_halvings > 0 ? o->max_halvings : 30;
  if (info) info->iters = 0, info->halvings = 0, info->residual = 0;
  if (n == 0) return DS_OK;
  ds_real *buf = ds_aligned_alloc((size_t)(4 * n) * sizeof(ds_real));
  if (!buf) return ds_fail(ctx, DS_ERR_NOMEM, "ds_newton: step '%s': out of memory", label);
  ds_real *G = buf, *dy = buf + n, *yt = buf + 2 * n, *Gt = buf + 3 * n;
  int rc = DS_OK, it = 0, halvings = 0;
  double f = 0, E = 0;
  ctx->error[0] = 0;
  if ((rc = fns->residual(fns->user, y, G))) {
    rc = cb_fail(ctx, rc, label, "residual", 0);
    goto done;
  }
  if ((bad = ds_sv_first_nonfinite(G, n))) {
    rc = ds_fail(ctx, DS_ERR_ARG, "ds_newton: step '%s': the residual at the initial y is not finite (G[%d])", label,
                 bad - 1);
    goto done;
  }
  f = 0.5 * ds_sv_dot(ctx, n, G, G);
  if (fns->energy && (rc = fns->energy(fns->user, y, &E))) {
    rc = cb_fail(ctx, rc, label, "energy", 0);
    goto done;
  }
  const double thresh = tol * fmax(1.0, sqrt(2 * f));
  for (;;) {
    if (sqrt(2 * f) <= thresh) break;
    if (it >= max_iters) {
      rc = ds_fail(ctx, DS_ERR_ARG,
                   "ds_newton: step '%s' did not converge in %d iterations: |G| = %.3g, wanted <= %.3g (tol %.3g); "
                   "try a smaller time step or more iterations",
                   label, max_iters, sqrt(2 * f), thresh, tol);
      goto done;
    }
    if ((rc = fns->solve(fns->user, y, G, dy))) {
      rc = cb_fail(ctx, rc, label, "linear solve", it);
      goto done;
    }
    if ((bad = ds_sv_first_nonfinite(dy, n))) {
      rc = ds_fail(ctx, DS_ERR_ARG,
                   "ds_newton: step '%s': the linear solve returned a non-finite step (dy[%d]) at iteration %d, "
                   "|G| = %.3g",
                   label, bad - 1, it, sqrt(2 * f));
      goto done;
    }
    double t = 1, ft = 0, Et = 0;
    int accepted = 0;
    const double slope = fns->energy ? ds_sv_dot(ctx, n, G, dy) : 0; /* -dE/dt along -dy */
    if (fns->energy && !(slope > 0)) {
      rc = ds_fail(ctx, DS_ERR_ARG,
                   "ds_newton: step '%s': the Newton direction is not a descent direction of the energy at iteration "
                   "%d (G.dy = %.3g, |G| = %.3g): the solve callback's matrix is not positive definite",
                   label, it, slope, sqrt(2 * f));
      goto done;
    }
    for (int h = 0; h <= max_halvings; h++, t *= 0.5) {
      for (int64_t i = 0; i < n; i++) yt[i] = y[i] - (ds_real)t * dy[i];
      if ((rc = fns->residual(fns->user, yt, Gt))) {
        rc = cb_fail(ctx, rc, label, "residual", it);
        goto done;
      }
      ft = ds_sv_first_nonfinite(Gt, n) ? INFINITY : 0.5 * ds_sv_dot(ctx, n, Gt, Gt);
      if (fns->energy) {
        if ((rc = fns->energy(fns->user, yt, &Et))) {
          rc = cb_fail(ctx, rc, label, "energy", it);
          goto done;
        }
        /* round-off of E: a few ulps of the terms' size (|E| and |E0| as proxies) */
        const double roff = 64 * (sizeof(ds_real) == 8 ? 2.2e-16 : 1.2e-7) * (fabs(E) + fabs(Et));
        if (isfinite(ft) && isfinite(Et) &&
            (Et <= E - 1e-4 * t * slope || (Et <= E + roff && ft < f))) {
          accepted = 1;
          break;
        }
      } else if (ft <= (1 - 2e-4 * t) * f) {
        accepted = 1;
        break;
      }
      halvings++;
    }
    if (!accepted) {
      rc = ds_fail(ctx, DS_ERR_ARG,
                   "ds_newton: step '%s': line search failed at iteration %d after %d halvings: |G| = %.3g does not "
                   "decrease along the Newton direction (check the Jacobian, or the residual is at round-off)",
                   label, it, max_halvings, sqrt(2 * f));
      goto done;
    }
    memcpy(y, yt, (size_t)n * sizeof *y);
    memcpy(G, Gt, (size_t)n * sizeof *G);
    f = ft;
    E = Et;
    it++;
  }
done:
  if (info) info->iters = it, info->halvings = halvings, info->residual = sqrt(2 * f);
  ds_aligned_free(buf);
  return rc;
}
