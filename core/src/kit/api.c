/* The kit's function table: what plugins reach through host->kit. The
 * wrappers here validate (with "kit.<fn>" in messages) and forward to the
 * implementations, which core kernels call directly with their own names. */
#include "kit_internal.h"

#include <stddef.h>

static int pg_check(ds_ctx *ctx, const ds_kit_grid *g, const ds_real *x, int64_t np) {
  return ds_kit_pos_check(ctx, "kit.pg_check", "'x'", g, x, np);
}

static int p2g(ds_ctx *ctx, const ds_kit_grid *g, const ds_real *x, const ds_real *v, int64_t np, ds_real *grid,
               void *work) {
  return ds_kit_p2g_impl(ctx, "kit.p2g", "'x'", g, x, v, np, grid, work);
}

static int g2p(ds_ctx *ctx, const ds_kit_grid *g, const ds_real *x, const ds_real *grid, int64_t np, ds_real *out,
               int accumulate) {
  int rc = ds_kit_pos_check(ctx, "kit.g2p", "'x'", g, x, np);
  if (rc) return rc;
  if (np > 0 && (!grid || !out)) return ds_fail(ctx, DS_ERR_ARG, "kit.g2p: arguments 'grid' and 'out' must not be NULL");
  ds_kit_g2p_run(ctx, g, x, grid, np, out, accumulate);
  return DS_OK;
}

static int g2p_dx(ds_ctx *ctx, const ds_kit_grid *g, const ds_real *x, const ds_real *grid, const ds_real *pv,
                  int64_t np, ds_real *gx) {
  int rc = ds_kit_pos_check(ctx, "kit.g2p_dx", "'x'", g, x, np);
  if (rc) return rc;
  if (np > 0 && (!grid || !pv || !gx))
    return ds_fail(ctx, DS_ERR_ARG, "kit.g2p_dx: arguments 'grid', 'pv' and 'gx' must not be NULL");
  ds_kit_g2p_dx_run(ctx, g, x, grid, pv, np, gx);
  return DS_OK;
}

static int mlp_query(ds_ctx *ctx, const ds_kit_mlp *net, int64_t batch, ds_kit_mlp_sizes *out) {
  return ds_kit_mlp_query_impl(ctx, "kit.mlp_query", "'net'", net, batch, out);
}

static const ds_kit_api KIT = {
    DS_KIT_VERSION,
    (uint32_t)sizeof(ds_kit_api),
    ds_kit_sum,
    ds_kit_dot,
    pg_check,
    ds_kit_p2g_work_bytes,
    p2g,
    g2p,
    g2p_dx,
    ds_kit_stencil,
    mlp_query,
    ds_kit_act_name,
    ds_kit_act_from_name,
    ds_kit_mlp_forward,
    ds_kit_mlp_backward,
    ds_kit_mlp_forward_batch,
    ds_kit_mlp_backward_batch,
    ds_kit_mlp_backward_inject,
};

const ds_kit_api *ds_kit_api_get(void) { return &KIT; }
