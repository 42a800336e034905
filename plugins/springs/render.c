/* springs.render: a rasteriser for pictures of a rollout (no adjoint). */
#include "springs.h"

#define RENDER_ARGS(A)                                                                            \
  A(x, DS_NODIFF, DS_REAL, 2, 0) A(topo, DS_NODIFF, DS_I32, 1, 0) A(act, DS_NODIFF, DS_REAL, 1, 0) \
  A(amplitude, DS_NODIFF, DS_REAL, 1, 0) A(image, DS_OUT, DS_REAL, 3, 0)
#define RENDER_PARAMS(P) P(x_lo) P(x_hi) P(y_lo) P(y_hi) P(ground_y)
DS_DECLARE_ARGS(render, RENDER_ARGS)
DS_DECLARE_PARAMS(render, RENDER_PARAMS)

/* One frame {H, W, 3}: white sky, grey ground below ground_y, springs as lines
 * (red when the actuation contracts... i.e. act > 0 red, act < 0 blue, passive
 * springs dark grey), masses as black dots. 3D states are drawn with an oblique
 * projection (x + 0.35 z, y + 0.2 z). params: x_lo, x_hi, y_lo, y_hi, ground_y. */
static int render_check(const ds_call *c) {
  const render_argv *a = DS_ARGV(c, render);
  const render_params *p = DS_PARAMS(c, render);
  const ds_tensor *x = a->x;
  if (x->ndim != 2 || (x->dims[1] != 2 && x->dims[1] != 3))
    return c->host->error(c, "argument 'x' (#1) must have shape {n, 2} or {n, 3}");
  const ds_tensor *img = a->image;
  if (img->ndim != 3 || img->dims[2] != 3 || img->dims[0] < 2 || img->dims[1] < 2)
    return c->host->error(c, "argument 'image' (#5) must have shape {h, w, 3}");
  int64_t ns = (a->topo->count - 3 - x->dims[0]) / 4;
  int rc = check_topo(c, DS_SLOT(render, topo), x->dims[0], ns);
  if (rc) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(render, act), 1, ns, -1, -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(render, amplitude), 1, ns, -1, -1, -1))) return rc;
  if (!(p->x_hi > p->x_lo && p->y_hi > p->y_lo))
    return c->host->error(c, "params: the view (x_lo, x_hi, y_lo, y_hi) is empty");
  return DS_OK;
}

static void plot(R *img, int64_t H, int64_t W, double px, double py, int rad, const R *col) {
  int64_t cx = (int64_t)floor(px), cy = (int64_t)floor(py);
  for (int64_t y = cy - rad; y <= cy + rad; y++)
    for (int64_t x = cx - rad; x <= cx + rad; x++)
      if (x >= 0 && x < W && y >= 0 && y < H && (x - cx) * (x - cx) + (y - cy) * (y - cy) <= rad * rad + rad)
        for (int k = 0; k < 3; k++) img[(y * W + x) * 3 + k] = col[k];
}

static int render_forward(const ds_call *c) {
  const render_argv *a = DS_ARGV(c, render);
  const render_params *p = DS_PARAMS(c, render);
  const int D = (int)a->x->dims[1];
  topo g = topo_from(ds_idata(a->topo));
  const R *x = ds_rdata(a->x), *act = ds_rdata(a->act), *amp = ds_rdata(a->amplitude);
  R *img = ds_rdata(a->image);
  int64_t H = a->image->dims[0], W = a->image->dims[1];
  double x0 = p->x_lo, x1 = p->x_hi, y0 = p->y_lo, y1 = p->y_hi, gy = p->ground_y;
  double sx = (W - 1) / (x1 - x0), sy = (H - 1) / (y1 - y0);
  double gpix = (y1 - gy) * sy;
  for (int64_t y = 0; y < H; y++)
    for (int64_t xx = 0; xx < W; xx++) {
      R v = y > gpix ? (R)0.8 : (R)1.0;
      for (int k = 0; k < 3; k++) img[(y * W + xx) * 3 + k] = v;
    }
  int rad = (int)(W / 200) + 1;
#define PX(i) ((x[(i)*D] + (D == 3 ? 0.35 * x[(i)*D + 2] : 0) - x0) * sx)
#define PY(i) ((y1 - x[(i)*D + 1] - (D == 3 ? 0.2 * x[(i)*D + 2] : 0)) * sy)
  for (int64_t s = 0; s < g.ns; s++) {
    int32_t a = g.pair[2 * s], b = g.pair[2 * s + 1];
    double ax = PX(a), ay = PY(a), bx = PX(b), by = PY(b);
    R col[3] = {(R)0.3, (R)0.3, (R)0.3};
    if (amp[s] != 0) {
      double q = act[s] > 1 ? 1 : act[s] < -1 ? -1 : act[s];
      col[0] = (R)(0.5 + 0.5 * q);
      col[1] = (R)0.2;
      col[2] = (R)(0.5 - 0.5 * q);
    }
    double len = fabs(bx - ax) + fabs(by - ay);
    int64_t steps = (int64_t)len + 2;
    if (steps > 4 * (W + H)) steps = 4 * (W + H);
    for (int64_t q = 0; q <= steps; q++) {
      double t = (double)q / steps;
      plot(img, H, W, ax + t * (bx - ax), ay + t * (by - ay), rad / 2, col);
    }
  }
  const R black[3] = {0, 0, 0};
  for (int64_t i = 0; i < g.n; i++) plot(img, H, W, PX(i), PY(i), rad, black);
#undef PX
#undef PY
  return DS_OK;
}

const ds_kernel_desc springs_render_kernel = {"render", render_args, render_param_names, render_check,
                                              {[DS_CPU] = render_forward}, {NULL}};
