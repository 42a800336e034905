/* Pressure projection by preconditioned conjugate gradients to a relative
 * tolerance, with the implicit-function-theorem adjoint.
 *
 *   p = A^+ (D v),   v' = v - G p     (A = D G, the consistent Laplacian)
 *
 * A is symmetric, so (see project_jacobi.c) the adjoint is the same projection
 * of the output gradient: one more CG solve with A, never unrolled iterations.
 *
 * The solve is three separate pieces, so that the core's linear-operator CG
 * (host->solve, diffsim/solve.h) can replace the loop in a few lines:
 *   lap_apply   y = A x            (the operator, on the context's threads)
 *   lap_diag    diag(A)            (the Jacobi preconditioner; periodic grids
 *                                   have the constant diagonal 1 and use none)
 *   smoke_pcg   the CG loop over any operator given as apply(user, x, y) + diag
 * Its dot products sum fixed blocks of `block` elements in block order, so the
 * result is bitwise the same for any thread count. */
#include "smoke.h"

/* ---- the operator ----------------------------------------------------------- */
typedef struct lap_op {
  const ds_call *c;
  const grid *g;
  const ds_real *zero; /* a zero line: the outside of a wall */
  int64_t grain;       /* lines per parallel block */
} lap_op;

typedef struct lap_run {
  const lap_op *op;
  const ds_real *x;
  ds_real *y;
} lap_run;

static void lap_fn(int64_t l0, int64_t l1, void *u) {
  const lap_run *R = u;
  op_lap_lines(R->op->g, R->x, R->y, l0, l1, R->op->zero);
}

/* y = A x */
static void lap_apply(void *user, const ds_real *x, ds_real *y) {
  const lap_op *op = user;
  lap_run R = {op, x, y};
  op->c->host->parallel_for(op->c->ctx, op->g->lines, op->grain, lap_fn, &R);
}

/* diag(A), or 0 when no preconditioner is needed (periodic: the diagonal is 1). */
static int lap_diag(void *user, ds_real *d) {
  const lap_op *op = user;
  if (op->g->bc != BC_WALL) return 0;
  for (int64_t l = 0; l < op->g->lines; l++) op_lap_diag_line(op->g, l, d + l * op->g->len);
  return 1;
}

/* ---- the CG loop, operator-agnostic -------------------------------------------- */
/* What a generic linear-operator CG takes: this is the signature the core's
 * host->solve->cg will be called with in place of smoke_pcg. */
typedef struct smoke_linop {
  int64_t n;                                               /* unknowns */
  int64_t block;                                           /* elements per reduction block */
  void (*apply)(void *user, const ds_real *x, ds_real *y); /* y = A x */
  int (*diag)(void *user, ds_real *d);                     /* diag(A); returns 0: no preconditioner */
  void *user;
} smoke_linop;

typedef struct cgst {
  int64_t n, block;
  int phase;
  ds_real *x, *r, *z, *d, *q;
  const ds_real *b, *dinv;
  ds_real alpha, beta;
  double *part; /* 3 partial sums per block */
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
  int64_t i0 = blk * S->block, i1 = i0 + S->block < S->n ? i0 + S->block : S->n;
  double s0 = 0, s1 = 0, s2 = 0;
  ds_real *restrict x = S->x, *restrict r = S->r, *restrict z = S->z, *restrict d = S->d, *restrict q = S->q;
  const ds_real *restrict dinv = S->dinv, *restrict b = S->b;
  const ds_real alpha = S->alpha, beta = S->beta;
  switch (S->phase) {
    case 0: /* (q = A x given) r = b - q, z = M^-1 r, d = z; sums r.z, r.r, b.b */
      for (int64_t i = i0; i < i1; i++) {
        r[i] = b[i] - q[i];
        z[i] = dinv ? r[i] * dinv[i] : r[i];
        d[i] = z[i];
      }
      DOT8((double)r[i] * z[i], i0, i1, s0);
      DOT8((double)r[i] * r[i], i0, i1, s1);
      DOT8((double)b[i] * b[i], i0, i1, s2);
      break;
    case 1: /* (q = A d given) sum d.q */
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

/* Runs one vector phase and sums the per-block partials in block order. */
static void cg_phase(const ds_call *c, cgst *S, int phase, int64_t nblocks, double out[3]) {
  S->phase = phase;
  c->host->parallel_for(c->ctx, nblocks, 1, cg_fn, S);
  out[0] = out[1] = out[2] = 0;
  for (int64_t b = 0; b < nblocks; b++)
    for (int k = 0; k < 3; k++) out[k] += S->part[3 * b + k];
}

/* Solves A x = b (b in the range of A) from the x given, Jacobi-preconditioned
 * when A->diag gives a diagonal. Stops at |r| <= max(tol |b|, atol). Returns
 * the iterations used, -1 when max_iters were not enough, -2 when out of
 * memory. *relres gets |r| / |b|. */
static int smoke_pcg(const ds_call *c, const smoke_linop *A, const ds_real *b, ds_real *x, double tol, double atol,
                     int max_iters, double *relres) {
  const int64_t n = A->n;
  const int64_t nblocks = (n + A->block - 1) / A->block;
  size_t bytes = (size_t)n * sizeof(ds_real);
  ds_real *buf = c->host->scratch(c, 5 * bytes);
  double *part = c->host->scratch(c, (size_t)nblocks * 3 * sizeof(double));
  if (!buf || !part) return -2;
  cgst S = {0};
  S.n = n, S.block = A->block;
  S.x = x, S.b = b;
  S.r = buf, S.z = buf + n, S.d = buf + 2 * n, S.q = buf + 3 * n;
  S.part = part;
  ds_real *dinv = buf + 4 * n;
  if (A->diag && A->diag(A->user, dinv)) {
    for (int64_t i = 0; i < n; i++) dinv[i] = 1 / dinv[i];
    S.dinv = dinv;
  }
  double s[3];
  A->apply(A->user, x, S.q);
  cg_phase(c, &S, 0, nblocks, s);
  double rz = s[0], rr = s[1], bb = s[2];
  int it = 0, ok = 0;
  /* |r| <= tol |b|, but never below the round-off of b itself: a right-hand
   * side that is already ~0 (a projected field projected again) is done. */
  double thresh = tol * tol * bb;
  if (thresh < atol * atol) thresh = atol * atol;
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
    A->apply(A->user, S.d, S.q);
    cg_phase(c, &S, 1, nblocks, s);
    if (!(s[0] > 0)) break; /* breakdown: d in the null space (only at round-off level) */
    S.alpha = (ds_real)(rz / s[0]);
    cg_phase(c, &S, 2, nblocks, s);
    S.beta = (ds_real)(s[0] / rz);
    rz = s[0], rr = s[1];
    it++;
    if (rr <= thresh) {
      ok = 1;
      break;
    }
    cg_phase(c, &S, 3, nblocks, s);
  }
  if (!ok && rr <= 1e-30 * (bb > 0 ? bb : 1)) ok = 1;
  *relres = bb > 0 ? sqrt(rr / bb) : 0;
  return ok ? it : -1;
}

/* ---- the projection ------------------------------------------------------------ */
typedef struct cgproj {
  grid g;
  double h, tol;
  int max_iters;
  const ds_real *in[3], *extra, *x0;
  ds_real *out[3], *pout;
  int acc, adjoint;
} cgproj;

/* Solves A p = rhs for the projection. THE HOOK: with the core solver merged,
 * the smoke_pcg call below becomes host->solve->cg(...) over the same
 * apply / diag / tolerances; nothing else here changes. */
static int pressure_solve(const ds_call *c, const grid *g, const ds_real *rhs, ds_real *x, double tol, double atol,
                          int max_iters, double *relres) {
  /* Each CG iteration is three passes with a reduction after each; below ~64k
   * cells a pass costs less than waking the other threads, so small grids run
   * in one block (the partition depends only on the grid, never on threads). */
  int64_t grain = smoke_line_grain(g);
  if (grain * g->len < 65536) grain = (65536 + g->len - 1) / g->len;
  lap_op op = {c, g, smoke_zero_line(c, g), grain};
  if (!op.zero) return -2;
  smoke_linop A = {g->cells, grain * g->len, lap_apply, lap_diag, &op};
  return smoke_pcg(c, &A, rhs, x, tol, atol, max_iters, relres);
}

static int cg_project(const ds_call *c, const cgproj *P, const char *what) {
  const grid *g = &P->g;
  size_t bytes = (size_t)g->cells * sizeof(ds_real);
  ds_real *rhs = c->host->scratch(c, bytes), *x = c->host->scratch(c, bytes);
  ds_real *zero = smoke_zero_line(c, g);
  if (!rhs || !x || !zero) return DS_ERR_NOMEM; /* host->scratch set the error */
  pass Q = {0};
  Q.h = P->h;
  Q.zero = zero;
  for (int d = 0; d < g->nd; d++) Q.v[d] = P->in[d];
  Q.op = P_DIV, Q.extra = P->extra, Q.out = rhs;
  smoke_run_pass(c, g, &Q);
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
  int it = pressure_solve(c, g, rhs, x, P->tol, floor_abs, P->max_iters, &relres);
  if (it == -2) return DS_ERR_NOMEM; /* host->scratch set the error */
  if (it < 0)
    c->host->log(c->ctx, DS_LOG_WARN, "%s %s: CG stopped after %d iterations at relative residual %.3g (tol %.3g)",
                 c->kernel_name, what, P->max_iters, relres, P->tol);
  int used = it < 0 ? P->max_iters : it;
  double *st = ((smoke_state *)c->state)->cg; /* this context's counters */
  st[P->adjoint ? 2 : 0] += 1;
  st[P->adjoint ? 3 : 1] += used;
  st[P->adjoint ? 5 : 4] = used;
  st[6] = relres;
  if (it < 0) st[7] += 1;
  op_null_project(g, x);
  Q.op = P_GRADSUB, Q.p = x, Q.acc = P->acc;
  for (int d = 0; d < g->nd; d++) Q.outs[d] = P->out[d];
  smoke_run_pass(c, g, &Q);
  if (P->pout) memcpy(P->pout, x, bytes);
  return DS_OK;
}

/* ---- kernel: project_cg, 2D or 3D ---------------------------------------------
 * params: bc, h, tol, max_iters. */
#define PROJECT_CG_PARAMS(P) P(bc) P(h) P(tol) P(max_iters)
DS_DECLARE_PARAMS(project_cg, PROJECT_CG_PARAMS)
/* args: p_guess (warm start), p (out), v (list of 2 or 3 components, in), v_out (list, out) */
#define PROJECT_CG_ARGS(A)                                                                                    \
  A(p_guess, DS_NODIFF, DS_REAL, -1, DS_GUESS) A(p, DS_OUT, DS_REAL, -1, 0) A(v, DS_IN, DS_REAL, -1, DS_LIST)  \
  A(v_out, DS_OUT, DS_REAL, -1, DS_LIST)
DS_DECLARE_ARGS(project_cg, PROJECT_CG_ARGS)
#define VIN(c, d) ds_list_of(c, DS_SLOT(project_cg, v), d)
#define VOUT(c, d) ds_list_of(c, DS_SLOT(project_cg, v_out), d)


static int project_cg_check(const ds_call *c) {
  const project_cg_params *p = DS_PARAMS(c, project_cg);
  int rc = smoke_check_list(c);
  if (!rc) rc = smoke_check_grid(c, c->list_len, SMOKE_MIN_CELLS);
  if (!rc) rc = smoke_check_bc(c, p->bc);
  if (!rc) rc = smoke_check_h(c, p->h);
  if (!rc && !(p->tol > 0 && p->tol < 1))
    rc = c->host->error(c, "param 'tol' (relative residual) must be in (0, 1), got %g", p->tol);
  if (!rc) rc = smoke_check_int(c, "max_iters", p->max_iters, 1, 1e7);
  return rc;
}

static void cgproj_init(cgproj *P, const ds_call *c) {
  const project_cg_params *p = DS_PARAMS(c, project_cg);
  memset(P, 0, sizeof *P);
  P->g = grid_make(c->list_len, (int)p->bc, c->args[0]);
  P->h = p->h, P->tol = p->tol, P->max_iters = (int)p->max_iters;
}

static int project_cg_forward(const ds_call *c) {
  const int nd = c->list_len;
  cgproj P;
  cgproj_init(&P, c);
  for (int d = 0; d < nd; d++) {
    P.in[d] = ds_rdata(VIN(c, d));
    P.out[d] = ds_rdata(VOUT(c, d));
  }
  P.x0 = ds_rdata(DS_ARGV(c, project_cg)->p_guess);
  P.pout = ds_rdata(DS_ARGV(c, project_cg)->p);
  return cg_project(c, &P, "forward");
}

/* The implicit adjoint: gv += gv' - G A^+ (D gv' - h^2 gp), one CG solve. */
static int project_cg_adjoint(const ds_call *c) {
  const int nd = c->list_len;
  cgproj P;
  cgproj_init(&P, c);
  int any = 0;
  for (int d = 0; d < nd; d++) {
    P.in[d] = ds_rgrad(VOUT(c, d));
    any |= (P.out[d] = ds_rgrad(VIN(c, d))) != NULL;
  }
  if (!any) return DS_OK;
  P.extra = ds_rgrad(DS_ARGV(c, project_cg)->p);
  P.acc = 1;
  P.adjoint = 1;
  return cg_project(c, &P, "adjoint");
}

/* ---- cg_stats: this context's CG counters (not differentiable) ---------------- */
#define CG_STATS_ARGS(A) A(stats, DS_OUT, DS_REAL, 1, 0)
#define CG_STATS_PARAMS(P) P(reset)
DS_DECLARE_ARGS(cg_stats, CG_STATS_ARGS)
DS_DECLARE_PARAMS(cg_stats, CG_STATS_PARAMS)

static int cg_stats_forward(const ds_call *c) {
  double *st = ((smoke_state *)c->state)->cg;
  const ds_tensor *t = DS_ARGV(c, cg_stats)->stats;
  ds_real *o = ds_rdata(t);
  int64_t n = t->count < 8 ? t->count : 8;
  for (int64_t i = 0; i < n; i++) o[i] = (ds_real)st[i];
  if (DS_PARAMS(c, cg_stats)->reset != 0) memset(st, 0, 8 * sizeof(double));
  return DS_OK;
}

int smoke_register_cg(const ds_host_api *host, ds_registrar *reg) {
  const ds_kernel_desc k[] = {
      {"project_cg", project_cg_args, project_cg_param_names, project_cg_check, {project_cg_forward},
       {project_cg_adjoint}},
      {"cg_stats", cg_stats_args, cg_stats_param_names, NULL, {cg_stats_forward}, {NULL}},
  };
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
    int rc = host->register_kernel(reg, &k[i]);
    if (rc) return rc;
  }
  return DS_OK;
}
