/* render.torus: the procedural target density of the volume renderer scene
 * (SCENES.md: the reference's bunny file cannot be fetched; its own torus
 * stands in). Voxel [z][y][x] of an {n, n, n} grid at the point
 * (x, y, z) = (ix, iy, iz)/n - 0.5 (the voxel's low corner, as the reference
 * evaluates it) gets `value` inside the torus and 0 outside. The ring has
 * radius r1 and tube radius r2 and lies in the y-z plane around the x axis
 * (the reference swaps x and y "to rotate the torus", so the cameras, which
 * circle the y axis, see it turn from a ring into a bar). A scene generator:
 * no inputs, no adjoint; written in C so that no Lua loop runs over voxels. */
#include <math.h>

#include <diffsim/plugin.h>

#define TORUS_ARGS(A) A(out, DS_OUT, DS_REAL, 3, 0)
#define TORUS_PARAMS(P) P(r1) P(r2) P(value)
DS_DECLARE_ARGS(torus, TORUS_ARGS)
DS_DECLARE_PARAMS(torus, TORUS_PARAMS)

static int torus_check(const ds_call *c) {
  const ds_tensor *o = DS_ARGV(c, torus)->out;
  const torus_params *p = DS_PARAMS(c, torus);
  if (o->dims[0] != o->dims[1] || o->dims[0] != o->dims[2] || o->dims[0] < 2)
    return c->host->error(c, "argument 'out' (#1) must be a cubic grid {n, n, n} with n >= 2");
  if (!(p->r1 > 0 && p->r2 > 0 && isfinite(p->r1) && isfinite(p->r2)))
    return c->host->error(c, "params 'r1' and 'r2' (ring and tube radii) must be positive, got %g and %g", p->r1, p->r2);
  if (!isfinite(p->value)) return c->host->error(c, "param 'value' must be finite, got %g", p->value);
  return DS_OK;
}

typedef struct {
  ds_real *out;
  int64_t n;
  double r1, r2, value;
} torus_job;

static void torus_planes(int64_t b, int64_t e, void *user) {
  const torus_job *J = user;
  const int64_t n = J->n;
  for (int64_t iz = b; iz < e; iz++)
    for (int64_t iy = 0; iy < n; iy++)
      for (int64_t ix = 0; ix < n; ix++) {
        double x = (double)ix / n - 0.5, y = (double)iy / n - 0.5, z = (double)iz / n - 0.5;
        double q = sqrt(y * y + z * z) - J->r1; /* distance from the ring in its plane */
        double d = sqrt(q * q + x * x) - J->r2;
        J->out[(iz * n + iy) * n + ix] = (ds_real)(d < 0 ? J->value : 0);
      }
}

static int torus_forward(const ds_call *c) {
  const torus_params *p = DS_PARAMS(c, torus);
  torus_job J = {ds_rdata(DS_ARGV(c, torus)->out), DS_ARGV(c, torus)->out->dims[0], p->r1, p->r2, p->value};
  c->host->parallel_for(c->ctx, J.n, 1, torus_planes, &J);
  return DS_OK;
}

int render_register_torus(const ds_host_api *host, ds_registrar *reg) {
  ds_kernel_desc d = {"torus", torus_args, torus_param_names, torus_check, {[DS_CPU] = torus_forward}, {0}};
  return host->register_kernel(reg, &d);
}
