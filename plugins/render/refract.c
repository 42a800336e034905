/* render.refract: looking straight down through a water surface of height
 * h(x, y) at a picture lying on the bottom.
 *
 *   args:   height {h, w}, image {h, w[, c]}, a {} (depth or scale, pixels), ior {}, out {h, w[, c]}
 *   params: mode, dx, boundary
 *
 * 1. Surface slope by central differences: s = (h[i+1] - h[i-1], h[j+1] - h[j-1]) / (2 dx);
 *    outside the grid the height is 0 (boundary 0, like the wave's zero wall) or
 *    mirrors the edge cell (boundary 1, reflecting).
 * 2. Where the camera ray meets the bottom, as a displacement d(s) in pixels:
 *    mode 0 "linear": d = -a s.
 *    mode 2 "reference" (the reference renderer, water_renderer.py): d = -a s, and step 3
 *      clamps the sample position to [0, n-2] instead of [0, n-1].
 *    mode 1 "snell": the vertical ray refracts at the tilted surface (normal
 *      (-s, 1)/|.|, index ratio eta = 1/ior) and travels a depth of a pixels:
 *      d = a tan(theta_i - theta_t) s/|s|, theta_i = atan|s|, sin theta_t = eta sin theta_i.
 *      It bends toward the uphill side and stays bounded for steep slopes.
 * 3. The pixel shows the image bilinearly sampled at (i, j) + d, clamped to the
 *    image (no gradient flows through a clamped coordinate). A NaN or infinite height is an
 *    error; slopes beyond +-1e100 are clamped to it (refract.h). A flat surface has d = 0 and samples texel centres exactly, so it
 *    renders the image unchanged, bit for bit.
 *
 * The adjoint is differentiable w.r.t. the height, the image, the depth/scale a
 * and the index ior (0-dim tensors, so they can be identified by optimisation). The height
 * gradient is gathered in two passes (per-pixel slope gradients, then each cell
 * collects from its four stencil neighbours); the image gradient is a scatter to
 * data-dependent texels, so it runs in one thread in pixel order: deterministic,
 * no atomics, and cheap next to a wave rollout. The a and ior gradients are
 * per-row sums over pixels, combined in row order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refract.h"

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

/* Pass 1 of the adjoint: d loss / d sample position per pixel, turned into
 * d loss / d slope (for the height, when J->gs) and summed per row into
 * d loss / d a and d loss / d eta (when J->prow). */
static void slope_grad_rows(int64_t lo, int64_t hi, void *user) {
  const job *J = user;
  const int64_t w = J->w, nc = J->nc;
  for (int64_t i = lo; i < hi; i++) {
    double ga = 0, geta = 0;
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
      if (J->gs) {
        real *gs = J->gs + 2 * (i * w + j);
        gs[0] = (real)(S.jac[0] * gx + S.jac[1] * gy);
        gs[1] = (real)(S.jac[1] * gx + S.jac[2] * gy);
      }
      if (J->prow) {
        double dda[2], ddeta[2];
        displace_dparams(J, S.sx, S.sy, dda, ddeta);
        ga += gx * dda[0] + gy * dda[1];
        geta += gx * ddeta[0] + gy * ddeta[1];
      }
    }
    if (J->prow) {
      J->prow[2 * i] = ga;
      J->prow[2 * i + 1] = geta;
    }
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


#define REFRACT_ARGS(A)                                                                      \
  A(height, DS_IN, DS_REAL, 2, 0) A(image, DS_IN, DS_REAL, -1, 0) A(a, DS_IN, DS_REAL, 0, 0) \
  A(ior, DS_IN, DS_REAL, 0, 0) A(out, DS_OUT, DS_REAL, -1, 0)
#define REFRACT_PARAMS(P) P(mode) P(dx) P(boundary)
DS_DECLARE_ARGS(refract, REFRACT_ARGS)
DS_DECLARE_PARAMS(refract, REFRACT_PARAMS)

/* a and ior as the geometry uses them: in double, like the params they were.
 * In a float32 build the 0-dim tensor holds the user's constant rounded to
 * float (1.33 -> 1.33000004...), and that rounding would move every sample
 * point by ~1e-8 px and change the picture in its last bits. So the value is
 * widened to the shortest decimal that rounds to the same float -- the number
 * the user wrote -- and a plain 1.33 renders exactly as before. An optimised
 * value moves by less than half a float ulp, below what float can represent. */
static double widen(real v) {
  if (sizeof(real) == sizeof(double) || !isfinite(v)) return (double)v;
  char buf[32];
  for (int digits = 1; digits <= 9; digits++) {
    snprintf(buf, sizeof buf, "%.*g", digits, (double)v);
    if (strtof(buf, NULL) == (float)v) return strtod(buf, NULL);
  }
  return (double)v;
}

static job setup(const ds_call *c) {
  const refract_argv *a = DS_ARGV(c, refract);
  const refract_params *p = DS_PARAMS(c, refract);
  job J;
  memset(&J, 0, sizeof J);
  J.hgt = ds_rdata(a->height);
  J.img = ds_rdata(a->image);
  J.h = a->height->dims[0];
  J.w = a->height->dims[1];
  J.nc = a->image->ndim == 3 ? a->image->dims[2] : 1;
  J.mode = (int)p->mode;
  J.a = widen(ds_rdata(a->a)[0]);
  J.eta = 1 / widen(ds_rdata(a->ior)[0]);
  J.inv2dx = 0.5 / p->dx;
  J.bc = (int)p->boundary;
  return J;
}

/* Shapes and params only: a check never reads tensor data. */
static int refract_check(const ds_call *c) {
  const refract_argv *a = DS_ARGV(c, refract);
  const refract_params *p = DS_PARAMS(c, refract);
  const ds_tensor *hg = a->height, *img = a->image;
  const int img_slot = DS_SLOT(refract, image);
  if (hg->dims[0] < 1 || hg->dims[1] < 1) return c->host->error(c, "argument 'height' (#1) is empty");
  if (img->ndim != 2 && img->ndim != 3)
    return c->host->error(c, "argument 'image' (#2) must be {h, w} or {h, w, channels}, got %d dims", img->ndim);
  int rc = img->ndim == 2 ? ds_expect_shape(c, img_slot, 2, hg->dims[0], hg->dims[1], -1, -1)
                          : ds_expect_shape(c, img_slot, 3, hg->dims[0], hg->dims[1], -1, -1);
  if (rc) {
    return c->host->error(c,
                          "argument 'image' (#2) is %lldx%lld but the height field is %lldx%lld: the image must "
                          "cover the grid pixel for pixel (resize it, e.g. ds.io.read_png(path, {size = {%lld, %lld}}))",
                          (long long)img->dims[0], (long long)(img->ndim > 1 ? img->dims[1] : 0),
                          (long long)hg->dims[0], (long long)hg->dims[1], (long long)hg->dims[0],
                          (long long)hg->dims[1]);
  }
  if ((rc = ds_expect_shape(c, DS_SLOT(refract, out), img->ndim, img->dims[0], img->dims[1],
                            img->ndim == 3 ? img->dims[2] : -1, -1)))
    return rc;
  if (p->mode != MODE_LINEAR && p->mode != MODE_SNELL && p->mode != MODE_REFERENCE)
    return c->host->error(c, "param 'mode' must be 0 (linear), 1 (snell) or 2 (reference: linear, clamped to n-2), got %g",
                          p->mode);
  if (!(p->dx > 0) || !isfinite(0.5 / p->dx))
    return c->host->error(c, "param 'dx' must be positive, finite and above 1e-300, got %g", p->dx);
  if (p->boundary != 0 && p->boundary != 1)
    return c->host->error(c, "param 'boundary' must be 0 (zero) or 1 (reflecting), got %g", p->boundary);
  return DS_OK;
}

/* The values of a and ior are tensor data, so they are checked here, at the
 * start of the forward (on a GPU only the kernel's device sees them). */
static int check_values(const ds_call *c, const job *J) {
  double a = J->a, ior = 1 / J->eta;
  if (!isfinite(a)) return c->host->error(c, "argument 'a' (water depth or scale, pixels) must be finite, got %g", a);
  if (J->mode == MODE_SNELL && !(a >= 0))
    return c->host->error(c, "argument 'a' (water depth in pixels) must be >= 0 in snell mode, got %g", a);
  if (J->mode == MODE_SNELL && !(ior >= 1 && isfinite(ior)))
    return c->host->error(c, "argument 'ior' (refractive index of the water) must be >= 1, got %g", ior);
  /* a NaN or infinite height has no sample position (finite ones of any size
   * do: the slope is clamped, refract.h) */
  const int64_t n = J->h * J->w;
  for (int64_t k = 0; k < n; k++)
    if (!isfinite(J->hgt[k]))
      return c->host->error(c, "argument 'height' (#1) holds a non-finite value %g at element %lld (row %lld, column %lld)",
                            (double)J->hgt[k], (long long)(k + 1), (long long)(k / J->w + 1), (long long)(k % J->w + 1));
  return DS_OK;
}

static int refract_forward(const ds_call *c) {
  job J = setup(c);
  int rc = check_values(c, &J);
  if (rc) return rc;
  J.out = ds_rdata(DS_ARGV(c, refract)->out);
  c->host->parallel_for(c->ctx, J.h, row_grain(J.w), fwd_rows, &J);
  return DS_OK;
}

static int refract_adjoint(const ds_call *c) {
  const refract_argv *a = DS_ARGV(c, refract);
  job J = setup(c);
  J.ghgt = ds_rgrad(a->height);
  J.gimg = ds_rgrad(a->image);
  J.gout = ds_rgrad(a->out);
  real *ga = ds_rgrad(a->a), *gior = ds_rgrad(a->ior);
  if (J.ghgt || ga || gior) {
    /* one scratch block: per-row param sums (doubles first, for alignment), then slope grads */
    size_t prow_bytes = (ga || gior) ? (size_t)(2 * J.h) * sizeof(double) : 0;
    size_t gs_bytes = J.ghgt ? (size_t)(2 * J.h * J.w) * sizeof(real) : 0;
    char *buf = c->host->scratch(c, prow_bytes + gs_bytes);
    if (!buf) return c->host->error(c, "out of memory for the slope gradients");
    J.prow = prow_bytes ? (double *)buf : NULL;
    J.gs = gs_bytes ? (real *)(buf + prow_bytes) : NULL;
    c->host->parallel_for(c->ctx, J.h, row_grain(J.w), slope_grad_rows, &J);
    if (J.ghgt) c->host->parallel_for(c->ctx, J.h, row_grain(J.w), height_gather_rows, &J);
    if (J.prow) {
      double sa = 0, seta = 0;
      for (int64_t i = 0; i < J.h; i++) { /* row order: any thread count gives the same sum */
        sa += J.prow[2 * i];
        seta += J.prow[2 * i + 1];
      }
      if (ga) ga[0] += (real)sa;
      if (gior) gior[0] += (real)(-seta * J.eta * J.eta); /* d eta / d ior = -1/ior^2 */
    }
  }
  if (J.gimg) image_scatter(&J);
  return DS_OK;
}

int render_register_refract(const ds_host_api *host, ds_registrar *reg) {
  const ds_kernel_desc d = {"refract", refract_args, refract_param_names, refract_check, {refract_forward},
                            {refract_adjoint}};
  return host->register_kernel(reg, &d);
}
