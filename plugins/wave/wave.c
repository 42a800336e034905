/* The wave plugin: a height field u(x, y, t) obeying the damped wave equation
 *
 *     u_tt = c^2 lap(u) + c alpha lap(u_t)
 *
 * on a regular grid of spacing dx, discretised by leap-frog over three time
 * levels with the 5-point Laplacian L (unscaled: neighbours minus 4 x centre):
 *
 *     u+ = 2 u - u- + k1 L u - k2 L u-,   k1 = (c^2 dt^2 + c alpha dt)/dx^2,
 *                                         k2 = c alpha dt / dx^2
 *
 * (the damping term's time derivative is the backward difference (u - u-)/dt).
 *
 * Boundaries: 0 = zero Dirichlet (cells outside the grid hold 0), 1 = reflecting
 * (homogeneous Neumann: an outside cell mirrors the edge cell it touches). Both
 * make L a symmetric matrix, so every adjoint below applies the same stencil to
 * the incoming gradient: that is the gather form, with no scatter and no atomics.
 *
 * Kernels (all 2-D fields {h, w}, row-major, x = row index, y = column index):
 *   wave.step      (u_prev, u, u_next)            leap-frog update, fused with L and the boundary
 *   wave.step_src  (u_prev, u, src, u_next)       the same plus gain dt^2 src (drops, inflow)
 *   wave.start     (u0, v0, u1)                   second-order first step from height and velocity
 *   wave.drops     (drops {n,4}, field)           adds Gaussian drops (row, col, amplitude, width)
 *   wave.energy    (u_prev, u, e {})              the discrete energy that leap-frog conserves
 *
 * Stability: a Fourier mode with eigenvalue -lam of L/dx^2 (0 <= lam <= 8/dx^2)
 * obeys z^2 - (2 - A lam) z + (1 - B lam) = 0, A = c^2dt^2 + c alpha dt,
 * B = c alpha dt. Both roots stay in the unit disc for every lam iff
 * c^2 dt^2 + 2 c alpha dt <= dx^2 / 2, the CFL limit the check callbacks enforce. */
#include <diffsim/plugin.h>
#include <math.h>
#include <string.h>

typedef ds_real real;

enum { BC_DIRICHLET = 0, BC_REFLECT = 1 };
enum { P_C, P_DT, P_DX, P_ALPHA, P_BC, P_GAIN };

/* Rows per parallel block: about 16k cells, so blocks are big enough to amortise
 * scheduling and small enough to balance 1024^2 over many threads. */
static int64_t row_grain(int64_t w) {
  int64_t g = 16384 / (w > 0 ? w : 1);
  return g < 1 ? 1 : g;
}

/* ---- the stencil -------------------------------------------------------- */

/* Neighbour rows of row i: for an edge row the outside row is replaced by the
 * row itself with weight 0 (Dirichlet) or 1 (reflecting: the ghost equals the
 * edge cell). Interior rows get weight 1 from real neighbours. */
typedef struct {
  const real *up, *dn;
  real su, sd;
} nbrs;

static inline nbrs rows_of(const real *x, int64_t i, int64_t h, int64_t w, int bc) {
  nbrs n;
  const real *mid = x + i * w;
  n.up = i > 0 ? mid - w : mid;
  n.dn = i < h - 1 ? mid + w : mid;
  n.su = (i > 0 || bc == BC_REFLECT) ? (real)1 : (real)0;
  n.sd = (i < h - 1 || bc == BC_REFLECT) ? (real)1 : (real)0;
  return n;
}

/* L x at (row of `mid`, column j), for the edge columns (scalar path). */
static inline real lap_at(const real *mid, nbrs n, int64_t j, int64_t w, int bc) {
  real side = bc == BC_REFLECT ? (real)1 : (real)0;
  real left = j > 0 ? mid[j - 1] : side * mid[j];
  real right = j < w - 1 ? mid[j + 1] : side * mid[j];
  return n.su * n.up[j] + n.sd * n.dn[j] + left + right - 4 * mid[j];
}

/* ---- shared parameter handling ----------------------------------------- */

typedef struct {
  real c, dt, dx, alpha;
  int bc;
} wave_par;

static wave_par params_of(const ds_call *c) {
  wave_par p = {(real)c->params[P_C], (real)c->params[P_DT], (real)c->params[P_DX], (real)c->params[P_ALPHA],
                (int)c->params[P_BC]};
  return p;
}

/* Checks the physical parameters; `cfl` also applies the stability limit. */
static int check_params(const ds_call *c, int cfl) {
  double cc = c->params[P_C], dt = c->params[P_DT], dx = c->params[P_DX], al = c->params[P_ALPHA];
  double bc = c->params[P_BC];
  if (!(cc > 0)) return c->host->error(c, "param 'c' (wave speed) must be positive, got %g", cc);
  if (!(dt > 0)) return c->host->error(c, "param 'dt' must be positive, got %g", dt);
  if (!(dx > 0)) return c->host->error(c, "param 'dx' must be positive, got %g", dx);
  if (!(al >= 0)) return c->host->error(c, "param 'alpha' (damping) must be >= 0, got %g", al);
  if (bc != BC_DIRICHLET && bc != BC_REFLECT)
    return c->host->error(c, "param 'boundary' must be 0 (zero Dirichlet) or 1 (reflecting), got %g", bc);
  if (cfl) {
    double lhs = cc * cc * dt * dt + 2 * cc * al * dt, lim = 0.5 * dx * dx;
    if (lhs > lim * (1 + 1e-12)) {
      double dtmax = (sqrt(al * al + 0.5 * dx * dx) - al) / cc;
      return c->host->error(c,
                            "param 'dt' = %g is past the CFL stability limit %g for c = %g, dx = %g, alpha = %g "
                            "(leap-frog needs c^2 dt^2 + 2 c alpha dt <= dx^2/2; Courant number c dt/dx = %g, "
                            "max %g without damping)",
                            dt, dtmax, cc, dx, al, cc * dt / dx, sqrt(0.5));
    }
  }
  return DS_OK;
}

/* All args listed in `same` must have the shape of args[0]. */
static int check_same(const ds_call *c, int n, const int *same) {
  const ds_tensor *t = c->args[same[0]];
  if (t->dims[0] < 1 || t->dims[1] < 1)
    return c->host->error(c, "argument '%s' (#%d) is empty", c->arg_desc[same[0]].name, same[0] + 1);
  for (int k = 1; k < n; k++) {
    int rc = ds_expect_shape(c, same[k], 2, t->dims[0], t->dims[1], -1, -1);
    if (rc) return rc;
  }
  return DS_OK;
}

/* ---- wave.step / wave.step_src ----------------------------------------- */

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

static step_job step_setup(const ds_call *c, int has_src) {
  wave_par p = params_of(c);
  step_job J;
  memset(&J, 0, sizeof J);
  const ds_tensor *u = c->args[1];
  J.h = u->dims[0];
  J.w = u->dims[1];
  J.bc = p.bc;
  real inv_dx2 = 1 / (p.dx * p.dx);
  J.k1 = (p.c * p.c * p.dt * p.dt + p.c * p.alpha * p.dt) * inv_dx2;
  J.k2 = p.c * p.alpha * p.dt * inv_dx2;
  J.ks = has_src ? (real)(c->params[P_GAIN] * c->params[P_DT] * c->params[P_DT]) : 0;
  return J;
}

static int step_check(const ds_call *c) {
  static const int same[] = {0, 1, 2};
  int rc = check_same(c, 3, same);
  return rc ? rc : check_params(c, 1);
}

static int step_forward(const ds_call *c) {
  step_job J = step_setup(c, 0);
  J.a = ds_rdata(c->args[0]);
  J.b = ds_rdata(c->args[1]);
  J.out = ds_rdata(c->args[2]);
  c->host->parallel_for(c->ctx, J.h, row_grain(J.w), step_rows, &J);
  return DS_OK;
}

static int step_adjoint(const ds_call *c) {
  step_job J = step_setup(c, 0);
  J.ga = ds_rgrad(c->args[0]);
  J.gb = ds_rgrad(c->args[1]);
  J.g = ds_rgrad(c->args[2]);
  if (J.ga || J.gb) c->host->parallel_for(c->ctx, J.h, row_grain(J.w), step_adj_rows, &J);
  return DS_OK;
}

static int step_src_check(const ds_call *c) {
  static const int same[] = {0, 1, 2, 3};
  int rc = check_same(c, 4, same);
  return rc ? rc : check_params(c, 1);
}

static int step_src_forward(const ds_call *c) {
  step_job J = step_setup(c, 1);
  J.a = ds_rdata(c->args[0]);
  J.b = ds_rdata(c->args[1]);
  J.s = ds_rdata(c->args[2]);
  J.out = ds_rdata(c->args[3]);
  c->host->parallel_for(c->ctx, J.h, row_grain(J.w), step_rows, &J);
  return DS_OK;
}

static int step_src_adjoint(const ds_call *c) {
  step_job J = step_setup(c, 1);
  J.ga = ds_rgrad(c->args[0]);
  J.gb = ds_rgrad(c->args[1]);
  J.gs = ds_rgrad(c->args[2]);
  J.g = ds_rgrad(c->args[3]);
  if (J.ga || J.gb || J.gs) c->host->parallel_for(c->ctx, J.h, row_grain(J.w), step_adj_rows, &J);
  return DS_OK;
}

/* ---- wave.start ----------------------------------------------------------
 * The first step from a height u0 and a velocity v0 by a Taylor expansion that
 * matches leap-frog to second order (u_{-1} eliminated with the central
 * difference of v0):
 *   u1 = u0 + dt v0 + h1 L u0 + h2 L v0,  h1 = c^2 dt^2 / (2 dx^2),  h2 = c alpha dt^2 / (2 dx^2). */

typedef struct {
  const real *u0, *v0, *g;
  real *out, *gu, *gv;
  real dt, h1, h2;
  int64_t h, w;
  int bc;
} start_job;

static void start_rows(int64_t lo, int64_t hi, void *user) {
  const start_job *J = user;
  const int64_t w = J->w;
  for (int64_t i = lo; i < hi; i++) {
    const real *u = J->u0 + i * w, *v = J->v0 + i * w;
    real *o = J->out + i * w;
    nbrs nu = rows_of(J->u0, i, J->h, w, J->bc), nv = rows_of(J->v0, i, J->h, w, J->bc);
    for (int64_t j = 0; j < w; j++)
      o[j] = u[j] + J->dt * v[j] + J->h1 * lap_at(u, nu, j, w, J->bc) + J->h2 * lap_at(v, nv, j, w, J->bc);
  }
}

static void start_adj_rows(int64_t lo, int64_t hi, void *user) {
  const start_job *J = user;
  const int64_t w = J->w;
  for (int64_t i = lo; i < hi; i++) {
    const real *g = J->g + i * w;
    nbrs n = rows_of(J->g, i, J->h, w, J->bc);
    for (int64_t j = 0; j < w; j++) {
      real lg = lap_at(g, n, j, w, J->bc);
      if (J->gu) J->gu[i * w + j] += g[j] + J->h1 * lg;
      if (J->gv) J->gv[i * w + j] += J->dt * g[j] + J->h2 * lg;
    }
  }
}

static start_job start_setup(const ds_call *c) {
  wave_par p = params_of(c);
  start_job J;
  memset(&J, 0, sizeof J);
  J.h = c->args[0]->dims[0];
  J.w = c->args[0]->dims[1];
  J.bc = p.bc;
  J.dt = p.dt;
  J.h1 = p.c * p.c * p.dt * p.dt / (2 * p.dx * p.dx);
  J.h2 = p.c * p.alpha * p.dt * p.dt / (2 * p.dx * p.dx);
  return J;
}

static int start_forward(const ds_call *c) {
  start_job J = start_setup(c);
  J.u0 = ds_rdata(c->args[0]);
  J.v0 = ds_rdata(c->args[1]);
  J.out = ds_rdata(c->args[2]);
  c->host->parallel_for(c->ctx, J.h, row_grain(J.w), start_rows, &J);
  return DS_OK;
}

static int start_adjoint(const ds_call *c) {
  start_job J = start_setup(c);
  J.gu = ds_rgrad(c->args[0]);
  J.gv = ds_rgrad(c->args[1]);
  J.g = ds_rgrad(c->args[2]);
  if (J.gu || J.gv) c->host->parallel_for(c->ctx, J.h, row_grain(J.w), start_adj_rows, &J);
  return DS_OK;
}

/* ---- wave.energy -----------------------------------------------------------
 * The quantity leap-frog conserves exactly when alpha = 0 (and that decays with
 * damping), evaluated between levels u- and u:
 *   E = sum dx^2 [ 1/2 ((u - u-)/dt)^2 - c^2/(2 dx^2) u . L u- ]
 * -L is positive semi-definite and symmetric, and under the CFL limit E >= 0. */

typedef struct {
  const real *a, *b;
  real *ga, *gb;
  real ge;
  double *rows;       /* per-row partial sums, combined in row order */
  real inv_dt2, kc;   /* 1/dt^2, c^2/dx^2 */
  int64_t h, w;
  int bc;
} energy_job;

static void energy_rows(int64_t lo, int64_t hi, void *user) {
  const energy_job *J = user;
  const int64_t w = J->w;
  for (int64_t i = lo; i < hi; i++) {
    const real *a = J->a + i * w, *b = J->b + i * w;
    nbrs na = rows_of(J->a, i, J->h, w, J->bc);
    double kin = 0, pot = 0;
    for (int64_t j = 0; j < w; j++) {
      double d = (double)b[j] - a[j];
      kin += d * d;
      pot += (double)b[j] * lap_at(a, na, j, w, J->bc);
    }
    J->rows[i] = 0.5 * J->inv_dt2 * kin - 0.5 * J->kc * pot;
  }
}

/* dE/du  = dx^2 [ (u - u-)/dt^2 - c^2/(2dx^2) L u- ]
 * dE/du- = dx^2 [ -(u - u-)/dt^2 - c^2/(2dx^2) L u ]   (L symmetric) */
static void energy_adj_rows(int64_t lo, int64_t hi, void *user) {
  const energy_job *J = user;
  const int64_t w = J->w;
  for (int64_t i = lo; i < hi; i++) {
    const real *a = J->a + i * w, *b = J->b + i * w;
    nbrs na = rows_of(J->a, i, J->h, w, J->bc), nb = rows_of(J->b, i, J->h, w, J->bc);
    for (int64_t j = 0; j < w; j++) {
      real d = (b[j] - a[j]) * J->inv_dt2;
      if (J->gb) J->gb[i * w + j] += J->ge * (d - (real)0.5 * J->kc * lap_at(a, na, j, w, J->bc));
      if (J->ga) J->ga[i * w + j] += J->ge * (-d - (real)0.5 * J->kc * lap_at(b, nb, j, w, J->bc));
    }
  }
}

static int energy_check(const ds_call *c) {
  static const int same[] = {0, 1};
  int rc = check_same(c, 2, same);
  if (rc) return rc;
  if ((rc = ds_expect_shape(c, 2, 0, -1, -1, -1, -1))) return rc;
  return check_params(c, 0);
}

static energy_job energy_setup(const ds_call *c) {
  wave_par p = params_of(c);
  energy_job J;
  memset(&J, 0, sizeof J);
  J.a = ds_rdata(c->args[0]);
  J.b = ds_rdata(c->args[1]);
  J.h = c->args[0]->dims[0];
  J.w = c->args[0]->dims[1];
  J.bc = p.bc;
  J.inv_dt2 = 1 / (p.dt * p.dt);
  J.kc = p.c * p.c / (p.dx * p.dx);
  return J;
}

static int energy_forward(const ds_call *c) {
  energy_job J = energy_setup(c);
  J.rows = c->host->alloc((size_t)J.h * sizeof(double));
  if (!J.rows) return c->host->error(c, "out of memory for %lld row sums", (long long)J.h);
  c->host->parallel_for(c->ctx, J.h, row_grain(J.w), energy_rows, &J);
  double e = 0;
  for (int64_t i = 0; i < J.h; i++) e += J.rows[i];
  c->host->free(J.rows);
  double dx = c->params[P_DX];
  ds_rdata(c->args[2])[0] = (real)(e * dx * dx);
  return DS_OK;
}

static int energy_adjoint(const ds_call *c) {
  energy_job J = energy_setup(c);
  double dx = c->params[P_DX];
  J.ga = ds_rgrad(c->args[0]);
  J.gb = ds_rgrad(c->args[1]);
  J.ge = (real)(ds_rgrad(c->args[2])[0] * dx * dx);
  if (J.ga || J.gb) c->host->parallel_for(c->ctx, J.h, row_grain(J.w), energy_adj_rows, &J);
  return DS_OK;
}

/* ---- wave.drops ------------------------------------------------------------
 * field[i, j] += sum_d a_d exp(-((i - r_d)^2 + (j - q_d)^2) / (2 s_d^2))
 * drops {n, 4} = (row r, column q, amplitude a, width s), in cells. Positions,
 * amplitudes and widths are all differentiable, so drops can be optimised. */

typedef struct {
  const real *d;
  real *f, *gd;
  const real *g;
  double *part;  /* adjoint: per row, per drop, 4 partial sums */
  int64_t n, h, w;
} drops_job;

static void drops_rows(int64_t lo, int64_t hi, void *user) {
  const drops_job *J = user;
  for (int64_t i = lo; i < hi; i++) {
    real *f = J->f + i * J->w;
    for (int64_t k = 0; k < J->n; k++) {
      const real *d = J->d + 4 * k;
      real dr = (real)i - d[0], inv = 1 / (2 * d[3] * d[3]);
      real er = d[2] * exp(-dr * dr * inv);
      for (int64_t j = 0; j < J->w; j++) {
        real dq = (real)j - d[1];
        f[j] += er * exp(-dq * dq * inv);
      }
    }
  }
}

static void drops_adj_rows(int64_t lo, int64_t hi, void *user) {
  const drops_job *J = user;
  for (int64_t i = lo; i < hi; i++) {
    const real *g = J->g + i * J->w;
    for (int64_t k = 0; k < J->n; k++) {
      const real *d = J->d + 4 * k;
      real s = d[3], inv = 1 / (2 * s * s), dr = (real)i - d[0];
      real er = exp(-dr * dr * inv);
      double sg = 0, sgq = 0, sgq2 = 0; /* sum g e, sum g e dq, sum g e dq^2 over the row */
      for (int64_t j = 0; j < J->w; j++) {
        real dq = (real)j - d[1];
        double ge = (double)g[j] * exp(-dq * dq * inv);
        sg += ge;
        sgq += ge * dq;
        sgq2 += ge * dq * dq;
      }
      sg *= er;
      sgq *= er;
      sgq2 *= er;
      double a = d[2], s2 = (double)s * s, s3 = s2 * s;
      double *p = J->part + (i * J->n + k) * 4;
      p[0] = a * sg * dr / s2;                   /* d/dr */
      p[1] = a * sgq / s2;                       /* d/dq */
      p[2] = sg;                                 /* d/da */
      p[3] = a * (sg * dr * dr + sgq2) / s3;     /* d/ds */
    }
  }
}

static int drops_check(const ds_call *c) {
  int rc = ds_expect_shape(c, 0, 2, -1, 4, -1, -1);
  if (rc) return rc;
  const ds_real *d = ds_rdata(c->args[0]);
  for (int64_t k = 0; k < c->args[0]->dims[0]; k++)
    if (!(d[4 * k + 3] > 0))
      return c->host->error(c, "argument 'drops' (#1): drop %lld has width %g; widths (column 4) must be positive",
                            (long long)k + 1, (double)d[4 * k + 3]);
  return DS_OK;
}

static int drops_forward(const ds_call *c) {
  drops_job J = {ds_rdata(c->args[0]), ds_rdata(c->args[1]), NULL, NULL, NULL,
                 c->args[0]->dims[0], c->args[1]->dims[0], c->args[1]->dims[1]};
  c->host->parallel_for(c->ctx, J.h, row_grain(J.w), drops_rows, &J);
  return DS_OK;
}

static int drops_adjoint(const ds_call *c) {
  drops_job J = {ds_rdata(c->args[0]), NULL, ds_rgrad(c->args[0]), ds_rgrad(c->args[1]), NULL,
                 c->args[0]->dims[0], c->args[1]->dims[0], c->args[1]->dims[1]};
  if (!J.gd || J.n == 0) return DS_OK;
  J.part = c->host->alloc((size_t)(J.h * J.n * 4) * sizeof(double));
  if (!J.part) return c->host->error(c, "out of memory for the drop gradients");
  c->host->parallel_for(c->ctx, J.h, row_grain(J.w), drops_adj_rows, &J);
  for (int64_t k = 0; k < J.n; k++)
    for (int q = 0; q < 4; q++) {
      double s = 0;
      for (int64_t i = 0; i < J.h; i++) s += J.part[(i * J.n + k) * 4 + q];
      J.gd[4 * k + q] += (real)s;
    }
  c->host->free(J.part);
  return DS_OK;
}

/* ---- registration ------------------------------------------------------- */

static const char *const WAVE_PARAMS[] = {"c", "dt", "dx", "alpha", "boundary", 0};
static const char *const WAVE_SRC_PARAMS[] = {"c", "dt", "dx", "alpha", "boundary", "gain", 0};

static const ds_arg_desc STEP_ARGS[] = {
    {"u_prev", DS_IN, DS_REAL, 2, 0}, {"u", DS_IN, DS_REAL, 2, 0}, {"u_next", DS_OUT, DS_REAL, 2, 0}, {0}};
static const ds_arg_desc STEP_SRC_ARGS[] = {{"u_prev", DS_IN, DS_REAL, 2, 0},
                                            {"u", DS_IN, DS_REAL, 2, 0},
                                            {"src", DS_IN, DS_REAL, 2, 0},
                                            {"u_next", DS_OUT, DS_REAL, 2, 0}, {0}};
static const ds_arg_desc START_ARGS[] = {
    {"u0", DS_IN, DS_REAL, 2, 0}, {"v0", DS_IN, DS_REAL, 2, 0}, {"u1", DS_OUT, DS_REAL, 2, 0}, {0}};
static const ds_arg_desc ENERGY_ARGS[] = {
    {"u_prev", DS_IN, DS_REAL, 2, 0}, {"u", DS_IN, DS_REAL, 2, 0}, {"energy", DS_OUT, DS_REAL, 0, 0}, {0}};
static const ds_arg_desc DROPS_ARGS[] = {{"drops", DS_IN, DS_REAL, 2, 0}, {"field", DS_ACC, DS_REAL, 2, 0}, {0}};

static int start_check(const ds_call *c) {
  static const int same[] = {0, 1, 2};
  int rc = check_same(c, 3, same);
  return rc ? rc : check_params(c, 1);
}

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "wave");
  if (rc) return rc;
  const ds_kernel_desc kernels[] = {
      {"step", STEP_ARGS, WAVE_PARAMS, step_check, {step_forward}, {step_adjoint}},
      {"step_src", STEP_SRC_ARGS, WAVE_SRC_PARAMS, step_src_check, {step_src_forward}, {step_src_adjoint}},
      {"start", START_ARGS, WAVE_PARAMS, start_check, {start_forward}, {start_adjoint}},
      {"energy", ENERGY_ARGS, WAVE_PARAMS, energy_check, {energy_forward}, {energy_adjoint}},
      {"drops", DROPS_ARGS, NULL, drops_check, {drops_forward}, {drops_adjoint}},
  };
  for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
    if ((rc = host->register_kernel(reg, &kernels[i]))) return rc;
  return DS_OK;
}
