/* render.refract's geometry, shared by its forward and adjoint passes: the
 * surface slope, the displacement of the sample point (linear or Snell) with
 * its Jacobians, and the bilinear sample. See refract.c for the kernel. */
#ifndef REFRACT_H
#define REFRACT_H

#include <diffsim/plugin.h>
#include <math.h>

typedef ds_real real;

/* MODE_REFERENCE: the linear displacement with the reference renderer's clamp of
 * the sample position to [0, n-2] (water_renderer.py); the other modes clamp to
 * [0, n-1]. */
enum { MODE_LINEAR = 0, MODE_SNELL = 1, MODE_REFERENCE = 2 };

/* Slopes beyond +-SLOPE_MAX (or a NaN from an overflowing difference) are
 * clamped to it before the displacement: a sample that far out is clamped to
 * the image edge anyway (linear) or saturates (snell), and the clamp keeps r^2
 * and the Jacobian finite, so no NaN reaches an integer cell index. */
#define SLOPE_MAX 1e100
static inline double clamp_slope(double s) {
  if (s > SLOPE_MAX) return SLOPE_MAX;
  if (s < -SLOPE_MAX) return -SLOPE_MAX;
  return s == s ? s : 0;
}

typedef struct {
  const real *hgt, *img, *gout;
  real *out, *gimg, *ghgt;
  real *gs;      /* adjoint scratch: d loss / d slope, 2 per pixel (NULL: no height gradient) */
  double *prow;  /* adjoint scratch: per row, d loss / d a and d loss / d eta (NULL: not wanted) */
  int64_t h, w, nc;
  int mode, bc;
  double a, eta, inv2dx;
} job;

static inline int64_t row_grain(int64_t w) {
  int64_t g = 8192 / (w > 0 ? w : 1);
  return g < 1 ? 1 : g;
}

/* Height at (i, j) with the boundary rule for cells outside the grid. */
static inline real H(const job *J, int64_t i, int64_t j) {
  if (i < 0 || i >= J->h || j < 0 || j >= J->w) {
    if (J->bc == 0) return 0;
    i = i < 0 ? 0 : i >= J->h ? J->h - 1 : i;
    j = j < 0 ? 0 : j >= J->w ? J->w - 1 : j;
  }
  return J->hgt[i * J->w + j];
}

/* Displacement d(s) and its Jacobian (symmetric 2x2: jxx, jxy, jyy). */
static inline void displace(const job *J, double sx, double sy, double *dx, double *dy, double *jac) {
  if (J->mode != MODE_SNELL) {
    *dx = -J->a * sx;
    *dy = -J->a * sy;
    jac[0] = -J->a;
    jac[1] = 0;
    jac[2] = -J->a;
    return;
  }
  double r2 = sx * sx + sy * sy, r = sqrt(r2), eta = J->eta;
  double T_r, Tp; /* T(r)/r and T'(r), T = tan(theta_i - theta_t) */
  if (r < 1e-7) {
    /* T(r) = (1 - eta) r + O(r^3): the limits, exact to rounding here */
    T_r = 1 - eta;
    Tp = 1 - eta;
  } else {
    double q = 1 + r2, sin_t = eta * r / sqrt(q), cos_t = sqrt(1 - sin_t * sin_t);
    /* steep slopes: 1 - sin_t^2 = (1 + (1 - eta^2) r^2) / q exactly, which stays
     * positive at eta = 1 where the rounded form reaches 0 */
    if (r > 1e4) cos_t = sqrt((1 + (1 - eta * eta) * r2) / q);
    double phi = atan(r) - asin(sin_t);
    double T = tan(phi);
    double dphi = 1 / q - eta / (q * sqrt(q) * cos_t);
    T_r = T / r;
    Tp = (1 + T * T) * dphi;
  }
  *dx = J->a * T_r * sx;
  *dy = J->a * T_r * sy;
  /* d(T(r) s/r)/ds = T/r I + (T' - T/r) s s^T / r^2 */
  double k = r2 > 0 ? (Tp - T_r) / r2 : 0;
  jac[0] = J->a * (T_r + k * sx * sx);
  jac[1] = J->a * k * sx * sy;
  jac[2] = J->a * (T_r + k * sy * sy);
}

/* The derivatives of d(s) with respect to a and to eta = 1/ior, for the
 * gradients of the depth/scale and the index: d = a (T(r)/r) s, so
 * dd/da = (T/r) s and dd/deta = a (dT/deta)/r s with
 * dT/deta = (1 + T^2) dphi/deta = -(1 + T^2) (r/sqrt(q)) / cos(theta_t). */
static inline void displace_dparams(const job *J, double sx, double sy, double dda[2], double ddeta[2]) {
  if (J->mode != MODE_SNELL) {
    dda[0] = -sx;
    dda[1] = -sy;
    ddeta[0] = ddeta[1] = 0;
    return;
  }
  double r2 = sx * sx + sy * sy, r = sqrt(r2), eta = J->eta;
  double T_r, dTr; /* T(r)/r and its derivative in eta */
  if (r < 1e-7) {
    T_r = 1 - eta; /* the small-slope limit, as in displace */
    dTr = -1;
  } else {
    double q = 1 + r2, sin_t = eta * r / sqrt(q), cos_t = sqrt(1 - sin_t * sin_t);
    if (r > 1e4) cos_t = sqrt((1 + (1 - eta * eta) * r2) / q); /* as in displace */
    double T = tan(atan(r) - asin(sin_t));
    T_r = T / r;
    dTr = -(1 + T * T) / (sqrt(q) * cos_t);
  }
  dda[0] = T_r * sx;
  dda[1] = T_r * sy;
  ddeta[0] = J->a * dTr * sx;
  ddeta[1] = J->a * dTr * sy;
}

/* Sample position for pixel (i, j): texel corner x0, y0, fractions, and the
 * clamp masks (0 where the position was clamped: no gradient flows there). */
typedef struct {
  int64_t x0, y0, x1, y1;
  real fx, fy;
  double mx, my;
  double jac[3];
  double sx, sy; /* the slope */
} sample;

static inline sample locate(const job *J, int64_t i, int64_t j) {
  sample S;
  double sx = clamp_slope(((double)H(J, i + 1, j) - H(J, i - 1, j)) * J->inv2dx);
  double sy = clamp_slope(((double)H(J, i, j + 1) - H(J, i, j - 1)) * J->inv2dx);
  double ddx, ddy;
  S.sx = sx;
  S.sy = sy;
  displace(J, sx, sy, &ddx, &ddy, S.jac);
  double x = (double)i + ddx, y = (double)j + ddy;
  /* the reference clamps to [0, n-2] (the last texel is only an interpolation partner) */
  const int64_t top = J->mode == MODE_REFERENCE ? 2 : 1;
  double xmax = (double)(J->h > top ? J->h - top : 0), ymax = (double)(J->w > top ? J->w - top : 0);
  S.mx = (x >= 0 && x <= xmax) ? 1 : 0;
  S.my = (y >= 0 && y <= ymax) ? 1 : 0;
  /* !(x >= 0) also catches a NaN: never cast one to an index */
  x = !(x >= 0) ? 0 : x > xmax ? xmax : x;
  y = !(y >= 0) ? 0 : y > ymax ? ymax : y;
  int64_t x0 = (int64_t)floor(x), y0 = (int64_t)floor(y);
  if (x0 > J->h - 2) x0 = J->h >= 2 ? J->h - 2 : 0;
  if (y0 > J->w - 2) y0 = J->w >= 2 ? J->w - 2 : 0;
  S.x0 = x0;
  S.y0 = y0;
  S.x1 = J->h >= 2 ? x0 + 1 : x0;
  S.y1 = J->w >= 2 ? y0 + 1 : y0;
  S.fx = (real)(x - (double)x0);
  S.fy = (real)(y - (double)y0);
  return S;
}

/* The colour channels of background pixel (x, y). */
static inline const real *pixel(const job *J, int64_t x, int64_t y) { return J->img + (x * J->w + y) * J->nc; }


int render_register_refract(const ds_host_api *host, ds_registrar *reg);

#endif
