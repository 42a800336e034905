/* Internals shared by the files of core/src/solve/: the sparse matrix layout and
 * small helpers. Never installed. */
#ifndef DS_SOLVE_INTERNAL_H
#define DS_SOLVE_INTERNAL_H

#include "../internal.h"
#include "diffsim/solve.h"

/* A factorization through one SuiteSparse package (direct_*.c); opaque here. */
typedef struct ds_chol ds_chol;
typedef struct ds_umf ds_umf;

struct ds_sparse {
  ds_ctx *ctx;
  int64_t n, m;             /* rows, cols */
  int64_t ntrip;            /* triplets given at creation */
  int64_t nnz;              /* stored entries after summing duplicates */
  /* CSR of A: row pointers, column indices (sorted in each row), values */
  int64_t *rp;
  int32_t *ci;
  ds_real *v;
  /* CSR of A^T (= CSC of A), for deterministic transposed mat-vecs */
  int64_t *tp;
  int32_t *ti;
  ds_real *tv;
  int64_t *slot;            /* triplet k -> CSR slot */
  int64_t *tslot;           /* triplet k -> slot in the transpose */
  uint64_t ver;             /* bumped by every ds_sparse_set_values */
  int sym;                  /* -1 unknown, 0 no, 1 yes, for values version sym_ver */
  uint64_t sym_ver;
  ds_chol *chol;
  ds_umf *umf;
};

/* vector helpers (vec.c): deterministic across thread counts */
double ds_sv_dot(ds_ctx *ctx, int64_t n, const ds_real *a, const ds_real *b);
int ds_sv_first_nonfinite(const ds_real *a, int64_t n); /* index + 1, or 0 */
double ds_sv_eps(void);  /* unit round-off of ds_real */

/* direct_cholmod.c / direct_umfpack.c */
int ds_chol_factor(ds_sparse *A);
int ds_chol_solve(ds_sparse *A, const ds_real *b, ds_real *x);
void ds_chol_free(ds_chol *c);
int ds_chol_current(const ds_sparse *A);
int ds_umf_factor(ds_sparse *A);
int ds_umf_solve(ds_sparse *A, int transpose, const ds_real *b, ds_real *x);
void ds_umf_free(ds_umf *u);
int ds_umf_current(const ds_sparse *A);

#endif
