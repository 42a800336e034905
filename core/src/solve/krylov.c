/* Krylov solvers over a ds_linop: preconditioned CG (SPD) and BiCGSTAB (any
 * square operator). Jacobi preconditioning from the operator's diagonal.
 *
 * Every reduction is summed per fixed block and the block sums are added in
 * block order, and the vector updates are fused into the same passes, so a
 * solve gives the same bits for any thread count and costs one sweep over the
 * vectors per phase. CG blocks by the caller's block size (see below);
 * BiCGSTAB goes through ds_sv_pass (vec.c). */
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
  /* "ds_cg in smoke.project_cg forward": the caller's label tells the user which solve */
  const char *in = o && o->label ? " in " : "", *label = o && o->label ? o->label : "";
  if (!A || !A->apply) return ds_fail(ctx, DS_ERR_ARG, "%s%s%s: operator 'A' is NULL or has no apply", fn, in, label);
  if (A->n < 0)
    return ds_fail(ctx, DS_ERR_ARG, "%s%s%s: operator size n = %lld is negative", fn, in, label, (long long)A->n);
  if (A->n > 0 && (!b || !x)) return ds_fail(ctx, DS_ERR_ARG, "%s%s%s: %s is NULL", fn, in, label, b ? "x" : "b");
  int bad = ds_sv_first_nonfinite(b, A->n);
  if (bad)
    return ds_fail(ctx, DS_ERR_ARG, "%s%s%s: b[%d] is %s", fn, in, label, bad - 1,
                   isnan(b[bad - 1]) ? "NaN" : "infinite");
  if (o && o->x0 && (bad = ds_sv_first_nonfinite(o->x0, A->n)))
    return ds_fail(ctx, DS_ERR_ARG, "%s%s%s: x0[%d] is not finite", fn, in, label, bad - 1);
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

/* Inverse diagonal for Jacobi into d (n reals), *out = d; or *out = NULL (none
 * wanted, or no diagonal). For CG a non-positive diagonal entry proves the
 * operator is not SPD. */
static int jacobi(const kry *K, const ds_krylov_opts *o, int spd, ds_real *d, const ds_real **out) {
  *out = NULL;
  if ((o && o->precond == DS_PRECOND_NONE) || !K->A->diag || K->A->n == 0) return DS_OK;
  K->A->diag(K->A->user, d);
  for (int64_t i = 0; i < K->A->n; i++) {
    if (spd && !(d[i] > 0))
      return ds_fail(K->ctx, DS_ERR_ARG,
                     "%s%s%s: diagonal entry %lld is %g; the operator is not positive definite (CG needs SPD; "
                     "use BiCGSTAB or a direct solve)",
                     K->fn, K->label ? " in " : "", K->label ? K->label : "", (long long)i, (double)d[i]);
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

/* ---- CG ---------------------------------------------------------------------
 * Four passes per iteration over fixed blocks of `block` elements (the caller's
 * partition, or CG_BLOCK): each pass does its vector updates and the dot
 * products that follow from them on one block while it is in cache, writes the
 * block's partial sums, and the partials are added in block order. A block's
 * sum uses eight interleaved double accumulators (so the loop vectorises)
 * combined in a fixed tree. Nothing depends on which thread ran which block, so
 * the bits of x depend on n and the block size only.
 *
 * This is the loop smoke's projection ran privately before it moved here: the
 * arithmetic below (float-typed alpha and beta, separate loops per sum, the
 * accumulator tree) is what its reference numbers were produced with, so keep
 * it statement for statement when optimising. */
enum { CG_BLOCK = 4096, CG_TASK = 32768 /* elements per parallel task, at least */ };

/* Hot loops get AVX2 / AVX-512 clones chosen at load time, like the plugins'
 * (smoke.h): the same code generation as the loop had there, so the same bits
 * (the clones contract a*b+c into FMAs; the portable build does not). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__) && !defined(DS_NO_CLONES)
#define CG_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define CG_CLONES
#endif

typedef struct cg_state {
  int64_t n, block;
  int phase;
  ds_real *x, *r, *z, *d, *q;
  const ds_real *b, *dinv;
  ds_real alpha, beta;
  double *part; /* 3 partial sums per block */
} cg_state;

/* OUT = sum of EXPR over i in [I0, I1): element I0 + k goes to accumulator k mod 8. */
#define DOT8(EXPR, I0, I1, OUT)                                                                      \
  do {                                                                                               \
    double acc_[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                       \
    int64_t i_ = (I0);                                                                               \
    for (; i_ + 8 <= (I1); i_ += 8)                                                                  \
      for (int u_ = 0; u_ < 8; u_++) {                                                               \
        int64_t i = i_ + u_;                                                                         \
        acc_[u_] += (EXPR);                                                                          \
      }                                                                                              \
    for (int u_ = 0; i_ < (I1); i_++, u_++) {                                                        \
      int64_t i = i_;                                                                                \
      acc_[u_] += (EXPR);                                                                            \
    }                                                                                                \
    OUT = ((acc_[0] + acc_[1]) + (acc_[2] + acc_[3])) + ((acc_[4] + acc_[5]) + (acc_[6] + acc_[7])); \
  } while (0)

CG_CLONES static void cg_block(cg_state *S, int64_t blk) {
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
    case 2: /* x += alpha d, r -= alpha q, z = M^-1 r; sums r.z, r.r */
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

static void cg_range(int64_t b0, int64_t b1, void *u) {
  for (int64_t blk = b0; blk < b1; blk++) cg_block(u, blk);
}

/* Runs one phase over all blocks and adds the partials in block order. */
static void cg_phase(ds_ctx *ctx, cg_state *S, int phase, int64_t nblocks, int64_t grain, double out[3]) {
  S->phase = phase;
  ds_parallel_for(ctx, nblocks, grain, cg_range, S);
  out[0] = out[1] = out[2] = 0;
  for (int64_t b = 0; b < nblocks; b++)
    for (int k = 0; k < 3; k++) out[k] += S->part[3 * b + k];
}

/* A block past n is one block of n: the same sums, and no overflow in the block count. */
static int64_t cg_block_size(const ds_krylov_opts *o, int64_t n) {
  int64_t block = o && o->block > 0 ? o->block : CG_BLOCK;
  return block > n && n > 0 ? n : block;
}

/* The workspace: r, z, d, q, the inverse diagonal (n reals each), then the
 * partial sums; every piece starts on a 64-byte boundary. */
static int64_t round64(int64_t bytes) { return (bytes + 63) & ~(int64_t)63; }

int64_t ds_cg_work_bytes(int64_t n, const ds_krylov_opts *o) {
  if (n < 0) return -1;
  int64_t block = cg_block_size(o, n), nblocks = (n + block - 1) / block;
  return 5 * round64(n * (int64_t)sizeof(ds_real)) + round64(3 * nblocks * (int64_t)sizeof(double));
}

int ds_cg(ds_ctx *ctx, const ds_linop *A, const ds_real *b, ds_real *x, const ds_krylov_opts *o,
          ds_krylov_info *info) {
  kry K;
  int rc = setup(ctx, "ds_cg", A, b, x, o, &K);
  if (rc) return rc;
  const int64_t n = A->n, block = cg_block_size(o, n), nblocks = (n + block - 1) / block;
  /* a task of at least CG_TASK elements: less work than that costs more to hand to a thread */
  const int64_t grain = block >= CG_TASK ? 1 : CG_TASK / block;
  if (o && o->work && ((uintptr_t)o->work & 63))
    return ds_fail(ctx, DS_ERR_ARG, "ds_cg%s%s: opts.work is not 64-byte aligned", K.label ? " in " : "",
                   K.label ? K.label : "");
  const int64_t bytes = ds_cg_work_bytes(n, o), vec = round64(n * (int64_t)sizeof(ds_real));
  char *own = NULL, *w = o && o->work ? o->work : NULL;
  if (!w && n) {
    if (!(w = own = ds_aligned_alloc((size_t)bytes)))
      return ds_fail(ctx, DS_ERR_NOMEM, "ds_cg: out of memory for %lld unknowns", (long long)n);
  }
  cg_state S = {0};
  S.n = n, S.block = block, S.b = b, S.x = x;
  if (n) {
    S.r = (ds_real *)w, S.z = (ds_real *)(w + vec), S.d = (ds_real *)(w + 2 * vec), S.q = (ds_real *)(w + 3 * vec);
    S.part = (double *)(w + 5 * vec);
    ds_real *dinv = (ds_real *)(w + 4 * vec);
    if ((rc = jacobi(&K, o, 1, dinv, &S.dinv))) {
      ds_aligned_free(own);
      return rc;
    }
  }
  double s[3] = {0, 0, 0};
  apply(&K, x, S.q);
  if (n) cg_phase(ctx, &S, 0, nblocks, grain, s);
  double rz = s[0], rr = s[1], bb = s[2];
  /* |r| <= tol |b|, or below the caller's absolute floor (the round-off level of
   * b: a right-hand side that is already ~0, such as a projected field projected
   * again, needs no iterations) */
  double thresh = K.tol * K.tol * bb, atol = o && o->atol > 0 ? o->atol : 0;
  if (thresh < atol * atol) thresh = atol * atol;
  int it = 0, ok = 0;
  double dAd = 1;
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
    cg_phase(ctx, &S, 1, nblocks, grain, s);
    if (!((dAd = s[0]) > 0)) break; /* judged below */
    S.alpha = (ds_real)(rz / dAd);
    cg_phase(ctx, &S, 2, nblocks, grain, s);
    S.beta = (ds_real)(s[0] / rz);
    rz = s[0], rr = s[1];
    it++;
    if (rr <= thresh) {
      ok = 1;
      break;
    }
    cg_phase(ctx, &S, 3, nblocks, grain, s);
  }
  ds_aligned_free(own);
  /* A residual 1e-15 of |b| is round-off: done, whatever stopped the loop. On a
   * semi-definite operator (a Laplacian with Neumann or periodic walls, b in its
   * range) this is how d.Ad = 0 shows up at the end: d has reached the null space. */
  if (!ok && rr <= 1e-30 * bb) ok = 1;
  if (!ok && !(dAd > 0) && dAd == dAd) {
    /* d.Ad <= 0 with d != 0 above round-off: the operator is not positive definite */
    if (info) info->iters = it, info->converged = 0, info->residual = sqrt(rr / bb);
    return ds_fail(ctx, DS_ERR_ARG,
                   "ds_cg%s%s: the operator is not positive definite (d.Ad = %.3g at iteration %d); use BiCGSTAB or "
                   "a direct solve",
                   K.label ? " in " : "", K.label ? K.label : "", dAd, it);
  }
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
  ds_real *buf = n ? ds_aligned_alloc((size_t)(9 * n) * sizeof(ds_real)) : NULL; /* 8 vectors + 1/diag */
  if (n && !buf) return ds_fail(ctx, DS_ERR_NOMEM, "ds_bicgstab: out of memory for %lld unknowns", (long long)n);
  const ds_real *dinv = NULL;
  if (n && (rc = jacobi(&K, o, 0, buf + 8 * n, &dinv))) {
    ds_aligned_free(buf);
    return rc;
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
  ds_aligned_free(buf);
  if (!ok && why && !(o && o->allow_unconverged)) {
    if (info) info->iters = it, info->converged = 0, info->residual = bb > 0 ? sqrt(rr / bb) : 0;
    return ds_fail(ctx, DS_ERR_ARG, "ds_bicgstab%s%s: breakdown (%s) at iteration %d, relative residual %.3g",
                   K.label ? " in " : "", K.label ? K.label : "", why, it, bb > 0 ? sqrt(rr / bb) : 0);
  }
  return finish(&K, ok, it, rr, bb, o, info);
}
