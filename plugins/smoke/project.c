/* Pressure projection, forward and adjoint.
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
 * CG: M = A^+ applied by Jacobi-preconditioned conjugate gradients to a relative
 * tolerance; the adjoint is one more CG solve with the same (symmetric) A, the
 * implicit-function-theorem gradient, never unrolled iterations. */
#include <stdlib.h>

#include "smoke.h"

/* ---- parallel passes over lines -------------------------------------------- */
enum { P_DIV, P_JAC, P_GRADSUB, P_SCALE, P_LAP, P_JACW, P_MUL };

typedef struct pass {
  const grid *g;
  int op;
  double h;
  const ds_real *v[3];
  const ds_real *extra, *src, *p;
  ds_real *out, *outs[3];
  int acc;
  ds_real scale;
  const ds_real *zero, *dinv;
} pass;

static void pass_fn(int64_t l0, int64_t l1, void *u) {
  const pass *P = u;
  const grid *g = P->g;
  switch (P->op) {
    case P_DIV: op_div_lines(g, P->h, P->v, P->extra, P->out, l0, l1, P->zero); break;
    case P_JAC: op_jacobi_lines(g, P->src, P->p, P->out, l0, l1); break;
    case P_GRADSUB: op_gradsub_lines(g, P->h, P->v, P->p, P->outs, P->acc, l0, l1, P->zero); break;
    case P_LAP: op_lap_lines(g, P->p, P->out, l0, l1, P->zero); break;
    case P_SCALE:
      for (int64_t i = l0 * g->len; i < l1 * g->len; i++) P->out[i] = P->src[i] * P->scale;
      break;
    case P_MUL:
      for (int64_t i = l0 * g->len; i < l1 * g->len; i++) P->out[i] = P->src[i] * P->dinv[i];
      break;
    case P_JACW: /* a Jacobi sweep of the consistent operator: p + diag(A)^-1 (b - A p) */
      op_lap_lines(g, P->p, P->out, l0, l1, P->zero);
      for (int64_t i = l0 * g->len; i < l1 * g->len; i++) P->out[i] = P->p[i] + (P->src[i] - P->out[i]) * P->dinv[i];
      break;
  }
}

/* Lines per block: about 16k cells, so small grids run in one block. */
static int64_t line_grain(const grid *g) {
  int64_t gr = 16384 / g->len;
  return gr < 1 ? 1 : gr;
}

static void run_pass(const ds_call *c, const grid *g, pass *P) {
  P->g = g;
  c->host->parallel_for(c->ctx, g->lines, line_grain(g), pass_fn, P);
}

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
  ds_real *div = c->host->alloc(bytes), *pa = c->host->alloc(bytes), *pb = c->host->alloc(bytes);
  ds_real *zero = c->host->alloc((size_t)g->len * sizeof(ds_real));
  if (!div || !pa || !pb || !zero) {
    c->host->free(div), c->host->free(pa), c->host->free(pb), c->host->free(zero);
    return c->host->error(c, "out of memory for scratch (%lld cells)", (long long)g->cells);
  }
  memset(zero, 0, (size_t)g->len * sizeof(ds_real));
  pass P = {0};
  P.h = J->h;
  P.zero = zero;
  for (int d = 0; d < g->nd; d++) P.v[d] = J->in[d];
  P.op = P_DIV, P.extra = J->extra, P.out = div;
  run_pass(c, g, &P);
  ds_real *dinv = NULL;
  if (g->bc == BC_WALL && J->K > 0) {
    if (!(dinv = c->host->alloc(bytes))) {
      c->host->free(div), c->host->free(pa), c->host->free(pb), c->host->free(zero);
      return c->host->error(c, "out of memory for scratch");
    }
    for (int64_t l = 0; l < g->lines; l++) op_lap_diag_line(g, l, dinv + l * g->len);
    for (int64_t i = 0; i < g->cells; i++) dinv[i] = 1 / dinv[i];
    P.dinv = dinv;
  }
  if (J->K == 0) {
    memset(pa, 0, bytes);
  } else if (dinv) {
    /* Walls: sweeps relax the consistent operator A = D G itself, so more
     * sweeps approach the exact projection (the compact stencil with
     * Neumann ghosts is a different operator near walls). p_0 = 0. */
    P.op = P_MUL, P.src = div, P.out = pa;
    run_pass(c, g, &P);
    for (int k = 1; k < J->K; k++) {
      P.op = P_JACW, P.src = div, P.p = pa, P.out = pb;
      run_pass(c, g, &P);
      ds_real *t = pa;
      pa = pb, pb = t;
    }
  } else {
    /* p_0 = 0, so the first sweep is div / (2 nd) */
    P.op = P_SCALE, P.src = div, P.out = pa, P.scale = (ds_real)(1.0 / (2 * g->nd));
    run_pass(c, g, &P);
    for (int k = 1; k < J->K; k++) {
      P.op = P_JAC, P.src = div, P.p = pa, P.out = pb;
      run_pass(c, g, &P);
      ds_real *t = pa;
      pa = pb, pb = t;
    }
  }
  P.op = P_GRADSUB, P.p = pa, P.acc = J->acc;
  for (int d = 0; d < g->nd; d++) P.outs[d] = J->out[d];
  run_pass(c, g, &P);
  if (J->pout) memcpy(J->pout, pa, bytes);
  c->host->free(div), c->host->free(pa), c->host->free(pb), c->host->free(zero), c->host->free(dinv);
  return DS_OK;
}

/* ---- the tiled 2D Jacobi projection ---------------------------------------- */
typedef struct tile {
  const proj *J;
  const ds_host_api *host;
  int64_t rows_per;
  const ds_real *zero;
  int nomem;
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
    ds_real *buf = T->host->alloc((size_t)(3 * E * ny) * sizeof(ds_real));
    if (!buf) {
      T->nomem = 1;
      return;
    }
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
    T->host->free(buf);
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
  ds_real *zero = c->host->alloc((size_t)g->len * sizeof(ds_real));
  if (!zero) return c->host->error(c, "out of memory");
  memset(zero, 0, (size_t)g->len * sizeof(ds_real));
  tile T = {J, c->host, (nx + nb - 1) / nb, zero, 0};
  (void)T.zero;
  int64_t nblocks = (nx + T.rows_per - 1) / T.rows_per;
  c->host->parallel_for(c->ctx, nblocks, 1, tile_fn, &T);
  c->host->free(zero);
  if (T.nomem) return c->host->error(c, "out of memory for scratch");
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

/* args: v_0..v_{nd-1} (in), v'_0..v'_{nd-1} (out), p (out); params bc, iters, h */
int smoke_jacobi_fwd(const ds_call *c, int nd) {
  proj J = {0};
  J.g = grid_make(nd, (int)c->params[0], c->args[0]);
  J.K = (int)c->params[1];
  J.h = c->params[2];
  for (int d = 0; d < nd; d++) {
    J.in[d] = ds_rdata(c->args[d]);
    J.out[d] = ds_rdata(c->args[nd + d]);
  }
  J.pout = ds_rdata(c->args[2 * nd]);
  return jacobi_project(c, &J);
}

int smoke_jacobi_adj(const ds_call *c, int nd) {
  proj J = {0};
  J.g = grid_make(nd, (int)c->params[0], c->args[0]);
  J.K = (int)c->params[1];
  J.h = c->params[2];
  int any = 0;
  for (int d = 0; d < nd; d++) {
    J.in[d] = ds_rgrad(c->args[nd + d]);
    J.out[d] = ds_rgrad(c->args[d]);
    any |= J.out[d] != NULL;
  }
  if (!any) return DS_OK;
  J.extra = ds_rgrad(c->args[2 * nd]);
  J.acc = 1;
  return jacobi_project(c, &J);
}

/* ---- conjugate gradients ----------------------------------------------------- */
typedef struct cgst {
  const grid *g;
  int phase;
  ds_real *x, *r, *z, *d, *q;
  const ds_real *b, *dinv, *zero;
  ds_real alpha, beta;
  double *part; /* 3 partial sums per block */
  int64_t grain;
} cgst;

/* Dot products in 8 interleaved double partial sums, combined in a fixed order:
 * vectorisable, and the same bits for any thread count. */
#define DOT8(EXPR, I0, I1, OUT)                                              \
  do {                                                                      \
    double acc_[8] = {0, 0, 0, 0, 0, 0};                              \
    int64_t i_ = (I0);                                                      \
    for (; i_ + 8 <= (I1); i_ += 8)                                         \
      for (int u_ = 0; u_ < 8; u_++) {                                      \
        int64_t i = i_ + u_;                                                \
        acc_[u_] += (EXPR);                                                 \
      }                                                                     \
    for (int u_ = 0; i_ < (I1); i_++, u_++) {                               \
      int64_t i = i_;                                                       \
      acc_[u_] += (EXPR);                                                   \
    }                                                                       \
    OUT = ((acc_[0] + acc_[1]) + (acc_[2] + acc_[3])) + ((acc_[4] + acc_[5]) + (acc_[6] + acc_[7])); \
  } while (0)

SMOKE_CLONES static void cg_block(cgst *S, int64_t blk) {
  const grid *g = S->g;
  const int64_t n = g->len;
  int64_t l0 = blk * S->grain, l1 = l0 + S->grain < g->lines ? l0 + S->grain : g->lines;
  int64_t i0 = l0 * n, i1 = l1 * n;
  double s0 = 0, s1 = 0, s2 = 0;
  ds_real *restrict x = S->x, *restrict r = S->r, *restrict z = S->z, *restrict d = S->d, *restrict q = S->q;
  const ds_real *restrict dinv = S->dinv, *restrict b = S->b;
  const ds_real alpha = S->alpha, beta = S->beta;
  switch (S->phase) {
    case 0: /* r = b - A x, z = M^-1 r, d = z; sums r.z, r.r, b.b */
      op_lap_lines(g, x, q, l0, l1, S->zero);
      for (int64_t i = i0; i < i1; i++) {
        r[i] = b[i] - q[i];
        z[i] = dinv ? r[i] * dinv[i] : r[i];
        d[i] = z[i];
      }
      DOT8((double)r[i] * z[i], i0, i1, s0);
      DOT8((double)r[i] * r[i], i0, i1, s1);
      DOT8((double)b[i] * b[i], i0, i1, s2);
      break;
    case 1: /* q = A d; sum d.q */
      op_lap_lines(g, d, q, l0, l1, S->zero);
      DOT8((double)d[i] * q[i], i0, i1, s0);
      break;
    case 2: /* x += a d, r -= a q, z = M^-1 r; sums r.z, r.r */
      for (int64_t i = i0; i < i1; i++) {
        x[i] += alpha * d[i];
        r[i] -= alpha * q[i];
      }
      if (dinv) {
        for (int64_t i = i0; i < i1; i++) z[i] = r[i] * dinv[i];
        DOT8((double)r[i] * z[i], i0, i1, s0);
      } else {
        DOT8((double)r[i] * r[i], i0, i1, s0);
      }
      DOT8((double)r[i] * r[i], i0, i1, s1);
      break;
    case 3: /* d = z + beta d */
      if (dinv)
        for (int64_t i = i0; i < i1; i++) d[i] = z[i] + beta * d[i];
      else
        for (int64_t i = i0; i < i1; i++) d[i] = r[i] + beta * d[i];
      break;
  }
  S->part[3 * blk] = s0, S->part[3 * blk + 1] = s1, S->part[3 * blk + 2] = s2;
}

static void cg_fn(int64_t b0, int64_t b1, void *u) {
  for (int64_t blk = b0; blk < b1; blk++) cg_block(u, blk);
}

/* Sums the per-block partials in block order: the same bits for any thread count. */
static void cg_run(const ds_call *c, cgst *S, int phase, int64_t nblocks, double out[3]) {
  S->phase = phase;
  c->host->parallel_for(c->ctx, nblocks, 1, cg_fn, S);
  out[0] = out[1] = out[2] = 0;
  for (int64_t b = 0; b < nblocks; b++)
    for (int k = 0; k < 3; k++) out[k] += S->part[3 * b + k];
}

/* Solves A x = b (b in the range of A) from the x given; returns iterations
 * used, or -1 when max_iters were not enough. *relres gets |r| / |b|. */
static int cg_solve(const ds_call *c, const grid *g, const ds_real *b, ds_real *x, double tol, double floor_abs,
                    int max_iters, double *relres) {
  size_t bytes = (size_t)g->cells * sizeof(ds_real);
  int64_t grain = line_grain(g);
  /* Each CG iteration is three passes with a reduction after each; below ~64k
   * cells a pass costs less than waking the other threads, so small grids run
   * in one block (the partition depends only on the grid, never on threads). */
  if (grain * g->len < 65536) grain = (65536 + g->len - 1) / g->len;
  int64_t nblocks = (g->lines + grain - 1) / grain;
  ds_real *buf = c->host->alloc(4 * bytes + (size_t)g->len * sizeof(ds_real));
  double *part = c->host->alloc((size_t)nblocks * 3 * sizeof(double));
  ds_real *dinv = NULL;
  if (g->bc == BC_WALL) dinv = c->host->alloc(bytes);
  if (!buf || !part || (g->bc == BC_WALL && !dinv)) {
    c->host->free(buf), c->host->free(part), c->host->free(dinv);
    return -2;
  }
  cgst S = {0};
  S.g = g;
  S.x = x, S.b = b;
  S.r = buf, S.z = buf + g->cells, S.d = buf + 2 * g->cells, S.q = buf + 3 * g->cells;
  ds_real *zero = buf + 4 * g->cells;
  memset(zero, 0, (size_t)g->len * sizeof(ds_real));
  S.zero = zero;
  S.part = part;
  S.grain = grain;
  if (dinv) {
    for (int64_t l = 0; l < g->lines; l++) op_lap_diag_line(g, l, dinv + l * g->len);
    for (int64_t i = 0; i < g->cells; i++) dinv[i] = 1 / dinv[i];
    /* a periodic grid has the constant diagonal 1: no preconditioner needed */
  }
  S.dinv = dinv;
  double s[3];
  cg_run(c, &S, 0, nblocks, s);
  double rz = s[0], rr = s[1], bb = s[2];
  int it = 0, ok = 0;
  /* |r| <= tol |b|, but never below the round-off of b itself: a right-hand
   * side that is already ~0 (a projected field projected again) is done. */
  double thresh = tol * tol * bb;
  if (thresh < floor_abs * floor_abs) thresh = floor_abs * floor_abs;
  if (bb == 0) {
    memset(x, 0, bytes);
    rr = 0;
  }
  for (;;) {
    if (rr <= thresh) {
      ok = 1;
      break;
    }
    if (it >= max_iters) break;
    cg_run(c, &S, 1, nblocks, s);
    if (!(s[0] > 0)) break; /* breakdown: d in the null space (only at round-off level) */
    S.alpha = (ds_real)(rz / s[0]);
    cg_run(c, &S, 2, nblocks, s);
    S.beta = (ds_real)(s[0] / rz);
    rz = s[0], rr = s[1];
    it++;
    if (rr <= thresh) {
      ok = 1;
      break;
    }
    cg_run(c, &S, 3, nblocks, s);
  }
  if (!ok && rr <= 1e-30 * (bb > 0 ? bb : 1)) ok = 1;
  *relres = bb > 0 ? sqrt(rr / bb) : 0;
  c->host->free(buf), c->host->free(part), c->host->free(dinv);
  return ok ? it : -1;
}

typedef struct cgproj {
  grid g;
  double h, tol;
  int max_iters;
  const ds_real *in[3], *extra, *x0;
  ds_real *out[3], *pout;
  int acc, adjoint;
} cgproj;

/* Process-wide CG counters, read by smoke.cg_stats (scripts report average
 * iterations). A context is used by one thread at a time, so plain statics do:
 * {fwd solves, fwd iterations, adj solves, adj iterations, last fwd iterations,
 *  last adj iterations, last relative residual, unconverged solves}. */
static double cg_counters[8];

void smoke_cg_stats(double out[8], int reset) {
  memcpy(out, cg_counters, sizeof cg_counters);
  if (reset) memset(cg_counters, 0, sizeof cg_counters);
}

static int cg_project(const ds_call *c, const cgproj *P, const char *what) {
  const grid *g = &P->g;
  size_t bytes = (size_t)g->cells * sizeof(ds_real);
  ds_real *rhs = c->host->alloc(bytes), *x = c->host->alloc(bytes);
  ds_real *zero = c->host->alloc((size_t)g->len * sizeof(ds_real));
  if (!rhs || !x || !zero) {
    c->host->free(rhs), c->host->free(x), c->host->free(zero);
    return c->host->error(c, "out of memory for scratch");
  }
  memset(zero, 0, (size_t)g->len * sizeof(ds_real));
  pass Q = {0};
  Q.h = P->h;
  Q.zero = zero;
  for (int d = 0; d < g->nd; d++) Q.v[d] = P->in[d];
  Q.op = P_DIV, Q.extra = P->extra, Q.out = rhs;
  run_pass(c, g, &Q);
  /* only the adjoint's pressure-gradient term can leave the range of A */
  if (P->extra) op_null_project(g, rhs);
  if (P->x0) memcpy(x, P->x0, bytes);
  else memset(x, 0, bytes);
  double relres = 0;
  /* the round-off level of rhs = D in - h^2 extra */
  double nin = 0, nex = 0;
  for (int d = 0; d < g->nd; d++)
    for (int64_t i = 0; i < g->cells; i++) nin += (double)P->in[d][i] * P->in[d][i];
  if (P->extra)
    for (int64_t i = 0; i < g->cells; i++) nex += (double)P->extra[i] * P->extra[i];
  const double eps = sizeof(ds_real) == 8 ? 2.2e-16 : 1.2e-7;
  double floor_abs = 8 * eps * (P->h * sqrt(nin) + P->h * P->h * sqrt(nex));
  int it = cg_solve(c, g, rhs, x, P->tol, floor_abs, P->max_iters, &relres);
  if (it == -2) {
    c->host->free(rhs), c->host->free(x), c->host->free(zero);
    return c->host->error(c, "out of memory for CG scratch");
  }
  if (it < 0)
    c->host->log(c->ctx, DS_LOG_WARN, "%s %s: CG stopped after %d iterations at relative residual %.3g (tol %.3g)",
                 c->kernel_name, what, P->max_iters, relres, P->tol);
  int used = it < 0 ? P->max_iters : it;
  cg_counters[P->adjoint ? 2 : 0] += 1;
  cg_counters[P->adjoint ? 3 : 1] += used;
  cg_counters[P->adjoint ? 5 : 4] = used;
  cg_counters[6] = relres;
  if (it < 0) cg_counters[7] += 1;
  op_null_project(g, x);
  Q.op = P_GRADSUB, Q.p = x, Q.acc = P->acc;
  for (int d = 0; d < g->nd; d++) Q.outs[d] = P->out[d];
  run_pass(c, g, &Q);
  if (P->pout) memcpy(P->pout, x, bytes);
  c->host->free(rhs), c->host->free(x), c->host->free(zero);
  return DS_OK;
}

/* args: v_0..v_{nd-1} (in), p_guess (nodiff), v'_0.. (out), p (out)
 * params: bc, h, tol, max_iters */
int smoke_cg_fwd(const ds_call *c, int nd) {
  cgproj P = {0};
  P.g = grid_make(nd, (int)c->params[0], c->args[0]);
  P.h = c->params[1], P.tol = c->params[2], P.max_iters = (int)c->params[3];
  for (int d = 0; d < nd; d++) {
    P.in[d] = ds_rdata(c->args[d]);
    P.out[d] = ds_rdata(c->args[nd + 1 + d]);
  }
  P.x0 = ds_rdata(c->args[nd]);
  P.pout = ds_rdata(c->args[2 * nd + 1]);
  return cg_project(c, &P, "forward");
}

int smoke_cg_adj(const ds_call *c, int nd) {
  cgproj P = {0};
  P.g = grid_make(nd, (int)c->params[0], c->args[0]);
  P.h = c->params[1], P.tol = c->params[2], P.max_iters = (int)c->params[3];
  int any = 0;
  for (int d = 0; d < nd; d++) {
    P.in[d] = ds_rgrad(c->args[nd + 1 + d]);
    P.out[d] = ds_rgrad(c->args[d]);
    any |= P.out[d] != NULL;
  }
  if (!any) return DS_OK;
  P.extra = ds_rgrad(c->args[2 * nd + 1]);
  P.acc = 1;
  P.adjoint = 1;
  return cg_project(c, &P, "adjoint");
}
