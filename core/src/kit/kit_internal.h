/* Internals of the kit (core/src/kit): the functions behind ds_kit_api, with a
 * `who` argument so a core kernel's errors carry its own name. */
#ifndef DIFFSIM_KIT_INTERNAL_H
#define DIFFSIM_KIT_INTERNAL_H

#include "../internal.h"
#include "diffsim/kit.h"

/* reduce.c */
double ds_kit_sum(ds_ctx *ctx, const ds_real *a, int64_t n);
double ds_kit_dot(ds_ctx *ctx, const ds_real *a, const ds_real *b, int64_t n);

/* pg_check.c: `who` prefixes messages ("kit.p2g", "core.p2g"); `xname` names the
 * positions argument. */
int ds_kit_grid_check(ds_ctx *ctx, const char *who, const ds_kit_grid *g);
int ds_kit_pos_check(ds_ctx *ctx, const char *who, const char *xname, const ds_kit_grid *g, const ds_real *x,
                     int64_t np);

/* p2g.c */
int64_t ds_kit_p2g_work_bytes(const ds_kit_grid *g, int64_t np);
int ds_kit_p2g_impl(ds_ctx *ctx, const char *who, const char *xname, const ds_kit_grid *g, const ds_real *x,
                    const ds_real *v, int64_t np, ds_real *grid, void *work);

/* g2p.c: positions must have been checked (pos_check or p2g). */
void ds_kit_g2p_run(ds_ctx *ctx, const ds_kit_grid *g, const ds_real *x, const ds_real *grid, int64_t np,
                    ds_real *out, int accumulate);
void ds_kit_g2p_dx_run(ds_ctx *ctx, const ds_kit_grid *g, const ds_real *x, const ds_real *grid, const ds_real *pv,
                       int64_t np, ds_real *gx);
int ds_kit_stencil(const ds_kit_grid *g, const ds_real *xp, int64_t base[3], ds_real w[27], ds_real dw[81]);

/* mlp.c */
int ds_kit_mlp_query_impl(ds_ctx *ctx, const char *who, const char *argname, const ds_kit_mlp *net, int64_t batch,
                          ds_kit_mlp_sizes *out);
const char *ds_kit_act_name(int act);
int ds_kit_act_from_name(const char *name);
void ds_kit_mlp_forward(const ds_kit_mlp *net, const ds_real *w, const ds_real *x, ds_real *y, ds_real *save);
void ds_kit_mlp_backward(const ds_kit_mlp *net, const ds_real *w, const ds_real *x, const ds_real *save,
                         const ds_real *gy, ds_real *gx, ds_real *gw, ds_real *scratch);
void ds_kit_mlp_backward_inject(const ds_kit_mlp *net, const ds_real *w, const ds_real *x, const ds_real *save,
                                const ds_real *gy, const ds_real *ghidden, ds_real *gx, ds_real *gw, ds_real *scratch);
int ds_kit_mlp_forward_batch(ds_ctx *ctx, const ds_kit_mlp *net, const ds_real *w, const ds_real *x, int64_t batch,
                             ds_real *y, ds_real *save);
int ds_kit_mlp_backward_batch(ds_ctx *ctx, const ds_kit_mlp *net, const ds_real *w, const ds_real *x,
                              const ds_real *save, const ds_real *gy, int64_t batch, ds_real *gx, ds_real *gw,
                              ds_real *work);

#endif
