/* Solvers (core/src/solve/): sparse assembly, CHOLMOD / UMFPACK / CG / BiCGSTAB
 * against dense Gaussian elimination, transposed solves, refactoring with new
 * values, determinism across thread counts, clear errors, and Newton + the IFT
 * adjoint on an implicit Euler step of a stiff spring chain, checked against
 * central differences and against differentiating the unrolled Newton steps. */
#include <diffsim/solve.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static const int F64 = sizeof(ds_real) == 8;

/* ---- dense reference: Gaussian elimination with partial pivoting, in double */
static void dense_solve(int n, const double *A_in, const double *b, double *x) {
  double *A = malloc(sizeof(double) * n * n), *r = malloc(sizeof(double) * n);
  for (int i = 0; i < n * n; i++) A[i] = A_in[i];
  for (int i = 0; i < n; i++) r[i] = b[i];
  for (int k = 0; k < n; k++) {
    int p = k;
    for (int i = k + 1; i < n; i++)
      if (fabs(A[i * n + k]) > fabs(A[p * n + k])) p = i;
    for (int j = 0; j < n; j++) {
      double t = A[k * n + j];
      A[k * n + j] = A[p * n + j], A[p * n + j] = t;
    }
    double t = r[k];
    r[k] = r[p], r[p] = t;
    for (int i = k + 1; i < n; i++) {
      double f = A[i * n + k] / A[k * n + k];
      for (int j = k; j < n; j++) A[i * n + j] -= f * A[k * n + j];
      r[i] -= f * r[k];
    }
  }
  for (int i = n - 1; i >= 0; i--) {
    double s = r[i];
    for (int j = i + 1; j < n; j++) s -= A[i * n + j] * x[j];
    x[i] = s / A[i * n + i];
  }
  free(A), free(r);
}

static double rel_err(int n, const ds_real *x, const double *ref) {
  double num = 0, den = 0;
  for (int i = 0; i < n; i++) num += (x[i] - ref[i]) * (x[i] - ref[i]), den += ref[i] * ref[i];
  return sqrt(num / (den > 0 ? den : 1));
}

static double urand(unsigned *s) {
  *s = *s * 1664525u + 1013904223u;
  return (*s >> 8) / 16777216.0;
}

/* Triplets of a system: up to cap entries. */
typedef struct trip {
  int n, nnz;
  int32_t *r, *c;
  ds_real *v;
  double *dense; /* n x n, duplicates summed */
} trip;

static trip trip_new(int n, int cap) {
  trip t = {n, 0, malloc(4 * cap), malloc(4 * cap), malloc(sizeof(ds_real) * cap), calloc((size_t)n * n, 8)};
  return t;
}
static void trip_add(trip *t, int i, int j, double v) {
  t->r[t->nnz] = i, t->c[t->nnz] = j, t->v[t->nnz] = (ds_real)v;
  t->dense[i * t->n + j] += (ds_real)v;
  t->nnz++;
}
static void trip_free(trip *t) { free(t->r), free(t->c), free(t->v), free(t->dense); }

/* 2D Poisson, 5 points, Dirichlet: the diagonal 4 is given as 2 + 2 (duplicates). */
static trip poisson(int N) {
  trip t = trip_new(N * N, 6 * N * N);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      int k = i * N + j;
      trip_add(&t, k, k, 2);
      if (i > 0) trip_add(&t, k, k - N, -1);
      if (j > 0) trip_add(&t, k, k - 1, -1);
      if (j < N - 1) trip_add(&t, k, k + 1, -1);
      if (i < N - 1) trip_add(&t, k, k + N, -1);
      trip_add(&t, k, k, 2);
    }
  return t;
}

static void test_poisson(ds_ctx *ctx) {
  const int N = 8, n = N * N;
  trip t = poisson(N);
  ds_sparse *A = ds_sparse_new(ctx, n, n, t.nnz, t.r, t.c, t.v);
  CHECK(A != NULL);
  CHECK(ds_sparse_nnz(A) == 5 * n - 4 * N);           /* duplicates merged */
  CHECK(ds_sparse_slot(A, 0) == ds_sparse_slot(A, 3)); /* the two halves of entry (0,0) */
  CHECK(ds_sparse_slot(A, 1) == 1 && ds_sparse_slot(A, 2) == 2 && ds_sparse_slot(A, t.nnz) == -1);
  CHECK(ds_sparse_is_symmetric(A) == 1);
  ds_real b[64], x[64], xc[64];
  double bd[64], ref[64];
  unsigned s = 1;
  for (int i = 0; i < n; i++) bd[i] = b[i] = (ds_real)(urand(&s) - 0.5);
  dense_solve(n, t.dense, bd, ref);
  const double tol = F64 ? 1e-12 : 2e-5;
  CHECK(ds_sparse_solve(A, DS_SOLVE_CHOLMOD, 0, b, xc, NULL, NULL) == DS_OK);
  CHECK(rel_err(n, xc, ref) < tol);
  CHECK(ds_sparse_factored(A, DS_SOLVE_CHOLMOD) == 1);
  CHECK(ds_sparse_solve(A, DS_SOLVE_UMFPACK, 0, b, x, NULL, NULL) == DS_OK);
  CHECK(rel_err(n, x, ref) < tol);
  /* CG through the operator interface agrees with CHOLMOD */
  ds_linop op;
  CHECK(ds_sparse_linop(A, &op) == DS_OK && op.apply_t == NULL && op.diag != NULL);
  ds_krylov_opts o = {0};
  o.tol = F64 ? 1e-12 : 1e-6;
  ds_krylov_info info = {0};
  CHECK(ds_cg(ctx, &op, b, x, &o, &info) == DS_OK);
  CHECK(info.converged == 1 && info.iters > 0 && info.iters <= n && info.residual <= o.tol);
  double xcd[64];
  for (int i = 0; i < n; i++) xcd[i] = xc[i];
  CHECK(rel_err(n, x, xcd) < (F64 ? 1e-10 : 1e-4));
  /* a warm start at the solution needs (almost) no iterations */
  o.x0 = xc;
  CHECK(ds_cg(ctx, &op, b, x, &o, &info) == DS_OK && info.iters <= (F64 ? 2 : 8));
  /* BiCGSTAB handles the SPD case too */
  o.x0 = NULL;
  CHECK(ds_bicgstab(ctx, &op, b, x, &o, &info) == DS_OK);
  CHECK(rel_err(n, x, ref) < (F64 ? 1e-10 : 1e-4));
  /* matvec of the solution gives b back */
  ds_real Ax[64];
  CHECK(ds_sparse_matvec(A, xc, Ax) == DS_OK);
  double r = 0;
  for (int i = 0; i < n; i++) r = fmax(r, fabs(Ax[i] - b[i]));
  CHECK(r < (F64 ? 1e-12 : 1e-5));
  ds_sparse_free(A);
  trip_free(&t);
}

/* A non-symmetric, diagonally dominant system with duplicate triplets. */
static trip nonsym(int n, unsigned seed) {
  trip t = trip_new(n, 8 * n);
  unsigned s = seed;
  for (int i = 0; i < n; i++) {
    trip_add(&t, i, i, 5 + urand(&s));
    for (int q = 0; q < 3; q++) trip_add(&t, i, (int)(urand(&s) * n) % n, urand(&s) - 0.5);
    trip_add(&t, i, (i + 1) % n, 1.5); /* strongly non-symmetric */
  }
  return t;
}

static void test_nonsymmetric(ds_ctx *ctx) {
  const int n = 30;
  trip t = nonsym(n, 7);
  ds_sparse *A = ds_sparse_new(ctx, n, n, t.nnz, t.r, t.c, t.v);
  CHECK(A && ds_sparse_is_symmetric(A) == 0);
  ds_real b[30], x[30];
  double bd[30], ref[30], At[900];
  unsigned s = 3;
  for (int i = 0; i < n; i++) bd[i] = b[i] = (ds_real)(urand(&s) - 0.5);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) At[j * n + i] = t.dense[i * n + j];
  const double tol = F64 ? 1e-12 : 2e-5;
  dense_solve(n, t.dense, bd, ref);
  CHECK(ds_sparse_solve(A, DS_SOLVE_UMFPACK, 0, b, x, NULL, NULL) == DS_OK);
  CHECK(rel_err(n, x, ref) < tol);
  /* the transposed solve reuses the factorization */
  dense_solve(n, At, bd, ref);
  CHECK(ds_sparse_factored(A, DS_SOLVE_UMFPACK) == 1);
  CHECK(ds_sparse_solve(A, DS_SOLVE_UMFPACK, 1, b, x, NULL, NULL) == DS_OK);
  CHECK(rel_err(n, x, ref) < tol);
  ds_krylov_opts o = {0};
  o.tol = F64 ? 1e-12 : 1e-6;
  CHECK(ds_sparse_solve(A, DS_SOLVE_BICGSTAB, 1, b, x, &o, NULL) == DS_OK);
  CHECK(rel_err(n, x, ref) < (F64 ? 1e-10 : 1e-4));
  /* transposed mat-vec against the dense transpose */
  ds_real y[30];
  CHECK(ds_sparse_matvec_t(A, b, y) == DS_OK);
  double e = 0;
  for (int i = 0; i < n; i++) {
    double d = 0;
    for (int j = 0; j < n; j++) d += At[i * n + j] * bd[j];
    e = fmax(e, fabs(d - y[i]));
  }
  CHECK(e < (F64 ? 1e-12 : 1e-5));
  /* CHOLMOD and CG refuse a non-symmetric matrix, with a way out */
  CHECK(ds_sparse_solve(A, DS_SOLVE_CHOLMOD, 0, b, x, NULL, NULL) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "ds_sparse_factor: matrix is not symmetric");
  CHECK_CONTAINS(ds_last_error(ctx), "umfpack");
  CHECK(ds_sparse_solve(A, DS_SOLVE_CG, 0, b, x, NULL, NULL) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "'cg' needs a symmetric");
  ds_sparse_free(A);
  trip_free(&t);
}

static void test_duplicates_and_refactor(ds_ctx *ctx) {
  /* A = [[3, 1], [0, 3]] given as 1 + 2 and 1 + 2 on the diagonal */
  int32_t r[5] = {0, 1, 0, 0, 1}, c[5] = {0, 1, 1, 0, 1};
  ds_real v[5] = {1, 1, 1, 2, 2};
  ds_sparse *A = ds_sparse_new(ctx, 2, 2, 5, r, c, v);
  CHECK(A && ds_sparse_nnz(A) == 3);
  ds_real x[2] = {1, 2}, y[2];
  CHECK(ds_sparse_matvec(A, x, y) == DS_OK && y[0] == 5 && y[1] == 6);
  CHECK(ds_sparse_matvec_t(A, x, y) == DS_OK && y[0] == 3 && y[1] == 7);
  ds_real b[2] = {5, 6}, s[2];
  CHECK(ds_sparse_solve(A, DS_SOLVE_UMFPACK, 0, b, s, NULL, NULL) == DS_OK);
  CHECK(fabs(s[0] - 1) < 1e-6 && fabs(s[1] - 2) < 1e-6);
  /* new values, same pattern: refilled in place, refactored on the next solve */
  ds_real v2[5] = {2, 2, 2, 4, 4};
  CHECK(ds_sparse_set_values(A, v2) == DS_OK);
  CHECK(ds_sparse_factored(A, DS_SOLVE_UMFPACK) == 0);
  CHECK(ds_sparse_solve(A, DS_SOLVE_UMFPACK, 0, b, s, NULL, NULL) == DS_OK);
  CHECK(fabs(s[0] - 0.5) < 1e-6 && fabs(s[1] - 1) < 1e-6);
  CHECK(ds_sparse_factored(A, DS_SOLVE_UMFPACK) == 1);
  ds_sparse_free(A);

  /* the same for CHOLMOD on Poisson: doubled values halve the solution */
  trip t = poisson(6);
  int n = 36;
  A = ds_sparse_new(ctx, n, n, t.nnz, t.r, t.c, t.v);
  ds_real bb[36], x1[36], x2[36];
  for (int i = 0; i < n; i++) bb[i] = (ds_real)(i % 5) - 2;
  CHECK(ds_sparse_solve(A, DS_SOLVE_CHOLMOD, 0, bb, x1, NULL, NULL) == DS_OK);
  for (int k = 0; k < t.nnz; k++) t.v[k] *= 2;
  CHECK(ds_sparse_set_values(A, t.v) == DS_OK && ds_sparse_factored(A, DS_SOLVE_CHOLMOD) == 0);
  CHECK(ds_sparse_solve(A, DS_SOLVE_CHOLMOD, 1, bb, x2, NULL, NULL) == DS_OK);
  double e = 0;
  for (int i = 0; i < n; i++) e = fmax(e, fabs(2 * x2[i] - x1[i]));
  CHECK(e < (F64 ? 1e-12 : 1e-5));
  ds_sparse_free(A);
  trip_free(&t);
}

/* CG and dot products give the same bits for 1 and 4 threads. */
static void test_determinism(ds_ctx *ctx) {
  const int N = 120, n = N * N; /* several reduction blocks */
  trip t = poisson(N);
  ds_sparse *A = ds_sparse_new(ctx, n, n, t.nnz, t.r, t.c, t.v);
  ds_real *b = malloc(sizeof(ds_real) * n), *x1 = malloc(sizeof(ds_real) * n), *x4 = malloc(sizeof(ds_real) * n);
  unsigned s = 11;
  for (int i = 0; i < n; i++) b[i] = (ds_real)(urand(&s) - 0.5);
  ds_linop op;
  ds_sparse_linop(A, &op);
  ds_krylov_opts o = {0};
  o.tol = 1e-4;
  ds_krylov_info i1, i4;
  ds_set_threads(ctx, 1);
  double d1 = ds_solve_dot(ctx, n, b, b);
  CHECK(ds_cg(ctx, &op, b, x1, &o, &i1) == DS_OK);
  ds_set_threads(ctx, 4);
  double d4 = ds_solve_dot(ctx, n, b, b);
  CHECK(ds_cg(ctx, &op, b, x4, &o, &i4) == DS_OK);
  CHECK(d1 == d4);
  CHECK(i1.iters == i4.iters && memcmp(x1, x4, sizeof(ds_real) * n) == 0);
  ds_set_threads(ctx, 2);
  free(b), free(x1), free(x4);
  ds_sparse_free(A);
  trip_free(&t);
}

/* CG's appended options: the caller's reduction block (any block, same bits for
 * 1 and 4 threads), an absolute floor, and a caller-provided workspace. */
typedef struct ring { int n; } ring;
static void ring_apply(void *u, const ds_real *x, ds_real *y) { /* periodic 1D Laplacian: singular, PSD */
  int n = ((ring *)u)->n;
  for (int i = 0; i < n; i++) y[i] = 2 * x[i] - x[(i + n - 1) % n] - x[(i + 1) % n];
}

static void test_cg_options(ds_ctx *ctx) {
  const int N = 120, n = N * N;
  trip t = poisson(N);
  ds_sparse *A = ds_sparse_new(ctx, n, n, t.nnz, t.r, t.c, t.v);
  ds_real *b = malloc(sizeof(ds_real) * n), *x = malloc(sizeof(ds_real) * n), *y = malloc(sizeof(ds_real) * n);
  ds_real *xc = malloc(sizeof(ds_real) * n);
  double *xcd = malloc(sizeof(double) * n);
  unsigned s = 5;
  double bn = 0;
  for (int i = 0; i < n; i++) b[i] = (ds_real)(urand(&s) - 0.5), bn += (double)b[i] * b[i];
  bn = sqrt(bn);
  CHECK(ds_sparse_solve(A, DS_SOLVE_CHOLMOD, 0, b, xc, NULL, NULL) == DS_OK);
  for (int i = 0; i < n; i++) xcd[i] = xc[i];
  ds_linop op;
  ds_sparse_linop(A, &op);
  ds_krylov_opts o = {0};
  o.tol = F64 ? 1e-10 : 1e-5;
  ds_krylov_info i1, i4;
  /* block sizes: one block, blocks with a short last one; each the same bits on 1 and 4 threads */
  const int64_t blocks[] = {0, n, 1000, 8, 3};
  for (int k = 0; k < 5; k++) {
    o.block = blocks[k];
    ds_set_threads(ctx, 1);
    CHECK(ds_cg(ctx, &op, b, x, &o, &i1) == DS_OK && i1.converged == 1);
    CHECK(rel_err(n, x, xcd) < (F64 ? 1e-8 : 1e-3));
    ds_set_threads(ctx, 4);
    CHECK(ds_cg(ctx, &op, b, y, &o, &i4) == DS_OK);
    CHECK(i1.iters == i4.iters && memcmp(x, y, sizeof(ds_real) * n) == 0);
  }
  ds_set_threads(ctx, 2);
  /* the workspace: the same bits as the solver's own allocation */
  o.block = 1000;
  int64_t bytes = ds_cg_work_bytes(n, &o);
  CHECK(bytes >= 5 * n * (int64_t)sizeof(ds_real) && ds_cg_work_bytes(-1, NULL) == -1 && ds_cg_work_bytes(0, NULL) >= 0);
  char *work = NULL;
  CHECK(posix_memalign((void **)&work, 64, (size_t)bytes + 64) == 0);
  memset(work, 0x7f, (size_t)bytes + 64); /* garbage: the solver must not read it before writing */
  CHECK(ds_cg(ctx, &op, b, x, &o, &i1) == DS_OK);
  o.work = work;
  CHECK(ds_cg(ctx, &op, b, y, &o, &i4) == DS_OK && i4.iters == i1.iters && memcmp(x, y, sizeof(ds_real) * n) == 0);
  o.work = work + 8;
  o.label = "toy.project";
  CHECK(ds_cg(ctx, &op, b, y, &o, &i4) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "ds_cg in toy.project: opts.work is not 64-byte aligned");
  o.work = NULL;
  ds_real keep = b[1];
  b[1] = (ds_real)NAN;
  CHECK(ds_cg(ctx, &op, b, y, &o, &i4) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "ds_cg in toy.project: b[1] is NaN");
  b[1] = keep;
  o.label = NULL;
  /* the absolute floor: a tolerance below round-off still stops at |r| <= atol */
  o.tol = 1e-30;
  o.atol = 1e-3 * bn;
  CHECK(ds_cg(ctx, &op, b, x, &o, &i1) == DS_OK && i1.converged == 1 && i1.iters > 0);
  CHECK(i1.residual * bn <= o.atol && i1.residual > 1e-30);
  o.atol = 2 * bn; /* b itself is below the floor: zero iterations, x = x0 = 0 */
  CHECK(ds_cg(ctx, &op, b, x, &o, &i1) == DS_OK && i1.converged == 1 && i1.iters == 0 && x[0] == 0 && x[n - 1] == 0);
  o.atol = 0;
  /* a semi-definite operator with b in its range (periodic Laplacian, zero-mean b), no diagonal */
  ring R = {64};
  ds_linop rop = {R.n, &R, ring_apply, NULL, NULL};
  ds_real rb[64], rx[64], ry[64];
  for (int i = 0; i < R.n; i++) rb[i] = (ds_real)((i % 2 ? 1.0 : -1.0) + (i % 8 == 0 ? 0.5 : 0) - (i % 8 == 4 ? 0.5 : 0));
  o.tol = F64 ? 1e-12 : 1e-6;
  CHECK(ds_cg(ctx, &rop, rb, rx, &o, &i1) == DS_OK && i1.converged == 1);
  ring_apply(&R, rx, ry);
  double e = 0, nb = 0;
  for (int i = 0; i < R.n; i++) e += (double)(ry[i] - rb[i]) * (ry[i] - rb[i]), nb += (double)rb[i] * rb[i];
  CHECK(sqrt(e / nb) < (F64 ? 1e-10 : 1e-4));
  free(b), free(x), free(y), free(xc), free(xcd), free(work);
  ds_sparse_free(A);
  trip_free(&t);
}

static void test_errors(ds_ctx *ctx) {
  int32_t r[3] = {0, 1, 2}, c[3] = {0, 1, 1};
  ds_real v[3] = {1, 1, 1}, b[3] = {1, 1, 1}, x[3];
  /* singular: row 2 duplicates row 1 (UMFPACK) */
  ds_sparse *A = ds_sparse_new(ctx, 3, 3, 3, r, c, v);
  CHECK(ds_sparse_solve(A, DS_SOLVE_UMFPACK, 0, b, x, NULL, NULL) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "ds_sparse_factor: matrix is singular");
  ds_sparse_free(A);
  /* symmetric but indefinite (CHOLMOD names the column) */
  int32_t d[3] = {0, 1, 2};
  ds_real ind[3] = {1, -1, 1};
  A = ds_sparse_new(ctx, 3, 3, 3, d, d, ind);
  CHECK(ds_sparse_solve(A, DS_SOLVE_CHOLMOD, 0, b, x, NULL, NULL) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "not positive definite (CHOLMOD failed at column 1)");
  CHECK_CONTAINS(ds_last_error(ctx), "use method 'umfpack'");
  CHECK(ds_sparse_solve(A, DS_SOLVE_UMFPACK, 0, b, x, NULL, NULL) == DS_OK && fabs(x[1] + 1) < 1e-6);
  /* CG on it: the Jacobi diagonal already shows it is not SPD */
  ds_linop op;
  ds_sparse_linop(A, &op);
  CHECK(ds_cg(ctx, &op, b, x, NULL, NULL) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "not positive definite");
  ds_krylov_opts o = {0};
  o.precond = DS_PRECOND_NONE;
  o.label = "toy.step";
  CHECK(ds_cg(ctx, &op, b, x, &o, NULL) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "ds_cg in toy.step: the operator is not positive definite");
  ds_sparse_free(A);
  /* non-square */
  A = ds_sparse_new(ctx, 3, 2, 3, r, c, v);
  CHECK(A != NULL);
  CHECK(ds_sparse_solve(A, DS_SOLVE_UMFPACK, 0, b, x, NULL, NULL) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "ds_sparse_solve: matrix is 3 x 2, not square");
  CHECK(ds_sparse_linop(A, &op) == DS_ERR_ARG);
  ds_sparse_free(A);
  /* non-finite values and right-hand sides */
  ds_real bad[3] = {1, NAN, 1};
  CHECK(ds_sparse_new(ctx, 3, 3, 3, r, c, bad) == NULL);
  CHECK_CONTAINS(ds_last_error(ctx), "vals[1] is NaN");
  A = ds_sparse_new(ctx, 3, 3, 3, d, d, v);
  bad[1] = INFINITY;
  CHECK(ds_sparse_set_values(A, bad) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "vals[1] is infinite");
  ds_real bnan[3] = {NAN, 0, 0};
  CHECK(ds_sparse_solve(A, DS_SOLVE_CHOLMOD, 0, bnan, x, NULL, NULL) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "ds_sparse_solve: b[0] is NaN");
  /* CG that cannot converge in 1 iteration says so */
  trip t = poisson(5);
  ds_sparse *P = ds_sparse_new(ctx, 25, 25, t.nnz, t.r, t.c, t.v);
  ds_real bp[25], xp[25];
  for (int i = 0; i < 25; i++) bp[i] = (ds_real)(i % 3);
  ds_sparse_linop(P, &op);
  ds_krylov_opts o1 = {0};
  o1.max_iters = 1;
  ds_krylov_info info;
  CHECK(ds_cg(ctx, &op, bp, xp, &o1, &info) == DS_ERR_ARG && info.converged == 0 && info.iters == 1);
  CHECK_CONTAINS(ds_last_error(ctx), "did not converge: relative residual");
  o1.allow_unconverged = 1;
  CHECK(ds_cg(ctx, &op, bp, xp, &o1, &info) == DS_OK && info.converged == 0);
  ds_sparse_free(P);
  trip_free(&t);
  /* mismatched sizes: indices past the declared shape, bad shapes, unknown method */
  int32_t big[3] = {0, 5, 1};
  CHECK(ds_sparse_new(ctx, 3, 3, 3, big, c, v) == NULL);
  CHECK_CONTAINS(ds_last_error(ctx), "rows[1] = 5 is out of range for 3 rows");
  CHECK(ds_sparse_new(ctx, 3, 3, 3, r, big, v) == NULL);
  CHECK_CONTAINS(ds_last_error(ctx), "cols[1] = 5 is out of range for 3 columns");
  CHECK(ds_sparse_new(ctx, -1, 3, 0, NULL, NULL, NULL) == NULL);
  CHECK_CONTAINS(ds_last_error(ctx), "shape {-1, 3} is invalid");
  CHECK(ds_sparse_solve(A, 9, 0, b, x, NULL, NULL) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "unknown method 9");
  CHECK(ds_ift_adjoint(ctx, NULL, b, x, NULL) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "ds_ift_adjoint");
  ds_sparse_free(A);
  /* an empty system is fine */
  A = ds_sparse_new(ctx, 0, 0, 0, NULL, NULL, NULL);
  CHECK(A && ds_sparse_solve(A, DS_SOLVE_CHOLMOD, 0, b, x, NULL, NULL) == DS_OK);
  ds_sparse_free(A);
}

/* ---- Newton on an implicit Euler step of a stiff spring chain -------------
 * Nodes y_0..y_{N-1} on a line, node -1 anchored at 0. Spring i joins i-1 and i
 * with tension s_i(d) = k_i (d - L) + c (d - L)^3, d = y_i - y_{i-1}. With unit
 * masses, gravity g and step h the implicit step solves
 *     G(y) = (y - xn - h vn) / h^2 - F(y) = 0,
 * F_i = s_{i+1}(d_{i+1}) - s_i(d_i) + g. Parameters p = k (one per spring). */
enum { NC = 6 };
static const double L0 = 1.0, CUB = 40.0, H = 0.1, GRAV = -9.8;

typedef struct chain {
  double k[NC], xn[NC], vn[NC];
  ds_sparse *J;          /* assembled Jacobian, pattern fixed */
  int32_t jr[3 * NC], jc[3 * NC];
  int jn;
  int method;
  int solves;
} chain;

static double dlen(const double *y, int i) { return y[i] - (i ? y[i - 1] : 0.0); }

static void residual_d(const chain *C, const double *k, const double *y, double *G) {
  for (int i = 0; i < NC; i++) {
    double di = dlen(y, i) - L0, si = k[i] * di + CUB * di * di * di, sn = 0;
    if (i + 1 < NC) {
      double dn = dlen(y, i + 1) - L0;
      sn = k[i + 1] * dn + CUB * dn * dn * dn;
    }
    G[i] = (y[i] - C->xn[i] - H * C->vn[i]) / (H * H) - (sn - si + GRAV);
  }
}

/* dense J = I / h^2 + sum_i s_i'(d_i) e e^T, e = e_i - e_{i-1} */
static void jacobian_d(const double *k, const double *y, double *J) {
  for (int i = 0; i < NC * NC; i++) J[i] = 0;
  for (int i = 0; i < NC; i++) {
    J[i * NC + i] += 1 / (H * H);
    double di = dlen(y, i) - L0, sp = k[i] + 3 * CUB * di * di;
    J[i * NC + i] += sp;
    if (i) J[(i - 1) * NC + i - 1] += sp, J[i * NC + i - 1] -= sp, J[(i - 1) * NC + i] -= sp;
  }
}

static int cb_residual(void *u, const ds_real *y, ds_real *G) {
  const chain *C = u;
  double yd[NC], Gd[NC];
  for (int i = 0; i < NC; i++) yd[i] = y[i];
  residual_d(C, C->k, yd, Gd);
  for (int i = 0; i < NC; i++) G[i] = (ds_real)Gd[i];
  return DS_OK;
}

/* Refills the sparse Jacobian at y: the pattern (tridiagonal) never changes. */
static int assemble(chain *C, const ds_real *y) {
  double yd[NC], Jd[NC * NC];
  ds_real v[3 * NC];
  for (int i = 0; i < NC; i++) yd[i] = y[i];
  jacobian_d(C->k, yd, Jd);
  for (int q = 0; q < C->jn; q++) v[q] = (ds_real)Jd[C->jr[q] * NC + C->jc[q]];
  return ds_sparse_set_values(C->J, v);
}

static int cb_solve(void *u, const ds_real *y, const ds_real *G, ds_real *dy) {
  chain *C = u;
  int rc = assemble(C, y);
  C->solves++;
  return rc ? rc : ds_sparse_solve(C->J, C->method, 0, G, dy, NULL, NULL);
}

static int cb_bad_solve(void *u, const ds_real *y, const ds_real *G, ds_real *dy) {
  (void)u, (void)y;
  for (int i = 0; i < NC; i++) dy[i] = -G[i]; /* an ascent direction */
  return DS_OK;
}

static void chain_init(ds_ctx *ctx, chain *C, int method) {
  memset(C, 0, sizeof *C);
  for (int i = 0; i < NC; i++) {
    C->k[i] = 200 + 150 * i; /* stiff: k h^2 >> 1 */
    C->xn[i] = (i + 1) * 1.3 + 0.1 * sin(i);
    C->vn[i] = 0.5 * cos(2.0 * i);
  }
  for (int i = 0; i < NC; i++) {
    C->jr[C->jn] = i, C->jc[C->jn++] = i;
    if (i) C->jr[C->jn] = i, C->jc[C->jn++] = i - 1, C->jr[C->jn] = i - 1, C->jc[C->jn++] = i;
  }
  C->J = ds_sparse_new(ctx, NC, NC, C->jn, C->jr, C->jc, NULL);
  C->method = method;
}

static int chain_solve(ds_ctx *ctx, chain *C, ds_real *y, double tol, ds_newton_info *info) {
  for (int i = 0; i < NC; i++) y[i] = (ds_real)(C->xn[i] + H * C->vn[i]);
  ds_newton_fns f = {C, cb_residual, cb_solve, NULL};
  ds_newton_opts o = {tol, 60, 40, "test.chain_step"};
  return ds_newton(ctx, NC, y, &f, &o, info);
}

static const double W[NC] = {0.3, -1.1, 0.7, 0.2, -0.4, 1.3}; /* loss = W.y */

/* The unrolled gradient: forward-mode tangents through plain Newton steps from
 * the same start, all in double, for d(loss)/dk_j. */
static void unrolled_grad(const chain *C, double *grad) {
  for (int j = 0; j < NC; j++) {
    double y[NC], yd[NC] = {0}, G[NC], Jm[NC * NC], dy[NC], Gd[NC], tmp[NC], Jd[NC * NC];
    for (int i = 0; i < NC; i++) y[i] = C->xn[i] + H * C->vn[i];
    for (int it = 0; it < 40; it++) {
      residual_d(C, C->k, y, G);
      jacobian_d(C->k, y, Jm);
      /* Gdot = J ydot + dG/dk_j */
      for (int i = 0; i < NC; i++) {
        Gd[i] = 0;
        for (int q = 0; q < NC; q++) Gd[i] += Jm[i * NC + q] * yd[q];
      }
      double dj = dlen(y, j) - L0;
      Gd[j] += dj;
      if (j) Gd[j - 1] -= dj;
      /* Jdot: spring i's s' changes by 6 c (d_i - L) ddot_i, and by 1 for i = j */
      for (int i = 0; i < NC * NC; i++) Jd[i] = 0;
      for (int i = 0; i < NC; i++) {
        double di = dlen(y, i) - L0, ddot = yd[i] - (i ? yd[i - 1] : 0);
        double sd = 6 * CUB * di * ddot + (i == j ? 1 : 0);
        Jd[i * NC + i] += sd;
        if (i) Jd[(i - 1) * NC + i - 1] += sd, Jd[i * NC + i - 1] -= sd, Jd[(i - 1) * NC + i] -= sd;
      }
      dense_solve(NC, Jm, G, dy); /* dy = J^-1 G */
      /* d(J^-1 G) = J^-1 (Gdot - Jdot J^-1 G) */
      for (int i = 0; i < NC; i++) {
        tmp[i] = Gd[i];
        for (int q = 0; q < NC; q++) tmp[i] -= Jd[i * NC + q] * dy[q];
      }
      double ddy[NC];
      dense_solve(NC, Jm, tmp, ddy);
      for (int i = 0; i < NC; i++) y[i] -= dy[i], yd[i] -= ddy[i];
    }
    grad[j] = 0;
    for (int i = 0; i < NC; i++) grad[j] += W[i] * yd[i];
  }
}

static void test_newton_ift(ds_ctx *ctx) {
  chain C;
  chain_init(ctx, &C, DS_SOLVE_CHOLMOD);
  CHECK(C.J != NULL);
  ds_real y[NC];
  ds_newton_info info;
  CHECK(chain_solve(ctx, &C, y, F64 ? 1e-13 : 1e-5, &info) == DS_OK);
  CHECK(info.iters >= 2 && info.residual < (F64 ? 1e-7 : 1e-1));
  /* the step really solves G = 0 */
  double yd[NC], G[NC];
  for (int i = 0; i < NC; i++) yd[i] = y[i];
  residual_d(&C, C.k, yd, G);
  double gmax = 0;
  for (int i = 0; i < NC; i++) gmax = fmax(gmax, fabs(G[i]));
  CHECK(gmax < (F64 ? 1e-7 : 2e-1));

  /* IFT: J^T lambda = W at the solution; kbar = -(dG/dk)^T lambda,
   * xnbar = lambda / h^2, vnbar = lambda / h */
  CHECK(assemble(&C, y) == DS_OK);
  ds_real wr[NC], lam[NC];
  for (int i = 0; i < NC; i++) wr[i] = (ds_real)W[i];
  ds_jacobian Jac = {C.J, DS_SOLVE_CHOLMOD, NULL, NULL};
  CHECK(ds_ift_adjoint(ctx, &Jac, wr, lam, NULL) == DS_OK);
  CHECK(ds_sparse_factored(C.J, DS_SOLVE_CHOLMOD) == 1);
  double kbar[NC];
  for (int j = 0; j < NC; j++) {
    double dj = dlen(yd, j) - L0;
    kbar[j] = -(dj * lam[j] - (j ? dj * lam[j - 1] : 0));
  }
  /* the same lambda, matrix-free through CG and through UMFPACK */
  ds_linop op;
  CHECK(ds_sparse_linop(C.J, &op) == DS_OK);
  ds_real lam2[NC];
  ds_krylov_opts ko = {0};
  ko.tol = F64 ? 1e-13 : 1e-6;
  ds_jacobian Jop = {NULL, 0, &op, &ko};
  CHECK(ds_ift_adjoint(ctx, &Jop, wr, lam2, NULL) == DS_OK);
  double lamd[NC];
  for (int i = 0; i < NC; i++) lamd[i] = lam[i];
  CHECK(rel_err(NC, lam2, lamd) < (F64 ? 1e-10 : 1e-4));
  Jac.method = DS_SOLVE_UMFPACK;
  CHECK(ds_ift_adjoint(ctx, &Jac, wr, lam2, NULL) == DS_OK);
  CHECK(rel_err(NC, lam2, lamd) < (F64 ? 1e-12 : 1e-5));

  /* against differentiating the unrolled Newton iterations (double) */
  double ug[NC];
  unrolled_grad(&C, ug);
  double scale = 0; /* errors relative to the largest component (they are ~1e-4: stiff springs barely move) */
  for (int j = 0; j < NC; j++) scale = fmax(scale, fabs(ug[j]));
  CHECK(scale > 1e-5);
  for (int j = 0; j < NC; j++) {
    double e = fabs(ug[j] - kbar[j]) / scale;
    if (e > (F64 ? 1e-8 : 5e-3)) fprintf(stderr, "k[%d]: ift %.12g unrolled %.12g\n", j, kbar[j], ug[j]);
    CHECK(e < (F64 ? 1e-8 : 5e-3));
  }
  /* against central differences of the converged step (float64 only) */
  if (F64) {
    const double eps = 1e-4; /* k ~ 1e2-1e3: a relative step of ~1e-7 */
    for (int j = 0; j < NC; j++) {
      double f[2];
      for (int sgn = 0; sgn < 2; sgn++) {
        chain D = C;
        D.k[j] += sgn ? -eps : eps;
        ds_real yy[NC];
        CHECK(chain_solve(ctx, &D, yy, 1e-14, NULL) == DS_OK);
        f[sgn] = 0;
        for (int i = 0; i < NC; i++) f[sgn] += W[i] * yy[i];
      }
      double fd = (f[0] - f[1]) / (2 * eps);
      double e = fabs(fd - kbar[j]) / scale;
      if (e > 1e-6) fprintf(stderr, "k[%d]: ift %.12g fd %.12g\n", j, kbar[j], fd);
      CHECK(e < 1e-6);
    }
    /* and in the initial position: xnbar_i = lambda_i / h^2 */
    for (int j = 0; j < NC; j += 2) {
      double f[2];
      for (int sgn = 0; sgn < 2; sgn++) {
        chain D = C;
        D.xn[j] += sgn ? -eps : eps;
        ds_real yy[NC];
        CHECK(chain_solve(ctx, &D, yy, 1e-14, NULL) == DS_OK);
        f[sgn] = 0;
        for (int i = 0; i < NC; i++) f[sgn] += W[i] * yy[i];
      }
      double fd = (f[0] - f[1]) / (2 * eps), an = lam[j] / (H * H);
      CHECK(fabs(fd - an) <= 1e-6 * fmax(1, fabs(fd)));
    }
  }

  /* failures name the step and the residual */
  ds_newton_fns f = {&C, cb_residual, cb_solve, NULL};
  ds_newton_opts o = {1e-14, 1, 30, "springs.implicit_euler"};
  for (int i = 0; i < NC; i++) y[i] = (ds_real)(C.xn[i] + H * C.vn[i]);
  CHECK(ds_newton(ctx, NC, y, &f, &o, &info) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "ds_newton: step 'springs.implicit_euler' did not converge in 1 iterations: |G| =");
  ds_newton_fns fb = {&C, cb_residual, cb_bad_solve, NULL};
  o.max_iters = 10, o.max_halvings = 5;
  for (int i = 0; i < NC; i++) y[i] = (ds_real)(C.xn[i] + H * C.vn[i]);
  CHECK(ds_newton(ctx, NC, y, &fb, &o, &info) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "step 'springs.implicit_euler': line search failed at iteration 0 after 5 halvings");
  ds_sparse_free(C.J);
}

int main(void) {
  ds_ctx *ctx = ds_ctx_new(2);
  CHECK(ctx != NULL);
  test_poisson(ctx);
  test_nonsymmetric(ctx);
  test_duplicates_and_refactor(ctx);
  test_determinism(ctx);
  test_cg_options(ctx);
  test_errors(ctx);
  test_newton_ift(ctx);
  ds_ctx_free(ctx);
  TEST_DONE();
}
