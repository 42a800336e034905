/* fem: the incremental potential, its gradient, Hessian and pullback
 * (system.h). Element loops run in parallel blocks that each write their own
 * rows of a per-element buffer; the scatter into vertices is serial in element
 * order, so results do not depend on the thread count. */
#include "system.h"

#include <math.h>
#include <string.h>

enum { GRAIN = 256 };

/* ---- per-vertex terms (inertia, gravity, contact, friction, mass damping) ---- */
/* q = y(3) x(3) v(3) m g(3): the 13 inputs of one vertex's gradient. */
enum { QY = 0, QX = 3, QV = 6, QM = 9, QG = 10, NQ = 13 };

static void vert_grad_c(const fem_sys *S, const fem_cplx *q, fem_cplx *g) {
  const fem_cplx m = q[QM];
  fem_cplx cg[3] = {0, 0, 0};
  if (S->ground) {
    const fem_cplx pen = S->ground_y - q[QY + 1];
    if (creal(pen) > 0) cg[1] = -S->kc * pen * pen;
  }
  if (S->mode != FEM_IMPLICIT) {
    for (int d = 0; d < 3; d++) g[d] = -m * q[QG + d] + cg[d];
    return;
  }
  const double h = S->h, h2 = h * h;
  fem_cplx d3[3];
  for (int d = 0; d < 3; d++) d3[d] = q[QY + d] - q[QX + d];
  fem_cplx fr[3] = {0, 0, 0};
  if (S->ground && S->mu > 0) {
    const fem_cplx penx = S->ground_y - q[QX + 1];
    if (creal(penx) > 0) {
      const fem_cplx lamn = S->kc * penx * penx, s = csqrt(d3[0] * d3[0] + d3[2] * d3[2]);
      const double eps = S->eps_v * h;
      const fem_cplx f1_s = creal(s) < eps ? 2 / eps - s / (eps * eps) : 1 / s;
      fr[0] = S->mu * lamn * f1_s * d3[0];
      fr[2] = S->mu * lamn * f1_s * d3[2];
    }
  }
  for (int d = 0; d < 3; d++)
    g[d] = m * (d3[d] - h * q[QV + d]) + h2 * (-m * q[QG + d] + cg[d] + fr[d]) + S->alpha * h * m * d3[d];
}

static double vert_energy(const fem_sys *S, const double *q) {
  const double m = q[QM];
  double e = 0;
  if (S->ground) {
    const double pen = S->ground_y - q[QY + 1];
    if (pen > 0) e += S->kc / 3 * pen * pen * pen;
  }
  for (int d = 0; d < 3; d++) e -= m * q[QG + d] * q[QY + d];
  if (S->mode != FEM_IMPLICIT) return e;
  const double h = S->h, h2 = h * h;
  double d3[3], in = 0, dd = 0;
  for (int d = 0; d < 3; d++) {
    d3[d] = q[QY + d] - q[QX + d];
    in += (d3[d] - h * q[QV + d]) * (d3[d] - h * q[QV + d]);
    dd += d3[d] * d3[d];
  }
  double fr = 0;
  if (S->ground && S->mu > 0) {
    const double penx = S->ground_y - q[QX + 1];
    if (penx > 0) {
      const double lamn = S->kc * penx * penx, s = sqrt(d3[0] * d3[0] + d3[2] * d3[2]), eps = S->eps_v * h;
      fr = S->mu * lamn * (s < eps ? s * s / eps - s * s * s / (3 * eps * eps) : s - eps / 3);
    }
  }
  return 0.5 * m * in + h2 * (e + fr) + 0.5 * S->alpha * h * m * dd;
}

static void vert_q(const fem_sys *S, const double *y, int64_t i, double *q) {
  for (int d = 0; d < 3; d++) {
    q[QY + d] = y[3 * i + d];
    q[QX + d] = S->x0[3 * i + d];
    q[QV + d] = S->v0 ? S->v0[3 * i + d] : 0;
    q[QG + d] = S->g[d];
  }
  q[QM] = S->mass[i];
}

/* J (3 x NQ): d g / d q by the complex step; cols limits to the first `cols` inputs. */
static void vert_jac(const fem_sys *S, const double *q, int cols, double *J) {
  fem_cplx qc[NQ], g[3];
  for (int j = 0; j < NQ; j++) qc[j] = q[j];
  for (int j = 0; j < cols; j++) {
    qc[j] = q[j] + I * 1e-30;
    vert_grad_c(S, qc, g);
    qc[j] = q[j];
    for (int r = 0; r < 3; r++) J[r * NQ + j] = cimag(g[r]) / 1e-30;
  }
}

/* ---- element helpers ------------------------------------------------------- */
typedef struct elem_io {
  double x[FEM_MAX_DOF], X[FEM_MAX_DOF], xo[FEM_MAX_DOF], p[FEM_MAX_PARAM];
  int32_t idx[FEM_MAX_K];
} elem_io;

static void gather(const fem_sys *S, const fem_set *st, int64_t e, const double *y, elem_io *io) {
  const int k = st->T->k, np = st->T->nparam;
  for (int a = 0; a < k; a++) {
    const int32_t v = st->conn[e * k + a];
    io->idx[a] = v;
    for (int d = 0; d < 3; d++) {
      io->x[3 * a + d] = y ? y[3 * (int64_t)v + d] : 0;
      io->X[3 * a + d] = S->X[3 * (int64_t)v + d];
      io->xo[3 * a + d] = S->x0[3 * (int64_t)v + d];
    }
  }
  for (int j = 0; j < np; j++) io->p[j] = st->p[j * st->m + e];
}

static double elem_scale(const fem_sys *S) { return S->mode == FEM_IMPLICIT ? S->h * S->h : 1.0; }
static int has_damping(const fem_sys *S, const fem_set *st) {
  return S->mode == FEM_IMPLICIT && S->beta > 0 && st->T->rest_stiffness;
}

/* ---- parallel element loops --------------------------------------------------- */
typedef struct job {
  const fem_sys *S;
  const fem_set *st;
  const double *y;
  const ds_real *w;
  double *out;     /* per element: energy (1), gradient (3k), or pullback rows */
  ds_real *vals;   /* Hessian triplet values */
  int project;
  int what;
  int want_rest, want_param; /* J_PULL: which Jacobians to form */
} job;
enum { J_ENERGY, J_GRAD, J_HESS, J_PULL };
/* pullback row per element: ybar (3k), rest (3k), params (nparam) */
static int pull_width(const fem_elem_type *T) { return 6 * T->k + T->nparam; }

static void elem_range(int64_t b, int64_t end, void *user) {
  const job *J = user;
  const fem_sys *S = J->S;
  const fem_set *st = J->st;
  const fem_elem_type *T = st->T, *L = T->rest_stiffness;
  const int n = 3 * T->k, np = T->nparam;
  const double sc = elem_scale(S), bh = S->beta * S->h;
  const int damp = has_damping(S, st);
  elem_io io;
  double H[FEM_MAX_DOF * FEM_MAX_DOF], K[FEM_MAX_DOF * FEM_MAX_DOF], u[FEM_MAX_DOF], xu[FEM_MAX_DOF];
  double Jp[FEM_MAX_DOF * FEM_MAX_PARAM], JX[FEM_MAX_DOF * FEM_MAX_DOF];
  for (int64_t e = b; e < end; e++) {
    gather(S, st, e, J->y, &io);
    if (damp)
      for (int i = 0; i < n; i++) u[i] = io.x[i] - io.xo[i], xu[i] = io.X[i] + u[i];
    if (J->what == J_ENERGY) {
      double E = sc * T->energy(io.x, io.X, io.p);
      if (damp) { /* beta h/2 u^T K0 u = beta h (psi_L(X+u) - psi_L(X) - g_L(X).u) */
        double g0[FEM_MAX_DOF], s = 0;
        fem_elem_gradient(L, io.X, io.X, io.p, g0);
        for (int i = 0; i < n; i++) s += g0[i] * u[i];
        E += bh * (L->energy(xu, io.X, io.p) - L->energy(io.X, io.X, io.p) - s);
      }
      J->out[e] = E;
    } else if (J->what == J_GRAD) {
      double *g = J->out + e * n, g1[FEM_MAX_DOF], g0[FEM_MAX_DOF];
      fem_elem_gradient(T, io.x, io.X, io.p, g);
      for (int i = 0; i < n; i++) g[i] *= sc;
      if (damp) {
        fem_elem_gradient(L, xu, io.X, io.p, g1);
        fem_elem_gradient(L, io.X, io.X, io.p, g0);
        for (int i = 0; i < n; i++) g[i] += bh * (g1[i] - g0[i]);
      }
    } else if (J->what == J_HESS) {
      fem_elem_hessian(T, io.x, io.X, io.p, J->project, H);
      if (damp) fem_elem_hessian(L, io.X, io.X, io.p, 0, K);
      ds_real *v = J->vals + st->trip0 + e * n * n;
      for (int r = 0; r < n; r++)
        for (int q = 0; q < n; q++) {
          const int pr = S->pinned[io.idx[r / 3]], pq = S->pinned[io.idx[q / 3]];
          double val = sc * H[r * n + q] + (damp ? bh * K[r * n + q] : 0);
          v[r * n + q] = (ds_real)(pr || pq ? 0 : val);
        }
    } else { /* J_PULL: w^T dG/d(y, X, p) for this element's terms */
      double w[FEM_MAX_DOF];
      for (int a = 0; a < T->k; a++)
        for (int d = 0; d < 3; d++) w[3 * a + d] = S->pinned[io.idx[a]] ? 0 : J->w[3 * (int64_t)io.idx[a] + d];
      double *o = J->out + e * pull_width(T);
      memset(o, 0, (size_t)pull_width(T) * sizeof *o);
      /* only the Jacobians someone wants: each costs 3k or nparam complex gradients */
      fem_elem_hessian(T, io.x, io.X, io.p, 0, H);
      if (J->want_rest) fem_elem_dgrad_drest(T, io.x, io.X, io.p, JX);
      if (J->want_param) fem_elem_dgrad_dparam(T, io.x, io.X, io.p, Jp);
      for (int r = 0; r < n; r++) {
        const double wr = sc * w[r];
        if (wr == 0) continue;
        for (int q = 0; q < n; q++) o[q] += wr * H[r * n + q];
        if (J->want_rest)
          for (int q = 0; q < n; q++) o[n + q] += wr * JX[r * n + q];
        if (J->want_param)
          for (int j = 0; j < np; j++) o[2 * n + j] += wr * Jp[r * np + j];
      }
      if (damp) { /* D = beta h (g_L(X+u, X) - g_L(X, X)), u = y - x0: dD/dy = beta h K0 (x0: minus, below) */
        double J1[FEM_MAX_DOF * FEM_MAX_DOF], J0[FEM_MAX_DOF * FEM_MAX_DOF];
        double P1[FEM_MAX_DOF * FEM_MAX_PARAM], P0[FEM_MAX_DOF * FEM_MAX_PARAM];
        fem_elem_hessian(L, io.X, io.X, io.p, 0, K);
        if (J->want_rest) {
          fem_elem_dgrad_drest(L, xu, io.X, io.p, J1);
          fem_elem_dgrad_drest(L, io.X, io.X, io.p, J0);
        }
        if (J->want_param) {
          fem_elem_dgrad_dparam(L, xu, io.X, io.p, P1);
          fem_elem_dgrad_dparam(L, io.X, io.X, io.p, P0);
        }
        for (int r = 0; r < n; r++) {
          const double wr = bh * w[r];
          if (wr == 0) continue;
          for (int q = 0; q < n; q++) o[q] += wr * K[r * n + q];
          if (J->want_rest)
            for (int q = 0; q < n; q++) o[n + q] += wr * (J1[r * n + q] - J0[r * n + q]);
          if (J->want_param)
            for (int j = 0; j < np; j++) o[2 * n + j] += wr * (P1[r * np + j] - P0[r * np + j]);
        }
      }
    }
  }
}

static void run(const fem_sys *S, job *J) {
  J->S = S;
  S->c->host->parallel_for(S->c->ctx, J->st->m, GRAIN, elem_range, J);
}

static double *buf(const fem_sys *S, size_t count) {
  return S->c->host->scratch(S->c, count * sizeof(double));
}

/* ---- energy, gradient, Hessian ------------------------------------------------ */
double fem_sys_energy(const fem_sys *S, const double *y) {
  double E = 0;
  for (int s = 0; s < S->nsets; s++) {
    const fem_set *st = &S->set[s];
    double *o = buf(S, (size_t)st->m);
    if (!o) return NAN;
    job J = {0};
    J.st = st, J.y = y, J.out = o, J.what = J_ENERGY;
    run(S, &J);
    for (int64_t e = 0; e < st->m; e++) E += o[e];
  }
  double q[NQ];
  for (int64_t i = 0; i < S->n; i++) {
    if (S->pinned[i]) continue;
    vert_q(S, y, i, q);
    E += vert_energy(S, q);
  }
  return E;
}

void fem_sys_gradient(const fem_sys *S, const double *y, ds_real *G) {
  double *acc = buf(S, (size_t)(3 * S->n));
  for (int64_t i = 0; i < 3 * S->n; i++) acc[i] = 0;
  for (int s = 0; s < S->nsets; s++) {
    const fem_set *st = &S->set[s];
    const int k = st->T->k, n = 3 * k;
    double *o = buf(S, (size_t)(st->m * n));
    job J = {0};
    J.st = st, J.y = y, J.out = o, J.what = J_GRAD;
    run(S, &J);
    for (int64_t e = 0; e < st->m; e++)
      for (int a = 0; a < k; a++)
        for (int d = 0; d < 3; d++) acc[3 * (int64_t)st->conn[e * k + a] + d] += o[e * n + 3 * a + d];
  }
  double q[NQ];
  fem_cplx qc[NQ], g[3];
  for (int64_t i = 0; i < S->n; i++) {
    if (S->pinned[i]) {
      G[3 * i] = G[3 * i + 1] = G[3 * i + 2] = 0;
      continue;
    }
    vert_q(S, y, i, q);
    for (int j = 0; j < NQ; j++) qc[j] = q[j];
    vert_grad_c(S, qc, g);
    for (int d = 0; d < 3; d++) G[3 * i + d] = (ds_real)(acc[3 * i + d] + creal(g[d]));
  }
}

void fem_sys_pattern(const fem_sys *S, int32_t *rows, int32_t *cols) {
  for (int s = 0; s < S->nsets; s++) {
    const fem_set *st = &S->set[s];
    const int k = st->T->k, n = 3 * k;
    for (int64_t e = 0; e < st->m; e++)
      for (int r = 0; r < n; r++)
        for (int q = 0; q < n; q++) {
          const int64_t t = st->trip0 + e * n * n + r * n + q;
          rows[t] = 3 * st->conn[e * k + r / 3] + r % 3;
          cols[t] = 3 * st->conn[e * k + q / 3] + q % 3;
        }
  }
  const int64_t t0 = S->ntrip - 9 * S->n;
  for (int64_t i = 0; i < S->n; i++)
    for (int r = 0; r < 3; r++)
      for (int q = 0; q < 3; q++) rows[t0 + 9 * i + 3 * r + q] = (int32_t)(3 * i + r), cols[t0 + 9 * i + 3 * r + q] = (int32_t)(3 * i + q);
}

void fem_sys_hessian(const fem_sys *S, const double *y, int project, ds_real *vals) {
  for (int s = 0; s < S->nsets; s++) {
    job J = {0};
    J.st = &S->set[s], J.y = y, J.vals = vals, J.project = project, J.what = J_HESS;
    run(S, &J);
  }
  const int64_t t0 = S->ntrip - 9 * S->n;
  double q[NQ], Jq[3 * NQ];
  for (int64_t i = 0; i < S->n; i++) {
    ds_real *v = vals + t0 + 9 * i;
    if (S->pinned[i]) {
      for (int r = 0; r < 9; r++) v[r] = (ds_real)(r % 4 == 0);
      continue;
    }
    vert_q(S, y, i, q);
    vert_jac(S, q, 3, Jq);
    double B[9];
    for (int r = 0; r < 3; r++)
      for (int c = 0; c < 3; c++) B[3 * r + c] = 0.5 * (Jq[r * NQ + c] + Jq[c * NQ + r]);
    if (project) fem_project_spd(3, B);
    for (int r = 0; r < 9; r++) v[r] = (ds_real)B[r];
  }
}

/* ---- pullback ------------------------------------------------------------------ */
int fem_sys_pullback(const fem_sys *S, const double *y, const ds_real *w, fem_pullback *out) {
  const int64_t n = S->n;
  /* mass bar per vertex: from the vertex terms, then to densities and rest positions */
  double *mbar = buf(S, (size_t)n);
  if (!mbar) return DS_ERR_NOMEM;
  double q[NQ], Jq[3 * NQ];
  for (int64_t i = 0; i < n; i++) {
    mbar[i] = 0;
    if (S->pinned[i]) continue;
    const double wi[3] = {w[3 * i], w[3 * i + 1], w[3 * i + 2]};
    if (wi[0] == 0 && wi[1] == 0 && wi[2] == 0) continue;
    vert_q(S, y, i, q);
    vert_jac(S, q, NQ, Jq);
    double zb[NQ] = {0};
    for (int r = 0; r < 3; r++)
      for (int j = 0; j < NQ; j++) zb[j] += wi[r] * Jq[r * NQ + j];
    for (int d = 0; d < 3; d++) {
      if (out->y) out->y[3 * i + d] += (ds_real)zb[QY + d];
      if (out->x0) out->x0[3 * i + d] += (ds_real)zb[QX + d];
      if (out->v0) out->v0[3 * i + d] += (ds_real)zb[QV + d];
      if (out->gravity) out->gravity[d] += zb[QG + d];
    }
    mbar[i] = zb[QM];
  }
  for (int s = 0; s < S->nsets; s++) {
    const fem_set *st = &S->set[s];
    const fem_elem_type *T = st->T;
    const int k = T->k, nd = 3 * k, np = T->nparam, pw = pull_width(T);
    const int damp = has_damping(S, st); /* its x0 partial is a second pass, below */
    double *o = buf(S, (size_t)(st->m * pw));
    if (!o) return DS_ERR_NOMEM;
    job J = {0};
    J.st = st, J.y = y, J.w = w, J.out = o, J.what = J_PULL;
    J.want_rest = out->rest != NULL, J.want_param = st->pgrad != NULL;
    run(S, &J);
    elem_io io;
    double gX[FEM_MAX_DOF];
    for (int64_t e = 0; e < st->m; e++) {
      const double *oe = o + e * pw;
      for (int a = 0; a < k; a++) {
        const int64_t v = st->conn[e * k + a];
        for (int d = 0; d < 3; d++) {
          if (out->y) out->y[3 * v + d] += (ds_real)oe[3 * a + d];
          if (out->rest) out->rest[3 * v + d] += (ds_real)oe[nd + 3 * a + d];
        }
      }
      if (st->pgrad)
        for (int j = 0; j < np; j++) st->pgrad[j * st->m + e] += (ds_real)oe[2 * nd + j];
      /* lumped mass: m_v += density * measure / k for each vertex v of the element */
      if (T->density_param >= 0) {
        double mb = 0;
        for (int a = 0; a < k; a++) mb += mbar[st->conn[e * k + a]];
        if (mb == 0) continue;
        gather(S, st, e, NULL, &io);
        const double meas = fem_elem_measure(T, io.X, out->rest ? gX : NULL);
        const double rho = io.p[T->density_param];
        if (st->pgrad) st->pgrad[T->density_param * st->m + e] += (ds_real)(mb * meas / k);
        if (out->rest)
          for (int a = 0; a < k; a++)
            for (int d = 0; d < 3; d++) out->rest[3 * (int64_t)io.idx[a] + d] += (ds_real)(mb * rho / k * gX[3 * a + d]);
      }
    }
    if (damp && out->x0) { /* x0 partial of beta h K0 (y - x0): -beta h K0 w, K0 symmetric */
      double K[FEM_MAX_DOF * FEM_MAX_DOF];
      const double bh = S->beta * S->h;
      for (int64_t e = 0; e < st->m; e++) {
        gather(S, st, e, y, &io);
        fem_elem_hessian(T->rest_stiffness, io.X, io.X, io.p, 0, K);
        for (int r = 0; r < nd; r++) {
          const int64_t vr = io.idx[r / 3];
          if (S->pinned[vr]) continue;
          const double wr = w[3 * vr + r % 3];
          for (int c2 = 0; c2 < nd; c2++) out->x0[3 * (int64_t)io.idx[c2 / 3] + c2 % 3] -= (ds_real)(bh * wr * K[r * nd + c2]);
        }
      }
    }
  }
  return DS_OK;
}

double *fem_to_double(const ds_call *c, const ds_real *y, int64_t count) {
  double *d = c->host->scratch(c, (size_t)count * sizeof(double));
  if (d)
    for (int64_t i = 0; i < count; i++) d[i] = y[i];
  return d;
}
