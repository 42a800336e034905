/* smoke.jacobi: K Jacobi sweeps of the compact periodic Laplacian from a given
 * initial pressure, the reference's warm-started pressure chain
 * (smoke_taichi.py continues step t's sweeps from step t-1's last sweep).
 *
 *   args:   div (in), p0 (in, the initial pressure), p_prev (out, sweep K-1),
 *           p (out, sweep K)
 *   params: bc (0: periodic; the only boundary the compact sweep is defined on), iters K >= 1
 *
 *   p_0 = p0,  p_k = (div + S p_{k-1}) / (2 nd),  S = sum of the 2 nd neighbours
 *
 * Both the last sweep and the one before it are outputs, because the reference
 * corrects the velocity of step t with sweep K-1 of step t-1 (smoke.lua, step
 * with opts.reference). The map is linear in (div, p0) and S is symmetric on a
 * periodic grid, so the adjoint runs the sweeps backwards with the same stencil:
 *   g_K = gp,  g_{k-1} = S g_k / (2 nd) (+ gp_prev when k - 1 = K - 1),
 *   gdiv += sum_k g_k / (2 nd),  gp0 += g_0. */
#include "smoke.h"

#define JACOBI_ARGS(A)                                                                                      \
  A(div, DS_IN, DS_REAL, -1, 0) A(p0, DS_IN, DS_REAL, -1, 0) A(p_prev, DS_OUT, DS_REAL, -1, 0) \
  A(p, DS_OUT, DS_REAL, -1, 0)
#define JACOBI_PARAMS(P) P(bc) P(iters)
DS_DECLARE_ARGS(jacobi, JACOBI_ARGS)
DS_DECLARE_PARAMS(jacobi, JACOBI_PARAMS)

static int jacobi_check(const ds_call *c) {
  const jacobi_params *p = DS_PARAMS(c, jacobi);
  const int nd = (int)c->args[0]->ndim;
  if (nd != 2 && nd != 3) return c->host->error(c, "argument 'div' (#1) must be a 2D or 3D grid, got %d dims", nd);
  int rc = smoke_check_grid(c, nd, SMOKE_MIN_CELLS);
  if (!rc && p->bc != BC_PERIODIC)
    return c->host->error(c, "param 'bc' must be 0 (periodic): the warm-started compact Jacobi sweep is the "
                             "reference's periodic solver, got %g", p->bc);
  return rc ? rc : smoke_check_int(c, "iters", p->iters, 1, 100000);
}

static int jacobi_forward(const ds_call *c) {
  const jacobi_argv *a = DS_ARGV(c, jacobi);
  const int K = (int)DS_PARAMS(c, jacobi)->iters;
  grid g = grid_make((int)a->div->ndim, BC_PERIODIC, a->div);
  size_t bytes = (size_t)g.cells * sizeof(ds_real);
  ds_real *pa = c->host->scratch(c, bytes), *pb = c->host->scratch(c, bytes);
  if (!pa || !pb) return DS_ERR_NOMEM;
  memcpy(pa, ds_rdata(a->p0), bytes);
  pass P = {0};
  P.op = P_JAC, P.src = ds_rdata(a->div);
  for (int k = 1; k <= K; k++) {
    if (k == K) memcpy(ds_rdata(a->p_prev), pa, bytes);
    P.p = pa, P.out = pb;
    smoke_run_pass(c, &g, &P);
    ds_real *t = pa;
    pa = pb, pb = t;
  }
  memcpy(ds_rdata(a->p), pa, bytes);
  return DS_OK;
}

static int jacobi_adjoint(const ds_call *c) {
  const jacobi_argv *a = DS_ARGV(c, jacobi);
  const int K = (int)DS_PARAMS(c, jacobi)->iters;
  ds_real *gdiv = ds_rgrad(a->div), *gp0 = ds_rgrad(a->p0);
  if (!gdiv && !gp0) return DS_OK;
  const ds_real *gp = ds_rgrad(a->p), *gprev = ds_rgrad(a->p_prev);
  grid g = grid_make((int)a->div->ndim, BC_PERIODIC, a->div);
  const int64_t n = g.cells;
  size_t bytes = (size_t)n * sizeof(ds_real);
  ds_real *ga = c->host->scratch(c, bytes), *gb = c->host->scratch(c, bytes), *zero = c->host->scratch(c, bytes);
  if (!ga || !gb || !zero) return DS_ERR_NOMEM;
  memset(zero, 0, bytes);
  if (gp) memcpy(ga, gp, bytes);
  else memset(ga, 0, bytes);
  const ds_real inv = (ds_real)(1.0 / (2 * g.nd));
  pass P = {0};
  P.op = P_JAC, P.src = zero;
  for (int k = K; k >= 1; k--) { /* ga: the gradient of sweep k */
    if (gdiv)
      for (int64_t i = 0; i < n; i++) gdiv[i] += ga[i] * inv;
    P.p = ga, P.out = gb; /* gb = S ga / (2 nd) */
    smoke_run_pass(c, &g, &P);
    if (k == K && gprev)
      for (int64_t i = 0; i < n; i++) gb[i] += gprev[i];
    ds_real *t = ga;
    ga = gb, gb = t;
  }
  if (gp0)
    for (int64_t i = 0; i < n; i++) gp0[i] += ga[i];
  return DS_OK;
}

int smoke_register_jacobi_warm(const ds_host_api *host, ds_registrar *reg) {
  const ds_kernel_desc k = {"jacobi", jacobi_args, jacobi_param_names, jacobi_check, {jacobi_forward},
                            {jacobi_adjoint}};
  return host->register_kernel(reg, &k);
}
