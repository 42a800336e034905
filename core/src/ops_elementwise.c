/* Elementwise core ops: binary arithmetic (with scalar broadcast), affine maps,
 * and unary math. Forward and adjoint run in fixed blocks on the context's
 * threads; each element is written by exactly one block, so results are
 * deterministic. Adjoints read only inputs, never outputs. */
#include "internal.h"

#include <math.h>

enum { GRAIN = 16384 };

typedef enum { ADD, SUB, MUL, DIV } binop;
typedef enum { TANH, SIN, COS, EXP, LOG, SQRT, SQUARE, ABS, RELU, SIGMOID, AFFINE, RDIV, CLAMP, COPY } unop;

typedef struct job {
  const ds_call *c;
  int op;
  ds_real *g[3]; /* grads of a, b, out */
} job;

/* ---- binary ----------------------------------------------------------- */
/* The rule: identical shapes, or either operand holds a single element that
 * is broadcast over the other. Nothing else (no {3,1} + {1,3}, no {2,3} + {3,2}). */

static int same_shape(const ds_tensor *a, const ds_tensor *b) {
  if (a->ndim != b->ndim) return 0;
  for (int d = 0; d < a->ndim; d++)
    if (a->dims[d] != b->dims[d]) return 0;
  return 1;
}

static int check_binary(const ds_call *c) {
  const ds_tensor *a = c->args[0], *b = c->args[1];
  int64_t na = a->count, nb = b->count, no = c->args[2]->count;
  int64_t n = na > nb ? na : nb;
  if (na != 1 && nb != 1 && !same_shape(a, b)) {
    char sa[96], sb[96];
    ds_shape_str(a, sa, sizeof sa);
    ds_shape_str(b, sb, sizeof sb);
    if (na != nb)
      return c->host->error(c, "arguments 'a' and 'b' have %lld and %lld elements (shapes %s and %s); elementwise "
                            "ops need identical shapes or a one-element operand", (long long)na, (long long)nb, sa, sb);
    return c->host->error(c, "arguments 'a' and 'b' have shapes %s and %s; elementwise ops need identical shapes or "
                          "a one-element operand (reshape one of them first)", sa, sb);
  }
  if (no != n) return c->host->error(c, "output 'out' has %lld elements, expected %lld", (long long)no, (long long)n);
  return DS_OK;
}

static void binary_fwd(int64_t lo, int64_t hi, void *u) {
  const job *j = u;
  const ds_real *a = ds_rdata(j->c->args[0]), *b = ds_rdata(j->c->args[1]);
  ds_real *o = ds_rdata(j->c->args[2]);
  int64_t sa = j->c->args[0]->count > 1, sb = j->c->args[1]->count > 1;
  switch (j->op) {
    case ADD: for (int64_t i = lo; i < hi; i++) o[i] = a[i * sa] + b[i * sb]; break;
    case SUB: for (int64_t i = lo; i < hi; i++) o[i] = a[i * sa] - b[i * sb]; break;
    case MUL: for (int64_t i = lo; i < hi; i++) o[i] = a[i * sa] * b[i * sb]; break;
    case DIV: for (int64_t i = lo; i < hi; i++) o[i] = a[i * sa] / b[i * sb]; break;
  }
}

/* Adjoint for the non-broadcast operand(s), elementwise. */
static void binary_adj(int64_t lo, int64_t hi, void *u) {
  const job *j = u;
  const ds_real *a = ds_rdata(j->c->args[0]), *b = ds_rdata(j->c->args[1]), *go = j->g[2];
  int64_t n = j->c->args[2]->count;
  int64_t sa = j->c->args[0]->count > 1, sb = j->c->args[1]->count > 1;
  ds_real *ga = j->c->args[0]->count == n ? j->g[0] : 0, *gb = j->c->args[1]->count == n ? j->g[1] : 0;
  for (int64_t i = lo; i < hi; i++) {
    ds_real x = a[i * sa], y = b[i * sb], g = go[i];
    switch (j->op) {
      case ADD: if (ga) ga[i] += g; if (gb) gb[i] += g; break;
      case SUB: if (ga) ga[i] += g; if (gb) gb[i] -= g; break;
      case MUL: if (ga) ga[i] += g * y; if (gb) gb[i] += g * x; break;
      case DIV: if (ga) ga[i] += g / y; if (gb) gb[i] -= g * x / (y * y); break;
    }
  }
}

/* Gradient of a broadcast (single-element) operand: a sum over all elements,
 * done in fixed blocks combined in order so it is thread-count independent. */
static double broadcast_grad(const job *j, int which) {
  const ds_real *a = ds_rdata(j->c->args[0]), *b = ds_rdata(j->c->args[1]), *go = j->g[2];
  int64_t n = j->c->args[2]->count;
  int64_t sa = j->c->args[0]->count > 1, sb = j->c->args[1]->count > 1;
  double s = 0;
  for (int64_t i = 0; i < n; i++) {
    double x = a[i * sa], y = b[i * sb], g = go[i];
    switch (j->op) {
      case ADD: s += g; break;
      case SUB: s += which ? -g : g; break;
      case MUL: s += which ? g * x : g * y; break;
      case DIV: s += which ? -g * x / (y * y) : g / y; break;
    }
  }
  return s;
}

static int run_binary(const ds_call *c, int op, int adjoint) {
  job j = {c, op, {ds_rgrad(c->args[0]), ds_rgrad(c->args[1]), ds_rgrad(c->args[2])}};
  int64_t n = c->args[2]->count;
  if (!adjoint) {
    c->host->parallel_for(c->ctx, n, GRAIN, binary_fwd, &j);
    return DS_OK;
  }
  c->host->parallel_for(c->ctx, n, GRAIN, binary_adj, &j);
  for (int w = 0; w < 2; w++)
    if (j.g[w] && c->args[w]->count == 1 && n != 1) j.g[w][0] += (ds_real)broadcast_grad(&j, w);
  return DS_OK;
}

#define BINARY(name, OP)                                                          \
  static int name##_fwd(const ds_call *c) { return run_binary(c, OP, 0); }       \
  static int name##_adj(const ds_call *c) { return run_binary(c, OP, 1); }
BINARY(add, ADD)
BINARY(sub, SUB)
BINARY(mul, MUL)
BINARY(div, DIV)

/* ---- unary ------------------------------------------------------------ */

static int check_unary(const ds_call *c) {
  if (c->args[0]->count != c->args[1]->count)
    return c->host->error(c, "output 'out' has %lld elements, input 'x' has %lld", (long long)c->args[1]->count,
                          (long long)c->args[0]->count);
  return DS_OK;
}

static int check_clamp(const ds_call *c) {
  if (c->params[0] > c->params[1])
    return c->host->error(c, "param 'lo'=%g is above param 'hi'=%g", c->params[0], c->params[1]);
  return check_unary(c);
}

static inline ds_real sigmoid(ds_real x) { return (ds_real)1 / ((ds_real)1 + exp(-x)); }

static void unary_fwd(int64_t lo, int64_t hi, void *u) {
  const job *j = u;
  const ds_real *x = ds_rdata(j->c->args[0]);
  ds_real *o = ds_rdata(j->c->args[1]);
  const double *p = j->c->params;
  for (int64_t i = lo; i < hi; i++) {
    ds_real v = x[i];
    switch (j->op) {
      case TANH: o[i] = tanh(v); break;
      case SIN: o[i] = sin(v); break;
      case COS: o[i] = cos(v); break;
      case EXP: o[i] = exp(v); break;
      case LOG: o[i] = log(v); break;
      case SQRT: o[i] = sqrt(v); break;
      case SQUARE: o[i] = v * v; break;
      case ABS: o[i] = fabs(v); break;
      case RELU: o[i] = v > 0 ? v : 0; break;
      case SIGMOID: o[i] = sigmoid(v); break;
      case AFFINE: o[i] = (ds_real)p[0] * v + (ds_real)p[1]; break;
      case RDIV: o[i] = (ds_real)p[0] / v; break;
      case CLAMP: o[i] = v < p[0] ? (ds_real)p[0] : v > p[1] ? (ds_real)p[1] : v; break;
      case COPY: o[i] = v; break;
    }
  }
}

static void unary_adj(int64_t lo, int64_t hi, void *u) {
  const job *j = u;
  const ds_real *x = ds_rdata(j->c->args[0]), *go = j->g[1];
  ds_real *gx = j->g[0];
  const double *p = j->c->params;
  for (int64_t i = lo; i < hi; i++) {
    ds_real v = x[i], g = go[i], d = 0;
    switch (j->op) {
      case TANH: { ds_real t = tanh(v); d = 1 - t * t; } break;
      case SIN: d = cos(v); break;
      case COS: d = -sin(v); break;
      case EXP: d = exp(v); break;
      case LOG: d = 1 / v; break;
      case SQRT: d = (ds_real)0.5 / sqrt(v); break;
      case SQUARE: d = 2 * v; break;
      case ABS: d = v > 0 ? 1 : v < 0 ? -1 : 0; break;
      case RELU: d = v > 0 ? 1 : 0; break;
      case SIGMOID: { ds_real s = sigmoid(v); d = s * (1 - s); } break;
      case AFFINE: d = (ds_real)p[0]; break;
      case RDIV: d = -(ds_real)p[0] / (v * v); break;
      case CLAMP: d = v >= p[0] && v <= p[1] ? 1 : 0; break;
      case COPY: d = 1; break;
    }
    gx[i] += g * d;
  }
}

static int run_unary(const ds_call *c, int op, int adjoint) {
  job j = {c, op, {ds_rgrad(c->args[0]), ds_rgrad(c->args[1]), 0}};
  if (adjoint && !j.g[0]) return DS_OK;
  c->host->parallel_for(c->ctx, c->args[0]->count, GRAIN, adjoint ? unary_adj : unary_fwd, &j);
  return DS_OK;
}

#define UNARY(name, OP)                                                          \
  static int name##_fwd(const ds_call *c) { return run_unary(c, OP, 0); }       \
  static int name##_adj(const ds_call *c) { return run_unary(c, OP, 1); }
UNARY(tanh, TANH)
UNARY(sin, SIN)
UNARY(cos, COS)
UNARY(exp, EXP)
UNARY(log, LOG)
UNARY(sqrt, SQRT)
UNARY(square, SQUARE)
UNARY(abs, ABS)
UNARY(relu, RELU)
UNARY(sigmoid, SIGMOID)
UNARY(affine, AFFINE)
UNARY(rdiv, RDIV)
UNARY(clamp, CLAMP)
UNARY(copy, COPY)

/* ---- registration ----------------------------------------------------- */

static const ds_arg_desc BIN_ARGS[] = {{"a", DS_IN, DS_REAL, -1, 0}, {"b", DS_IN, DS_REAL, -1, 0}, {"out", DS_OUT, DS_REAL, -1, 0}, {0}};
static const ds_arg_desc UN_ARGS[] = {{"x", DS_IN, DS_REAL, -1, 0}, {"out", DS_OUT, DS_REAL, -1, 0}, {0}};
static const char *const AFFINE_PARAMS[] = {"scale", "shift", 0};
static const char *const RDIV_PARAMS[] = {"numerator", 0};
static const char *const CLAMP_PARAMS[] = {"lo", "hi", 0};

int ds_register_elementwise(const ds_host_api *h, ds_registrar *r) {
  const struct { const char *name; ds_kernel_fn f, a; } bin[] = {
      {"add", add_fwd, add_adj}, {"sub", sub_fwd, sub_adj}, {"mul", mul_fwd, mul_adj}, {"div", div_fwd, div_adj}};
  for (int i = 0; i < 4; i++) {
    ds_kernel_desc d = {bin[i].name, BIN_ARGS, 0, check_binary, {bin[i].f}, {bin[i].a}};
    int rc = h->register_kernel(r, &d);
    if (rc) return rc;
  }
  const struct { const char *name; ds_kernel_fn f, a; const char *const *pn; } un[] = {
      /* clamp comes first: it alone has its own check */
      {"clamp", clamp_fwd, clamp_adj, CLAMP_PARAMS},
      {"tanh", tanh_fwd, tanh_adj, 0},       {"sin", sin_fwd, sin_adj, 0},
      {"cos", cos_fwd, cos_adj, 0},          {"exp", exp_fwd, exp_adj, 0},
      {"log", log_fwd, log_adj, 0},          {"sqrt", sqrt_fwd, sqrt_adj, 0},
      {"square", square_fwd, square_adj, 0}, {"abs", abs_fwd, abs_adj, 0},
      {"relu", relu_fwd, relu_adj, 0},       {"sigmoid", sigmoid_fwd, sigmoid_adj, 0},
      {"affine", affine_fwd, affine_adj, AFFINE_PARAMS}, {"rdiv", rdiv_fwd, rdiv_adj, RDIV_PARAMS},
      {"copy", copy_fwd, copy_adj, 0}};
  for (unsigned i = 0; i < sizeof un / sizeof un[0]; i++) {
    ds_kernel_desc d = {un[i].name, UN_ARGS, un[i].pn, i == 0 ? check_clamp : check_unary, {un[i].f},
                        {un[i].a}};
    int rc = h->register_kernel(r, &d);
    if (rc) return rc;
  }
  return DS_OK;
}
