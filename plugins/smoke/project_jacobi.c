/* Pressure projection by a fixed number of Jacobi sweeps, forward and adjoint.
 *
 * With D the divergence, G the gradient (G = D^T / h^2) and M a linear pressure
 * solve (M ~ A^-1, A = D G), the projection is
 *     p = M D v,    v' = v - G p = (I - G M D) v.
 * If M is symmetric the map I - G M D is symmetric too (its transpose is
 * I - D^T M G^T = I - h^2 G M D / h^2), so the adjoint of a projection is the
 * same projection of the output gradient, plus the pressure output's gradient:
 *     gv += gv' - G M (D gv' - h^2 gp).
 *
 * Jacobi (the reference's solver): M = K sweeps of the compact Laplacian from
 * p = 0 (periodic; with walls, sweeps of A itself), a fixed symmetric linear map, so the adjoint above is exactly the
 * gradient through the unrolled sweeps without storing any of them. In 2D the
 * projection is fused into one pass per block of rows: each block recomputes a
 * halo of K rows (trapezoidal tiling), so no barrier is needed between sweeps and
 * the result does not depend on the blocking.
 *
 * The CG projection (project_cg.c) shares the operators and passes. */
#include <stdlib.h>

#include "smoke.h"

/* ---- the generic (untiled) Jacobi projection ------------------------------- */
typedef struct proj {
  grid g;
  int K;
  double h;
  const ds_real *in[3], *extra;
  ds_real *out[3], *pout;
  int acc;
} proj;

static int jacobi_passes(const ds_call *c, const proj *J) {
  const grid *g = &J->g;
  size_t bytes = (size_t)g->cells * sizeof(ds_real);
  ds_real *div = c->host->scratch(c, bytes), *pa = c->host->scratch(c, bytes), *pb = c->host->scratch(c, bytes);
  ds_real *zero = smoke_zero_line(c, g);
  if (!div || !pa || !pb || !zero) return DS_ERR_NOMEM; /* host->scratch set the error */
  pass P = {0};
  P.h = J->h;
  P.zero = zero;
  for (int d = 0; d < g->nd; d++) P.v[d] = J->in[d];
  P.op = P_DIV, P.extra = J->extra, P.out = div;
  smoke_run_pass(c, g, &P);
  ds_real *dinv = NULL;
  if (g->bc == BC_WALL && J->K > 0) {
    if (!(dinv = smoke_lap_dinv(c, g))) return DS_ERR_NOMEM;
    P.dinv = dinv;
  }
  if (J->K == 0) {
    memset(pa, 0, bytes);
  } else if (dinv) {
    /* Walls: sweeps relax the consistent operator A = D G itself, so more
     * sweeps approach the exact projection (the compact stencil with
     * Neumann ghosts is a different operator near walls). p_0 = 0. */
    P.op = P_MUL, P.src = div, P.out = pa;
    smoke_run_pass(c, g, &P);
    for (int k = 1; k < J->K; k++) {
      P.op = P_JACW, P.src = div, P.p = pa, P.out = pb;
      smoke_run_pass(c, g, &P);
      ds_real *t = pa;
      pa = pb, pb = t;
    }
  } else {
    /* p_0 = 0, so the first sweep is div / (2 nd) */
    P.op = P_SCALE, P.src = div, P.out = pa, P.scale = (ds_real)(1.0 / (2 * g->nd));
    smoke_run_pass(c, g, &P);
    for (int k = 1; k < J->K; k++) {
      P.op = P_JAC, P.src = div, P.p = pa, P.out = pb;
      smoke_run_pass(c, g, &P);
      ds_real *t = pa;
      pa = pb, pb = t;
    }
  }
  P.op = P_GRADSUB, P.p = pa, P.acc = J->acc;
  for (int d = 0; d < g->nd; d++) P.outs[d] = J->out[d];
  smoke_run_pass(c, g, &P);
  if (J->pout) memcpy(J->pout, pa, bytes);
  return DS_OK;
}

/* ---- the tiled 2D Jacobi projection ---------------------------------------- */
typedef struct tile {
  const proj *J;
  int64_t rows_per;
  ds_real *mem;   /* per block: 3 * stride reals (divergence, two pressure buffers) */
  int64_t stride; /* the largest halo'd block, in cells */
} tile;

/* Periodic grids only (walls relax A itself, in jacobi_passes). */
static void tile_fn(int64_t b0, int64_t b1, void *u) {
  tile *T = u;
  const proj *J = T->J;
  const grid *g = &J->g;
  const int64_t nx = g->n[0], ny = g->len;
  const int K = J->K;
  const ds_real inv = (ds_real)0.25;
  for (int64_t b = b0; b < b1; b++) {
    const int64_t r0 = b * T->rows_per, r1 = r0 + T->rows_per < nx ? r0 + T->rows_per : nx;
    /* A block holding every row needs no halo and wraps onto itself. */
    const int64_t H = (r0 == 0 && r1 == nx) ? 0 : K, E = (r1 - r0) + 2 * H;
    ds_real *buf = T->mem + 3 * b * T->stride;
    ds_real *dv = buf, *pa = buf + E * ny, *pb = buf + 2 * E * ny;
    /* local row e is global row (r0 - H + e) mod nx */
    for (int64_t e = 0; e < E; e++) {
      int64_t gr = wrap_index(r0 - H + e, nx);
      const ds_real *vm[1] = {J->in[0] + line_nb(g, gr, 0, -1) * ny}, *vp[1] = {J->in[0] + line_nb(g, gr, 0, 1) * ny};
      smoke_div_line(g, J->h, vm, vp, J->in[1] + gr * ny, J->extra ? J->extra + gr * ny : NULL, dv + e * ny);
    }
    if (K == 0) {
      memset(pa, 0, (size_t)(E * ny) * sizeof(ds_real));
    } else {
      /* p_0 = 0: the first sweep is div / 4; sweep k is valid on rows
       * [k-1, E-k+1) of the halo'd block, shrinking by one row per side */
      for (int64_t i = 0; i < E * ny; i++) pa[i] = dv[i] * inv;
      for (int k = 2; k <= K; k++) {
        int64_t lo = H ? k - 1 : 0, hi = H ? E - (k - 1) : E;
        for (int64_t e = lo; e < hi; e++) {
          int64_t up = H ? e - 1 : (e == 0 ? E - 1 : e - 1), dn = H ? e + 1 : (e == E - 1 ? 0 : e + 1);
          const ds_real *nb[2] = {pa + up * ny, pa + dn * ny};
          jacobi_line(g, pb + e * ny, dv + e * ny, pa + e * ny, nb, inv);
        }
        ds_real *t = pa;
        pa = pb, pb = t;
      }
    }
    for (int64_t gr = r0; gr < r1; gr++) {
      int64_t e = gr - r0 + H;
      const ds_real *v[2] = {J->in[0] + gr * ny, J->in[1] + gr * ny};
      ds_real *o[2] = {J->out[0] ? J->out[0] + gr * ny : NULL, J->out[1] ? J->out[1] + gr * ny : NULL};
      const ds_real *pm[1] = {pa + (H ? e - 1 : (e == 0 ? E - 1 : e - 1)) * ny};
      const ds_real *pp[1] = {pa + (H ? e + 1 : (e == E - 1 ? 0 : e + 1)) * ny};
      smoke_gradsub_line(g, J->h, v, pa + e * ny, pm, pp, o, J->acc);
      if (J->pout) memcpy(J->pout + gr * ny, pa + e * ny, (size_t)ny * sizeof(ds_real));
    }
  }
}

static int jacobi_project(const ds_call *c, const proj *J) {
  const grid *g = &J->g;
  if (g->nd == 3 || g->bc == BC_WALL) return jacobi_passes(c, J);
  int threads = c->host->threads(c->ctx);
  int64_t nx = g->n[0];
  /* One block per thread; each block recomputes a halo of K rows per side, so
   * use fewer blocks when blocks would be mostly halo. */
  int64_t nb = threads, minrows = 2 * (int64_t)J->K + 8;
  while (nb > 1 && nx / nb < minrows) nb--;
  if (g->cells < 4096) nb = 1;
  tile T = {J, (nx + nb - 1) / nb, NULL, 0};
  int64_t nblocks = (nx + T.rows_per - 1) / T.rows_per;
  /* Block buffers come from the call's scratch, taken here on the calling
   * thread (scratch is per call, not per worker). */
  T.stride = (T.rows_per + (nblocks > 1 ? 2 * (int64_t)J->K : 0)) * g->len;
  if (!(T.mem = c->host->scratch(c, (size_t)(3 * nblocks * T.stride) * sizeof(ds_real)))) return DS_ERR_NOMEM;
  c->host->parallel_for(c->ctx, nblocks, 1, tile_fn, &T);
  return DS_OK;
}

int smoke_jacobi_run(const ds_call *c, int nd, int bc, const ds_tensor *shape, int iters, double h,
                     const ds_real *const *in, const ds_real *extra, ds_real *const *out, int acc, ds_real *pout) {
  proj J = {0};
  J.g = grid_make(nd, bc, shape);
  J.K = iters;
  J.h = h;
  for (int d = 0; d < nd; d++) J.in[d] = in[d], J.out[d] = out[d];
  J.extra = extra;
  J.acc = acc;
  J.pout = pout;
  return jacobi_project(c, &J);
}

/* ---- kernel: project, 2D or 3D --------------------------------------------------
 * args: p (out), v (list of 2 or 3 components, in), v_out (list, out); params
 * bc, iters, h. */
#define PROJECT_PARAMS(P) P(bc) P(iters) P(h)
DS_DECLARE_PARAMS(project, PROJECT_PARAMS)
#define PROJECT_ARGS(A) A(p, DS_OUT, DS_REAL, -1, 0) A(v, DS_IN, DS_REAL, -1, DS_LIST) A(v_out, DS_OUT, DS_REAL, -1, DS_LIST)
DS_DECLARE_ARGS(project, PROJECT_ARGS)

static int project_check(const ds_call *c) {
  const project_params *p = DS_PARAMS(c, project);
  int rc = smoke_check_list(c);
  if (!rc) rc = smoke_check_grid(c, c->list_len, SMOKE_MIN_CELLS);
  if (!rc) rc = smoke_check_bc(c, p->bc);
  if (!rc) rc = smoke_check_int(c, "iters", p->iters, 0, 100000);
  if (!rc) rc = smoke_check_h(c, p->h);
  return rc;
}

static int project_forward(const ds_call *c) {
  const int nd = c->list_len, V = DS_SLOT(project, v), VO = DS_SLOT(project, v_out);
  const project_params *p = DS_PARAMS(c, project);
  const ds_real *in[3] = {0};
  ds_real *out[3] = {0};
  for (int d = 0; d < nd; d++) in[d] = ds_rdata(ds_list_of(c, V, d)), out[d] = ds_rdata(ds_list_of(c, VO, d));
  return smoke_jacobi_run(c, nd, (int)p->bc, DS_ARGV(c, project)->p, (int)p->iters, p->h, in, NULL, out, 0,
                          ds_rdata(DS_ARGV(c, project)->p));
}

/* The projection is self-adjoint (see the top): gv += P gv' - G M (-h^2 gp). */
static int project_adjoint(const ds_call *c) {
  const int nd = c->list_len, V = DS_SLOT(project, v), VO = DS_SLOT(project, v_out);
  const project_params *p = DS_PARAMS(c, project);
  const ds_real *in[3] = {0};
  ds_real *out[3] = {0};
  int any = 0;
  for (int d = 0; d < nd; d++) {
    in[d] = ds_rgrad(ds_list_of(c, VO, d));
    any |= (out[d] = ds_rgrad(ds_list_of(c, V, d))) != NULL;
  }
  if (!any) return DS_OK;
  return smoke_jacobi_run(c, nd, (int)p->bc, DS_ARGV(c, project)->p, (int)p->iters, p->h, in,
                          ds_rgrad(DS_ARGV(c, project)->p), out, 1, NULL);
}

int smoke_register_jacobi(const ds_host_api *host, ds_registrar *reg) {
  const ds_kernel_desc k = {"project", project_args, project_param_names, project_check, {project_forward},
                            {project_adjoint}};
  return host->register_kernel(reg, &k);
}
