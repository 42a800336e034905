/* ds_newton with the energy line search (ds_newton_fns.energy, issue 15):
 * minimising a double well with a projected (clamped) Hessian converges to a
 * minimum, starting near the spurious stationary point of |G|^2; a solve that
 * returns an ascent direction and a failing energy callback are clear errors. */
#include <diffsim/solve.h>
#include <math.h>

#include "check.h"

enum { N = 3 };
typedef struct prob {
  int flip, fail_energy, energy_calls;
} prob;

/* E = sum (y^2 - 1)^2 / 4 + 0.1 y_i y_{i+1} (a weak coupling) */
static double energy_of(const ds_real *y) {
  double e = 0;
  for (int i = 0; i < N; i++) e += 0.25 * ((double)y[i] * y[i] - 1) * ((double)y[i] * y[i] - 1);
  for (int i = 0; i + 1 < N; i++) e += 0.1 * (double)y[i] * y[i + 1];
  return e;
}
static int residual(void *u, const ds_real *y, ds_real *G) {
  (void)u;
  for (int i = 0; i < N; i++) G[i] = y[i] * y[i] * y[i] - y[i];
  for (int i = 0; i + 1 < N; i++) G[i] += (ds_real)(0.1 * y[i + 1]), G[i + 1] += (ds_real)(0.1 * y[i]);
  return DS_OK;
}
/* Diagonal Hessian clamped at 0.2 (a projection), coupling dropped: an SPD approximation. */
static int solve(void *u, const ds_real *y, const ds_real *G, ds_real *dy) {
  prob *p = u;
  for (int i = 0; i < N; i++) {
    double h = 3.0 * y[i] * y[i] - 1;
    if (h < 0.2) h = 0.2;
    dy[i] = (ds_real)((p->flip ? -1 : 1) * G[i] / h);
  }
  return DS_OK;
}
static int energy(void *u, const ds_real *y, double *E) {
  prob *p = u;
  p->energy_calls++;
  if (p->fail_energy) return DS_ERR_ARG;
  *E = energy_of(y);
  return DS_OK;
}

int main(void) {
  ds_ctx *ctx = ds_ctx_new(1);
  const int f64 = sizeof(ds_real) == 8;
  {
    prob p = {0, 0, 0};
    ds_real y[N] = {0.5f, -0.55f, 0.6f};
    const double e0 = energy_of(y);
    ds_newton_fns f = {&p, residual, solve, energy};
    ds_newton_opts o = {f64 ? 1e-10 : 1e-4, 200, 40, "test.double_well"};
    ds_newton_info info;
    CHECK(ds_newton(ctx, N, y, &f, &o, &info) == DS_OK);
    CHECK(info.residual <= (f64 ? 1e-9 : 1e-3));
    CHECK(energy_of(y) < e0);
    for (int i = 0; i < N; i++) CHECK(fabs(fabs((double)y[i]) - 1) < 0.2); /* in a well, not at the hump */
    CHECK(p.energy_calls > info.iters);
  }
  /* an ascent direction, and a failing energy callback: clear errors naming the step */
  const struct { int flip, fail; const char *label, *want; } bad[] = {
      {1, 0, "test.ascent", "step 'test.ascent': the Newton direction is not a descent direction"},
      {0, 1, "test.energy_fails", "step 'test.energy_fails': the energy callback failed at iteration 0"}};
  for (int k = 0; k < 2; k++) {
    prob p = {bad[k].flip, bad[k].fail, 0};
    ds_real y[N] = {0.5f, -0.55f, 0.6f};
    ds_newton_fns f = {&p, residual, solve, energy};
    ds_newton_opts o = {1e-10, 50, 20, bad[k].label};
    CHECK(ds_newton(ctx, N, y, &f, &o, NULL) == DS_ERR_ARG);
    CHECK_CONTAINS(ds_last_error(ctx), bad[k].want);
  }
  ds_ctx_free(ctx);
  TEST_DONE();
}
