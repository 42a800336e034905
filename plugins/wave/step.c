/* wave.step and wave.step_src: one fused leap-frog update,
 *
 *   u_next = 2 u - u_prev + k1 L u - k2 L u_prev  (+ gain dt^2 src),
 *   k1 = (c^2 dt^2 + c alpha dt)/dx^2,   k2 = c alpha dt/dx^2,
 *
 * both Laplacians, the boundary and the combination in one pass over rows with
 * a contiguous, vectorised inner loop. c and alpha are 0-dim tensors (plain
 * numbers from Lua), differentiable like the fields. */
#include <string.h>

#include "wave.h"

typedef struct {
  const real *a, *b, *s; /* u_prev, u, src (or NULL) */
  real *out;
  const real *g;         /* adjoint: grad of u_next */
  real *ga, *gb, *gs;    /* adjoint: grads to accumulate (each may be NULL) */
  real k1, k2, ks;       /* ks = gain dt^2 */
  int64_t h, w;
  int bc;
} step_job;

static void step_rows(int64_t lo, int64_t hi, void *user) {
  const step_job *J = user;
  const int64_t w = J->w;
  const real k1 = J->k1, k2 = J->k2, ks = J->ks;
  for (int64_t i = lo; i < hi; i++) {
    const real *restrict b = J->b + i * w, *restrict a = J->a + i * w;
    real *restrict o = J->out + i * w;
    nbrs nb = rows_of(J->b, i, J->h, w, J->bc), na = rows_of(J->a, i, J->h, w, J->bc);
    const real *restrict bu = nb.up, *restrict bd = nb.dn;
    const real su = nb.su, sd = nb.sd;
    if (w >= 3) {
      if (k2 == 0) {
        /* Undamped: the common case, one stencil. */
        for (int64_t j = 1; j < w - 1; j++)
          o[j] = 2 * b[j] - a[j] + k1 * (su * bu[j] + sd * bd[j] + b[j - 1] + b[j + 1] - 4 * b[j]);
      } else {
        const real *restrict au = na.up, *restrict ad = na.dn;
        for (int64_t j = 1; j < w - 1; j++)
          o[j] = 2 * b[j] - a[j] + k1 * (su * bu[j] + sd * bd[j] + b[j - 1] + b[j + 1] - 4 * b[j]) -
                 k2 * (su * au[j] + sd * ad[j] + a[j - 1] + a[j + 1] - 4 * a[j]);
      }
    }
    /* Edge columns (and grids narrower than 3). */
    for (int64_t j = 0; j < w; j += (j == 0 && w > 2) ? w - 1 : 1) {
      real v = 2 * b[j] - a[j] + k1 * lap_at(b, nb, j, w, J->bc);
      if (k2 != 0) v -= k2 * lap_at(a, na, j, w, J->bc);
      o[j] = v;
    }
    if (J->s) {
      const real *restrict s = J->s + i * w;
      for (int64_t j = 0; j < w; j++) o[j] += ks * s[j];
    }
  }
}

/* Adjoint of u+ = 2u - u- + k1 L u - k2 L u- + ks s, with L symmetric:
 *   gu += 2 g + k1 L g,  gu- += -g - k2 L g,  gs += ks g. */
static void step_adj_rows(int64_t lo, int64_t hi, void *user) {
  const step_job *J = user;
  const int64_t w = J->w;
  const real k1 = J->k1, k2 = J->k2, ks = J->ks;
  for (int64_t i = lo; i < hi; i++) {
    const real *restrict g = J->g + i * w;
    nbrs n = rows_of(J->g, i, J->h, w, J->bc);
    const real *restrict gu = n.up, *restrict gd = n.dn;
    const real su = n.su, sd = n.sd;
    real *restrict ga = J->ga ? J->ga + i * w : NULL;
    real *restrict gb = J->gb ? J->gb + i * w : NULL;
    if (w >= 3) {
      if (ga && gb) {
        for (int64_t j = 1; j < w - 1; j++) {
          real lg = su * gu[j] + sd * gd[j] + g[j - 1] + g[j + 1] - 4 * g[j];
          gb[j] += 2 * g[j] + k1 * lg;
          ga[j] += -g[j] - k2 * lg;
        }
      } else if (gb) {
        for (int64_t j = 1; j < w - 1; j++)
          gb[j] += 2 * g[j] + k1 * (su * gu[j] + sd * gd[j] + g[j - 1] + g[j + 1] - 4 * g[j]);
      } else if (ga) {
        for (int64_t j = 1; j < w - 1; j++)
          ga[j] += -g[j] - k2 * (su * gu[j] + sd * gd[j] + g[j - 1] + g[j + 1] - 4 * g[j]);
      }
    }
    for (int64_t j = 0; j < w; j += (j == 0 && w > 2) ? w - 1 : 1) {
      real lg = lap_at(g, n, j, w, J->bc);
      if (gb) gb[j] += 2 * g[j] + k1 * lg;
      if (ga) ga[j] += -g[j] - k2 * lg;
    }
    if (J->gs) {
      real *restrict gs = J->gs + i * w;
      for (int64_t j = 0; j < w; j++) gs[j] += ks * g[j];
    }
  }
}

#define STEP_ARGS(A)                                                                 \
  A(u_prev, DS_IN, DS_REAL, 2, 0) A(u, DS_IN, DS_REAL, 2, 0) A(c, DS_IN, DS_REAL, 0, 0) \
  A(alpha, DS_IN, DS_REAL, 0, 0) A(u_next, DS_OUT, DS_REAL, 2, 0)
#define STEP_SRC_ARGS(A)                                                                                   \
  A(u_prev, DS_IN, DS_REAL, 2, 0) A(u, DS_IN, DS_REAL, 2, 0) A(src, DS_IN, DS_REAL, 2, 0)                    \
  A(c, DS_IN, DS_REAL, 0, 0) A(alpha, DS_IN, DS_REAL, 0, 0) A(u_next, DS_OUT, DS_REAL, 2, 0)
#define STEP_SRC_PARAMS(P) WAVE_GRID_PARAMS(P) P(gain)
DS_DECLARE_ARGS(step, STEP_ARGS)
DS_DECLARE_PARAMS(step, WAVE_GRID_PARAMS)
DS_DECLARE_ARGS(step_src, STEP_SRC_ARGS)
DS_DECLARE_PARAMS(step_src, STEP_SRC_PARAMS)

/* The two kernels differ only by the source: both map their named arguments
 * onto this, and everything below is shared. */
typedef struct {
  const ds_tensor *u_prev, *u, *src, *c, *alpha, *u_next;
  double dt, dx, boundary, gain;
} step_io;

static step_io io_of_step(const ds_call *c) {
  const step_argv *a = DS_ARGV(c, step);
  const step_params *p = DS_PARAMS(c, step);
  step_io io = {a->u_prev, a->u, NULL, a->c, a->alpha, a->u_next, p->dt, p->dx, p->boundary, 0};
  return io;
}

static step_io io_of_step_src(const ds_call *c) {
  const step_src_argv *a = DS_ARGV(c, step_src);
  const step_src_params *p = DS_PARAMS(c, step_src);
  step_io io = {a->u_prev, a->u, a->src, a->c, a->alpha, a->u_next, p->dt, p->dx, p->boundary, p->gain};
  return io;
}

static step_job job_of(const step_io *io, wave_phys p) {
  step_job J;
  memset(&J, 0, sizeof J);
  J.h = io->u->dims[0];
  J.w = io->u->dims[1];
  J.bc = p.bc;
  real inv_dx2 = 1 / (p.dx * p.dx);
  J.k1 = (p.c * p.c * p.dt * p.dt + p.c * p.alpha * p.dt) * inv_dx2;
  J.k2 = p.c * p.alpha * p.dt * inv_dx2;
  J.ks = io->src ? (real)(io->gain * io->dt * io->dt) : 0;
  return J;
}

static int run_forward(const ds_call *c, const step_io *io) {
  wave_phys p;
  int rc = wave_phys_read(c, io->c, io->alpha, io->dt, io->dx, io->boundary, 1, &p);
  if (rc) return rc;
  step_job J = job_of(io, p);
  J.a = ds_rdata(io->u_prev);
  J.b = ds_rdata(io->u);
  J.s = io->src ? ds_rdata(io->src) : NULL;
  J.out = ds_rdata(io->u_next);
  c->host->parallel_for(c->ctx, J.h, row_grain(J.w), step_rows, &J);
  return DS_OK;
}

/* Gradients of the coefficients: with S1 = sum g . L u = sum (L g) . u and
 * S2 = sum (L g) . u_prev, d/dk1 = S1 and d/dk2 = -S2, so
 *   g_c     += [S1 (2 c dt^2 + alpha dt) - S2 alpha dt] / dx^2
 *   g_alpha += c dt (S1 - S2) / dx^2 */
static int phys_adjoint(const ds_call *c, const step_io *io, wave_phys p, const real *g) {
  real *gc = ds_rgrad(io->c), *gal = ds_rgrad(io->alpha);
  if (!gc && !gal) return DS_OK;
  double s[2];
  int rc = wave_lap_dots(c, g, ds_rdata(io->u), ds_rdata(io->u_prev), io->u->dims[0], io->u->dims[1], p.bc, s);
  if (rc) return rc;
  double cc = p.c, al = p.alpha, dt = io->dt, inv_dx2 = 1 / (io->dx * io->dx);
  if (gc) gc[0] += (real)((s[0] * (2 * cc * dt * dt + al * dt) - s[1] * al * dt) * inv_dx2);
  if (gal) gal[0] += (real)(cc * dt * (s[0] - s[1]) * inv_dx2);
  return DS_OK;
}

static int run_adjoint(const ds_call *c, const step_io *io) {
  wave_phys p = wave_phys_get(io->c, io->alpha, io->dt, io->dx, io->boundary);
  step_job J = job_of(io, p);
  J.ga = ds_rgrad(io->u_prev);
  J.gb = ds_rgrad(io->u);
  J.gs = io->src ? ds_rgrad(io->src) : NULL;
  J.g = ds_rgrad(io->u_next);
  if (J.ga || J.gb || J.gs) c->host->parallel_for(c->ctx, J.h, row_grain(J.w), step_adj_rows, &J);
  return phys_adjoint(c, io, p, J.g);
}

static int run_check(const ds_call *c, const step_io *io, int n, const int *same) {
  int rc = wave_check_same(c, n, same);
  return rc ? rc : wave_check_grid(c, io->dt, io->dx, io->boundary);
}

static int step_forward(const ds_call *c) { step_io io = io_of_step(c); return run_forward(c, &io); }
static int step_adjoint(const ds_call *c) { step_io io = io_of_step(c); return run_adjoint(c, &io); }
static int step_check(const ds_call *c) {
  static const int same[] = {DS_SLOT(step, u_prev), DS_SLOT(step, u), DS_SLOT(step, u_next)};
  step_io io = io_of_step(c);
  return run_check(c, &io, 3, same);
}

static int step_src_forward(const ds_call *c) {
  step_io io = io_of_step_src(c);
  int rc = ds_expect_finite(c, DS_SLOT(step_src, src)); /* user data, like the initial state */
  return rc ? rc : run_forward(c, &io);
}
static int step_src_adjoint(const ds_call *c) { step_io io = io_of_step_src(c); return run_adjoint(c, &io); }
static int step_src_check(const ds_call *c) {
  static const int same[] = {DS_SLOT(step_src, u_prev), DS_SLOT(step_src, u), DS_SLOT(step_src, src),
                             DS_SLOT(step_src, u_next)};
  step_io io = io_of_step_src(c);
  return run_check(c, &io, 4, same);
}

int wave_register_step(const ds_host_api *host, ds_registrar *reg) {
  const ds_kernel_desc step = {"step", step_args, step_param_names, step_check, {step_forward}, {step_adjoint}};
  const ds_kernel_desc step_src = {"step_src", step_src_args, step_src_param_names, step_src_check,
                                   {step_src_forward}, {step_src_adjoint}};
  int rc = host->register_kernel(reg, &step);
  return rc ? rc : host->register_kernel(reg, &step_src);
}
