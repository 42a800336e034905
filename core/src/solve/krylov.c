/* Krylov solvers over a ds_linop: preconditioned CG (SPD) and BiCGSTAB (any
 * square operator). Jacobi preconditioning from the operator's diagonal.
 *
 * Every reduction goes through ds_sv_pass (fixed blocks, block sums added in
 * block order), and the vector updates are fused into the same passes, so a
 * solve gives the same bits for any thread count and costs one sweep over the
 * vectors per phase. */
#include "solve_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

typedef struct kry {
  ds_ctx *ctx;
  const ds_linop *A;
  int transpose;
  const char *fn, *label;
  double tol;
  int max_iters;
} kry;

static void apply(const kry *K, const ds_real *x, ds_real *y) {
  if (K->transpose && K->A->apply_t) K->A->apply_t(K->A->user, x, y);
  else K->A->apply(K->A->user, x, y);
}

static int setup(ds_ctx *ctx, const char *fn, const ds_linop *A, const ds_real *b, ds_real *x,
                 const ds_krylov_opts *o, kry *K) {
  if (!ctx) return DS_ERR_ARG;
  if (!A || !A->apply) return ds_fail(ctx, DS_ERR_ARG, "%s: operator 'A' is NULL or has no apply", fn);
  if (A->n < 0) return ds_fail(ctx, DS_ERR_ARG, "%s: operator size n = %lld is negative", fn, (long long)A->n);
  if (A->n > 0 && (!b || !x)) return ds_fail(ctx, DS_ERR_ARG, "%s: %s is NULL", fn, b ? "x" : "b");
  int bad = ds_sv_first_nonfinite(b, A->n);
  if (bad) return ds_fail(ctx, DS_ERR_ARG, "%s: b[%d] is %s", fn, bad - 1, isnan(b[bad - 1]) ? "NaN" : "infinite");
  if (o && o->x0 && (bad = ds_sv_first_nonfinite(o->x0, A->n)))
    return ds_fail(ctx, DS_ERR_ARG, "%s: x0[%d] is not finite", fn, bad - 1);
  K->ctx = ctx, K->A = A, K->fn = fn;
  K->transpose = o ? o->transpose != 0 : 0;
  K->label = o && o->label ? o->label : NULL;
  K->tol = o && o->tol > 0 ? o->tol : (sizeof(ds_real) == 8 ? 1e-10 : 1e-5);
  K->max_iters = o && o->max_iters > 0 ? o->max_iters : (int)(A->n < 100000000 ? 2 * A->n + 100 : 200000000);
  if (o && o->x0) {
    if (o->x0 != x) memcpy(x, o->x0, (size_t)A->n * sizeof *x);
  } else {
    memset(x, 0, (size_t)A->n * sizeof *x);
  }
  return DS_OK;
}

/* Inverse diagonal for Jacobi, or NULL (none wanted, or no diagonal). For CG a
 * non-positive diagonal entry proves the operator is not SPD. */
static int jacobi(const kry *K, const ds_krylov_opts *o, int spd, ds_real **out) {
  *out = NULL;
  if ((o && o->precond == DS_PRECOND_NONE) || !K->A->diag || K->A->n == 0) return DS_OK;
  ds_real *d = ds_aligned_alloc((size_t)K->A->n * sizeof *d);
  if (!d) return ds_fail(K->ctx, DS_ERR_NOMEM, "%s: out of memory", K->fn);
  K->A->diag(K->A->user, d);
  for (int64_t i = 0; i < K->A->n; i++) {
    if (spd && !(d[i] > 0)) {
      double v = d[i];
      ds_aligned_free(d);
      return ds_fail(K->ctx, DS_ERR_ARG,
                     "%s%s%s: diagonal entry %lld is %g; the operator is not positive definite (CG needs SPD; "
                     "use BiCGSTAB or a direct solve)",
                     K->fn, K->label ? " in " : "", K->label ? K->label : "", (long long)i, v);
    }
    d[i] = d[i] != 0 ? 1 / d[i] : 1;
  }
  *out = d;
  return DS_OK;
}

static int finish(const kry *K, int ok, int it, double rr, double bb, const ds_krylov_opts *o, ds_krylov_info *info) {
  double rel = bb > 0 ? sqrt(rr / bb) : 0;
  if (info) info->iters = it, info->converged = ok, info->residual = rel;
  if (ok || (o && o->allow_unconverged)) return DS_OK;
  return ds_fail(K->ctx, DS_ERR_ARG,
                 "%s%s%s: did not converge: relative residual %.3g after %d iterations (tol %.3g)%s", K->fn,
                 K->label ? " in " : "", K->label ? K->label : "", rel, it, K->tol,
                 rel != rel ? "; the operator produced NaN" : "");
}

/* ---- CG ------------------------------------------------------------------- */
typedef struct cg_state {
  int phase;
  const ds_real *b, *dinv;
  ds_real *x, *r, *z, *d, *q;
  double alpha, beta;
} cg_state;

static void cg_block(int64_t i0, int64_t i1, double *s, void *u) {
  cg_state *S = u;
  ds_real *restrict x = S->x, *restrict r = S->r, *restrict z = S->z, *restrict d = S->d, *restrict q = S->q;
  const ds_real *restrict b = S->b, *restrict dinv = S->dinv;
  double a0[4] = {0, 0, 0, 0}, a1[4] = {0, 0, 0, 0}, a2[4] = {0, 0, 0, 0};
  const ds_real alpha = (ds_real)S->alpha, beta = (ds_real)S->beta;
  switch (S->phase) {
    case 0: /* r = b - A x (q holds A x), z = M r, d = z; sums r.z, r.r, b.b */
      for (int64_t i = i0; i < i1; i++) {
        r[i] = b[i] - q[i];
        if (dinv) z[i] = r[i] * dinv[i];
        d[i] = dinv ? z[i] : r[i];
        a0[i & 3] += (double)r[i] * (dinv ? z[i] : r[i]);
        a1[i & 3] += (double)r[i] * r[i];
        a2[i & 3] += (double)b[i] * b[i];
      }
      break;
    case 1: /* sum d.q */
      for (int64_t i = i0; i < i1; i++) a0[i & 3] += (double)d[i] * q[i];
      break;
    case 2: /* x += a d, r -= a q, z = M r; sums r.z, r.r */
      for (int64_t i = i0; i < i1; i++) {
        x[i] += alpha * d[i];
        r[i] -= alpha * q[i];
        if (dinv) z[i] = r[i] * dinv[i];
        a0[i & 3] += (double)r[i] * (dinv ? z[i] : r[i]);
        a1[i & 3] += (double)r[i] * r[i];
      }
      break;
    case 3: /* d = z + beta d */
      for (int64_t i = i0; i < i1; i++) d[i] = (dinv ? z[i] : r[i]) + beta * d[i];
      break;
  }
  s[0] = ds_sv_sum4(a0), s[1] = ds_sv_sum4(a1), s[2] = ds_sv_sum4(a2);
}

int ds_cg(ds_ctx *ctx, const ds_linop *A, const ds_real *b, ds_real *x, const ds_krylov_opts *o,
          ds_krylov_info *info) {
  kry K;
  int rc = setup(ctx, "ds_cg", A, b, x, o, &K);
  if (rc) return rc;
  const int64_t n = A->n;
  ds_real *dinv = NULL;
  if ((rc = jacobi(&K, o, 1, &dinv))) return rc;
  ds_real *buf = n ? ds_aligned_alloc((size_t)(4 * n) * sizeof(ds_real)) : NULL;
  if (n && !buf) {
    ds_aligned_free(dinv);
    return ds_fail(ctx, DS_ERR_NOMEM, "ds_cg: out of memory for %lld unknowns", (long long)n);
  }
  cg_state S = {0};
  S.b = b, S.dinv = dinv, S.x = x;
  S.r = buf, S.z = buf + n, S.d = buf + 2 * n, S.q = buf + 3 * n;
  double s[DS_SV_SUMS];
  apply(&K, x, S.q);
  S.phase = 0;
  ds_sv_pass(ctx, n, cg_block, &S, s);
  double rz = s[0], rr = s[1], bb = s[2], thresh = K.tol * K.tol * bb;
  int it = 0, ok = 0;
  if (bb == 0) { /* b = 0: x = 0 exactly */
    memset(x, 0, (size_t)n * sizeof *x);
    rr = 0;
  }
  for (;;) {
    if (rr <= thresh) {
      ok = 1;
      break;
    }
    if (it >= K.max_iters || !(rr == rr)) break;
    apply(&K, S.d, S.q);
    S.phase = 1;
    ds_sv_pass(ctx, n, cg_block, &S, s);
    if (!(s[0] > 0)) {
      /* d.Ad <= 0 with d != 0: the operator is not positive definite */
      ds_aligned_free(buf), ds_aligned_free(dinv);
      if (info) info->iters = it, info->converged = 0, info->residual = sqrt(rr / bb);
      return ds_fail(ctx, DS_ERR_ARG,
                     "ds_cg%s%s: the operator is not positive definite (d.Ad = %.3g at iteration %d); use BiCGSTAB or "
                     "a direct solve",
                     K.label ? " in " : "", K.label ? K.label : "", s[0], it);
    }
    S.alpha = rz / s[0];
    S.phase = 2;
    ds_sv_pass(ctx, n, cg_block, &S, s);
    S.beta = s[0] / rz;
    rz = s[0], rr = s[1];
    it++;
    if (rr <= thresh) {
      ok = 1;
      break;
    }
    S.phase = 3;
    ds_sv_pass(ctx, n, cg_block, &S, s);
  }
  ds_aligned_free(buf), ds_aligned_free(dinv);
  return finish(&K, ok, it, rr, bb, o, info);
}

/* ---- BiCGSTAB ---------------------------------------------------------------
 * Right-preconditioned (x = M y), so the residual it tracks is the true one. */
typedef struct bi_state {
  int phase;
  const ds_real *dinv, *b;
  ds_real *x, *r, *rh, *p, *ph, *v, *s, *sh, *t;
  double alpha, beta, omega;
} bi_state;

static void bi_block(int64_t i0, int64_t i1, double *sum, void *u) {
  bi_state *S = u;
  double a0[4] = {0, 0, 0, 0}, a1[4] = {0, 0, 0, 0}, a2[4] = {0, 0, 0, 0};
  const ds_real al = (ds_real)S->alpha, be = (ds_real)S->beta, om = (ds_real)S->omega;
  const ds_real *dinv = S->dinv;
  switch (S->phase) {
    case 0: /* r = b - A x (v holds A x), rh = r, p = v = 0; sums r.r, b.b */
      for (int64_t i = i0; i < i1; i++) {
        S->r[i] = S->b[i] - S->v[i];
        S->rh[i] = S->r[i];
        S->p[i] = 0, S->v[i] = 0;
        a0[i & 3] += (double)S->r[i] * S->r[i];
        a1[i & 3] += (double)S->b[i] * S->b[i];
      }
      break;
    case 1: /* p = r + beta (p - omega v), ph = M p */
      for (int64_t i = i0; i < i1; i++) {
        S->p[i] = S->r[i] + be * (S->p[i] - om * S->v[i]);
        S->ph[i] = dinv ? S->p[i] * dinv[i] : S->p[i];
      }
      break;
    case 2: /* sum rh.v */
      for (int64_t i = i0; i < i1; i++) a0[i & 3] += (double)S->rh[i] * S->v[i];
      break;
    case 3: /* s = r - alpha v, sh = M s; sum s.s */
      for (int64_t i = i0; i < i1; i++) {
        S->s[i] = S->r[i] - al * S->v[i];
        S->sh[i] = dinv ? S->s[i] * dinv[i] : S->s[i];
        a0[i & 3] += (double)S->s[i] * S->s[i];
      }
      break;
    case 4: /* sums t.s, t.t */
      for (int64_t i = i0; i < i1; i++) {
        a0[i & 3] += (double)S->t[i] * S->s[i];
        a1[i & 3] += (double)S->t[i] * S->t[i];
      }
      break;
    case 5: /* x += alpha ph + omega sh, r = s - omega t; sums r.r, rh.r */
      for (int64_t i = i0; i < i1; i++) {
        S->x[i] += al * S->ph[i] + om * S->sh[i];
        S->r[i] = S->s[i] - om * S->t[i];
        a0[i & 3] += (double)S->r[i] * S->r[i];
        a1[i & 3] += (double)S->rh[i] * S->r[i];
      }
      break;
    case 6: /* x += alpha ph (converged on s) */
      for (int64_t i = i0; i < i1; i++) S->x[i] += al * S->ph[i];
      break;
  }
  sum[0] = ds_sv_sum4(a0), sum[1] = ds_sv_sum4(a1), sum[2] = ds_sv_sum4(a2);
}

int ds_bicgstab(ds_ctx *ctx, const ds_linop *A, const ds_real *b, ds_real *x, const ds_krylov_opts *o,
                ds_krylov_info *info) {
  kry K;
  int rc = setup(ctx, "ds_bicgstab", A, b, x, o, &K);
  if (rc) return rc;
  const int64_t n = A->n;
  ds_real *dinv = NULL;
  if ((rc = jacobi(&K, o, 0, &dinv))) return rc;
  ds_real *buf = n ? ds_aligned_alloc((size_t)(8 * n) * sizeof(ds_real)) : NULL;
  if (n && !buf) {
    ds_aligned_free(dinv);
    return ds_fail(ctx, DS_ERR_NOMEM, "ds_bicgstab: out of memory for %lld unknowns", (long long)n);
  }
  bi_state S = {0};
  S.dinv = dinv, S.b = b, S.x = x;
  S.r = buf, S.rh = buf + n, S.p = buf + 2 * n, S.ph = buf + 3 * n, S.v = buf + 4 * n, S.s = buf + 5 * n;
  S.sh = buf + 6 * n, S.t = buf + 7 * n;
  double sm[DS_SV_SUMS];
  apply(&K, x, S.v);
  S.phase = 0;
  ds_sv_pass(ctx, n, bi_block, &S, sm);
  double rr = sm[0], bb = sm[1], thresh = K.tol * K.tol * bb, rho = 1, rho_new = rr;
  S.alpha = 1, S.omega = 1;
  int it = 0, ok = 0;
  const char *why = NULL;
  if (bb == 0) {
    memset(x, 0, (size_t)n * sizeof *x);
    rr = 0;
  }
  while (!(ok = rr <= thresh) && it < K.max_iters && rr == rr) {
    if (rho_new == 0) {
      why = "rho = 0";
      break;
    }
    S.beta = (rho_new / rho) * (S.alpha / S.omega);
    rho = rho_new;
    S.phase = 1;
    ds_sv_pass(ctx, n, bi_block, &S, sm);
    apply(&K, S.ph, S.v);
    S.phase = 2;
    ds_sv_pass(ctx, n, bi_block, &S, sm);
    if (sm[0] == 0) {
      why = "rh.v = 0";
      break;
    }
    S.alpha = rho / sm[0];
    S.phase = 3;
    ds_sv_pass(ctx, n, bi_block, &S, sm);
    it++;
    if (sm[0] <= thresh) { /* s small enough: take the half step and stop */
      S.phase = 6;
      ds_sv_pass(ctx, n, bi_block, &S, sm);
      apply(&K, x, S.t); /* the true residual, for the report */
      double r2 = 0;
      for (int64_t i = 0; i < n; i++) r2 += ((double)b[i] - S.t[i]) * ((double)b[i] - S.t[i]);
      rr = r2;
      ok = 1;
      break;
    }
    apply(&K, S.sh, S.t);
    S.phase = 4;
    ds_sv_pass(ctx, n, bi_block, &S, sm);
    if (sm[1] == 0) {
      why = "t.t = 0";
      break;
    }
    S.omega = sm[0] / sm[1];
    S.phase = 5;
    ds_sv_pass(ctx, n, bi_block, &S, sm);
    rr = sm[0], rho_new = sm[1];
    if (S.omega == 0) {
      why = "omega = 0";
      break;
    }
  }
  ds_aligned_free(buf), ds_aligned_free(dinv);
  if (!ok && why && !(o && o->allow_unconverged)) {
    if (info) info->iters = it, info->converged = 0, info->residual = bb > 0 ? sqrt(rr / bb) : 0;
    return ds_fail(ctx, DS_ERR_ARG, "ds_bicgstab%s%s: breakdown (%s) at iteration %d, relative residual %.3g",
                   K.label ? " in " : "", K.label ? K.label : "", why, it, bb > 0 ? sqrt(rr / bb) : 0);
  }
  return finish(&K, ok, it, rr, bb, o, info);
}
