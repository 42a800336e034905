/* Sparse matrices from triplets: CSR of A and of A^T, the triplet -> slot maps
 * that let new values refill the same pattern without sorting, mat-vecs, and
 * the matrix as a ds_linop.
 *
 * Both layouts are built by two stable counting sorts (by the minor index, then
 * by the major one), so the construction is O(nnz + n + m) and the order in
 * which duplicates are summed is the triplet order: deterministic. */
#include "solve_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void sparse_release(ds_sparse *A) {
  free(A->rp), free(A->ci), free(A->v), free(A->tp), free(A->ti), free(A->tv), free(A->slot), free(A->tslot);
  ds_chol_free(A->chol);
  ds_umf_free(A->umf);
  free(A);
}

void ds_sparse_free(ds_sparse *A) {
  if (A) sparse_release(A);
}

/* Lays out triplets sorted by (major, minor) with duplicates merged: ptr (nmaj+1),
 * idx (merged count), slot[k] for each triplet. Returns the merged count or -1. */
static int64_t layout(int64_t nt, const int32_t *maj, const int32_t *min, int64_t nmaj, int64_t nmin, int64_t **ptr_out,
                      int32_t **idx_out, int64_t *slot) {
  int64_t *cnt = calloc((size_t)(nmaj > nmin ? nmaj : nmin) + 1, sizeof *cnt);
  int64_t *o1 = malloc((size_t)(nt ? nt : 1) * sizeof *o1), *o2 = malloc((size_t)(nt ? nt : 1) * sizeof *o2);
  int64_t *ptr = calloc((size_t)nmaj + 1, sizeof *ptr);
  int32_t *idx = NULL;
  int64_t merged = -1;
  if (!cnt || !o1 || !o2 || !ptr) goto done;
  /* pass 1: stable by minor index */
  for (int64_t k = 0; k < nt; k++) cnt[min[k] + 1]++;
  for (int64_t j = 0; j < nmin; j++) cnt[j + 1] += cnt[j];
  for (int64_t k = 0; k < nt; k++) o1[cnt[min[k]]++] = k;
  /* pass 2: stable by major index -> sorted by (major, minor), ties in triplet order */
  memset(cnt, 0, ((size_t)(nmaj > nmin ? nmaj : nmin) + 1) * sizeof *cnt);
  for (int64_t k = 0; k < nt; k++) cnt[maj[k] + 1]++;
  for (int64_t i = 0; i < nmaj; i++) cnt[i + 1] += cnt[i];
  for (int64_t q = 0; q < nt; q++) {
    int64_t k = o1[q];
    o2[cnt[maj[k]]++] = k;
  }
  idx = malloc((size_t)(nt ? nt : 1) * sizeof *idx);
  if (!idx) goto done;
  merged = 0;
  int64_t prev_maj = -1, prev_min = -1;
  for (int64_t q = 0; q < nt; q++) {
    int64_t k = o2[q];
    if (maj[k] != prev_maj || min[k] != prev_min) {
      idx[merged] = min[k];
      ptr[maj[k] + 1]++;
      merged++;
      prev_maj = maj[k], prev_min = min[k];
    }
    slot[k] = merged - 1;
  }
  for (int64_t i = 0; i < nmaj; i++) ptr[i + 1] += ptr[i];
done:
  free(cnt), free(o1), free(o2);
  if (merged < 0) {
    free(ptr), free(idx);
    return -1;
  }
  *ptr_out = ptr, *idx_out = idx;
  return merged;
}

static int fill(ds_sparse *A, const ds_real *vals, const char *fn);

ds_sparse *ds_sparse_new(ds_ctx *ctx, int64_t n, int64_t m, int64_t nnz, const int32_t *rows, const int32_t *cols,
                         const ds_real *vals) {
  if (!ctx) return NULL;
  if (n < 0 || m < 0 || n > INT32_MAX || m > INT32_MAX) {
    ds_fail(ctx, DS_ERR_ARG, "ds_sparse_new: shape {%lld, %lld} is invalid (0..2^31-1 each)", (long long)n,
            (long long)m);
    return NULL;
  }
  if (nnz < 0 || (nnz > 0 && (!rows || !cols))) {
    ds_fail(ctx, DS_ERR_ARG, "ds_sparse_new: %s", nnz < 0 ? "nnz is negative" : "rows or cols is NULL");
    return NULL;
  }
  for (int64_t k = 0; k < nnz; k++) {
    if (rows[k] < 0 || rows[k] >= n) {
      ds_fail(ctx, DS_ERR_ARG, "ds_sparse_new: rows[%lld] = %d is out of range for %lld rows", (long long)k, rows[k],
              (long long)n);
      return NULL;
    }
    if (cols[k] < 0 || cols[k] >= m) {
      ds_fail(ctx, DS_ERR_ARG, "ds_sparse_new: cols[%lld] = %d is out of range for %lld columns", (long long)k,
              cols[k], (long long)m);
      return NULL;
    }
  }
  ds_sparse *A = calloc(1, sizeof *A);
  if (!A) goto nomem;
  A->ctx = ctx, A->n = n, A->m = m, A->ntrip = nnz, A->sym = -1;
  A->slot = malloc((size_t)(nnz ? nnz : 1) * sizeof *A->slot);
  A->tslot = malloc((size_t)(nnz ? nnz : 1) * sizeof *A->tslot);
  if (!A->slot || !A->tslot) goto nomem;
  A->nnz = layout(nnz, rows, cols, n, m, &A->rp, &A->ci, A->slot);
  if (A->nnz < 0 || layout(nnz, cols, rows, m, n, &A->tp, &A->ti, A->tslot) != A->nnz) goto nomem;
  A->v = malloc((size_t)(A->nnz ? A->nnz : 1) * sizeof *A->v);
  A->tv = malloc((size_t)(A->nnz ? A->nnz : 1) * sizeof *A->tv);
  if (!A->v || !A->tv) goto nomem;
  if (vals) {
    if (fill(A, vals, "ds_sparse_new") != DS_OK) {
      sparse_release(A);
      return NULL;
    }
  } else {
    memset(A->v, 0, (size_t)A->nnz * sizeof *A->v);
    memset(A->tv, 0, (size_t)A->nnz * sizeof *A->tv);
  }
  return A;
nomem:
  if (A) sparse_release(A);
  ds_fail(ctx, DS_ERR_NOMEM, "ds_sparse_new: out of memory for %lld triplets", (long long)nnz);
  return NULL;
}

static int fill(ds_sparse *A, const ds_real *vals, const char *fn) {
  if (!vals && A->ntrip > 0) return ds_fail(A->ctx, DS_ERR_ARG, "%s: vals is NULL", fn);
  int bad = ds_sv_first_nonfinite(vals, A->ntrip);
  if (bad)
    return ds_fail(A->ctx, DS_ERR_ARG, "%s: vals[%d] is %s; the matrix must be finite", fn, bad - 1,
                   isnan(vals[bad - 1]) ? "NaN" : "infinite");
  memset(A->v, 0, (size_t)A->nnz * sizeof *A->v);
  memset(A->tv, 0, (size_t)A->nnz * sizeof *A->tv);
  /* triplet order: duplicates are summed in the same order every time */
  for (int64_t k = 0; k < A->ntrip; k++) {
    A->v[A->slot[k]] += vals[k];
    A->tv[A->tslot[k]] += vals[k];
  }
  A->ver++;
  return DS_OK;
}

int ds_sparse_set_values(ds_sparse *A, const ds_real *vals) {
  return A ? fill(A, vals, "ds_sparse_set_values") : DS_ERR_ARG;
}

int64_t ds_sparse_rows(const ds_sparse *A) { return A ? A->n : -1; }
int64_t ds_sparse_cols(const ds_sparse *A) { return A ? A->m : -1; }
int64_t ds_sparse_nnz(const ds_sparse *A) { return A ? A->nnz : -1; }
int64_t ds_sparse_slot(const ds_sparse *A, int64_t k) { return A && k >= 0 && k < A->ntrip ? A->slot[k] : -1; }

/* ---- mat-vecs: one row per output element, so threads never collide ------- */
typedef struct mv_job {
  const int64_t *p;
  const int32_t *i;
  const ds_real *v, *x;
  ds_real *y;
} mv_job;

static void mv_rows(int64_t lo, int64_t hi, void *u) {
  const mv_job *J = u;
  for (int64_t r = lo; r < hi; r++) {
    double s = 0;
    for (int64_t q = J->p[r]; q < J->p[r + 1]; q++) s += (double)J->v[q] * J->x[J->i[q]];
    J->y[r] = (ds_real)s;
  }
}

static void csr_apply(ds_ctx *ctx, int64_t nrows, const int64_t *p, const int32_t *i, const ds_real *v,
                      const ds_real *x, ds_real *y) {
  mv_job J = {p, i, v, x, y};
  /* 16k rows per task: below that, waking threads costs more than the rows */
  ds_parallel_for(ctx, nrows, 16384, mv_rows, &J);
}

int ds_sparse_matvec(ds_sparse *A, const ds_real *x, ds_real *y) {
  if (!A) return DS_ERR_ARG;
  if ((!x && A->m) || (!y && A->n)) return ds_fail(A->ctx, DS_ERR_ARG, "ds_sparse_matvec: x or y is NULL");
  csr_apply(A->ctx, A->n, A->rp, A->ci, A->v, x, y);
  return DS_OK;
}

int ds_sparse_matvec_t(ds_sparse *A, const ds_real *x, ds_real *y) {
  if (!A) return DS_ERR_ARG;
  if ((!x && A->n) || (!y && A->m)) return ds_fail(A->ctx, DS_ERR_ARG, "ds_sparse_matvec_t: x or y is NULL");
  csr_apply(A->ctx, A->m, A->tp, A->ti, A->tv, x, y);
  return DS_OK;
}

/* Symmetric when A and A^T agree entry by entry (an entry stored on one side
 * only counts as zero on the other) up to round-off of assembly. */
int ds_sparse_is_symmetric(ds_sparse *A) {
  if (!A) return -1;
  if (A->n != A->m) return -1;
  if (A->sym >= 0 && A->sym_ver == A->ver) return A->sym;
  const double tol = 64 * ds_sv_eps();
  int sym = 1;
  for (int64_t r = 0; r < A->n && sym; r++) {
    int64_t a = A->rp[r], ae = A->rp[r + 1], b = A->tp[r], be = A->tp[r + 1];
    while (a < ae || b < be) {
      double x = 0, y = 0;
      if (b >= be || (a < ae && A->ci[a] < A->ti[b])) x = A->v[a++];
      else if (a >= ae || A->ti[b] < A->ci[a]) y = A->tv[b++];
      else x = A->v[a++], y = A->tv[b++];
      if (fabs(x - y) > tol * (fabs(x) + fabs(y))) {
        sym = 0;
        break;
      }
    }
  }
  A->sym = sym, A->sym_ver = A->ver;
  return sym;
}

/* ---- the matrix as an operator ------------------------------------------- */
static void op_apply(void *u, const ds_real *x, ds_real *y) { ds_sparse_matvec(u, x, y); }
static void op_apply_t(void *u, const ds_real *x, ds_real *y) { ds_sparse_matvec_t(u, x, y); }
static void op_diag(void *u, ds_real *d) {
  const ds_sparse *A = u;
  for (int64_t r = 0; r < A->n; r++) {
    d[r] = 0;
    for (int64_t q = A->rp[r]; q < A->rp[r + 1]; q++)
      if (A->ci[q] == r) d[r] = A->v[q];
  }
}

int ds_sparse_linop(ds_sparse *A, ds_linop *op) {
  if (!A || !op) return A ? ds_fail(A->ctx, DS_ERR_ARG, "ds_sparse_linop: op is NULL") : DS_ERR_ARG;
  if (A->n != A->m)
    return ds_fail(A->ctx, DS_ERR_ARG, "ds_sparse_linop: matrix is %lld x %lld, not square", (long long)A->n,
                   (long long)A->m);
  op->n = A->n;
  op->user = A;
  op->apply = op_apply;
  op->apply_t = ds_sparse_is_symmetric(A) == 1 ? NULL : op_apply_t;
  op->diag = op_diag;
  return DS_OK;
}
