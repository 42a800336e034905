/* The render plugin. First kernel: looking straight down through a water
 * surface of height h(x, y) at a picture lying on the bottom.
 *
 *   render.refract (height {h, w}, image {h, w[, c]}, out {h, w[, c]})
 *   params: mode, a, ior, dx, boundary
 *
 * 1. Surface slope by central differences: s = (h[i+1] - h[i-1], h[j+1] - h[j-1]) / (2 dx);
 *    outside the grid the height is 0 (boundary 0, like the wave's zero wall) or
 *    mirrors the edge cell (boundary 1, reflecting).
 * 2. Where the camera ray meets the bottom, as a displacement d(s) in pixels:
 *    mode 0 "linear" (the reference renderer): d = -a s.
 *    mode 1 "snell": the vertical ray refracts at the tilted surface (normal
 *      (-s, 1)/|.|, index ratio eta = 1/ior) and travels a depth of a pixels:
 *      d = a tan(theta_i - theta_t) s/|s|, theta_i = atan|s|, sin theta_t = eta sin theta_i.
 *      It bends toward the uphill side and stays bounded for steep slopes.
 * 3. The pixel shows the image bilinearly sampled at (i, j) + d, clamped to the
 *    image. A flat surface has d = 0 and samples texel centres exactly, so it
 *    renders the image unchanged, bit for bit.
 *
 * The adjoint is differentiable w.r.t. the height and the image. The height
 * gradient is gathered in two passes (per-pixel slope gradients, then each cell
 * collects from its four stencil neighbours); the image gradient is a scatter to
 * data-dependent texels, so it runs in one thread in pixel order: deterministic,
 * no atomics, and cheap next to a wave rollout. */
#include <diffsim/plugin.h>
#include <math.h>
#include <string.h>

typedef ds_real real;

enum { MODE_LINEAR = 0, MODE_SNELL = 1 };
enum { P_MODE, P_A, P_IOR, P_DX, P_BC };

typedef struct {
  const real *hgt, *img, *gout;
  real *out, *gimg, *ghgt;
  real *gs;      /* adjoint scratch: d loss / d slope, 2 per pixel */
  int64_t h, w, nc;
  int mode, bc;
  double a, eta, inv2dx;
} job;

static int64_t row_grain(int64_t w) {
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
  if (J->mode == MODE_LINEAR) {
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

/* Sample position for pixel (i, j): texel corner x0, y0, fractions, and the
 * clamp masks (0 where the position was clamped: no gradient flows there). */
typedef struct {
  int64_t x0, y0, x1, y1;
  real fx, fy;
  double mx, my;
  double jac[3];
} sample;

static inline sample locate(const job *J, int64_t i, int64_t j) {
  sample S;
  double sx = ((double)H(J, i + 1, j) - H(J, i - 1, j)) * J->inv2dx;
  double sy = ((double)H(J, i, j + 1) - H(J, i, j - 1)) * J->inv2dx;
  double ddx, ddy;
  displace(J, sx, sy, &ddx, &ddy, S.jac);
  double x = (double)i + ddx, y = (double)j + ddy;
  double xmax = (double)(J->h - 1), ymax = (double)(J->w - 1);
  S.mx = (x >= 0 && x <= xmax) ? 1 : 0;
  S.my = (y >= 0 && y <= ymax) ? 1 : 0;
  x = x < 0 ? 0 : x > xmax ? xmax : x;
  y = y < 0 ? 0 : y > ymax ? ymax : y;
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

static void fwd_rows(int64_t lo, int64_t hi, void *user) {
  const job *J = user;
  const int64_t w = J->w, nc = J->nc;
  for (int64_t i = lo; i < hi; i++)
    for (int64_t j = 0; j < w; j++) {
      sample S = locate(J, i, j);
      const real *p00 = pixel(J, S.x0, S.y0), *p01 = pixel(J, S.x0, S.y1);
      const real *p10 = pixel(J, S.x1, S.y0), *p11 = pixel(J, S.x1, S.y1);
      real *o = J->out + (i * w + j) * nc;
      for (int64_t c = 0; c < nc; c++)
        o[c] = (1 - S.fx) * ((1 - S.fy) * p00[c] + S.fy * p01[c]) + S.fx * ((1 - S.fy) * p10[c] + S.fy * p11[c]);
    }
}

/* Pass 1 of the height adjoint: d loss / d slope per pixel. */
static void slope_grad_rows(int64_t lo, int64_t hi, void *user) {
  const job *J = user;
  const int64_t w = J->w, nc = J->nc;
  for (int64_t i = lo; i < hi; i++)
    for (int64_t j = 0; j < w; j++) {
      sample S = locate(J, i, j);
      const real *p00 = pixel(J, S.x0, S.y0), *p01 = pixel(J, S.x0, S.y1);
      const real *p10 = pixel(J, S.x1, S.y0), *p11 = pixel(J, S.x1, S.y1);
      const real *g = J->gout + (i * w + j) * nc;
      double gx = 0, gy = 0; /* d loss / d sample position */
      for (int64_t c = 0; c < nc; c++) {
        gx += (double)g[c] * ((1 - S.fy) * (p10[c] - p00[c]) + S.fy * (p11[c] - p01[c]));
        gy += (double)g[c] * ((1 - S.fx) * (p01[c] - p00[c]) + S.fx * (p11[c] - p10[c]));
      }
      gx *= S.mx;
      gy *= S.my;
      real *gs = J->gs + 2 * (i * w + j);
      gs[0] = (real)(S.jac[0] * gx + S.jac[1] * gy);
      gs[1] = (real)(S.jac[1] * gx + S.jac[2] * gy);
    }
}

/* Pass 2: cell (i, j) gathers from the pixels whose central differences use it. */
static void height_gather_rows(int64_t lo, int64_t hi, void *user) {
  const job *J = user;
  const int64_t h = J->h, w = J->w;
  const real k = (real)J->inv2dx;
  const int mirror = J->bc == 1;
  const real *G = J->gs;
  for (int64_t i = lo; i < hi; i++)
    for (int64_t j = 0; j < w; j++) {
      real acc = 0;
      if (i > 0) acc += G[2 * ((i - 1) * w + j)];
      if (i < h - 1) acc -= G[2 * ((i + 1) * w + j)];
      if (j > 0) acc += G[2 * (i * w + j - 1) + 1];
      if (j < w - 1) acc -= G[2 * (i * w + j + 1) + 1];
      if (mirror) { /* the ghost cell beyond an edge is this cell again */
        if (i == 0) acc -= G[2 * (i * w + j)];
        if (i == h - 1) acc += G[2 * (i * w + j)];
        if (j == 0) acc -= G[2 * (i * w + j) + 1];
        if (j == w - 1) acc += G[2 * (i * w + j) + 1];
      }
      J->ghgt[i * w + j] += k * acc;
    }
}

static void image_scatter(const job *J) {
  const int64_t w = J->w, nc = J->nc;
  for (int64_t i = 0; i < J->h; i++)
    for (int64_t j = 0; j < w; j++) {
      sample S = locate(J, i, j);
      const real *g = J->gout + (i * w + j) * nc;
      real w00 = (1 - S.fx) * (1 - S.fy), w01 = (1 - S.fx) * S.fy, w10 = S.fx * (1 - S.fy), w11 = S.fx * S.fy;
      real *q00 = J->gimg + (S.x0 * w + S.y0) * nc, *q01 = J->gimg + (S.x0 * w + S.y1) * nc;
      real *q10 = J->gimg + (S.x1 * w + S.y0) * nc, *q11 = J->gimg + (S.x1 * w + S.y1) * nc;
      for (int64_t c = 0; c < nc; c++) {
        q00[c] += w00 * g[c];
        q01[c] += w01 * g[c];
        q10[c] += w10 * g[c];
        q11[c] += w11 * g[c];
      }
    }
}

static job setup(const ds_call *c) {
  job J;
  memset(&J, 0, sizeof J);
  const ds_tensor *hg = c->args[0], *img = c->args[1];
  J.hgt = ds_rdata(hg);
  J.img = ds_rdata(img);
  J.h = hg->dims[0];
  J.w = hg->dims[1];
  J.nc = img->ndim == 3 ? img->dims[2] : 1;
  J.mode = (int)c->params[P_MODE];
  J.a = c->params[P_A];
  J.eta = 1 / c->params[P_IOR];
  J.inv2dx = 0.5 / c->params[P_DX];
  J.bc = (int)c->params[P_BC];
  return J;
}

static int check(const ds_call *c) {
  const ds_tensor *hg = c->args[0], *img = c->args[1];
  if (hg->dims[0] < 1 || hg->dims[1] < 1) return c->host->error(c, "argument 'height' (#1) is empty");
  if (img->ndim != 2 && img->ndim != 3)
    return c->host->error(c, "argument 'image' (#2) must be {h, w} or {h, w, channels}, got %d dims", img->ndim);
  int rc = img->ndim == 2 ? ds_expect_shape(c, 1, 2, hg->dims[0], hg->dims[1], -1, -1)
                          : ds_expect_shape(c, 1, 3, hg->dims[0], hg->dims[1], -1, -1);
  if (rc) {
    return c->host->error(c,
                          "argument 'image' (#2) is %lldx%lld but the height field is %lldx%lld: the image must "
                          "cover the grid pixel for pixel (resize it, e.g. ds.io.read_png(path, {size = {%lld, %lld}}))",
                          (long long)img->dims[0], (long long)(img->ndim > 1 ? img->dims[1] : 0),
                          (long long)hg->dims[0], (long long)hg->dims[1], (long long)hg->dims[0],
                          (long long)hg->dims[1]);
  }
  if ((rc = ds_expect_shape(c, 2, img->ndim, img->dims[0], img->dims[1], img->ndim == 3 ? img->dims[2] : -1, -1)))
    return rc;
  double mode = c->params[P_MODE], ior = c->params[P_IOR], dx = c->params[P_DX], bc = c->params[P_BC];
  if (mode != MODE_LINEAR && mode != MODE_SNELL)
    return c->host->error(c, "param 'mode' must be 0 (linear, the reference) or 1 (snell), got %g", mode);
  if (mode == MODE_SNELL && !(ior >= 1))
    return c->host->error(c, "param 'ior' (refractive index of the water) must be >= 1, got %g", ior);
  if (mode == MODE_SNELL && !(c->params[P_A] >= 0))
    return c->host->error(c, "param 'a' (water depth in pixels) must be >= 0 in snell mode, got %g", c->params[P_A]);
  if (!(dx > 0)) return c->host->error(c, "param 'dx' must be positive, got %g", dx);
  if (bc != 0 && bc != 1) return c->host->error(c, "param 'boundary' must be 0 (zero) or 1 (reflecting), got %g", bc);
  return DS_OK;
}

static int forward(const ds_call *c) {
  job J = setup(c);
  J.out = ds_rdata(c->args[2]);
  c->host->parallel_for(c->ctx, J.h, row_grain(J.w), fwd_rows, &J);
  return DS_OK;
}

static int adjoint(const ds_call *c) {
  job J = setup(c);
  J.ghgt = ds_rgrad(c->args[0]);
  J.gimg = ds_rgrad(c->args[1]);
  J.gout = ds_rgrad(c->args[2]);
  if (J.ghgt) {
    J.gs = c->host->alloc((size_t)(2 * J.h * J.w) * sizeof(real));
    if (!J.gs) return c->host->error(c, "out of memory for the slope gradients");
    c->host->parallel_for(c->ctx, J.h, row_grain(J.w), slope_grad_rows, &J);
    c->host->parallel_for(c->ctx, J.h, row_grain(J.w), height_gather_rows, &J);
    c->host->free(J.gs);
  }
  if (J.gimg) image_scatter(&J);
  return DS_OK;
}

static const ds_arg_desc ARGS[] = {
    {"height", DS_IN, DS_REAL, 2, 0}, {"image", DS_IN, DS_REAL, -1, 0}, {"out", DS_OUT, DS_REAL, -1, 0}, {0}};
static const char *const PARAMS[] = {"mode", "a", "ior", "dx", "boundary", 0};

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "render");
  if (rc) return rc;
  ds_kernel_desc refract = {"refract", ARGS, PARAMS, check, {forward}, {adjoint}};
  return host->register_kernel(reg, &refract);
}
