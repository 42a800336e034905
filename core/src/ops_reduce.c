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

static const ds_arg_desc RED_ARGS[] = {{"x", DS_IN, DS_REAL, -1, 0}, {"out", DS_OUT, DS_REAL, -1, 0}, {0}};
static const ds_arg_desc DOT_ARGS[] = {{"a", DS_IN, DS_REAL, -1, 0}, {"b", DS_IN, DS_REAL, -1, 0}, {"out", DS_OUT, DS_REAL, -1, 0}, {0}};

int ds_register_reduce(const ds_host_api *h, ds_registrar *r) {
  const ds_kernel_desc ds[] = {
      {"sum", RED_ARGS, 0, check_reduce, {sum_fwd}, {sum_adj}},
      {"mean", RED_ARGS, 0, check_reduce, {mean_fwd}, {mean_adj}},
      {"norm", RED_ARGS, 0, check_reduce, {norm_fwd}, {norm_adj}},
      {"dot", DOT_ARGS, 0, check_reduce, {dot_fwd}, {dot_adj}},
      {"sum_rows", RED_ARGS, 0, sum_rows_check, {sum_rows_fwd}, {sum_rows_adj}},
  };
  for (unsigned i = 0; i < sizeof ds / sizeof ds[0]; i++) {
    int rc = h->register_kernel(r, &ds[i]);
    if (rc) return rc;
  }
  return DS_OK;
}
