/* The data checks of an mpm.substep3 forward (what a shape check cannot see),
 * as validate.c for 2D: each failure names the argument and the first
 * offending particle; the host prefixes the kernel name. One serial O(n) pass.
 * The velocity's CFL limit is not a refusal here: substep3.c splits a substep
 * into sub-substeps that respect it (vmax3 below), and refuses only past SUB_MAX. */
#include <math.h>

#include "mpm3.h"

static int finite_n(const R *a, int k) {
  for (int i = 0; i < k; i++)
    if (!isfinite((double)a[i])) return 0;
  return 1;
}

int validate3(const ds_call *c, const sim3 *s) {
  const ds_host_api *h = c->host;
  if (!isfinite((double)s->gravity)) return h->error(c, "argument 'gravity' must be finite, got %g", (double)s->gravity);
  if (!(s->bd.mu >= 0) || !isfinite((double)s->bd.mu))
    return h->error(c, "argument 'friction' must be finite and >= 0, got %g", (double)s->bd.mu);
  for (int64_t g = 0; g < s->ngroup; g++)
    if (!isfinite((double)s->act[g])) return h->error(c, "argument 'act' entry %lld is not finite", (long long)g);
  const double dt = s->dt, dx = s->dx;
  const R hi[3] = {(R)(s->nx - 1.5), (R)(s->ny - 1.5), (R)(s->nz - 1.5)};
  double worst_c2 = 0;
  int64_t worst_p = -1;
  for (int64_t p = 0; p < s->n; p++) {
    const R *x = s->x + 3 * p;
    for (int d = 0; d < 3; d++) {
      const R g = x[d] * s->inv_dx;
      if (!(g >= (R)0.5 && g < hi[d]))
        return h->error(c, "argument 'x': particle %lld at (%g, %g, %g) is outside the grid; its stencil needs "
                           "0.5 dx <= x_d < (n_d - 1.5) dx on every axis (axis %d: < %g; dx = %g)",
                        (long long)p, (double)x[0], (double)x[1], (double)x[2], d, (double)hi[d] * dx, dx);
    }
    const R *v = s->v + 3 * p;
    if (!finite_n(v, 3)) return h->error(c, "argument 'v': particle %lld has a non-finite velocity", (long long)p);
    if (!finite_n(s->C + 9 * p, 9)) return h->error(c, "argument 'C': particle %lld is not finite", (long long)p);
    const R *F = s->F + 9 * p;
    if (!finite_n(F, 9)) return h->error(c, "argument 'F': particle %lld is not finite", (long long)p);
    const int32_t k = s->mat[p];
    if (k < 0 || k >= MAT_COUNT)
      return h->error(c, "argument 'material': particle %lld has %d; expected 0 (fluid), 1 (corotated) or "
                         "2 (neo-Hookean)", (long long)p, (int)k);
    const int32_t grp = s->group[p];
    if (grp < -1 || grp >= s->ngroup)
      return h->error(c, "argument 'group': particle %lld has %d; expected -1 (passive) or 0..%lld", (long long)p,
                      (int)grp, (long long)(s->ngroup - 1));
    const double m = s->mass[s->smass ? p : 0], vol = s->vol[s->svol ? p : 0];
    if (!(m > 0) || !isfinite(m))
      return h->error(c, "argument 'mass': particle %lld has %g; masses must be positive and finite", (long long)p, m);
    if (!(vol > 0) || !isfinite(vol))
      return h->error(c, "argument 'vol': particle %lld has %g; volumes must be positive and finite", (long long)p, vol);
    const double mu = s->mu[s->smu ? p : 0], lam = s->lam[s->slam ? p : 0], bulk = s->bulk[s->sbulk ? p : 0];
    if (!(mu >= 0) || !isfinite(mu)) return h->error(c, "argument 'mu': particle %lld has %g, expected >= 0", (long long)p, mu);
    if (!(lam >= 0) || !isfinite(lam))
      return h->error(c, "argument 'lam': particle %lld has %g, expected >= 0", (long long)p, lam);
    if (!(bulk >= 0) || !isfinite(bulk))
      return h->error(c, "argument 'bulk': particle %lld has %g, expected >= 0", (long long)p, bulk);
    /* log J, sqrt J and the polar rotation need an uninverted (I + dt C) F */
    {
      const R *C = s->C + 9 * p;
      R IC[9], Fn[9];
      for (int q = 0; q < 9; q++) IC[q] = s->dt * C[q];
      IC[0] += 1, IC[4] += 1, IC[8] += 1;
      m3_mul(IC, F, Fn);
      if (!(m3_det(Fn) > 0))
        return h->error(c, "argument 'F': particle %lld is inverted (det((I + dt C) F) = %g <= 0)", (long long)p,
                        (double)m3_det(Fn));
    }
    const double c2 = (k == MAT_FLUID ? bulk : lam + 2 * mu) * vol / m;
    if (c2 > worst_c2) worst_c2 = c2, worst_p = p;
  }
  if (worst_p >= 0 && dt * dt * worst_c2 > dx * dx)
    return h->error(c, "param 'dt' = %g is past the elastic stability limit dx / sqrt((lam + 2 mu) vol / mass) = %g "
                       "(particle %lld)", dt, dx / sqrt(worst_c2), (long long)worst_p);
  return DS_OK;
}

/* The fastest velocity component: max over particles p and axes d of |v_pd|
 * (in double), where (*p, *d) is first reached. A particle moving at v for a
 * (sub)substep dt crosses |v_d| dt / dx cells along axis d. */
double vmax3(const sim3 *s, int64_t *wp, int *wd) {
  double m = 0;
  *wp = 0, *wd = 0;
  for (int64_t p = 0; p < s->n; p++)
    for (int d = 0; d < 3; d++) {
      const double a = fabs((double)s->v[3 * p + d]);
      if (a > m) m = a, *wp = p, *wd = d;
    }
  return m;
}
