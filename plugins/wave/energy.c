/* wave.energy: the quantity leap-frog conserves exactly when alpha = 0 (and
 * that decays with damping), evaluated between levels u_prev and u:
 *   E = sum dx^2 [ 1/2 ((u - u_prev)/dt)^2 - c^2/(2 dx^2) u . L u_prev ]
 * -L is positive semi-definite and symmetric, and under the CFL limit E >= 0.
 * Damping does not enter E, so the kernel takes c but no alpha. */
#include <string.h>

#include "wave.h"

typedef struct {
  const real *a, *b;
  real *ga, *gb;
  real ge;
  double *rows;       /* per-row partial sums, combined in row order */
  real inv_dt2, kc;   /* 1/dt^2, c^2/dx^2 */
  int64_t h, w;
  int bc;
} energy_job;

static void energy_rows(int64_t lo, int64_t hi, void *user) {
  const energy_job *J = user;
  const int64_t w = J->w;
  for (int64_t i = lo; i < hi; i++) {
    const real *a = J->a + i * w, *b = J->b + i * w;
    nbrs na = rows_of(J->a, i, J->h, w, J->bc);
    double kin = 0, pot = 0;
    for (int64_t j = 0; j < w; j++) {
      double d = (double)b[j] - a[j];
      kin += d * d;
      pot += (double)b[j] * lap_at(a, na, j, w, J->bc);
    }
    J->rows[i] = 0.5 * J->inv_dt2 * kin - 0.5 * J->kc * pot;
  }
}

/* dE/du  = dx^2 [ (u - u-)/dt^2 - c^2/(2dx^2) L u- ]
 * dE/du- = dx^2 [ -(u - u-)/dt^2 - c^2/(2dx^2) L u ]   (L symmetric) */
static void energy_adj_rows(int64_t lo, int64_t hi, void *user) {
  const energy_job *J = user;
  const int64_t w = J->w;
  for (int64_t i = lo; i < hi; i++) {
    const real *a = J->a + i * w, *b = J->b + i * w;
    nbrs na = rows_of(J->a, i, J->h, w, J->bc), nb = rows_of(J->b, i, J->h, w, J->bc);
    for (int64_t j = 0; j < w; j++) {
      real d = (b[j] - a[j]) * J->inv_dt2;
      if (J->gb) J->gb[i * w + j] += J->ge * (d - (real)0.5 * J->kc * lap_at(a, na, j, w, J->bc));
      if (J->ga) J->ga[i * w + j] += J->ge * (-d - (real)0.5 * J->kc * lap_at(b, nb, j, w, J->bc));
    }
  }
}

#define ENERGY_ARGS(A)                                                                  \
  A(u_prev, DS_IN, DS_REAL, 2, 0) A(u, DS_IN, DS_REAL, 2, 0) A(c, DS_IN, DS_REAL, 0, 0) \
  A(energy, DS_OUT, DS_REAL, 0, 0)
DS_DECLARE_ARGS(energy, ENERGY_ARGS)
DS_DECLARE_PARAMS(energy, WAVE_GRID_PARAMS)

static int energy_check(const ds_call *c) {
  static const int same[] = {DS_SLOT(energy, u_prev), DS_SLOT(energy, u)};
  const energy_params *p = DS_PARAMS(c, energy);
  int rc = wave_check_same(c, 2, same);
  return rc ? rc : wave_check_grid(c, p->dt, p->dx, p->boundary);
}

static energy_job energy_setup(const ds_call *c, wave_phys p) {
  const energy_argv *a = DS_ARGV(c, energy);
  energy_job J;
  memset(&J, 0, sizeof J);
  J.a = ds_rdata(a->u_prev);
  J.b = ds_rdata(a->u);
  J.h = a->u_prev->dims[0];
  J.w = a->u_prev->dims[1];
  J.bc = p.bc;
  J.inv_dt2 = 1 / (p.dt * p.dt);
  J.kc = p.c * p.c / (p.dx * p.dx);
  return J;
}

static int energy_forward(const ds_call *c) {
  const energy_argv *a = DS_ARGV(c, energy);
  const energy_params *q = DS_PARAMS(c, energy);
  wave_phys p;
  /* no CFL here: the energy of any two levels is well defined */
  int rc = wave_phys_read(c, a->c, NULL, q->dt, q->dx, q->boundary, 0, &p);
  if (rc) return rc;
  energy_job J = energy_setup(c, p);
  J.rows = c->host->scratch(c, (size_t)J.h * sizeof(double));
  if (!J.rows) return c->host->error(c, "out of memory for %lld row sums", (long long)J.h);
  c->host->parallel_for(c->ctx, J.h, row_grain(J.w), energy_rows, &J);
  double e = 0;
  for (int64_t i = 0; i < J.h; i++) e += J.rows[i];
  ds_rdata(a->energy)[0] = (real)(e * q->dx * q->dx);
  return DS_OK;
}

/* dE/dc = -c sum u . L u_prev  (the potential term is the only one with c). */
static int energy_adjoint(const ds_call *c) {
  const energy_argv *a = DS_ARGV(c, energy);
  const energy_params *q = DS_PARAMS(c, energy);
  wave_phys p = wave_phys_get(a->c, NULL, q->dt, q->dx, q->boundary);
  energy_job J = energy_setup(c, p);
  double dx = q->dx, ge = ds_rgrad(a->energy)[0];
  J.ga = ds_rgrad(a->u_prev);
  J.gb = ds_rgrad(a->u);
  J.ge = (real)(ge * dx * dx);
  if (J.ga || J.gb) c->host->parallel_for(c->ctx, J.h, row_grain(J.w), energy_adj_rows, &J);
  real *gc = ds_rgrad(a->c);
  if (gc) {
    double s[2];
    int rc = wave_lap_dots(c, J.a, J.b, NULL, J.h, J.w, p.bc, s); /* s[0] = sum (L u_prev) . u */
    if (rc) return rc;
    gc[0] += (real)(-ge * (double)p.c * s[0]);
  }
  return DS_OK;
}

int wave_register_energy(const ds_host_api *host, ds_registrar *reg) {
  const ds_kernel_desc d = {"energy", energy_args, energy_param_names, energy_check, {energy_forward},
                            {energy_adjoint}};
  return host->register_kernel(reg, &d);
}
