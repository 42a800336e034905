/* render.volume's geometry, shared by its forward and adjoint passes: the
 * camera rays, the range of march steps that can fall in the volume, and the
 * density sample (trilinear or nearest voxel). See volume.c for the kernel.
 *
 * Conventions (the DiffTaichi volume renderer's): the density grid {n, n, n}
 * is indexed [z][y][x] and fills the box [-0.5, 0.5)^3; voxel i covers
 * [i/n - 0.5, (i+1)/n - 0.5) along its axis. View a's camera sits at
 * radius (sin a, 0, cos a) and looks at the centre; pixel (row py, column px)
 * of a res x res image has the direction (fov (px/(res/2) - 1),
 * fov (py/(res/2) - 1), -1), normalised, then turned by a about the y axis.
 * Sample k = 0 .. steps-1 lies at origin + (k+1) dx dir, and counts only
 * when it is inside the half-open box. The pixel is the plain sum of the
 * samples' densities (a Riemann sum of the line integral divided by dx). */
#ifndef VOLUME_H
#define VOLUME_H

#include <diffsim/plugin.h>
#include <math.h>

typedef ds_real vreal;

enum { VOL_TRILINEAR = 0, VOL_NEAREST = 1 };

typedef struct vol_cam {
  vreal o[3];        /* camera position */
  vreal c, s;        /* cos and sin of the view angle */
} vol_cam;

typedef struct vol_geo {
  int64_t n, res, steps;
  vreal dx, fov;
  int mode;
} vol_geo;

static inline vol_cam vol_camera(double angle, double radius) {
  vol_cam cam;
  cam.c = (vreal)cos(angle);
  cam.s = (vreal)sin(angle);
  cam.o[0] = (vreal)(radius * sin(angle));
  cam.o[1] = 0;
  cam.o[2] = (vreal)(radius * cos(angle));
  return cam;
}

/* The direction of pixel (py, px). */
static inline void vol_dir(const vol_geo *g, const vol_cam *cam, int64_t py, int64_t px, vreal d[3]) {
  vreal half = (vreal)g->res / 2;
  vreal u = g->fov * ((vreal)px / half - 1), w = g->fov * ((vreal)py / half - 1), z = -1;
  vreal len = sqrt(u * u + w * w + z * z);
  u /= len, w /= len, z /= len;
  d[0] = u * cam->c + z * cam->s;
  d[1] = w;
  d[2] = -u * cam->s + z * cam->c;
}

/* A conservative range [k0, k1) of the samples that can lie in the box (the
 * exact test is vol_in_box per sample): slab intersection in double, widened
 * by a few steps so that rounding in the sample positions never drops one. */
static inline void vol_krange(const vol_geo *g, const vol_cam *cam, const vreal d[3], int64_t *k0, int64_t *k1) {
  double tmin = 0, tmax = 1e300;
  for (int a = 0; a < 3; a++) {
    double o = cam->o[a], da = d[a];
    if (da == 0) {
      if (!(o >= -0.5 && o < 0.5)) { *k0 = *k1 = 0; return; }
      continue;
    }
    double s1 = (-0.5 - o) / da, s2 = (0.5 - o) / da;
    if (s1 > s2) { double t = s1; s1 = s2; s2 = t; }
    if (s1 > tmin) tmin = s1;
    if (s2 < tmax) tmax = s2;
  }
  if (!(tmax >= tmin)) { *k0 = *k1 = 0; return; }
  double a = floor(tmin / g->dx) - 3, b = ceil(tmax / g->dx) + 2; /* s = (k + 1) dx */
  if (a < 0) a = 0;
  if (b > (double)g->steps) b = (double)g->steps;
  *k0 = (int64_t)a;
  *k1 = b > a ? (int64_t)b : (int64_t)a;
}

static inline int vol_in_box(const vreal p[3]) {
  return p[0] >= -0.5 && p[0] < 0.5 && p[1] >= -0.5 && p[1] < 0.5 && p[2] >= -0.5 && p[2] < 0.5;
}

static inline void vol_point(const vol_geo *g, const vol_cam *cam, const vreal d[3], int64_t k, vreal p[3]) {
  vreal s = (vreal)(k + 1) * g->dx;
  p[0] = cam->o[0] + s * d[0];
  p[1] = cam->o[1] + s * d[1];
  p[2] = cam->o[2] + s * d[2];
}

static inline int64_t vol_clampi(int64_t i, int64_t n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

/* The taps of a sample inside the box: per axis (0 = x, 1 = y, 2 = z) two
 * voxel indices and their weights. Nearest: both taps the voxel holding the
 * point (clamped, as the reference clamps), weights 1 and 0. Trilinear: voxel
 * centres at (i + 1/2)/n - 1/2; outside the outermost centres the edge voxel
 * is used for both taps (constant extrapolation to the box face). */
typedef struct vol_taps {
  int64_t i[3][2];
  vreal w[3][2];
} vol_taps;

static inline void vol_taps_of(const vol_geo *g, const vreal p[3], vol_taps *t) {
  const vreal n = (vreal)g->n;
  for (int a = 0; a < 3; a++) {
    vreal b = (p[a] + (vreal)0.5) * n;
    if (g->mode == VOL_NEAREST) {
      int64_t i = vol_clampi((int64_t)floor(b), g->n);
      t->i[a][0] = t->i[a][1] = i;
      t->w[a][0] = 1, t->w[a][1] = 0;
    } else {
      vreal q = b - (vreal)0.5, f0 = floor(q);
      int64_t i = (int64_t)f0;
      vreal f = q - f0;
      t->i[a][0] = vol_clampi(i, g->n);
      t->i[a][1] = vol_clampi(i + 1, g->n);
      t->w[a][0] = 1 - f, t->w[a][1] = f;
    }
  }
}

#endif
