/* The fused MLP controller: y = act_L(... act_1(x W_1 + b_1) ... W_L + b_L),
 * with ds.nn.linear's convention (W {in, out} row-major, bias after the
 * product) and the flat layout [W_1, b_1, W_2, b_2, ...] = net:parameters().
 *
 * Per sample, forward saves z_l and a_l = act_l(z_l) of every layer
 * ([z_1, a_1, z_2, a_2, ...], 2 * sum out_l reals): backward needs a_{l-1} as
 * the input of layer l and z_l or a_l for the activation's derivative.
 * No call allocates: a plugin can run it once per step of a rollout.
 * Batches split into fixed sample blocks; weight gradients of the blocks are
 * summed in block order, so the result is independent of the thread count. */
#include "kit_internal.h"

#include <math.h>
#include <string.h>

#ifdef DS_REAL_F64
#define R_TANH tanh
#define R_EXP exp
#define R_SIN sin
#define R_COS cos
#else
#define R_TANH tanhf
#define R_EXP expf
#define R_SIN sinf
#define R_COS cosf
#endif

enum { MAX_WIDTH = 1 << 24, SAMPLE_BLOCK = 32, FWD_GRAIN = 16 };

static const char *const ACT_NAMES[DS_KIT_ACT_COUNT] = {"identity", "tanh", "relu", "sigmoid", "sin"};

const char *ds_kit_act_name(int act) { return act >= 0 && act < DS_KIT_ACT_COUNT ? ACT_NAMES[act] : NULL; }

int ds_kit_act_from_name(const char *name) {
  if (!name) return -1;
  if (!strcmp(name, "none")) return DS_KIT_ACT_IDENTITY;
  for (int a = 0; a < DS_KIT_ACT_COUNT; a++)
    if (!strcmp(name, ACT_NAMES[a])) return a;
  return -1;
}

static int64_t max_width(const ds_kit_mlp *net) {
  int64_t m = 1;
  for (int l = 1; l <= net->layers; l++) m = net->sizes[l] > m ? net->sizes[l] : m;
  return m;
}

int ds_kit_mlp_query_impl(ds_ctx *ctx, const char *who, const char *argname, const ds_kit_mlp *net, int64_t batch,
                          ds_kit_mlp_sizes *out) {
  if (!net || !out) return ds_fail(ctx, DS_ERR_ARG, "%s: network and output must not be NULL", who);
  if (net->layers < 1 || net->layers > 4096)
    return ds_fail(ctx, DS_ERR_ARG, "%s: argument %s: layers must be in [1, 4096], got %d", who, argname, net->layers);
  if (!net->sizes || !net->acts) return ds_fail(ctx, DS_ERR_ARG, "%s: argument %s: sizes and acts must not be NULL", who, argname);
  if (batch < 0) return ds_fail(ctx, DS_ERR_ARG, "%s: argument 'batch' must be >= 0, got %lld", who, (long long)batch);
  int64_t nw = 0, save = 0;
  for (int l = 0; l <= net->layers; l++)
    if (net->sizes[l] < 1 || net->sizes[l] > MAX_WIDTH)
      return ds_fail(ctx, DS_ERR_ARG, "%s: argument %s: size %d (layer width) is %d; widths must be in [1, 2^24]",
                     who, argname, l + 1, net->sizes[l]);
  for (int l = 0; l < net->layers; l++) {
    int a = net->acts[l];
    if (a < 0 || a >= DS_KIT_ACT_COUNT)
      return ds_fail(ctx, DS_ERR_ARG,
                     "%s: argument %s: layer %d has activation %d, which is not supported (0 identity, 1 tanh, "
                     "2 relu, 3 sigmoid, 4 sin)",
                     who, argname, l + 1, a);
    nw += (int64_t)net->sizes[l] * net->sizes[l + 1] + net->sizes[l + 1];
    save += 2 * (int64_t)net->sizes[l + 1];
  }
  out->weights = nw;
  out->save = save;
  out->scratch = 2 * max_width(net);
  int64_t nblk = (batch + SAMPLE_BLOCK - 1) / SAMPLE_BLOCK;
  out->batch_work = nblk <= 1 ? out->scratch : nblk * (nw + out->scratch);
  return DS_OK;
}

/* The per-sample mat-vecs dominate a controller step inside a rollout; with
 * target_clones the loader picks an AVX2/FMA build of them where the CPU has
 * it (the project's baseline is x86-64-v2) and the portable one elsewhere.
 * The helpers below are always inlined, so each clone gets its own copy (and
 * the same contractions into FMA as the rest of that clone). Not under ASan,
 * whose instrumentation and ifunc resolvers do not mix. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define HOT_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define HOT_CLONES
#endif
#define KIT_INLINE static inline __attribute__((always_inline))

/* A dot product in 8 lanes added in a fixed order: it vectorises without
 * -ffast-math, and the order (hence the bits) is in the code, not the compiler. */
KIT_INLINE ds_real dot8(const ds_real *restrict a, const ds_real *restrict b, int64_t n) {
  ds_real l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) l[k] += a[i + k] * b[i + k];
  for (int k = 0; i < n; i++, k++) l[k] += a[i] * b[i];
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

KIT_INLINE void activate(int act, const ds_real *restrict z, ds_real *restrict a, int64_t n) {
  switch (act) {
    case DS_KIT_ACT_TANH: for (int64_t o = 0; o < n; o++) a[o] = R_TANH(z[o]); break;
    case DS_KIT_ACT_RELU: for (int64_t o = 0; o < n; o++) a[o] = z[o] > 0 ? z[o] : 0; break;
    case DS_KIT_ACT_SIGMOID: for (int64_t o = 0; o < n; o++) a[o] = (ds_real)1 / ((ds_real)1 + R_EXP(-z[o])); break;
    case DS_KIT_ACT_SIN: for (int64_t o = 0; o < n; o++) a[o] = R_SIN(z[o]); break;
    default: for (int64_t o = 0; o < n; o++) a[o] = z[o]; break;
  }
}

/* g *= act'(z) in place (a = act(z)). Only sin reads z: a caller that keeps
 * the activations alone (a rollout's outputs) can hand in a save whose z slots
 * are not filled, as long as no layer is sin. */
KIT_INLINE void activate_adj(int act, const ds_real *restrict z, const ds_real *restrict a, ds_real *restrict g,
                             int64_t n) {
  switch (act) {
    case DS_KIT_ACT_TANH: for (int64_t o = 0; o < n; o++) g[o] *= (ds_real)1 - a[o] * a[o]; break;
    /* a > 0 exactly when z > 0 (NaN gives 0 both ways): relu needs no z */
    case DS_KIT_ACT_RELU: for (int64_t o = 0; o < n; o++) g[o] = a[o] > 0 ? g[o] : 0; break;
    case DS_KIT_ACT_SIGMOID: for (int64_t o = 0; o < n; o++) g[o] *= a[o] * ((ds_real)1 - a[o]); break;
    case DS_KIT_ACT_SIN: for (int64_t o = 0; o < n; o++) g[o] *= R_COS(z[o]); break;
    default: break;
  }
}

/* One layer's pre-activation: z = b, then z += in[i] W[i, :] row by row (rows
 * of W are contiguous, so the inner loop vectorises). Starting from the bias,
 * not from 0, is the order the springs robots' controller always used: their
 * losses stay the same bits. The restrict parameters (kept through inlining)
 * spare the compiler a runtime overlap check per row. */
KIT_INLINE void layer_fwd(const ds_real *restrict W, const ds_real *restrict b, const ds_real *restrict in,
                          ds_real *restrict z, int64_t ni, int64_t no) {
  for (int64_t o = 0; o < no; o++) z[o] = b[o];
  int64_t i = 0;
  /* Four rows per pass over z: each z[o] still receives x_i W[i, o] for
   * i = 0, 1, 2, ... one at a time (the same roundings, the same bits as one
   * row per pass), but is loaded and stored once per four rows, not per row. */
  for (; i + 4 <= ni; i += 4) {
    const ds_real x0 = in[i], x1 = in[i + 1], x2 = in[i + 2], x3 = in[i + 3];
    const ds_real *restrict r0 = W + i * no, *restrict r1 = r0 + no, *restrict r2 = r1 + no, *restrict r3 = r2 + no;
    for (int64_t o = 0; o < no; o++) {
      ds_real t = z[o];
      t += x0 * r0[o];
      t += x1 * r1[o];
      t += x2 * r2[o];
      t += x3 * r3[o];
      z[o] = t;
    }
  }
  for (; i < ni; i++) {
    const ds_real xi = in[i], *restrict row = W + i * no;
    for (int64_t o = 0; o < no; o++) z[o] += xi * row[o];
  }
}

/* One layer's backward from g = d loss/d z: the bias gradient adds g, row i of
 * W's gradient adds in[i] g (gW may be NULL), and
 * gin[i] = (ga ? ga[i] : 0) + dot8(W row i, g), or gin[i] += dot8(...) when
 * accumulate (the network's input gradient). Row by row, so W's row and its
 * gradient row are touched once. */
KIT_INLINE void layer_bwd(const ds_real *restrict W, const ds_real *restrict in, const ds_real *restrict g,
                          const ds_real *restrict ga, ds_real *restrict gW, ds_real *restrict gb,
                          ds_real *restrict gin, int accumulate, int64_t ni, int64_t no) {
  if (gb)
    for (int64_t o = 0; o < no; o++) gb[o] += g[o];
  for (int64_t i = 0; i < ni; i++) {
    const ds_real *restrict row = W + i * no;
    if (gin) {
      const ds_real d = dot8(row, g, no);
      gin[i] = accumulate ? gin[i] + d : ga ? ga[i] + d : d;
    }
    if (gW) {
      ds_real *restrict grow = gW + i * no;
      const ds_real xi = in[i];
      for (int64_t o = 0; o < no; o++) grow[o] += xi * g[o];
    }
  }
}

HOT_CLONES void ds_kit_mlp_forward(const ds_kit_mlp *net, const ds_real *w, const ds_real *x, ds_real *y,
                                   ds_real *save) {
  const ds_real *in = x;
  ds_real *s = save;
  for (int l = 0; l < net->layers; l++) {
    const int64_t ni = net->sizes[l], no = net->sizes[l + 1];
    layer_fwd(w, w + ni * no, in, s, ni, no);
    activate(net->acts[l], s, s + no, no);
    in = s + no;
    w += ni * no + no;
    s += 2 * no;
  }
  memcpy(y, in, (size_t)net->sizes[net->layers] * sizeof(ds_real));
}

/* Per layer, from the output back: g = d loss/d a_l, times act'(z_l) gives
 * d/d z_l, then layer_bwd. Gradients arriving at the hidden activations
 * (ghidden, a_1 ... a_{L-1} concatenated) are added to d/d a_l before the
 * derivative, ahead of the dot: injected + dot8(W row, g), the order of the
 * springs robots' controller. */
HOT_CLONES void ds_kit_mlp_backward_inject(const ds_kit_mlp *net, const ds_real *w, const ds_real *x,
                                           const ds_real *save, const ds_real *gy, const ds_real *ghidden,
                                           ds_real *gx, ds_real *gw, ds_real *scratch) {
  const int L = net->layers;
  int64_t woff = 0, soff = 0, hoff = 0;
  for (int l = 0; l < L; l++) {
    woff += (int64_t)net->sizes[l] * net->sizes[l + 1] + net->sizes[l + 1];
    soff += 2 * (int64_t)net->sizes[l + 1];
    if (l + 1 < L) hoff += net->sizes[l + 1];
  }
  const int64_t mw = max_width(net);
  ds_real *g = scratch, *gn = scratch + mw;
  memcpy(g, gy, (size_t)net->sizes[L] * sizeof(ds_real));
  for (int l = L - 1; l >= 0; l--) {
    const int64_t ni = net->sizes[l], no = net->sizes[l + 1];
    woff -= ni * no + no;
    soff -= 2 * no;
    const ds_real *z = save + soff, *a = z + no;
    const ds_real *in = l > 0 ? save + soff - ni : x; /* a_{l-1} ends where z_l starts */
    activate_adj(net->acts[l], z, a, g, no);
    ds_real *gW = gw ? gw + woff : NULL, *gb = gw ? gw + woff + ni * no : NULL;
    if (l > 0) {
      hoff -= ni; /* a_{l-1}'s columns in ghidden */
      layer_bwd(w + woff, in, g, ghidden ? ghidden + hoff : NULL, gW, gb, gn, 0, ni, no);
      ds_real *t = g;
      g = gn;
      gn = t;
    } else {
      layer_bwd(w + woff, in, g, NULL, gW, gb, gx, 1, ni, no);
    }
  }
}

void ds_kit_mlp_backward(const ds_kit_mlp *net, const ds_real *w, const ds_real *x, const ds_real *save,
                         const ds_real *gy, ds_real *gx, ds_real *gw, ds_real *scratch) {
  ds_kit_mlp_backward_inject(net, w, x, save, gy, NULL, gx, gw, scratch);
}

typedef struct batch_job {
  const ds_kit_mlp *net;
  const ds_real *w, *x, *save, *gy;
  ds_real *y, *save_out, *gx, *gw, *work;
  int64_t batch, nin, nout, nsave, nw, nscratch;
} batch_job;

static void fwd_samples(int64_t lo, int64_t hi, void *u) {
  const batch_job *j = u;
  for (int64_t s = lo; s < hi; s++)
    ds_kit_mlp_forward(j->net, j->w, j->x + s * j->nin, j->y + s * j->nout, j->save_out + s * j->nsave);
}

int ds_kit_mlp_forward_batch(ds_ctx *ctx, const ds_kit_mlp *net, const ds_real *w, const ds_real *x, int64_t batch,
                             ds_real *y, ds_real *save) {
  ds_kit_mlp_sizes sz;
  int rc = ds_kit_mlp_query_impl(ctx, "kit.mlp_forward_batch", "'net'", net, batch, &sz);
  if (rc) return rc;
  batch_job j = {net, w, x, NULL, NULL, y, save, NULL, NULL, NULL, batch, net->sizes[0], net->sizes[net->layers],
                 sz.save, sz.weights, sz.scratch};
  ds_parallel_for(ctx, batch, FWD_GRAIN, fwd_samples, &j);
  return DS_OK;
}

/* One task = one sample block: its weight gradient goes to its own partial. */
static void bwd_blocks(int64_t b0, int64_t b1, void *u) {
  const batch_job *j = u;
  for (int64_t b = b0; b < b1; b++) {
    ds_real *part = j->gw ? j->work + b * (j->nw + j->nscratch) : NULL;
    ds_real *scr = j->work + b * (j->nw + j->nscratch) + j->nw;
    if (part) memset(part, 0, (size_t)j->nw * sizeof(ds_real));
    int64_t hi = (b + 1) * SAMPLE_BLOCK < j->batch ? (b + 1) * SAMPLE_BLOCK : j->batch;
    for (int64_t s = b * SAMPLE_BLOCK; s < hi; s++)
      ds_kit_mlp_backward(j->net, j->w, j->x + s * j->nin, j->save + s * j->nsave, j->gy + s * j->nout,
                          j->gx ? j->gx + s * j->nin : NULL, part, scr);
  }
}

/* gw[k] += partial_0[k] + partial_1[k] + ... in block order. */
static void combine(int64_t lo, int64_t hi, void *u) {
  const batch_job *j = u;
  int64_t nblk = (j->batch + SAMPLE_BLOCK - 1) / SAMPLE_BLOCK;
  for (int64_t k = lo; k < hi; k++) {
    ds_real acc = j->gw[k];
    for (int64_t b = 0; b < nblk; b++) acc += j->work[b * (j->nw + j->nscratch) + k];
    j->gw[k] = acc;
  }
}

int ds_kit_mlp_backward_batch(ds_ctx *ctx, const ds_kit_mlp *net, const ds_real *w, const ds_real *x,
                              const ds_real *save, const ds_real *gy, int64_t batch, ds_real *gx, ds_real *gw,
                              ds_real *work) {
  ds_kit_mlp_sizes sz;
  int rc = ds_kit_mlp_query_impl(ctx, "kit.mlp_backward_batch", "'net'", net, batch, &sz);
  if (rc) return rc;
  if (batch == 0) return DS_OK;
  if (!work) return ds_fail(ctx, DS_ERR_ARG, "kit.mlp_backward_batch: argument 'work' is NULL");
  batch_job j = {net, w, x, save, gy, NULL, NULL, gx, gw, work, batch, net->sizes[0], net->sizes[net->layers],
                 sz.save, sz.weights, sz.scratch};
  if (batch <= SAMPLE_BLOCK) {
    /* one block: straight into gw (the same every time for this batch size) */
    for (int64_t s = 0; s < batch; s++)
      ds_kit_mlp_backward(net, w, x + s * j.nin, save + s * j.nsave, gy + s * j.nout, gx ? gx + s * j.nin : NULL,
                          gw, work);
    return DS_OK;
  }
  ds_parallel_for(ctx, (batch + SAMPLE_BLOCK - 1) / SAMPLE_BLOCK, 1, bwd_blocks, &j);
  if (gw) ds_parallel_for(ctx, sz.weights, 4096, combine, &j);
  return DS_OK;
}
