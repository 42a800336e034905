/* fem.step: one time step of the incremental potential (system.h).
 *
 *   mode 0  implicit (backward) Euler: y = argmin Phi by Newton (the core's
 *           ds_newton with its energy line search), each iteration one
 *           assembly of the Hessian and one CHOLMOD solve; param project:
 *           0 the true Hessian, 1 (default) the true one unless it is
 *           indefinite, then the per-element SPD projection, 2 always projected;
 *   mode 1  static equilibrium: the same with no inertia (v_out = 0);
 *   mode 2  symplectic Euler: v' = v - h M^-1 (grad V(x) + alpha M v), x' = x + h v'.
 *
 * Backward (modes 0, 1) is the implicit-function theorem: with G(y*) = 0,
 * one CHOLMOD solve H lambda = ybar with the TRUE Hessian at y* (the forward's
 * projected one differs where an element's projection was active), then the
 * pullback of G with -lambda gives every input's gradient; pinned targets get
 * their explicit part plus the coupling H_{pin,free}^T(-lambda). Nothing of
 * the Newton iterations is stored: backward re-assembles at y* (= x_out), so a
 * rollout keeps only its states. The Hessian's symbolic analysis is shared
 * with the forward (per-context pattern cache). */
#include "fem.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define STEP_ARGS(A)                                                                        \
  SYS_HEAD_ARGS(A)                                                                          \
  A(pin_pos, DS_IN, DS_REAL, 2, 0) A(x_out, DS_OUT, DS_REAL, 2, 0) A(v_out, DS_OUT, DS_REAL, 2, 0) \
  A(params, DS_IN, DS_REAL, -1, DS_LIST)
#define STEP_PARAMS(P) SYS_PARAMS(P) P(tol) P(max_iters) P(step_index) P(project)
DS_DECLARE_ARGS(step, STEP_ARGS)
DS_DECLARE_PARAMS(step, STEP_PARAMS)

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int step_check(const ds_call *c) {
  const step_argv *a = DS_ARGV(c, step);
  int rc = fem_check_head(c, 0, DS_SLOT(step, params), a->pin_pos);
  if (rc) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(step, x_out), 2, a->x->dims[0], 3, 0, 0))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(step, v_out), 2, a->x->dims[0], 3, 0, 0))) return rc;
  const step_params *p = DS_PARAMS(c, step);
  if (!(p->max_iters >= 1)) return c->host->error(c, "param 'max_iters' must be >= 1, got %g", p->max_iters);
  if (!(p->tol >= 0)) return c->host->error(c, "param 'tol' must be >= 0, got %g", p->tol);
  return DS_OK;
}

typedef struct newton_ctx {
  const ds_call *c;
  fem_sys *S;
  ds_sparse *A;
  ds_real *vals;
  int project;
  double t_asm, t_solve;
  int nE, nfact, have_y0; /* have_y0: vals hold the true Hessian at the first iterate */
  double fail_g;          /* |G| when the true Hessian was last found indefinite (0: never) */
  const double *y0;       /* the start point (double) */
  double *y;              /* y0 + du, the point the callbacks evaluate at */
} newton_ctx;

/* Newton iterates on the increment du = y - y0 (ds_real), the system sees y in
 * double: in the float build positions then lose only eps |du|, not eps |y|. */
static const double *at(newton_ctx *N, const ds_real *du) {
  for (int64_t i = 0; i < 3 * N->S->n; i++) N->y[i] = N->y0[i] + (double)du[i];
  return N->y;
}
static int cb_residual(void *u, const ds_real *du, ds_real *G) {
  newton_ctx *N = u;
  fem_sys_gradient(N->S, at(N, du), G);
  return DS_OK;
}
static int cb_energy(void *u, const ds_real *du, double *E) {
  newton_ctx *N = u;
  *E = fem_sys_energy(N->S, at(N, du));
  N->nE++;
  return DS_OK;
}
/* The Newton direction. With projection on, the TRUE Hessian is tried first
 * and the per-element SPD projection only used when it is not positive
 * definite (CHOLMOD refuses it): near an equilibrium the true Hessian is
 * definite and Newton converges quadratically, where the projected one (which
 * clamps the rotation modes of stable Neo-Hookean) converges only linearly. */
static int cb_solve(void *u, const ds_real *du, const ds_real *G, ds_real *dy) {
  newton_ctx *N = u;
  const ds_host_api *h = N->c->host;
  const double *y = at(N, du);
  int rc = DS_OK;
  /* after the true Hessian was indefinite, go straight to the projection until |G| has
     fallen tenfold (then the iterate may be near enough to a minimum for it to be definite) */
  double g2 = 0;
  for (int64_t i = 0; i < 3 * N->S->n; i++) g2 += (double)G[i] * G[i];
  const double gn = sqrt(g2);
  const int skip_true = N->project == 1 && N->fail_g > 0 && gn > 0.1 * N->fail_g;
  for (int pass = skip_true; pass < 2; pass++) {
    const int project = pass == 1 || N->project == 2;
    if (pass == 1 && !N->project) break;
    double t0 = now_ms();
    if (!(N->have_y0 && !project)) fem_sys_hessian(N->S, y, project, N->vals);
    N->have_y0 = 0;
    rc = h->solve->sparse_set_values(N->A, N->vals);
    double t1 = now_ms();
    N->t_asm += t1 - t0;
    if (!rc) rc = h->solve->sparse_factor(N->A, DS_SOLVE_CHOLMOD);
    if (!rc) rc = h->solve->sparse_solve(N->A, DS_SOLVE_CHOLMOD, 0, G, dy, NULL, NULL);
    N->t_solve += now_ms() - t1;
    N->nfact++;
    if (!rc || project) break;
    N->fail_g = gn;
  }
  return rc;
}

/* y = x + h v (pinned: their targets), the start of Newton. */
static void init_y(const step_argv *a, const fem_sys *S, double *y) {
  const ds_real *x = ds_rdata(a->x), *v = ds_rdata(a->v);
  for (int64_t i = 0; i < 3 * S->n; i++) y[i] = S->mode == FEM_STATIC ? (double)x[i] : (double)x[i] + S->h * v[i];
  const int32_t *pi = ds_idata(a->pin_idx);
  const ds_real *pp = ds_rdata(a->pin_pos);
  for (int64_t j = 0; j < a->pin_idx->count; j++)
    for (int d = 0; d < 3; d++) y[3 * (int64_t)pi[j] + d] = pp[3 * j + d];
}

static int symplectic_forward(const ds_call *c, fem_sys *S, const step_argv *a) {
  const int64_t n = S->n;
  ds_real *G = c->host->scratch(c, (size_t)(3 * n) * sizeof(ds_real));
  if (!G) return DS_ERR_NOMEM;
  const ds_real *x = ds_rdata(a->x), *v = ds_rdata(a->v);
  const double *xd = fem_to_double(c, x, 3 * n);
  if (!xd) return DS_ERR_NOMEM;
  fem_sys_gradient(S, xd, G); /* static mode: grad V(x); pinned rows zero */
  ds_real *xo = ds_rdata(a->x_out), *vo = ds_rdata(a->v_out);
  const double h = S->h;
  for (int64_t i = 0; i < n; i++)
    for (int d = 0; d < 3; d++) {
      const int64_t k = 3 * i + d;
      const double vn = (1 - h * S->alpha) * v[k] - h * G[k] / S->mass[i];
      vo[k] = (ds_real)vn;
      xo[k] = (ds_real)(x[k] + h * vn);
    }
  const int32_t *pi = ds_idata(a->pin_idx);
  const ds_real *pp = ds_rdata(a->pin_pos);
  for (int64_t j = 0; j < a->pin_idx->count; j++)
    for (int d = 0; d < 3; d++) {
      const int64_t k = 3 * (int64_t)pi[j] + d;
      xo[k] = pp[3 * j + d];
      vo[k] = (ds_real)((pp[3 * j + d] - x[k]) / h);
    }
  for (int64_t k = 0; k < 3 * n; k++)
    if (!isfinite((double)xo[k]))
      return c->host->error(c, "step %g: symplectic Euler produced a non-finite position at vertex %lld: dt = %g is "
                               "past the stability limit; use mode 'implicit' or a smaller dt",
                            DS_PARAMS(c, step)->step_index, (long long)(k / 3), h);
  return DS_OK;
}

static int step_forward(const ds_call *c) {
  const step_argv *a = DS_ARGV(c, step);
  const step_params *p = DS_PARAMS(c, step);
  fem_sys S;
  const int mode = (int)p->mode;
  int rc = fem_setup(&S, c, 0, DS_SLOT(step, params), mode != FEM_STATIC);
  if (rc) return rc;
  if (mode == FEM_SYMPLECTIC) {
    S.mode = FEM_STATIC; /* forces from the static potential at x */
    return symplectic_forward(c, &S, a);
  }
  fem_state *st = c->state;
  const double t0 = now_ms();
  ds_sparse *A = fem_matrix(c, &S);
  if (!A) return DS_ERR_ARG;
  const int64_t n3 = 3 * S.n;
  double *y0 = c->host->scratch(c, (size_t)n3 * sizeof(double)), *yw = c->host->scratch(c, (size_t)n3 * sizeof(double));
  ds_real *du = c->host->scratch(c, (size_t)n3 * sizeof(ds_real));
  newton_ctx N = {.c = c, .S = &S, .A = A, .vals = c->host->scratch(c, (size_t)S.ntrip * sizeof(ds_real)),
                  .project = (int)p->project, .y0 = y0, .y = yw};
  if (!N.vals || !y0 || !yw || !du) return DS_ERR_NOMEM;
  init_y(a, &S, y0);
  for (int64_t i = 0; i < n3; i++) du[i] = 0;
  char label[96];
  snprintf(label, sizeof label, "fem.step %s %.0f", mode == FEM_STATIC ? "(static)" : "(implicit Euler)", p->step_index);
  /* The round-off floor of |G|: the element forces are computed in double from positions
   * known to eps |y|, so each force is known to about eps |y| H_ii. ds_newton stops at
   * tol max(1, |G(y0)|); asking for less than the floor would never converge, so tol is
   * raised to it. (The true Hessian at y0 assembled here is reused by Newton's first
   * iteration.) */
  double t1 = now_ms();
  fem_sys_hessian(&S, y0, 0, N.vals);
  N.t_asm += now_ms() - t1;
  N.have_y0 = 1;
  double d2 = 0, ymax = 0, g0 = 0;
  {
    const int32_t *rows = st->rows, *cols = st->cols;
    double *diag = c->host->scratch(c, (size_t)n3 * sizeof(double));
    ds_real *G0 = c->host->scratch(c, (size_t)n3 * sizeof(ds_real));
    if (!diag || !G0) return DS_ERR_NOMEM;
    for (int64_t i = 0; i < n3; i++) diag[i] = 0;
    for (int64_t t = 0; t < S.ntrip; t++)
      if (rows[t] == cols[t]) diag[rows[t]] += N.vals[t];
    fem_sys_gradient(&S, y0, G0);
    for (int64_t i = 0; i < n3; i++) {
      d2 += diag[i] * diag[i], g0 += (double)G0[i] * G0[i];
      if (fabs(y0[i]) > ymax) ymax = fabs(y0[i]);
    }
  }
  const double floor_g = 2.2e-16 * (ymax + 1e-30) * sqrt(d2);
  double tol = p->tol > 0 ? p->tol : (sizeof(ds_real) == 8 ? 1e-9 : 1e-5);
  if (tol * fmax(1, sqrt(g0)) < floor_g) tol = floor_g / fmax(1, sqrt(g0));
  ds_newton_fns fns = {&N, cb_residual, cb_solve, cb_energy};
  ds_newton_opts o = {tol, (int32_t)p->max_iters, 40, label};
  ds_newton_info info = {0};
  if (sizeof(ds_real) == 4) {
    /* The float build stores the increment to eps_f32 |du|, and |G| cannot fall below
       eps_f32 |du| H: one Newton iteration first gives |du|, then the rest run to
       max(tol, that floor). */
    o.max_iters = 1;
    rc = c->host->solve->newton(c->ctx, n3, du, &fns, &o, &info);
    if (rc && info.iters == 1 && o.max_iters < p->max_iters) {
      double dmax = 0;
      for (int64_t i = 0; i < n3; i++) dmax = fmax(dmax, fabs((double)du[i]));
      const double floor32 = 4 * 1.2e-7 * dmax * sqrt(d2), g1 = info.residual;
      o.tol = fmax(tol * fmax(1, sqrt(g0)), floor32) / fmax(1, g1);
      o.max_iters = (int32_t)p->max_iters - 1;
      ds_newton_info more = {0};
      rc = c->host->solve->newton(c->ctx, n3, du, &fns, &o, &more);
      info.iters += more.iters, info.halvings += more.halvings, info.residual = more.residual;
    }
  } else {
    rc = c->host->solve->newton(c->ctx, n3, du, &fns, &o, &info);
  }
  st->stats[0] = info.iters, st->stats[1] = info.halvings, st->stats[2] = info.residual;
  st->stats[3] = N.t_asm, st->stats[4] = N.t_solve, st->stats[6] = N.nE, st->stats[7] = now_ms() - t0;
  st->stats[8] = N.nfact;
  if (rc) return rc; /* ds_newton's message names the step and the residual */
  ds_real *y = ds_rdata(a->x_out), *vo = ds_rdata(a->v_out);
  const ds_real *x = ds_rdata(a->x);
  for (int64_t k = 0; k < n3; k++) {
    const double yk = y0[k] + (double)du[k];
    y[k] = (ds_real)yk;
    vo[k] = mode == FEM_STATIC ? 0 : (ds_real)((yk - (double)x[k]) / S.h);
  }
  return DS_OK;
}

/* pin_pos gets ybar at pinned rows (explicitly: x_out = pin_pos there) plus the coupling in yb2. */
static void pins_back(const step_argv *a, const ds_real *ybar, const ds_real *coupling) {
  ds_real *gp = ds_rgrad(a->pin_pos);
  if (!gp) return;
  const int32_t *pi = ds_idata(a->pin_idx);
  for (int64_t j = 0; j < a->pin_idx->count; j++)
    for (int d = 0; d < 3; d++) {
      const int64_t k = 3 * (int64_t)pi[j] + d;
      gp[3 * j + d] += ybar[k] + (coupling ? coupling[k] : 0);
    }
}

static int symplectic_adjoint(const ds_call *c, fem_sys *S, const step_argv *a) {
  const int64_t n = S->n;
  const double h = S->h;
  const ds_real *gxo = ds_rgrad(a->x_out), *gvo = ds_rgrad(a->v_out);
  ds_real *G = c->host->scratch(c, (size_t)(3 * n) * sizeof(ds_real));
  ds_real *w = c->host->scratch(c, (size_t)(3 * n) * sizeof(ds_real));
  ds_real *pinb = c->host->scratch(c, (size_t)(3 * n) * sizeof(ds_real));
  double *mbar = c->host->scratch(c, (size_t)n * sizeof(double));
  if (!G || !w || !pinb || !mbar) return DS_ERR_NOMEM;
  const double *x = fem_to_double(c, ds_rdata(a->x), 3 * n);
  if (!x) return DS_ERR_NOMEM;
  fem_sys_gradient(S, x, G);
  ds_real *gx = ds_rgrad(a->x), *gv = ds_rgrad(a->v);
  for (int64_t k = 0; k < 3 * n; k++) pinb[k] = 0;
  for (int64_t i = 0; i < n; i++) {
    mbar[i] = 0;
    for (int d = 0; d < 3; d++) {
      const int64_t k = 3 * i + d;
      const double xb = gxo ? gxo[k] : 0, vb = gvo ? gvo[k] : 0;
      if (S->pinned[i]) { /* x' = pin, v' = (pin - x)/h */
        pinb[k] = (ds_real)(xb + vb / h);
        if (gx) gx[k] -= (ds_real)(vb / h);
        w[k] = 0;
        continue;
      }
      const double vnb = vb + h * xb; /* through x' = x + h v' */
      if (gx) gx[k] += (ds_real)xb;
      if (gv) gv[k] += (ds_real)((1 - h * S->alpha) * vnb);
      w[k] = (ds_real)(-h * vnb / S->mass[i]); /* v' = ... - h G / m */
      mbar[i] += vnb * h * G[k] / (S->mass[i] * S->mass[i]);
    }
  }
  pins_back(a, pinb, NULL);
  fem_pullback out = {NULL, NULL, ds_rgrad(a->rest), gx, NULL}; /* G is evaluated at y = x here */
  double gg[3] = {0, 0, 0};
  ds_real *ggrav = ds_rgrad(a->gravity);
  out.gravity = ggrav ? gg : NULL;
  /* the 1/m of M^-1 as extra mass gradient: pass through the pullback's mass channel by adding
     it to the vertex mass bar; fem_sys_pullback computes the rest from w */
  int rc = fem_sys_pullback(S, x, w, &out);
  if (rc) return rc;
  if (ggrav)
    for (int d = 0; d < 3; d++) ggrav[d] += (ds_real)gg[d];
  /* mass gradient from M^-1: to densities and rest positions */
  for (int s = 0; s < S->nsets; s++) {
    const fem_set *st = &S->set[s];
    const fem_elem_type *T = st->T;
    if (T->density_param < 0) continue;
    ds_real *grest = ds_rgrad(a->rest);
    for (int64_t e = 0; e < st->m; e++) {
      double mb = 0, Xe[FEM_MAX_DOF], gX[FEM_MAX_DOF];
      for (int k = 0; k < T->k; k++) mb += mbar[st->conn[e * T->k + k]];
      if (mb == 0) continue;
      for (int k = 0; k < T->k; k++)
        for (int d = 0; d < 3; d++) Xe[3 * k + d] = S->X[3 * (int64_t)st->conn[e * T->k + k] + d];
      const double meas = fem_elem_measure(T, Xe, grest ? gX : NULL);
      const double rho = st->p[T->density_param * st->m + e];
      if (st->pgrad) st->pgrad[T->density_param * st->m + e] += (ds_real)(mb * meas / T->k);
      if (grest)
        for (int k = 0; k < T->k; k++)
          for (int d = 0; d < 3; d++) grest[3 * (int64_t)st->conn[e * T->k + k] + d] += (ds_real)(mb * rho / T->k * gX[3 * k + d]);
    }
  }
  return DS_OK;
}

static int step_adjoint(const ds_call *c) {
  const step_argv *a = DS_ARGV(c, step);
  const step_params *p = DS_PARAMS(c, step);
  const int mode = (int)p->mode;
  const double t0 = now_ms();
  fem_sys S;
  int rc = fem_setup(&S, c, 0, DS_SLOT(step, params), mode != FEM_STATIC);
  if (rc) return rc;
  if (mode == FEM_SYMPLECTIC) {
    S.mode = FEM_STATIC;
    return symplectic_adjoint(c, &S, a);
  }
  const int64_t n3 = 3 * S.n;
  const double *y = fem_to_double(c, ds_rdata(a->x_out), 3 * S.n);
  const ds_real *gxo = ds_rgrad(a->x_out), *gvo = ds_rgrad(a->v_out);
  if (!y) return DS_ERR_NOMEM;
  ds_real *ybar = c->host->scratch(c, (size_t)n3 * sizeof(ds_real));
  ds_real *rhs = c->host->scratch(c, (size_t)n3 * sizeof(ds_real));
  ds_real *lam = c->host->scratch(c, (size_t)n3 * sizeof(ds_real));
  ds_real *coup = c->host->scratch(c, (size_t)n3 * sizeof(ds_real));
  ds_real *vals = c->host->scratch(c, (size_t)S.ntrip * sizeof(ds_real));
  if (!ybar || !rhs || !lam || !coup || !vals) return DS_ERR_NOMEM;
  ds_real *gx = ds_rgrad(a->x);
  for (int64_t k = 0; k < n3; k++) {
    const double vb = (gvo && mode != FEM_STATIC) ? gvo[k] : 0;
    ybar[k] = (ds_real)((gxo ? gxo[k] : 0) + vb / S.h); /* v_out = (y - x)/h */
    if (gx && vb != 0) gx[k] -= (ds_real)(vb / S.h);
    rhs[k] = S.pinned[k / 3] ? 0 : ybar[k];
    coup[k] = 0;
  }
  ds_sparse *A = fem_matrix(c, &S);
  if (!A) return DS_ERR_ARG;
  fem_sys_hessian(&S, y, 0, vals); /* the true Hessian at the solution */
  if ((rc = c->host->solve->sparse_set_values(A, vals))) return rc;
  ds_jacobian J = {A, DS_SOLVE_CHOLMOD, NULL, NULL};
  rc = c->host->solve->ift_adjoint(c->ctx, &J, rhs, lam, NULL);
  if (rc) { /* indefinite at y* (a saddle, or a buckled state): LU still gives the exact adjoint */
    J.method = DS_SOLVE_UMFPACK;
    rc = c->host->solve->ift_adjoint(c->ctx, &J, rhs, lam, NULL);
    if (rc) return c->host->error(c, "step %g: the adjoint solve failed: %s", p->step_index, "singular Hessian at the solution");
  }
  for (int64_t k = 0; k < n3; k++) lam[k] = -lam[k];
  double gg[3] = {0, 0, 0};
  ds_real *ggrav = ds_rgrad(a->gravity);
  fem_pullback out = {gx, mode != FEM_STATIC ? ds_rgrad(a->v) : NULL, ds_rgrad(a->rest), coup, ggrav ? gg : NULL};
  if ((rc = fem_sys_pullback(&S, y, lam, &out))) return rc;
  if (ggrav)
    for (int d = 0; d < 3; d++) ggrav[d] += (ds_real)gg[d];
  pins_back(a, ybar, coup);
  fem_state *st = c->state;
  st->stats[5] = now_ms() - t0;
  return DS_OK;
}

const ds_kernel_desc fem_step_kernel = {"step", step_args, step_param_names, step_check, {[DS_CPU] = step_forward},
                                        {[DS_CPU] = step_adjoint}};
