/* diffsim solvers: the numerics that plugins share (DESIGN.md, "Shared services").
 *
 *   - ds_linop: a matrix-free linear operator (apply, transpose, diagonal);
 *   - ds_cg / ds_bicgstab: Krylov solves over a ds_linop, Jacobi-preconditioned
 *     from its diagonal, with deterministic dot products;
 *   - ds_sparse: a sparse matrix assembled from triplets, its mat-vecs, and
 *     direct solves through SuiteSparse (CHOLMOD for SPD, UMFPACK otherwise).
 *     The factorization stays with the matrix: transposed (adjoint) solves reuse
 *     it, and new values on the same pattern reuse the symbolic analysis;
 *   - ds_newton: Newton's method with a backtracking (Armijo) line search;
 *   - ds_ift_adjoint: the implicit-function adjoint solve (dG/dy)^T lambda = ybar.
 *
 * FFI-clean like core.h: enums, no #define constants, no structs by value.
 * Every function that can fail returns a ds_status and leaves a message in
 * ds_last_error(ctx) naming the function and the argument. Numerical failures
 * (singular matrix, no convergence) are DS_ERR_ARG: the input could not be solved.
 * See docs/solvers.md. */
#ifndef DIFFSIM_SOLVE_H
#define DIFFSIM_SOLVE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- linear operators -------------------------------------------------- */
/* y = A x over n reals. apply_t (y = A^T x) may be NULL: A is symmetric.
 * diag (d = diag(A)) may be NULL: no Jacobi preconditioner. Callbacks may run
 * threads through the context but must be deterministic. */
typedef struct ds_linop {
  int64_t n;
  void *user;
  void (*apply)(void *user, const ds_real *x, ds_real *y);
  void (*apply_t)(void *user, const ds_real *x, ds_real *y);
  void (*diag)(void *user, ds_real *d);
} ds_linop;

typedef enum ds_precond { DS_PRECOND_AUTO = 0, DS_PRECOND_NONE = 1 } ds_precond;

/* Options of the Krylov solvers. Zero-initialise, then set what you need. */
typedef struct ds_krylov_opts {
  double tol;          /* stop when |b - A x|_2 <= tol |b|_2; <= 0: 1e-5 (f32) / 1e-10 (f64) */
  int32_t max_iters;   /* <= 0: 2 n + 100 */
  int32_t precond;     /* ds_precond: AUTO = Jacobi when the operator has a diagonal */
  int32_t transpose;   /* nonzero: solve A^T x = b (uses apply_t; apply when it is NULL) */
  int32_t allow_unconverged; /* nonzero: not converging is not an error (check info.converged) */
  const ds_real *x0;   /* warm start; NULL: zero */
  const char *label;   /* names the caller in messages, e.g. "smoke.project" */
  /* Appended (issue 9): CG only; zero keeps the behaviour above. */
  int64_t block;       /* elements per reduction block; <= 0: 4096. The sums, hence the bits of x,
                          depend on it (and on n), never on the thread count: a plugin passes the
                          partition its own kernels use to keep its numbers */
  double atol;         /* absolute floor: also stop when |b - A x|_2 <= atol (e.g. the round-off
                          level of b); <= 0: none */
  void *work;          /* optional workspace of ds_cg_work_bytes(n, opts) bytes, 64-byte aligned
                          (a kernel passes host->scratch: no allocation per solve); NULL: allocated */
} ds_krylov_opts;

typedef struct ds_krylov_info {
  int32_t iters;       /* iterations used */
  int32_t converged;   /* 1 when the tolerance was met */
  double residual;     /* final |b - A x|_2 / |b|_2 (0 when b = 0) */
} ds_krylov_info;

/* Preconditioned conjugate gradients: A symmetric positive definite (or
 * semi-definite with b in its range). x (n reals) receives the solution; opts
 * and info may be NULL. Stops at |r| <= max(tol |b|, atol); |r|^2 <= 1e-30 |b|^2
 * is round-off and counts as converged. Fixed blocks of opts->block elements,
 * eight double partial sums per block, block sums added in block order: the
 * same bits for any thread count (docs/solvers.md). */
int ds_cg(ds_ctx *ctx, const ds_linop *A, const ds_real *b, ds_real *x, const ds_krylov_opts *opts,
          ds_krylov_info *info);
/* Bytes of opts->work that ds_cg needs for n unknowns with these options
 * (opts may be NULL); -1 when n is negative. */
int64_t ds_cg_work_bytes(int64_t n, const ds_krylov_opts *opts);
/* Preconditioned BiCGSTAB: A square, any symmetry. */
int ds_bicgstab(ds_ctx *ctx, const ds_linop *A, const ds_real *b, ds_real *x, const ds_krylov_opts *opts,
                ds_krylov_info *info);
/* Deterministic dot product in double: fixed blocks combined in a fixed order,
 * the same bits for any thread count. */
double ds_solve_dot(ds_ctx *ctx, int64_t n, const ds_real *a, const ds_real *b);

/* ---- sparse matrices --------------------------------------------------- */
typedef struct ds_sparse ds_sparse; /* opaque; owns CSR + CSC copies and any factorization */

typedef enum ds_solve_method { DS_SOLVE_CHOLMOD = 0, DS_SOLVE_UMFPACK = 1, DS_SOLVE_CG = 2, DS_SOLVE_BICGSTAB = 3 } ds_solve_method;

/* An n x m matrix from nnz triplets (rows[k], cols[k], vals[k]), 0-based.
 * Duplicates are summed (in triplet order, so deterministically). vals may be
 * NULL (all zero; set them later). Returns NULL on error. */
ds_sparse *ds_sparse_new(ds_ctx *ctx, int64_t n, int64_t m, int64_t nnz, const int32_t *rows, const int32_t *cols,
                         const ds_real *vals);
void ds_sparse_free(ds_sparse *A);
/* New triplet values (nnz of them, same order as at creation) for the same
 * pattern: refills in place, no sorting; a later solve refactors numerically
 * and keeps the symbolic analysis. */
int ds_sparse_set_values(ds_sparse *A, const ds_real *vals);
int64_t ds_sparse_rows(const ds_sparse *A);
int64_t ds_sparse_cols(const ds_sparse *A);
int64_t ds_sparse_nnz(const ds_sparse *A);       /* stored entries after summing duplicates */
int64_t ds_sparse_slot(const ds_sparse *A, int64_t k); /* CSR slot of triplet k, or -1 */
int ds_sparse_matvec(ds_sparse *A, const ds_real *x, ds_real *y);   /* y = A x   (x: m, y: n) */
int ds_sparse_matvec_t(ds_sparse *A, const ds_real *x, ds_real *y); /* y = A^T x (x: n, y: m) */
/* Fills op with A as an operator (square A; apply_t is NULL when A is symmetric).
 * op borrows A: keep A alive while op is used. */
int ds_sparse_linop(ds_sparse *A, ds_linop *op);
int ds_sparse_is_symmetric(ds_sparse *A);        /* 1, 0, or -1 on error (non-square) */

/* Factorizes A (CHOLMOD or UMFPACK) unless the current values are factored
 * already. Errors: non-square, non-finite values, not symmetric (CHOLMOD),
 * not positive definite (CHOLMOD), singular (UMFPACK). */
int ds_sparse_factor(ds_sparse *A, int method);
/* x = A^-1 b (transpose = 0) or A^-T b (transpose != 0), factoring first when
 * needed; a transposed solve reuses the factorization of the forward one.
 * method CG / BICGSTAB run the Krylov solver with krylov (may be NULL). */
int ds_sparse_solve(ds_sparse *A, int method, int transpose, const ds_real *b, ds_real *x,
                    const ds_krylov_opts *krylov, ds_krylov_info *info);
/* 1 when the factorization of this method matches the current values. */
int ds_sparse_factored(const ds_sparse *A, int method);

/* ---- Newton's method ---------------------------------------------------- */
/* The caller's problem G(y) = 0 over n unknowns. Both callbacks return DS_OK
 * or a ds_status after setting the context error (e.g. through ds_sparse_*). */
typedef struct ds_newton_fns {
  void *user;
  int (*residual)(void *user, const ds_real *y, ds_real *G);
  /* dy = J(y)^-1 G, J = dG/dy at y (assemble a ds_sparse and solve, or CG). */
  int (*solve)(void *user, const ds_real *y, const ds_real *G, ds_real *dy);
  /* Appended (issue 15); NULL keeps the |G|^2 line search. When G is the gradient of an
   * energy E (a minimisation: incremental potentials, static equilibria), E(y) in double.
   * The line search then asks E(y - t dy) <= E(y) - 1e-4 t G.dy (Armijo on the energy, so a
   * projected-SPD Newton step is accepted whenever it descends), and near the minimum, where
   * E changes by round-off only, it accepts a step that does not raise E beyond round-off and
   * lowers |G|. A step that is not a descent direction (G.dy <= 0) is an error. */
  int (*energy)(void *user, const ds_real *y, double *E);
} ds_newton_fns;

typedef struct ds_newton_opts {
  double tol;          /* converged when |G|_2 <= tol max(1, |G(y0)|_2); <= 0: 1e-4 (f32) / 1e-10 (f64) */
  int32_t max_iters;   /* <= 0: 50 */
  int32_t max_halvings;/* line-search halvings per iteration; <= 0: 30 */
  const char *label;   /* the step's name in messages, e.g. "springs.implicit_euler" */
} ds_newton_opts;

typedef struct ds_newton_info {
  int32_t iters;       /* Newton iterations taken */
  int32_t halvings;    /* line-search halvings, all iterations together */
  double residual;     /* final |G|_2 */
} ds_newton_info;

/* Solves G(y) = 0 from the y given (overwritten with the solution).
 * Step y <- y - t dy, t = 1, 1/2, ... until the Armijo condition on
 * f = |G|^2 / 2 holds: f(y - t dy) <= (1 - 2e-4 t) f(y); with fns->energy,
 * on the energy instead (see ds_newton_fns). */
int ds_newton(ds_ctx *ctx, int64_t n, ds_real *y, const ds_newton_fns *fns, const ds_newton_opts *opts,
              ds_newton_info *info);

/* ---- the implicit-function adjoint ------------------------------------- */
/* For G(y, x, p) = 0 solved forward, dy/dp = -(dG/dy)^-1 dG/dp. With
 *     (dG/dy)^T lambda = ybar
 * the caller forms   xbar = -(dG/dx)^T lambda,   pbar = -(dG/dp)^T lambda.
 * The Jacobian at the solution is given in one of two forms: */
typedef struct ds_jacobian {
  ds_sparse *sparse;   /* assembled dG/dy (its factorization is reused when its values are current) */
  int32_t method;      /* ds_solve_method used with sparse */
  const ds_linop *op;  /* or matrix-free dG/dy (used when sparse is NULL): CG when op is
                          symmetric (apply_t NULL), BiCGSTAB on its transpose otherwise */
  const ds_krylov_opts *krylov; /* Krylov options (tol, max_iters, label); may be NULL */
} ds_jacobian;

/* lambda (n reals) = (dG/dy)^-T ybar: one transposed solve, never unrolled. */
int ds_ift_adjoint(ds_ctx *ctx, const ds_jacobian *J, const ds_real *ybar, ds_real *lambda, ds_krylov_info *info);

/* ---- the table plugins get through the host (host->solve) -------------- */
typedef struct ds_solve_api {
  uint32_t size;       /* sizeof(ds_solve_api) of the core: append-only, check before using new entries */
  int (*cg)(ds_ctx *ctx, const ds_linop *A, const ds_real *b, ds_real *x, const ds_krylov_opts *opts,
            ds_krylov_info *info);
  int (*bicgstab)(ds_ctx *ctx, const ds_linop *A, const ds_real *b, ds_real *x, const ds_krylov_opts *opts,
                  ds_krylov_info *info);
  double (*dot)(ds_ctx *ctx, int64_t n, const ds_real *a, const ds_real *b);
  ds_sparse *(*sparse_new)(ds_ctx *ctx, int64_t n, int64_t m, int64_t nnz, const int32_t *rows, const int32_t *cols,
                           const ds_real *vals);
  void (*sparse_free)(ds_sparse *A);
  int (*sparse_set_values)(ds_sparse *A, const ds_real *vals);
  int64_t (*sparse_rows)(const ds_sparse *A);
  int64_t (*sparse_cols)(const ds_sparse *A);
  int64_t (*sparse_nnz)(const ds_sparse *A);
  int64_t (*sparse_slot)(const ds_sparse *A, int64_t k);
  int (*sparse_matvec)(ds_sparse *A, const ds_real *x, ds_real *y);
  int (*sparse_matvec_t)(ds_sparse *A, const ds_real *x, ds_real *y);
  int (*sparse_linop)(ds_sparse *A, ds_linop *op);
  int (*sparse_is_symmetric)(ds_sparse *A);
  int (*sparse_factor)(ds_sparse *A, int method);
  int (*sparse_solve)(ds_sparse *A, int method, int transpose, const ds_real *b, ds_real *x,
                      const ds_krylov_opts *krylov, ds_krylov_info *info);
  int (*sparse_factored)(const ds_sparse *A, int method);
  int (*newton)(ds_ctx *ctx, int64_t n, ds_real *y, const ds_newton_fns *fns, const ds_newton_opts *opts,
                ds_newton_info *info);
  int (*ift_adjoint)(ds_ctx *ctx, const ds_jacobian *J, const ds_real *ybar, ds_real *lambda,
                     ds_krylov_info *info);
  /* appended (issue 9) */
  int64_t (*cg_work_bytes)(int64_t n, const ds_krylov_opts *opts);
} ds_solve_api;

#ifdef __cplusplus
}
#endif
#endif
