/* Core differentiable kernels over the kit (core/src/kit), so the shared
 * services are usable and gradient-checked from Lua:
 *   core.p2g  x {P, D}, v {P, C} -> grid {n0, n1, [n2,] C}   (zeroed, then scatter-added)
 *   core.g2p  x {P, D}, grid     -> out {P, C}
 *   core.mlp  x {B, in}, w {nw}, spec i32 {2L + 1} -> out {B, out}
 * p2g/g2p params: dx, origin_x, origin_y, origin_z (ignored in 2D), bounds
 * (0 error, 1 clamp). mlp spec: the L + 1 layer widths, then L ds_kit_act codes.
 * core.mlp saves nothing between forward and adjoint: the adjoint recomputes
 * the forward into scratch (an MLP forward is a third of its backward). */
#include "kit/kit_internal.h"

#include <stdio.h>
#include <string.h>

static const char *const PG_PARAMS[] = {"dx", "origin_x", "origin_y", "origin_z", "bounds", 0};

/* The grid description from a launch; grid_arg is the grid tensor's index. */
static int pg_grid(const ds_call *c, int grid_arg, ds_kit_grid *g) {
  const ds_tensor *x = c->args[0], *grid = c->args[grid_arg];
  if (x->dims[1] != 2 && x->dims[1] != 3)
    return c->host->error(c, "argument 'x' (#1) must have shape {P, 2} or {P, 3}, got {%lld, %lld}",
                          (long long)x->dims[0], (long long)x->dims[1]);
  const int D = (int)x->dims[1];
  if (grid->ndim != D + 1)
    return c->host->error(c, "argument '%s' (#%d) must have %d dims {n0, ..., C} for %dD particles, got %d",
                          c->arg_desc[grid_arg].name, grid_arg + 1, D + 1, D, grid->ndim);
  double b = c->params[4];
  if (b != 0 && b != 1) return c->host->error(c, "param 'bounds' must be 0 (error) or 1 (clamp), got %g", b);
  memset(g, 0, sizeof *g);
  g->dim = D;
  g->channels = (int32_t)grid->dims[D];
  g->bounds = (int32_t)b;
  for (int d = 0; d < D; d++) {
    g->n[d] = grid->dims[d];
    g->origin[d] = c->params[1 + d];
  }
  g->dx = c->params[0];
  return DS_OK;
}

/* Re-issues a kit error under the kernel's name (the kit already named the argument). */
static int relay(const ds_call *c, int rc) {
  if (!rc) return rc;
  char msg[DS_ERRMSG];
  snprintf(msg, sizeof msg, "%s", ds_last_error(c->ctx));
  const char *body = strncmp(msg, c->kernel_name, strlen(c->kernel_name)) ? msg : msg + strlen(c->kernel_name) + 2;
  c->host->error(c, "%s", body);
  return rc;
}

/* ---- p2g: x, v, grid ---------------------------------------------------------- */
static int p2g_check(const ds_call *c) {
  ds_kit_grid g;
  int rc = pg_grid(c, 2, &g);
  if (rc) return rc;
  if ((rc = ds_expect_shape(c, 1, 2, c->args[0]->dims[0], g.channels, -1, -1))) return rc;
  return relay(c, ds_kit_grid_check(c->ctx, c->kernel_name, &g));
}

static int p2g_fwd(const ds_call *c) {
  ds_kit_grid g;
  pg_grid(c, 2, &g);
  ds_tensor *grid = c->args[2];
  memset(grid->ptr, 0, (size_t)grid->count * sizeof(ds_real));
  return relay(c, ds_kit_p2g_impl(c->ctx, c->kernel_name, "'x' (#1)", &g, ds_rdata(c->args[0]),
                                  ds_rdata(c->args[1]), c->args[0]->dims[0], ds_rdata(grid), NULL));
}

static int p2g_adj(const ds_call *c) {
  ds_kit_grid g;
  pg_grid(c, 2, &g);
  const ds_real *x = ds_rdata(c->args[0]), *v = ds_rdata(c->args[1]), *gg = ds_rgrad(c->args[2]);
  ds_real *gx = ds_rgrad(c->args[0]), *gv = ds_rgrad(c->args[1]);
  int64_t np = c->args[0]->dims[0];
  /* positions were checked by the forward, and the tape refuses changed inputs */
  if (gv) ds_kit_g2p_run(c->ctx, &g, x, gg, np, gv, 1);
  if (gx) ds_kit_g2p_dx_run(c->ctx, &g, x, gg, v, np, gx);
  return DS_OK;
}

/* ---- g2p: x, grid, out --------------------------------------------------------- */
static int g2p_check(const ds_call *c) {
  ds_kit_grid g;
  int rc = pg_grid(c, 1, &g);
  if (rc) return rc;
  if ((rc = ds_expect_shape(c, 2, 2, c->args[0]->dims[0], g.channels, -1, -1))) return rc;
  return relay(c, ds_kit_pos_check(c->ctx, c->kernel_name, "'x' (#1)", &g, ds_rdata(c->args[0]), c->args[0]->dims[0]));
}

static int g2p_fwd(const ds_call *c) {
  ds_kit_grid g;
  pg_grid(c, 1, &g);
  ds_kit_g2p_run(c->ctx, &g, ds_rdata(c->args[0]), ds_rdata(c->args[1]), c->args[0]->dims[0], ds_rdata(c->args[2]), 0);
  return DS_OK;
}

static int g2p_adj(const ds_call *c) {
  ds_kit_grid g;
  pg_grid(c, 1, &g);
  const ds_real *x = ds_rdata(c->args[0]), *grid = ds_rdata(c->args[1]), *go = ds_rgrad(c->args[2]);
  ds_real *gx = ds_rgrad(c->args[0]), *gg = ds_rgrad(c->args[1]);
  int64_t np = c->args[0]->dims[0];
  if (gg) {
    int rc = ds_kit_p2g_impl(c->ctx, c->kernel_name, "'x' (#1)", &g, x, go, np, gg, NULL);
    if (rc) return relay(c, rc);
  }
  if (gx) ds_kit_g2p_dx_run(c->ctx, &g, x, grid, go, np, gx);
  return DS_OK;
}

/* ---- mlp: x, w, spec, out --------------------------------------------------------- */
static int mlp_net(const ds_call *c, ds_kit_mlp *net) {
  const ds_tensor *spec = c->args[2];
  if (spec->count < 3 || spec->count % 2 == 0)
    return c->host->error(c,
                          "argument 'spec' (#3) must hold 2 L + 1 integers (L + 1 layer widths, then L activation "
                          "codes), got %lld",
                          (long long)spec->count);
  const int32_t *s = ds_idata(spec);
  net->layers = (int32_t)((spec->count - 1) / 2);
  net->sizes = s;
  net->acts = s + net->layers + 1;
  return DS_OK;
}

static int mlp_check(const ds_call *c) {
  ds_kit_mlp net;
  ds_kit_mlp_sizes sz;
  int rc = mlp_net(c, &net);
  if (rc) return rc;
  if ((rc = ds_kit_mlp_query_impl(c->ctx, c->kernel_name, "'spec' (#3)", &net, c->args[0]->dims[0], &sz)))
    return relay(c, rc);
  if ((rc = ds_expect_shape(c, 0, 2, -1, net.sizes[0], -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, 1, 1, sz.weights, -1, -1, -1))) return rc;
  return ds_expect_shape(c, 3, 2, c->args[0]->dims[0], net.sizes[net.layers], -1, -1);
}

static int mlp_fwd(const ds_call *c) {
  ds_kit_mlp net;
  ds_kit_mlp_sizes sz;
  mlp_net(c, &net);
  int64_t B = c->args[0]->dims[0];
  ds_kit_mlp_query_impl(c->ctx, c->kernel_name, "'spec' (#3)", &net, B, &sz);
  int64_t bytes = (B * sz.save + 1) * (int64_t)sizeof(ds_real);
  ds_real *save = ds_pool_get(c->ctx, DS_CPU, bytes); /* the caching pool: no page faults per launch */
  if (!save) return c->host->error(c, "out of memory");
  int rc = ds_kit_mlp_forward_batch(c->ctx, &net, ds_rdata(c->args[1]), ds_rdata(c->args[0]), B, ds_rdata(c->args[3]), save);
  ds_pool_put(c->ctx, DS_CPU, save, bytes);
  return relay(c, rc);
}

static int mlp_adj(const ds_call *c) {
  ds_real *gx = ds_rgrad(c->args[0]), *gw = ds_rgrad(c->args[1]);
  if (!gx && !gw) return DS_OK;
  ds_kit_mlp net;
  ds_kit_mlp_sizes sz;
  mlp_net(c, &net);
  int64_t B = c->args[0]->dims[0];
  ds_kit_mlp_query_impl(c->ctx, c->kernel_name, "'spec' (#3)", &net, B, &sz);
  int64_t nout = net.sizes[net.layers];
  /* save | recomputed output | backward work */
  int64_t bytes = (B * sz.save + B * nout + sz.batch_work + 1) * (int64_t)sizeof(ds_real);
  ds_real *mem = ds_pool_get(c->ctx, DS_CPU, bytes);
  if (!mem) return c->host->error(c, "out of memory");
  const ds_real *x = ds_rdata(c->args[0]), *w = ds_rdata(c->args[1]);
  int rc = ds_kit_mlp_forward_batch(c->ctx, &net, w, x, B, mem + B * sz.save, mem);
  if (!rc)
    rc = ds_kit_mlp_backward_batch(c->ctx, &net, w, x, mem, ds_rgrad(c->args[3]), B, gx, gw,
                                   mem + B * sz.save + B * nout);
  ds_pool_put(c->ctx, DS_CPU, mem, bytes);
  return relay(c, rc);
}

/* ---- registration (one block; the ABI port rewrites only this) ---------------- */
static const ds_arg_desc P2G_ARGS[] = {{"x", DS_IN, DS_REAL, 2, 0}, {"v", DS_IN, DS_REAL, 2, 0}, {"grid", DS_OUT, DS_REAL, -1, 0}, {0}};
static const ds_arg_desc G2P_ARGS[] = {{"x", DS_IN, DS_REAL, 2, 0}, {"grid", DS_IN, DS_REAL, -1, 0}, {"out", DS_OUT, DS_REAL, 2, 0}, {0}};
static const ds_arg_desc MLP_ARGS[] = {{"x", DS_IN, DS_REAL, 2, 0}, {"w", DS_IN, DS_REAL, 1, 0},
                                       {"spec", DS_NODIFF, DS_I32, 1, 0}, {"out", DS_OUT, DS_REAL, 2, 0}, {0}};

int ds_register_kit_ops(const ds_host_api *h, ds_registrar *r) {
  const ds_kernel_desc ks[] = {
      {"p2g", P2G_ARGS, PG_PARAMS, p2g_check, {p2g_fwd}, {p2g_adj}},
      {"g2p", G2P_ARGS, PG_PARAMS, g2p_check, {g2p_fwd}, {g2p_adj}},
      {"mlp", MLP_ARGS, 0, mlp_check, {mlp_fwd}, {mlp_adj}},
  };
  for (unsigned i = 0; i < sizeof ks / sizeof ks[0]; i++) {
    int rc = h->register_kernel(r, &ks[i]);
    if (rc) return rc;
  }
  return DS_OK;
}
