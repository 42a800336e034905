/* Reductions: sum, mean, dot, L2 norm. Partial sums over fixed 4096-element
 * blocks, accumulated in double and combined in block order: the result is the
 * same bit for bit whatever the number of threads. */
#include "internal.h"
#include "kit/kit_internal.h"

#include <math.h>
#include <string.h>

/* The forward sums go through the kit's one deterministic reduction (blocks of
 * 4096 summed in double, combined in block order); BLOCK and PER_TASK here only
 * size the adjoint's element-wise tasks. */
enum { BLOCK = 4096, PER_TASK = 16 };
typedef enum { SUM, MEAN, DOT, NORM } redop;

typedef struct job {
  const ds_call *c;
  int op;
  ds_real scale; /* adjoint: d loss / d element factor */
} job;

static int reduce_fwd(const ds_call *c, int op) {
  int64_t n = c->args[0]->count;
  const ds_real *a = ds_rdata(c->args[0]);
  double s = op == DOT ? ds_kit_dot(c->ctx, a, ds_rdata(c->args[1]), n)
             : op == NORM ? ds_kit_dot(c->ctx, a, a, n)
                          : ds_kit_sum(c->ctx, a, n);
  if (s != s && n > 0 && c->ctx->error[0]) return c->host->error(c, "out of memory");
  if (op == MEAN) s = n ? s / (double)n : 0;
  if (op == NORM) s = sqrt(s);
  ds_rdata(c->args[op == DOT ? 2 : 1])[0] = (ds_real)s;
  return DS_OK;
}

static void adj_block(int64_t lo, int64_t hi, void *u) {
  const job *j = u;
  const ds_call *c = j->c;
  ds_real f = j->scale;
  if (j->op == DOT) {
    const ds_real *a = ds_rdata(c->args[0]), *b = ds_rdata(c->args[1]);
    ds_real *ga = ds_rgrad(c->args[0]), *gb = ds_rgrad(c->args[1]);
    if (ga) for (int64_t i = lo; i < hi; i++) ga[i] += f * b[i];
    if (gb) for (int64_t i = lo; i < hi; i++) gb[i] += f * a[i];
  } else if (j->op == NORM) {
    const ds_real *a = ds_rdata(c->args[0]);
    ds_real *ga = ds_rgrad(c->args[0]);
    for (int64_t i = lo; i < hi; i++) ga[i] += f * a[i];
  } else {
    ds_real *ga = ds_rgrad(c->args[0]);
    for (int64_t i = lo; i < hi; i++) ga[i] += f;
  }
}

static int reduce_adj(const ds_call *c, int op) {
  if (!ds_rgrad(c->args[0]) && (op != DOT || !ds_rgrad(c->args[1]))) return DS_OK;
  int64_t n = c->args[0]->count;
  const ds_tensor *out = c->args[op == DOT ? 2 : 1];
  double g = ds_rgrad(out)[0];
  if (op == MEAN) g = n ? g / (double)n : 0;
  if (op == NORM) {
    double norm = ds_rdata(out)[0];
    g = norm > 0 ? g / norm : 0; /* subgradient 0 at the origin */
  }
  job j = {c, op, (ds_real)g};
  c->host->parallel_for(c->ctx, n, BLOCK * PER_TASK, adj_block, &j);
  return DS_OK;
}

static int check_reduce(const ds_call *c) {
  int dot = c->nargs == 3;
  if (dot && c->args[0]->count != c->args[1]->count)
    return c->host->error(c, "arguments 'a' and 'b' have %lld and %lld elements", (long long)c->args[0]->count,
                          (long long)c->args[1]->count);
  if (c->args[c->nargs - 1]->count != 1)
    return c->host->error(c, "output 'out' must hold one element, it has %lld", (long long)c->args[c->nargs - 1]->count);
  return DS_OK;
}

static int sum_fwd(const ds_call *c) { return reduce_fwd(c, SUM); }
static int sum_adj(const ds_call *c) { return reduce_adj(c, SUM); }
static int mean_fwd(const ds_call *c) { return reduce_fwd(c, MEAN); }
static int mean_adj(const ds_call *c) { return reduce_adj(c, MEAN); }
static int dot_fwd(const ds_call *c) { return reduce_fwd(c, DOT); }
static int dot_adj(const ds_call *c) { return reduce_adj(c, DOT); }
static int norm_fwd(const ds_call *c) { return reduce_fwd(c, NORM); }
static int norm_adj(const ds_call *c) { return reduce_adj(c, NORM); }

/* sum_rows: x {m, n...} -> out {n...}, the sum over the first axis. */
typedef struct rows_job { const ds_call *c; int64_t m, w; } rows_job;
static void sum_rows_block(int64_t lo, int64_t hi, void *u) {
  const rows_job *j = u;
  const ds_real *x = ds_rdata(j->c->args[0]);
  ds_real *o = ds_rdata(j->c->args[1]);
  for (int64_t k = lo; k < hi; k++) {
    double s = 0;
    for (int64_t i = 0; i < j->m; i++) s += x[i * j->w + k];
    o[k] = (ds_real)s;
  }
}
static void sum_rows_adj_block(int64_t lo, int64_t hi, void *u) {
  const rows_job *j = u;
  ds_real *gx = ds_rgrad(j->c->args[0]);
  const ds_real *go = ds_rgrad(j->c->args[1]);
  for (int64_t i = lo; i < hi; i++)
    for (int64_t k = 0; k < j->w; k++) gx[i * j->w + k] += go[k];
}
static int sum_rows_check(const ds_call *c) {
  const ds_tensor *x = c->args[0], *o = c->args[1];
  if (x->ndim < 1) return c->host->error(c, "argument 'x' must have at least one dim");
  if (o->count * x->dims[0] != x->count)
    return c->host->error(c, "output 'out' has %lld elements, expected %lld", (long long)o->count,
                          (long long)(x->dims[0] ? x->count / x->dims[0] : 0));
  return DS_OK;
}
static int sum_rows_fwd(const ds_call *c) {
  rows_job j = {c, c->args[0]->dims[0], c->args[1]->count};
  c->host->parallel_for(c->ctx, j.w, 1024, sum_rows_block, &j);
  return DS_OK;
}
static int sum_rows_adj(const ds_call *c) {
  if (!ds_rgrad(c->args[0])) return DS_OK;
  rows_job j = {c, c->args[0]->dims[0], c->args[1]->count};
  c->host->parallel_for(c->ctx, j.m, 256, sum_rows_adj_block, &j);
  return DS_OK;
}

/* sum_dim / mean_dim: x {d1..dk} -> out, the shape of x without axis `dim`
 * (0-based), summed (or averaged) over that axis. Each output element sums its
 * n inputs in index order: deterministic for any thread count. */
typedef struct dim_job { const ds_call *c; int64_t outer, n, inner; double scale; } dim_job;
static void dim_fwd_block(int64_t lo, int64_t hi, void *u) {
  const dim_job *j = u;
  const ds_real *x = ds_rdata(j->c->args[0]);
  ds_real *o = ds_rdata(j->c->args[1]);
  for (int64_t e = lo; e < hi; e++) {
    int64_t a = e / j->inner, i = e % j->inner;
    const ds_real *p = x + a * j->n * j->inner + i;
    double s = 0;
    for (int64_t k = 0; k < j->n; k++) s += p[k * j->inner];
    o[e] = (ds_real)(s * j->scale);
  }
}
static void dim_adj_block(int64_t lo, int64_t hi, void *u) {
  const dim_job *j = u;
  ds_real *gx = ds_rgrad(j->c->args[0]);
  const ds_real *go = ds_rgrad(j->c->args[1]);
  for (int64_t e = lo; e < hi; e++) {
    int64_t a = e / j->inner, i = e % j->inner;
    ds_real g = (ds_real)(go[e] * j->scale);
    ds_real *p = gx + a * j->n * j->inner + i;
    for (int64_t k = 0; k < j->n; k++) p[k * j->inner] += g;
  }
}
static int dim_check(const ds_call *c) {
  const ds_tensor *x = c->args[0], *o = c->args[1];
  double d = c->params[0];
  if (!(d >= 0 && d < x->ndim) || d != (double)(int64_t)d)
    return c->host->error(c, "param 'dim'=%g is out of range: x has %d dims (dims are 0-based here, 1-based in Lua)", d,
                          x->ndim);
  int dim = (int)d, k = 0;
  if (o->ndim != x->ndim - 1)
    return c->host->error(c, "output 'out' has %d dims, expected %d", o->ndim, x->ndim - 1);
  for (int i = 0; i < x->ndim; i++) {
    if (i == dim) continue;
    if (o->dims[k] != x->dims[i])
      return c->host->error(c, "output 'out' dimension %d is %lld, expected %lld", k + 1, (long long)o->dims[k],
                            (long long)x->dims[i]);
    k++;
  }
  return DS_OK;
}
static dim_job dim_setup(const ds_call *c, int mean) {
  const ds_tensor *x = c->args[0];
  int dim = (int)c->params[0];
  dim_job j = {c, 1, x->dims[dim], 1, 1.0};
  for (int i = 0; i < dim; i++) j.outer *= x->dims[i];
  for (int i = dim + 1; i < x->ndim; i++) j.inner *= x->dims[i];
  if (mean) j.scale = j.n ? 1.0 / (double)j.n : 0;
  return j;
}
static int dim_fwd(const ds_call *c, int mean) {
  dim_job j = dim_setup(c, mean);
  c->host->parallel_for(c->ctx, j.outer * j.inner, 1024, dim_fwd_block, &j);
  return DS_OK;
}
static int dim_adj(const ds_call *c, int mean) {
  if (!ds_rgrad(c->args[0])) return DS_OK;
  dim_job j = dim_setup(c, mean);
  c->host->parallel_for(c->ctx, j.outer * j.inner, 1024, dim_adj_block, &j);
  return DS_OK;
}
static int sum_dim_fwd(const ds_call *c) { return dim_fwd(c, 0); }
static int sum_dim_adj(const ds_call *c) { return dim_adj(c, 0); }
static int mean_dim_fwd(const ds_call *c) { return dim_fwd(c, 1); }
static int mean_dim_adj(const ds_call *c) { return dim_adj(c, 1); }
static const char *const DIM_PARAMS[] = {"dim", NULL};

static const ds_arg_desc RED_ARGS[] = {{"x", DS_IN, DS_REAL, -1, 0}, {"out", DS_OUT, DS_REAL, -1, 0}, {0}};
static const ds_arg_desc DOT_ARGS[] = {{"a", DS_IN, DS_REAL, -1, 0}, {"b", DS_IN, DS_REAL, -1, 0}, {"out", DS_OUT, DS_REAL, -1, 0}, {0}};

int ds_register_reduce(const ds_host_api *h, ds_registrar *r) {
  const ds_kernel_desc ds[] = {
      {"sum", RED_ARGS, 0, check_reduce, {sum_fwd}, {sum_adj}},
      {"mean", RED_ARGS, 0, check_reduce, {mean_fwd}, {mean_adj}},
      {"norm", RED_ARGS, 0, check_reduce, {norm_fwd}, {norm_adj}},
      {"dot", DOT_ARGS, 0, check_reduce, {dot_fwd}, {dot_adj}},
      {"sum_rows", RED_ARGS, 0, sum_rows_check, {sum_rows_fwd}, {sum_rows_adj}},
      {"sum_dim", RED_ARGS, DIM_PARAMS, dim_check, {sum_dim_fwd}, {sum_dim_adj}},
      {"mean_dim", RED_ARGS, DIM_PARAMS, dim_check, {mean_dim_fwd}, {mean_dim_adj}},
  };
  for (unsigned i = 0; i < sizeof ds / sizeof ds[0]; i++) {
    int rc = h->register_kernel(r, &ds[i]);
    if (rc) return rc;
  }
  return DS_OK;
}
