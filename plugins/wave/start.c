/* wave.start: the first step from a height u0 and a velocity v0, by a Taylor
 * expansion that matches leap-frog to second order (u_{-1} eliminated with the
 * central difference of v0):
 *   u1 = u0 + dt v0 + h1 L u0 + h2 L v0,  h1 = c^2 dt^2 / (2 dx^2),  h2 = c alpha dt^2 / (2 dx^2). */
#include <string.h>

#include "wave.h"

typedef struct {
  const real *u0, *v0, *g;
  real *out, *gu, *gv;
  real dt, h1, h2;
  int64_t h, w;
  int bc;
} start_job;

static void start_rows(int64_t lo, int64_t hi, void *user) {
  const start_job *J = user;
  const int64_t w = J->w;
  for (int64_t i = lo; i < hi; i++) {
    const real *u = J->u0 + i * w, *v = J->v0 + i * w;
    real *o = J->out + i * w;
    nbrs nu = rows_of(J->u0, i, J->h, w, J->bc), nv = rows_of(J->v0, i, J->h, w, J->bc);
    for (int64_t j = 0; j < w; j++)
      o[j] = u[j] + J->dt * v[j] + J->h1 * lap_at(u, nu, j, w, J->bc) + J->h2 * lap_at(v, nv, j, w, J->bc);
  }
}

static void start_adj_rows(int64_t lo, int64_t hi, void *user) {
  const start_job *J = user;
  const int64_t w = J->w;
  for (int64_t i = lo; i < hi; i++) {
    const real *g = J->g + i * w;
    nbrs n = rows_of(J->g, i, J->h, w, J->bc);
    for (int64_t j = 0; j < w; j++) {
      real lg = lap_at(g, n, j, w, J->bc);
      if (J->gu) J->gu[i * w + j] += g[j] + J->h1 * lg;
      if (J->gv) J->gv[i * w + j] += J->dt * g[j] + J->h2 * lg;
    }
  }
}

#define START_ARGS(A)                                                                   \
  A(u0, DS_IN, DS_REAL, 2, 0) A(v0, DS_IN, DS_REAL, 2, 0) A(c, DS_IN, DS_REAL, 0, 0) \
  A(alpha, DS_IN, DS_REAL, 0, 0) A(u1, DS_OUT, DS_REAL, 2, 0)
DS_DECLARE_ARGS(start, START_ARGS)
DS_DECLARE_PARAMS(start, WAVE_GRID_PARAMS)

static start_job start_setup(const ds_call *c, wave_phys p) {
  start_job J;
  memset(&J, 0, sizeof J);
  J.h = DS_ARGV(c, start)->u0->dims[0];
  J.w = DS_ARGV(c, start)->u0->dims[1];
  J.bc = p.bc;
  J.dt = p.dt;
  J.h1 = p.c * p.c * p.dt * p.dt / (2 * p.dx * p.dx);
  J.h2 = p.c * p.alpha * p.dt * p.dt / (2 * p.dx * p.dx);
  return J;
}

static int start_check(const ds_call *c) {
  static const int same[] = {DS_SLOT(start, u0), DS_SLOT(start, v0), DS_SLOT(start, u1)};
  const start_params *p = DS_PARAMS(c, start);
  int rc = wave_check_same(c, 3, same);
  return rc ? rc : wave_check_grid(c, p->dt, p->dx, p->boundary);
}

static int start_forward(const ds_call *c) {
  const start_argv *a = DS_ARGV(c, start);
  const start_params *q = DS_PARAMS(c, start);
  wave_phys p;
  int rc = wave_phys_read(c, a->c, a->alpha, q->dt, q->dx, q->boundary, 1, &p);
  /* the initial state is the one place user data enters a rollout: a NaN
   * here would silently fill every later level */
  if (!rc) rc = ds_expect_finite(c, DS_SLOT(start, u0));
  if (!rc) rc = ds_expect_finite(c, DS_SLOT(start, v0));
  if (rc) return rc;
  start_job J = start_setup(c, p);
  J.u0 = ds_rdata(a->u0);
  J.v0 = ds_rdata(a->v0);
  J.out = ds_rdata(a->u1);
  c->host->parallel_for(c->ctx, J.h, row_grain(J.w), start_rows, &J);
  return DS_OK;
}

/* With S1 = sum (L g) . u0 and S2 = sum (L g) . v0 (L symmetric):
 *   g_c += S1 c dt^2/dx^2 + S2 alpha dt^2/(2 dx^2),   g_alpha += S2 c dt^2/(2 dx^2). */
static int start_adjoint(const ds_call *c) {
  const start_argv *a = DS_ARGV(c, start);
  const start_params *q = DS_PARAMS(c, start);
  wave_phys p = wave_phys_get(a->c, a->alpha, q->dt, q->dx, q->boundary);
  start_job J = start_setup(c, p);
  J.gu = ds_rgrad(a->u0);
  J.gv = ds_rgrad(a->v0);
  J.g = ds_rgrad(a->u1);
  if (J.gu || J.gv) c->host->parallel_for(c->ctx, J.h, row_grain(J.w), start_adj_rows, &J);
  real *gc = ds_rgrad(a->c), *gal = ds_rgrad(a->alpha);
  if (!gc && !gal) return DS_OK;
  double s[2];
  int rc = wave_lap_dots(c, J.g, ds_rdata(a->u0), ds_rdata(a->v0), J.h, J.w, p.bc, s);
  if (rc) return rc;
  double cc = p.c, al = p.alpha, dt2 = q->dt * q->dt, inv_dx2 = 1 / (q->dx * q->dx);
  if (gc) gc[0] += (real)((s[0] * cc + 0.5 * s[1] * al) * dt2 * inv_dx2);
  if (gal) gal[0] += (real)(0.5 * s[1] * cc * dt2 * inv_dx2);
  return DS_OK;
}

int wave_register_start(const ds_host_api *host, ds_registrar *reg) {
  const ds_kernel_desc d = {"start", start_args, start_param_names, start_check, {start_forward}, {start_adjoint}};
  return host->register_kernel(reg, &d);
}
