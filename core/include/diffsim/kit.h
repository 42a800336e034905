/* diffsim kit: numerics that several plugins share, written and tested once.
 *
 *   1. deterministic reductions  (sum, dot of ds_real arrays, in double)
 *   2. particle <-> grid transfer with quadratic B-spline weights (MPM, and
 *      scatter-type adjoints), deterministic without float atomics
 *   3. a fused MLP controller (any depth, the activations of ds.nn, one flat
 *      weight array) for a plugin's rollout to call once per step
 *
 * Plain C and FFI-clean (enums, no #define constants). A plugin never links the
 * core: it reaches these functions through a table, `host->kit` (the ABI hangs
 * a `const ds_kit_api *` off the host table); the core gets the same table from
 * ds_kit_api_get(). The table only grows at its end: before using a member that
 * a later version added, compare offsetof(ds_kit_api, member) with `size`.
 *
 * Every function is deterministic: for the same inputs and thread count the
 * results are bitwise identical, and they are also identical across thread
 * counts (work is split in blocks that depend only on the problem size, and
 * partial results are combined in block order). docs/kit.md has the details. */
#ifndef DIFFSIM_KIT_H
#define DIFFSIM_KIT_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 2: mlp_backward_inject appended. */
enum { DS_KIT_VERSION = 2 };

/* ---- particle <-> grid ------------------------------------------------------
 * Grid: `dim` axes of n[0] x n[1] (x n[2]) nodes, node (i, j, k) at
 * origin + (i, j, k) * dx, stored row-major {n0, n1, [n2,] C}: channels are
 * innermost, axis 0 is the slowest. Particles: positions {np, dim} (world units),
 * values {np, C}. Coordinate d of a particle lies along grid axis d.
 *
 * A particle at grid coordinate g = (x - origin) / dx touches the 3 nodes per
 * axis base, base + 1, base + 2 with base = floor(g - 0.5), weighted by the
 * quadratic B-spline of f = g - base (in [0.5, 1.5)):
 *   w0 = (1.5 - f)^2 / 2,   w1 = 0.75 - (f - 1)^2,   w2 = (f - 0.5)^2 / 2
 * (product over axes; the weights of a particle sum to 1). The stencil lies
 * inside the grid when 0.5 <= g < n - 1.5 on every axis. */
typedef enum ds_kit_bounds {
  DS_KIT_BOUNDS_ERROR = 0, /* a particle whose stencil leaves the grid is an error naming it */
  DS_KIT_BOUNDS_CLAMP = 1  /* g is clamped to [0.5, n - 1.5] per axis; the weight gradient
                              along a clamped axis is 0. NaN positions are still errors. */
} ds_kit_bounds;

typedef struct ds_kit_grid {
  int32_t dim;      /* 2 or 3 */
  int32_t channels; /* C >= 1 values per node and per particle */
  int32_t bounds;   /* ds_kit_bounds */
  int32_t reserved; /* 0 */
  int64_t n[3];     /* nodes per axis, each >= 3 (n[2] ignored in 2D) */
  double dx;        /* node spacing, > 0 */
  double origin[3]; /* world position of node 0 (origin[2] ignored in 2D) */
} ds_kit_grid;

/* ---- fused MLP ------------------------------------------------------------------
 * y = act_L(... act_1(x W_1 + b_1) ... W_L + b_L), the layer convention of
 * ds.nn.linear (row vector times W {in, out}).
 * Flat weights: for each layer l = 1..L in order, W_l {in_l, out_l} row-major,
 * then b_l {out_l}; exactly the concatenation of ds.nn.mlp(...):parameters(). */
typedef enum ds_kit_act {
  DS_KIT_ACT_IDENTITY = 0, /* ds.nn "identity" / "none" */
  DS_KIT_ACT_TANH = 1,
  DS_KIT_ACT_RELU = 2,     /* derivative 0 at 0, like core.relu */
  DS_KIT_ACT_SIGMOID = 3,
  DS_KIT_ACT_SIN = 4,
  DS_KIT_ACT_COUNT = 5
} ds_kit_act;

typedef struct ds_kit_mlp {
  int32_t layers;        /* L >= 1 linear layers */
  const int32_t *sizes;  /* L + 1 widths: in, hidden..., out */
  const int32_t *acts;   /* L activations (ds_kit_act), acts[l] after layer l */
} ds_kit_mlp;

/* Sizes in ds_real elements, from mlp_query. */
typedef struct ds_kit_mlp_sizes {
  int64_t weights;    /* the flat weight array */
  int64_t save;       /* what forward saves for backward, per sample */
  int64_t scratch;    /* scratch of one single-sample backward */
  int64_t batch_work; /* work of one mlp_backward_batch of the queried batch */
} ds_kit_mlp_sizes;

typedef struct ds_kit_api {
  uint32_t version; /* DS_KIT_VERSION of the core */
  uint32_t size;    /* sizeof(ds_kit_api) of the core */

  /* ---- 1. reductions: blocks of 4096 elements summed in double, the block sums
   * added in block order, on ctx's threads (ctx may be NULL: one thread). The
   * result does not depend on the thread count. dot returns NAN and sets the
   * error only on a NULL array with n > 0 or on out of memory (n > 4M). */
  double (*sum)(ds_ctx *ctx, const ds_real *a, int64_t n);
  double (*dot)(ds_ctx *ctx, const ds_real *a, const ds_real *b, int64_t n);

  /* ---- 2. particle <-> grid. All return DS_OK or an error status with the
   * context error set (naming the function, the argument and the particle). */
  /* Validates the grid description and every position (no other work). */
  int (*pg_check)(ds_ctx *ctx, const ds_kit_grid *g, const ds_real *x, int64_t np);
  /* Bytes of work memory p2g needs for np particles (64-byte aligned buffer). */
  int64_t (*p2g_work_bytes)(const ds_kit_grid *g, int64_t np);
  /* grid[node, c] += sum_p w(p, node) v[p, c]. work: p2g_work_bytes bytes, or
   * NULL to let the kit allocate (and free) it in this call. */
  int (*p2g)(ds_ctx *ctx, const ds_kit_grid *g, const ds_real *x, const ds_real *v, int64_t np, ds_real *grid,
             void *work);
  /* out[p, c] (+)= sum_node w(p, node) grid[node, c]: the transpose of p2g.
   * accumulate = 0 overwrites out, 1 adds to it. */
  int (*g2p)(ds_ctx *ctx, const ds_kit_grid *g, const ds_real *x, const ds_real *grid, int64_t np, ds_real *out,
             int accumulate);
  /* The position derivative: gx[p, d] += sum_node dw(p, node)/dx_pd sum_c grid[node, c] pv[p, c].
   * With grid = d loss/d grid and pv = particle values it is p2g's gradient in x;
   * with grid = the grid and pv = d loss/d out it is g2p's gradient in x. */
  int (*g2p_dx)(ds_ctx *ctx, const ds_kit_grid *g, const ds_real *x, const ds_real *grid, const ds_real *pv,
                int64_t np, ds_real *gx);
  /* One particle's stencil, for per-particle math a plugin does itself (APIC,
   * deformation gradients): base node per axis, weights w[a*9 + b*3 + c] (2D:
   * w[a*3 + b]) and their gradients dw[(stencil index) * dim + d] in world units
   * (dw may be NULL). Returns DS_OK, or DS_ERR_ARG when the stencil leaves the
   * grid in error mode (no context: the caller reports it). */
  int (*stencil)(const ds_kit_grid *g, const ds_real *xp, int64_t base[3], ds_real w[27], ds_real dw[81]);

  /* ---- 3. fused MLP. mlp_query validates a network once (clear errors for
   * bad sizes or an unsupported activation) and gives the buffer sizes; the
   * per-step calls after it do no checks and no allocation. */
  int (*mlp_query)(ds_ctx *ctx, const ds_kit_mlp *net, int64_t batch, ds_kit_mlp_sizes *out);
  /* "identity", "tanh", ... for a ds_kit_act; NULL when out of range. */
  const char *(*act_name)(int act);
  /* The ds_kit_act of a ds.nn activation name ("none" = "identity"); -1 if unknown. */
  int (*act_from_name)(const char *name);
  /* One sample: y {out} from x {in}; save {sizes.save} keeps what backward needs. */
  void (*mlp_forward)(const ds_kit_mlp *net, const ds_real *w, const ds_real *x, ds_real *y, ds_real *save);
  /* One sample, from forward's save and gy = d loss/d y: gx {in} += d loss/d x and
   * gw {weights} += d loss/d w (either may be NULL). scratch {sizes.scratch}.
   * Of save it reads every a_l, and z_l only where act_l is sin. */
  void (*mlp_backward)(const ds_kit_mlp *net, const ds_real *w, const ds_real *x, const ds_real *save,
                       const ds_real *gy, ds_real *gx, ds_real *gw, ds_real *scratch);
  /* A batch {batch, in} -> {batch, out}, save {batch, sizes.save}, on ctx's threads. */
  int (*mlp_forward_batch)(ds_ctx *ctx, const ds_kit_mlp *net, const ds_real *w, const ds_real *x, int64_t batch,
                           ds_real *y, ds_real *save);
  /* Batch backward; weight gradients are summed over fixed sample blocks in block
   * order. work {sizes.batch_work for this batch}. gx and gw accumulate. */
  int (*mlp_backward_batch)(ds_ctx *ctx, const ds_kit_mlp *net, const ds_real *w, const ds_real *x,
                            const ds_real *save, const ds_real *gy, int64_t batch, ds_real *gx, ds_real *gw,
                            ds_real *work);

  /* ---- appended in version 2 (check offsetof < size before calling) ---- */
  /* mlp_backward, plus gradients that arrive at the hidden activations:
   * ghidden {sum of the hidden widths} (NULL: none) holds d loss/d a_1, ...,
   * d loss/d a_{L-1} concatenated, and each is added to d loss/d a_l before the
   * activation's derivative: d/d a_{l-1}[i] = ghidden + dot(W_l row i, d/d z_l)
   * (8 lanes, as everywhere in the kit). A rollout that hands out the hidden
   * activations as a differentiable output feeds their gradient in here.
   * Like mlp_backward it reads save's z_l only where act_l is sin, so a caller
   * that keeps only the activations may leave the other z slots unfilled. */
  void (*mlp_backward_inject)(const ds_kit_mlp *net, const ds_real *w, const ds_real *x, const ds_real *save,
                              const ds_real *gy, const ds_real *ghidden, ds_real *gx, ds_real *gw, ds_real *scratch);
} ds_kit_api;

/* The core's table (core side only; plugins use host->kit). */
const ds_kit_api *ds_kit_api_get(void);

#ifdef __cplusplus
}
#endif
#endif
