/* The data checks of an mpm.substep forward: what a shape check cannot see.
 * Each failure names the kernel (the host prefixes it), the argument and the
 * first offending particle. One serial pass, O(n), a few microseconds. */
#include <math.h>

#include "mpm.h"

static int finite4(const R *a, int k) {
  for (int i = 0; i < k; i++)
    if (!isfinite((double)a[i])) return 0;
  return 1;
}

int validate(const ds_call *c, const sim *s) {
  const ds_host_api *h = c->host;
  if (!isfinite((double)s->gravity)) return h->error(c, "argument 'gravity' must be finite, got %g", (double)s->gravity);
  if (!(s->bd.mu >= 0) || !isfinite((double)s->bd.mu))
    return h->error(c, "argument 'friction' must be finite and >= 0, got %g", (double)s->bd.mu);
  for (int64_t g = 0; g < s->ngroup; g++)
    if (!isfinite((double)s->act[g])) return h->error(c, "argument 'act' entry %lld is not finite", (long long)g);
  const double dt = s->dt, dx = s->dx;
  const R hi0 = (R)(s->nx - 1.5), hi1 = (R)(s->ny - 1.5);
  double worst_c2 = 0;
  int64_t worst_p = -1;
  for (int64_t p = 0; p < s->n; p++) {
    const R *x = s->x + 2 * p;
    const R g0 = x[0] * s->inv_dx, g1 = x[1] * s->inv_dx;
    if (!(g0 >= (R)0.5 && g0 < hi0 && g1 >= (R)0.5 && g1 < hi1))
      return h->error(c, "argument 'x': particle %lld at (%g, %g) is outside the grid; its stencil needs "
                         "0.5 dx <= x < (nx - 1.5) dx = %g and 0.5 dx <= y < (ny - 1.5) dx = %g (dx = %g)",
                      (long long)p, (double)x[0], (double)x[1], (double)hi0 * dx, (double)hi1 * dx, dx);
    const R *v = s->v + 2 * p;
    if (!finite4(v, 2)) return h->error(c, "argument 'v': particle %lld has a non-finite velocity", (long long)p);
    /* advection CFL: a particle may not cross more than a cell per substep */
    if (fabs((double)v[0]) * dt > dx || fabs((double)v[1]) * dt > dx)
      return h->error(c, "argument 'v': particle %lld moves (%g, %g), more than one cell (dx = %g) in dt = %g "
                         "(CFL limit); reduce 'dt'",
                      (long long)p, (double)v[0], (double)v[1], dx, dt);
    if (!finite4(s->C + 4 * p, 4)) return h->error(c, "argument 'C': particle %lld is not finite", (long long)p);
    const R *F = s->F + 4 * p;
    if (!finite4(F, 4)) return h->error(c, "argument 'F': particle %lld is not finite", (long long)p);
    const int32_t k = s->mat[p];
    if (k < 0 || k >= MAT_COUNT)
      return h->error(c, "argument 'material': particle %lld has %d; expected 0 (fluid), 1 (corotated) or "
                         "2 (neo-Hookean)", (long long)p, (int)k);
    const int32_t grp = s->group[p];
    if (grp < -1 || grp >= s->ngroup)
      return h->error(c, "argument 'group': particle %lld has %d; expected -1 (passive) or 0..%lld",
                      (long long)p, (int)grp, (long long)(s->ngroup - 1));
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
    /* log J (neo-Hookean) and sqrt J (fluid) need an uninverted (I + dt C) F */
    if (k != MAT_COROTATED) {
      const R *C = s->C + 4 * p;
      const R IC[4] = {1 + s->dt * C[0], s->dt * C[1], s->dt * C[2], 1 + s->dt * C[3]};
      R Fn[4];
      mat_mul(IC, F, Fn);
      if (!(mat_det(Fn) > 0))
        return h->error(c, "argument 'F': particle %lld is inverted (det((I + dt C) F) = %g <= 0)", (long long)p,
                        (double)mat_det(Fn));
    }
    /* elastic wave speed squared: (lam + 2 mu) / rho for solids, bulk / rho for fluid, rho = mass / vol */
    const double c2 = (k == MAT_FLUID ? bulk : lam + 2 * mu) * vol / m;
    if (c2 > worst_c2) worst_c2 = c2, worst_p = p;
  }
  if (worst_p >= 0 && dt * dt * worst_c2 > dx * dx)
    return h->error(c, "param 'dt' = %g is past the elastic stability limit dx / sqrt((lam + 2 mu) vol / mass) = %g "
                       "(particle %lld)", dt, dx / sqrt(worst_c2), (long long)worst_p);
  return DS_OK;
}
