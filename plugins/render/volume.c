/* render.volume: emission-only ray marching through a density grid, one image
 * per camera angle, differentiable in the density (volume.h: geometry).
 *
 *   density {n, n, n} [z][y][x]   angles {V} (radians, not differentiated)
 *   out {V, res, res} [view][row][column]
 *   params: dx (march step), steps, fov, radius (camera distance), mode
 *
 * Forward: pixels in parallel, each sums its samples in march order.
 * Adjoint: d loss/d density is a scatter from rays into voxels, which rays
 * share. No float atomics and no per-thread copies of the grid: the grid is cut
 * into slabs of SLAB y-layers, each slab is one parallel block that walks every
 * ray (view by view, in pixel order) and adds only the taps in its own layers.
 * So every voxel receives its terms in one fixed order, whatever the thread
 * count, and the gradient is bitwise reproducible. A per-view table of each
 * ray's direction, step range and y-layer range (filled in parallel, one entry
 * per ray) lets a slab skip the rays that never reach it. */
#include <stdint.h>
#include <string.h>

#include "volume.h"

enum { SLAB = 8 };

#define VOL_ARGS(A) \
  A(density, DS_IN, DS_REAL, 3, 0) A(angles, DS_NODIFF, DS_REAL, 1, 0) A(out, DS_OUT, DS_REAL, 3, 0)
#define VOL_PARAMS(P) P(dx) P(steps) P(fov) P(radius) P(mode)
DS_DECLARE_ARGS(vol, VOL_ARGS)
DS_DECLARE_PARAMS(vol, VOL_PARAMS)

static int vol_check(const ds_call *c) {
  const vol_argv *a = DS_ARGV(c, vol);
  const vol_params *p = DS_PARAMS(c, vol);
  const ds_tensor *d = a->density;
  if (d->dims[0] != d->dims[1] || d->dims[0] != d->dims[2] || d->dims[0] < 2)
    return c->host->error(c, "argument 'density' (#1) must be a cubic grid {n, n, n} with n >= 2 ([z][y][x]), "
                             "got {%lld, %lld, %lld}", (long long)d->dims[0], (long long)d->dims[1],
                          (long long)d->dims[2]);
  if (d->dims[0] > 4096) return c->host->error(c, "argument 'density' (#1): n = %lld is over 4096", (long long)d->dims[0]);
  if (a->angles->dims[0] < 1) return c->host->error(c, "argument 'angles' (#2) must list at least one view");
  const ds_tensor *o = a->out;
  if (o->dims[0] != a->angles->dims[0] || o->dims[1] != o->dims[2] || o->dims[1] < 1)
    return c->host->error(c, "argument 'out' (#3) must be {V, res, res} with V = %lld views, got {%lld, %lld, %lld}",
                          (long long)a->angles->dims[0], (long long)o->dims[0], (long long)o->dims[1],
                          (long long)o->dims[2]);
  if (!(p->dx > 0 && isfinite(p->dx))) return c->host->error(c, "param 'dx' (march step) must be positive, got %g", p->dx);
  if (!(p->steps >= 1 && p->steps <= 1e7 && p->steps == floor(p->steps)))
    return c->host->error(c, "param 'steps' must be an integer in [1, 1e7], got %g", p->steps);
  if (!(p->fov > 0 && isfinite(p->fov))) return c->host->error(c, "param 'fov' must be positive, got %g", p->fov);
  if (!(p->radius > 0 && isfinite(p->radius)))
    return c->host->error(c, "param 'radius' (camera distance) must be positive, got %g", p->radius);
  if (p->mode != VOL_TRILINEAR && p->mode != VOL_NEAREST)
    return c->host->error(c, "param 'mode' must be 0 (trilinear) or 1 (nearest voxel), got %g", p->mode);
  return DS_OK;
}

typedef struct vjob {
  vol_geo g;
  const vreal *rho, *gout;
  vreal *out, *grho;
  const vreal *angles;
  double radius;
  int64_t V;
  /* adjoint, per view */
  int64_t view;
  vol_cam cam;
  vreal *dirs;    /* {res^2, 3} */
  int32_t *range; /* {res^2, 4}: k0, k1, lowest and highest y layer */
} vjob;

/* One ray's sum of samples. */
static vreal march(const vol_geo *g, const vol_cam *cam, const vreal d[3], int64_t k0, int64_t k1, const vreal *rho) {
  const int64_t n = g->n;
  vreal acc = 0;
  for (int64_t k = k0; k < k1; k++) {
    vreal p[3];
    vol_point(g, cam, d, k, p);
    if (!vol_in_box(p)) continue;
    vol_taps t;
    vol_taps_of(g, p, &t);
    if (g->mode == VOL_NEAREST) {
      acc += rho[(t.i[2][0] * n + t.i[1][0]) * n + t.i[0][0]];
      continue;
    }
    vreal s = 0;
    for (int cz = 0; cz < 2; cz++)
      for (int cy = 0; cy < 2; cy++) {
        const vreal *row = rho + (t.i[2][cz] * n + t.i[1][cy]) * n;
        vreal wzy = t.w[2][cz] * t.w[1][cy];
        s += wzy * (t.w[0][0] * row[t.i[0][0]] + t.w[0][1] * row[t.i[0][1]]);
      }
    acc += s;
  }
  return acc;
}

/* Rows of all views: row r = view r / res, image row r % res. */
static void fwd_rows(int64_t b, int64_t e, void *user) {
  vjob *J = user;
  const int64_t res = J->g.res;
  for (int64_t r = b; r < e; r++) {
    int64_t view = r / res, py = r % res;
    vol_cam cam = vol_camera(J->angles[view], J->radius);
    vreal *o = J->out + r * res;
    for (int64_t px = 0; px < res; px++) {
      vreal d[3];
      int64_t k0, k1;
      vol_dir(&J->g, &cam, py, px, d);
      vol_krange(&J->g, &cam, d, &k0, &k1);
      o[px] = march(&J->g, &cam, d, k0, k1, J->rho);
    }
  }
}

static void job_init(vjob *J, const ds_call *c) {
  const vol_argv *a = DS_ARGV(c, vol);
  const vol_params *p = DS_PARAMS(c, vol);
  memset(J, 0, sizeof *J);
  J->g.n = a->density->dims[0];
  J->g.res = a->out->dims[1];
  J->g.steps = (int64_t)p->steps;
  J->g.dx = (vreal)p->dx;
  J->g.fov = (vreal)p->fov;
  J->g.mode = (int)p->mode;
  J->rho = ds_rdata(a->density);
  J->out = ds_rdata(a->out);
  J->angles = ds_rdata(a->angles);
  J->radius = p->radius;
  J->V = a->angles->dims[0];
}

static int vol_forward(const ds_call *c) {
  const vol_argv *a = DS_ARGV(c, vol);
  vjob J;
  job_init(&J, c);
  /* data checks (they read tensor data, so here and not in vol_check) */
  for (int64_t v = 0; v < J.V; v++) {
    double ang = J.angles[v];
    if (!isfinite(ang)) return c->host->error(c, "argument 'angles' (#2): view %lld has angle %g", (long long)v + 1, ang);
    vol_cam cam = vol_camera(ang, J.radius);
    if (fabs((double)cam.o[0]) <= 0.5 && fabs((double)cam.o[2]) <= 0.5)
      return c->host->error(c, "view %lld: the camera at (%g, 0, %g) (param 'radius' %g, angle %g) is inside the "
                               "volume [-0.5, 0.5]^3; it must see the volume from outside (radius > 0.5 |cos| or "
                               "|sin| of the angle, e.g. radius 1)",
                            (long long)v + 1, (double)cam.o[0], (double)cam.o[2], J.radius, ang);
  }
  const int64_t n = J.g.n;
  for (int64_t i = 0; i < n * n * n; i++)
    if (!isfinite(J.rho[i]))
      return c->host->error(c, "argument 'density' (#1) has a non-finite value (%g) at [z=%lld][y=%lld][x=%lld]",
                            (double)J.rho[i], (long long)(i / (n * n)), (long long)(i / n % n), (long long)(i % n));
  (void)a;
  c->host->parallel_for(c->ctx, J.V * J.g.res, 1, fwd_rows, &J);
  return DS_OK;
}

/* The y layer a world y coordinate falls in, unclamped (floor of the grid coordinate). */
static int64_t layer_of(const vol_geo *g, double y) { return (int64_t)floor((y + 0.5) * (double)g->n); }

/* Adjoint pass 1: each ray of the view, its direction, step range and a
 * conservative range of the y layers its taps can touch. */
static void ray_table(int64_t b, int64_t e, void *user) {
  vjob *J = user;
  const int64_t res = J->g.res;
  for (int64_t py = b; py < e; py++)
    for (int64_t px = 0; px < res; px++) {
      int64_t r = py * res + px, k0, k1;
      vreal *d = J->dirs + 3 * r;
      int32_t *q = J->range + 4 * r;
      vol_dir(&J->g, &J->cam, py, px, d);
      vol_krange(&J->g, &J->cam, d, &k0, &k1);
      q[0] = (int32_t)k0, q[1] = (int32_t)k1;
      if (k1 <= k0) { q[2] = 1, q[3] = 0; continue; }
      /* y is linear in k: its extremes are at the ends of the range */
      double ya = (double)J->cam.o[1] + (double)(k0 + 1) * J->g.dx * d[1];
      double yb = (double)J->cam.o[1] + (double)k1 * J->g.dx * d[1];
      if (ya > yb) { double t = ya; ya = yb; yb = t; }
      int64_t lo = layer_of(&J->g, ya) - 1, hi = layer_of(&J->g, yb) + 1;
      q[2] = (int32_t)vol_clampi(lo, J->g.n), q[3] = (int32_t)vol_clampi(hi, J->g.n);
    }
}

/* Adjoint pass 2: slabs of SLAB y-layers, each walks the rays that reach it. */
static void scatter_slabs(int64_t b, int64_t e, void *user) {
  vjob *J = user;
  const vol_geo *g = &J->g;
  const int64_t n = g->n, res = g->res;
  const vreal *gimg = J->gout + J->view * res * res;
  for (int64_t sl = b; sl < e; sl++) {
    const int64_t j0 = sl * SLAB, j1 = j0 + SLAB < n ? j0 + SLAB : n;
    /* the world y band whose samples can have a tap in [j0, j1), with a margin */
    const double ylo = (double)(j0 - 1) / (double)n - 0.5, yhi = (double)(j1 + 1) / (double)n - 0.5;
    for (int64_t r = 0; r < res * res; r++) {
      const int32_t *q = J->range + 4 * r;
      const vreal gp = gimg[r];
      if (q[1] <= q[0] || q[3] < j0 || q[2] >= j1 || gp == 0) continue;
      const vreal *d = J->dirs + 3 * r;
      int64_t k0 = q[0], k1 = q[1];
      if (d[1] != 0) { /* narrow to the steps inside the band (y = o_y + (k+1) dx d_y) */
        double sa = (ylo - J->cam.o[1]) / d[1], sb = (yhi - J->cam.o[1]) / d[1];
        if (sa > sb) { double t = sa; sa = sb; sb = t; }
        double ka = floor(sa / g->dx) - 3, kb = ceil(sb / g->dx) + 2;
        if (ka > (double)k0) k0 = ka < (double)k1 ? (int64_t)ka : k1;
        if (kb < (double)k1) k1 = kb > (double)k0 ? (int64_t)kb : k0;
      }
      for (int64_t k = k0; k < k1; k++) {
        vreal p[3];
        vol_point(g, &J->cam, d, k, p);
        if (!vol_in_box(p)) continue;
        vol_taps t;
        vol_taps_of(g, p, &t);
        if (g->mode == VOL_NEAREST) {
          int64_t iy = t.i[1][0];
          if (iy >= j0 && iy < j1) J->grho[(t.i[2][0] * n + iy) * n + t.i[0][0]] += gp;
          continue;
        }
        for (int cy = 0; cy < 2; cy++) {
          int64_t iy = t.i[1][cy];
          if (iy < j0 || iy >= j1) continue;
          for (int cz = 0; cz < 2; cz++) {
            vreal *row = J->grho + (t.i[2][cz] * n + iy) * n;
            vreal w = gp * t.w[2][cz] * t.w[1][cy];
            row[t.i[0][0]] += w * t.w[0][0];
            row[t.i[0][1]] += w * t.w[0][1];
          }
        }
      }
    }
  }
}

static int vol_adjoint(const ds_call *c) {
  const vol_argv *a = DS_ARGV(c, vol);
  vjob J;
  job_init(&J, c);
  J.grho = ds_rgrad(a->density);
  J.gout = ds_rgrad(a->out);
  if (!J.grho || !J.gout) return DS_OK;
  const int64_t res = J.g.res, nray = res * res;
  char *buf = c->host->scratch(c, (size_t)nray * (3 * sizeof(vreal) + 4 * sizeof(int32_t)));
  if (!buf) return c->host->error(c, "out of memory for the ray table of %lld pixels", (long long)nray);
  J.dirs = (vreal *)buf;
  J.range = (int32_t *)(buf + (size_t)nray * 3 * sizeof(vreal));
  const int64_t nslab = (J.g.n + SLAB - 1) / SLAB;
  for (int64_t v = 0; v < J.V; v++) { /* views in order: each voxel's terms in a fixed order */
    J.view = v;
    J.cam = vol_camera(J.angles[v], J.radius);
    c->host->parallel_for(c->ctx, res, 1, ray_table, &J);
    c->host->parallel_for(c->ctx, nslab, 1, scatter_slabs, &J);
  }
  return DS_OK;
}

int render_register_volume(const ds_host_api *host, ds_registrar *reg) {
  ds_kernel_desc d = {"volume", vol_args, vol_param_names, vol_check, {[DS_CPU] = vol_forward},
                      {[DS_CPU] = vol_adjoint}};
  return host->register_kernel(reg, &d);
}
