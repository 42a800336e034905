/* Row indexing: gather, scatter-add, slicing and placing rows (concatenation).
 * A "row" is everything after the first axis. Index tensors are i32 and every
 * index is range-checked before anything is written. Accumulations that could
 * collide (scatter-add forward, gather adjoint) run serially in index order, so
 * they are deterministic. */
#include "internal.h"

#include <string.h>

static int64_t row_width(const ds_tensor *t) { return t->ndim && t->dims[0] ? t->count / t->dims[0] : 0; }

/* Checks: idx is 1-D of length `rows_idx`, values in [0, n). */
static int check_indices(const ds_call *c, int iarg, int64_t n) {
  const ds_tensor *idx = c->args[iarg];
  const int32_t *p = ds_idata(idx);
  for (int64_t i = 0; i < idx->count; i++)
    if (p[i] < 0 || p[i] >= n)
      return c->host->error(c, "argument '%s' (#%d): index %d at position %lld is out of range [0, %lld)",
                            c->arg_desc[iarg].name, iarg + 1, p[i], (long long)i, (long long)n);
  return DS_OK;
}

static int same_rows(const ds_call *c, int a, int b) {
  const ds_tensor *x = c->args[a], *y = c->args[b];
  if (x->ndim < 1 || y->ndim != x->ndim) goto bad;
  for (int d = 1; d < x->ndim; d++)
    if (x->dims[d] != y->dims[d]) goto bad;
  return DS_OK;
bad:
  return c->host->error(c, "arguments '%s' and '%s' must have the same shape after the first axis",
                        c->arg_desc[a].name, c->arg_desc[b].name);
}

/* gather: out[i] = src[idx[i]] */
static int gather_check(const ds_call *c) {
  int rc = same_rows(c, 0, 2);
  if (rc) return rc;
  if (c->args[1]->count != c->args[2]->dims[0])
    return c->host->error(c, "argument 'idx' has %lld entries, output 'out' has %lld rows", (long long)c->args[1]->count,
                          (long long)c->args[2]->dims[0]);
  return check_indices(c, 1, c->args[0]->dims[0]);
}

typedef struct idx_job { const ds_call *c; int64_t w; } idx_job;

static void gather_block(int64_t lo, int64_t hi, void *u) {
  const idx_job *j = u;
  const ds_real *src = ds_rdata(j->c->args[0]);
  const int32_t *idx = ds_idata(j->c->args[1]);
  ds_real *out = ds_rdata(j->c->args[2]);
  for (int64_t i = lo; i < hi; i++) memcpy(out + i * j->w, src + (int64_t)idx[i] * j->w, (size_t)j->w * sizeof(ds_real));
}

static int gather_fwd(const ds_call *c) {
  idx_job j = {c, row_width(c->args[0])};
  c->host->parallel_for(c->ctx, c->args[1]->count, 1024, gather_block, &j);
  return DS_OK;
}

static int gather_adj(const ds_call *c) {
  ds_real *gs = ds_rgrad(c->args[0]);
  if (!gs) return DS_OK;
  const int32_t *idx = ds_idata(c->args[1]);
  const ds_real *go = ds_rgrad(c->args[2]);
  int64_t w = row_width(c->args[0]);
  for (int64_t i = 0; i < c->args[1]->count; i++)
    for (int64_t k = 0; k < w; k++) gs[(int64_t)idx[i] * w + k] += go[i * w + k];
  return DS_OK;
}

/* scatter_add: out[idx[i]] += src[i] */
static int scatter_check(const ds_call *c) {
  int rc = same_rows(c, 0, 2);
  if (rc) return rc;
  if (c->args[1]->count != c->args[0]->dims[0])
    return c->host->error(c, "argument 'idx' has %lld entries, argument 'src' has %lld rows", (long long)c->args[1]->count,
                          (long long)c->args[0]->dims[0]);
  return check_indices(c, 1, c->args[2]->dims[0]);
}

static int scatter_fwd(const ds_call *c) {
  const ds_real *src = ds_rdata(c->args[0]);
  const int32_t *idx = ds_idata(c->args[1]);
  ds_real *out = ds_rdata(c->args[2]);
  int64_t w = row_width(c->args[2]);
  for (int64_t i = 0; i < c->args[1]->count; i++)
    for (int64_t k = 0; k < w; k++) out[(int64_t)idx[i] * w + k] += src[i * w + k];
  return DS_OK;
}

static void scatter_adj_block(int64_t lo, int64_t hi, void *u) {
  const idx_job *j = u;
  ds_real *gs = ds_rgrad(j->c->args[0]);
  const int32_t *idx = ds_idata(j->c->args[1]);
  const ds_real *go = ds_rgrad(j->c->args[2]);
  for (int64_t i = lo; i < hi; i++)
    for (int64_t k = 0; k < j->w; k++) gs[i * j->w + k] += go[(int64_t)idx[i] * j->w + k];
}

static int scatter_adj(const ds_call *c) {
  if (!ds_rgrad(c->args[0])) return DS_OK;
  idx_job j = {c, row_width(c->args[2])};
  c->host->parallel_for(c->ctx, c->args[1]->count, 1024, scatter_adj_block, &j);
  return DS_OK;
}

/* slice_rows: out = x[start : start + out.rows] */
static int slice_check(const ds_call *c) {
  int rc = same_rows(c, 0, 1);
  if (rc) return rc;
  double s = c->params[0];
  if (s < 0 || s != (double)(int64_t)s || (int64_t)s + c->args[1]->dims[0] > c->args[0]->dims[0])
    return c->host->error(c, "rows [%g, %g) are out of range for argument 'x' with %lld rows", s,
                          s + (double)c->args[1]->dims[0], (long long)c->args[0]->dims[0]);
  return DS_OK;
}

static int slice_fwd(const ds_call *c) {
  int64_t w = row_width(c->args[0]), s = (int64_t)c->params[0];
  memcpy(ds_rdata(c->args[1]), ds_rdata(c->args[0]) + s * w, (size_t)c->args[1]->count * sizeof(ds_real));
  return DS_OK;
}

static int slice_adj(const ds_call *c) {
  ds_real *gx = ds_rgrad(c->args[0]);
  const ds_real *go = ds_rgrad(c->args[1]);
  if (!gx) return DS_OK;
  int64_t w = row_width(c->args[0]), s = (int64_t)c->params[0];
  for (int64_t i = 0; i < c->args[1]->count; i++) gx[s * w + i] += go[i];
  return DS_OK;
}

/* place_rows: out[start : start + src.rows] += src (concatenation into zeros) */
static int place_check(const ds_call *c) {
  int rc = same_rows(c, 0, 1);
  if (rc) return rc;
  double s = c->params[0];
  if (s < 0 || s != (double)(int64_t)s || (int64_t)s + c->args[0]->dims[0] > c->args[1]->dims[0])
    return c->host->error(c, "rows [%g, %g) are out of range for output 'out' with %lld rows", s,
                          s + (double)c->args[0]->dims[0], (long long)c->args[1]->dims[0]);
  return DS_OK;
}

static int place_fwd(const ds_call *c) {
  int64_t w = row_width(c->args[1]), s = (int64_t)c->params[0];
  const ds_real *src = ds_rdata(c->args[0]);
  ds_real *out = ds_rdata(c->args[1]) + s * w;
  for (int64_t i = 0; i < c->args[0]->count; i++) out[i] += src[i];
  return DS_OK;
}

static int place_adj(const ds_call *c) {
  ds_real *gs = ds_rgrad(c->args[0]);
  if (!gs) return DS_OK;
  int64_t w = row_width(c->args[1]), s = (int64_t)c->params[0];
  const ds_real *go = ds_rgrad(c->args[1]) + s * w;
  for (int64_t i = 0; i < c->args[0]->count; i++) gs[i] += go[i];
  return DS_OK;
}

/* pick: out = x[index] (flat index), a one-element loss term without a mask */
static int pick_check(const ds_call *c) {
  double i = c->params[0];
  if (i < 0 || i != (double)(int64_t)i || (int64_t)i >= c->args[0]->count)
    return c->host->error(c, "param 'index'=%g is out of range [0, %lld) for argument 'x'", i,
                          (long long)c->args[0]->count);
  if (c->args[1]->count != 1) return c->host->error(c, "output 'out' must hold one element");
  return DS_OK;
}

static int pick_fwd(const ds_call *c) {
  ds_rdata(c->args[1])[0] = ds_rdata(c->args[0])[(int64_t)c->params[0]];
  return DS_OK;
}

static int pick_adj(const ds_call *c) {
  ds_real *gx = ds_rgrad(c->args[0]);
  if (gx) gx[(int64_t)c->params[0]] += ds_rgrad(c->args[1])[0];
  return DS_OK;
}

static const ds_arg_desc GATHER_ARGS[] = {{"src", DS_IN, DS_REAL, -1, 0}, {"idx", DS_NODIFF, DS_I32, 1, 0}, {"out", DS_OUT, DS_REAL, -1, 0}, {0}};
static const ds_arg_desc SCATTER_ARGS[] = {{"src", DS_IN, DS_REAL, -1, 0}, {"idx", DS_NODIFF, DS_I32, 1, 0}, {"out", DS_ACC, DS_REAL, -1, 0}, {0}};
static const ds_arg_desc SLICE_ARGS[] = {{"x", DS_IN, DS_REAL, -1, 0}, {"out", DS_OUT, DS_REAL, -1, 0}, {0}};
static const ds_arg_desc PLACE_ARGS[] = {{"src", DS_IN, DS_REAL, -1, 0}, {"out", DS_ACC, DS_REAL, -1, 0}, {0}};
static const ds_arg_desc PICK_ARGS[] = {{"x", DS_IN, DS_REAL, -1, 0}, {"out", DS_OUT, DS_REAL, -1, 0}, {0}};
static const char *const START[] = {"start", 0};
static const char *const INDEX[] = {"index", 0};

int ds_register_index(const ds_host_api *h, ds_registrar *r) {
  const ds_kernel_desc ds[] = {
      {"gather", GATHER_ARGS, 0, gather_check, {gather_fwd}, {gather_adj}},
      {"scatter_add", SCATTER_ARGS, 0, scatter_check, {scatter_fwd}, {scatter_adj}},
      {"slice_rows", SLICE_ARGS, START, slice_check, {slice_fwd}, {slice_adj}},
      {"place_rows", PLACE_ARGS, START, place_check, {place_fwd}, {place_adj}},
      {"pick", PICK_ARGS, INDEX, pick_check, {pick_fwd}, {pick_adj}},
  };
  for (unsigned i = 0; i < sizeof ds / sizeof ds[0]; i++) {
    int rc = h->register_kernel(r, &ds[i]);
    if (rc) return rc;
  }
  return DS_OK;
}

int ds_register_core_ops(const ds_host_api *h, ds_registrar *r) {
  int rc = ds_builtin_begin(r);
  if (!rc) rc = ds_register_elementwise(h, r);
  if (!rc) rc = ds_register_reduce(h, r);
  if (!rc) rc = ds_register_linalg(h, r);
  if (!rc) rc = ds_register_index(h, r);
  if (!rc) rc = ds_register_kit_ops(h, r);
  if (!rc) rc = ds_register_solve(h, r);
  return rc;
}
