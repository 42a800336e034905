/* The wave plugin's shared parameter handling: grid params and shapes (host
 * side, for the check callbacks), the physical constants c and alpha (read from
 * their 0-dim tensors at the start of a forward, with the stability limit), and
 * the stencil contractions their gradients need. */
#include <math.h>

#include "wave.h"

int wave_check_grid(const ds_call *c, double dt, double dx, double bc) {
  if (!(dt > 0)) return c->host->error(c, "param 'dt' must be positive, got %g", dt);
  if (!(dx > 0)) return c->host->error(c, "param 'dx' must be positive, got %g", dx);
  if (bc != BC_DIRICHLET && bc != BC_REFLECT)
    return c->host->error(c, "param 'boundary' must be 0 (zero Dirichlet) or 1 (reflecting), got %g", bc);
  return DS_OK;
}

int wave_check_same(const ds_call *c, int n, const int *same) {
  const ds_tensor *t = c->args[same[0]];
  if (t->dims[0] < 1 || t->dims[1] < 1)
    return c->host->error(c, "argument '%s' (#%d) is empty", c->arg_desc[same[0]].name, same[0] + 1);
  for (int k = 1; k < n; k++) {
    int rc = ds_expect_shape(c, same[k], 2, t->dims[0], t->dims[1], -1, -1);
    if (rc) return rc;
  }
  return DS_OK;
}

wave_phys wave_phys_get(const ds_tensor *c_t, const ds_tensor *alpha_t, double dt, double dx, double bc) {
  wave_phys p = {ds_rdata(c_t)[0], alpha_t ? ds_rdata(alpha_t)[0] : (real)0, (real)dt, (real)dx, (int)bc};
  return p;
}

int wave_phys_read(const ds_call *c, const ds_tensor *c_t, const ds_tensor *alpha_t, double dt, double dx,
                   double bc, int cfl, wave_phys *out) {
  *out = wave_phys_get(c_t, alpha_t, dt, dx, bc);
  double cc = out->c, al = out->alpha;
  if (!(cc > 0) || !isfinite(cc))
    return c->host->error(c, "argument 'c' (wave speed) must be positive and finite, got %g", cc);
  if (!(al >= 0) || !isfinite(al))
    return c->host->error(c, "argument 'alpha' (damping) must be >= 0 and finite, got %g", al);
  if (cfl) {
    double lhs = cc * cc * dt * dt + 2 * cc * al * dt, lim = 0.5 * dx * dx;
    if (lhs > lim * (1 + 1e-12)) {
      double dtmax = (sqrt(al * al + 0.5 * dx * dx) - al) / cc;
      return c->host->error(c,
                            "param 'dt' = %g is past the CFL stability limit %g for argument 'c' = %g, dx = %g, "
                            "argument 'alpha' = %g (leap-frog needs c^2 dt^2 + 2 c alpha dt <= dx^2/2; Courant "
                            "number c dt/dx = %g, max %g without damping)",
                            dt, dtmax, cc, dx, al, cc * dt / dx, sqrt(0.5));
    }
  }
  return DS_OK;
}

typedef struct {
  const real *g, *x, *y;
  double *rows; /* 2 per row */
  int64_t h, w;
  int bc;
} dots_job;

static void dots_rows(int64_t lo, int64_t hi, void *user) {
  const dots_job *J = user;
  const int64_t w = J->w;
  for (int64_t i = lo; i < hi; i++) {
    const real *g = J->g + i * w, *x = J->x + i * w, *y = J->y ? J->y + i * w : NULL;
    nbrs n = rows_of(J->g, i, J->h, w, J->bc);
    double sx = 0, sy = 0;
    for (int64_t j = 0; j < w; j++) {
      double lg = lap_at(g, n, j, w, J->bc);
      sx += lg * x[j];
      if (y) sy += lg * y[j];
    }
    J->rows[2 * i] = sx;
    J->rows[2 * i + 1] = sy;
  }
}

int wave_lap_dots(const ds_call *c, const real *g, const real *x, const real *y, int64_t h, int64_t w, int bc,
                  double s[2]) {
  dots_job J = {g, x, y, c->host->scratch(c, (size_t)(2 * h) * sizeof(double)), h, w, bc};
  if (!J.rows) return c->host->error(c, "out of memory for %lld row sums", (long long)h);
  c->host->parallel_for(c->ctx, h, row_grain(w), dots_rows, &J);
  s[0] = s[1] = 0;
  for (int64_t i = 0; i < h; i++) { /* row order: the same sum for any thread count */
    s[0] += J.rows[2 * i];
    s[1] += J.rows[2 * i + 1];
  }
  return DS_OK;
}
