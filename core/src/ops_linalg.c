/* Matrix products through BLAS and row-broadcast bias addition.
 * matmul: out{m,n} = op(a) op(b), op = optional transpose (params ta, tb).
 * Its adjoint is two more GEMMs that accumulate (beta = 1) into the grads. */
#include "internal.h"

#include <cblas.h>

#ifdef DS_REAL_F64
#define GEMM cblas_dgemm
#else
#define GEMM cblas_sgemm
#endif

static const char *const MM_PARAMS[] = {"transpose_a", "transpose_b", 0};

static void dims(const ds_call *c, int64_t *m, int64_t *k, int64_t *kb, int64_t *n) {
  const ds_tensor *a = c->args[0], *b = c->args[1];
  int ta = c->params[0] != 0, tb = c->params[1] != 0;
  *m = ta ? a->dims[1] : a->dims[0];
  *k = ta ? a->dims[0] : a->dims[1];
  *kb = tb ? b->dims[1] : b->dims[0];
  *n = tb ? b->dims[0] : b->dims[1];
}

static int mm_check(const ds_call *c) {
  int64_t m, k, kb, n;
  dims(c, &m, &k, &kb, &n);
  if (k != kb)
    return c->host->error(c, "inner dimensions differ: 'a' gives %lld columns, 'b' gives %lld rows", (long long)k,
                          (long long)kb);
  return ds_expect_shape(c, 2, 2, m, n, -1, -1);
}

static int mm_fwd(const ds_call *c) {
  int64_t m, k, kb, n;
  dims(c, &m, &k, &kb, &n);
  const ds_tensor *a = c->args[0], *b = c->args[1];
  int ta = c->params[0] != 0, tb = c->params[1] != 0;
  if (m == 0 || n == 0) return DS_OK;
  if (k == 0) {
    ds_real *o = ds_rdata(c->args[2]);
    for (int64_t i = 0; i < m * n; i++) o[i] = 0;
    return DS_OK;
  }
  GEMM(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, 1,
       ds_rdata(a), (int)a->dims[1], ds_rdata(b), (int)b->dims[1], 0, ds_rdata(c->args[2]), (int)n);
  return DS_OK;
}

static int mm_adj(const ds_call *c) {
  int64_t m, k, kb, n;
  dims(c, &m, &k, &kb, &n);
  const ds_tensor *a = c->args[0], *b = c->args[1];
  int ta = c->params[0] != 0, tb = c->params[1] != 0;
  ds_real *ga = ds_rgrad(a), *gb = ds_rgrad(b), *go = ds_rgrad(c->args[2]);
  if (m == 0 || n == 0 || k == 0) return DS_OK;
  int lda = (int)a->dims[1], ldb = (int)b->dims[1];
  if (ga) {
    /* dA = dC op(B)^T, stored transposed when a is used transposed */
    if (!ta)
      GEMM(CblasRowMajor, CblasNoTrans, tb ? CblasNoTrans : CblasTrans, (int)m, (int)k, (int)n, 1, go, (int)n,
           ds_rdata(b), ldb, 1, ga, lda);
    else
      GEMM(CblasRowMajor, tb ? CblasTrans : CblasNoTrans, CblasTrans, (int)k, (int)m, (int)n, 1, ds_rdata(b), ldb,
           go, (int)n, 1, ga, lda);
  }
  if (gb) {
    /* dB = op(A)^T dC, stored transposed when b is used transposed */
    if (!tb)
      GEMM(CblasRowMajor, ta ? CblasNoTrans : CblasTrans, CblasNoTrans, (int)k, (int)n, (int)m, 1, ds_rdata(a), lda,
           go, (int)n, 1, gb, ldb);
    else
      GEMM(CblasRowMajor, CblasTrans, ta ? CblasTrans : CblasNoTrans, (int)n, (int)k, (int)m, 1, go, (int)n,
           ds_rdata(a), lda, 1, gb, ldb);
  }
  return DS_OK;
}

/* add_row: out{m,n} = x{m,n} + b{n} on every row (bias of a linear layer). */
typedef struct row_job { const ds_call *c; int64_t n; } row_job;

static int addrow_check(const ds_call *c) {
  const ds_tensor *x = c->args[0];
  int rc = ds_expect_shape(c, 1, 1, x->dims[1], -1, -1, -1);
  return rc ? rc : ds_expect_shape(c, 2, 2, x->dims[0], x->dims[1], -1, -1);
}

static void addrow_block(int64_t lo, int64_t hi, void *u) {
  const row_job *j = u;
  const ds_real *x = ds_rdata(j->c->args[0]), *b = ds_rdata(j->c->args[1]);
  ds_real *o = ds_rdata(j->c->args[2]);
  for (int64_t i = lo; i < hi; i++)
    for (int64_t k = 0; k < j->n; k++) o[i * j->n + k] = x[i * j->n + k] + b[k];
}

static int addrow_fwd(const ds_call *c) {
  row_job j = {c, c->args[0]->dims[1]};
  c->host->parallel_for(c->ctx, c->args[0]->dims[0], 64, addrow_block, &j);
  return DS_OK;
}

static int addrow_adj(const ds_call *c) {
  int64_t m = c->args[0]->dims[0], n = c->args[0]->dims[1];
  ds_real *gx = ds_rgrad(c->args[0]), *gb = ds_rgrad(c->args[1]);
  const ds_real *go = ds_rgrad(c->args[2]);
  if (gx)
    for (int64_t i = 0; i < m * n; i++) gx[i] += go[i];
  if (gb)
    for (int64_t k = 0; k < n; k++) {
      double s = 0;
      for (int64_t i = 0; i < m; i++) s += go[i * n + k];
      gb[k] += (ds_real)s;
    }
  return DS_OK;
}

static const ds_arg_desc MM_ARGS[] = {{"a", DS_IN, DS_REAL, 2, 0}, {"b", DS_IN, DS_REAL, 2, 0}, {"out", DS_OUT, DS_REAL, 2, 0}, {0}};
static const ds_arg_desc ROW_ARGS[] = {{"x", DS_IN, DS_REAL, 2, 0}, {"bias", DS_IN, DS_REAL, 1, 0}, {"out", DS_OUT, DS_REAL, 2, 0}, {0}};

int ds_register_linalg(const ds_host_api *h, ds_registrar *r) {
  const ds_kernel_desc mm = {"matmul", MM_ARGS, MM_PARAMS, mm_check, {mm_fwd}, {mm_adj}};
  const ds_kernel_desc ar = {"add_row", ROW_ARGS, 0, addrow_check, {addrow_fwd}, {addrow_adj}};
  int rc = h->register_kernel(r, &mm);
  return rc ? rc : h->register_kernel(r, &ar);
}
