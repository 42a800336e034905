/* mpm.render: one RGB frame {H, W, 3} of the particles (pictures; no adjoint).
 * White background, the boundary band grey, particles as dots coloured by
 * `color` {n} in [0, 1] (a blue -> red ramp: material, or actuation). */
#include "mpm.h"

#define RENDER_ARGS(A) A(x, DS_NODIFF, DS_REAL, 2, 0) A(color, DS_NODIFF, DS_REAL, 1, 0) A(image, DS_OUT, DS_REAL, 3, 0)
#define RENDER_PARAMS(P) P(extent_x) P(extent_y) P(band)
DS_DECLARE_ARGS(render, RENDER_ARGS)
DS_DECLARE_PARAMS(render, RENDER_PARAMS)

static int render_check(const ds_call *c) {
  const render_argv *a = DS_ARGV(c, render);
  const render_params *p = DS_PARAMS(c, render);
  int rc = ds_expect_shape(c, DS_SLOT(render, x), 2, -1, 2, -1, -1);
  if (rc) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(render, color), 1, a->x->dims[0], -1, -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(render, image), 3, -1, -1, 3, -1))) return rc;
  if (a->image->dims[0] < 2 || a->image->dims[1] < 2) return c->host->error(c, "argument 'image' is smaller than 2x2");
  if (!(p->extent_x > 0) || !(p->extent_y > 0)) return c->host->error(c, "params 'extent_x', 'extent_y' must be > 0");
  return DS_OK;
}

static int render_forward(const ds_call *c) {
  const render_argv *a = DS_ARGV(c, render);
  const render_params *p = DS_PARAMS(c, render);
  const int64_t H = a->image->dims[0], W = a->image->dims[1], n = a->x->dims[0];
  const R *x = ds_rdata(a->x), *col = ds_rdata(a->color);
  R *img = ds_rdata(a->image);
  const double sx = W / p->extent_x, sy = H / p->extent_y, band = p->band;
  for (int64_t y = 0; y < H; y++)
    for (int64_t xx = 0; xx < W; xx++) {
      const double wx = (xx + 0.5) / sx, wy = (H - y - 0.5) / sy;
      const int in_band = wx < band || wy < band || wx > p->extent_x - band || wy > p->extent_y - band;
      for (int k = 0; k < 3; k++) img[(y * W + xx) * 3 + k] = in_band ? (R)0.75 : (R)1;
    }
  for (int64_t i = 0; i < n; i++) {
    const double px = x[2 * i] * sx, py = H - x[2 * i + 1] * sy;
    const int64_t cx = (int64_t)px, cy = (int64_t)py;
    double t = col[i];
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    const R rgb[3] = {(R)(0.1 + 0.8 * t), (R)0.2, (R)(0.9 - 0.8 * t)};
    for (int64_t y = cy - 1; y <= cy; y++)
      for (int64_t xx = cx - 1; xx <= cx; xx++)
        if (y >= 0 && y < H && xx >= 0 && xx < W)
          for (int k = 0; k < 3; k++) img[(y * W + xx) * 3 + k] = rgb[k];
  }
  return DS_OK;
}

const ds_kernel_desc mpm_render_kernel = {"render", render_args, render_param_names, render_check, {render_forward}, {0}};
