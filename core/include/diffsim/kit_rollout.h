/* diffsim kit: helpers for rollout kernels that run the fused MLP per step.
 *
 * A controller network reaches such a kernel as an i32 `spec` tensor (L + 1
 * layer widths, then L activation codes; ds.kit.mlp_spec builds it) and a list
 * slot of weights: either one flat tensor in the kit's layout (W_1 {in, out}
 * row-major, b_1, W_2, b_2, ...) or the per-layer W_l, b_l of
 * ds.nn.mlp(...):parameters(). These header-only helpers (no core symbols)
 * check both, view the weights as one flat array, route the weight gradient,
 * and convert between the kit's per-step save ([z_1, a_1, ..., z_L, a_L]) and
 * a rollout's hidden/output rows, so every plugin does this the same way. The
 * weights are the kernel's first list slot (ds_list). */
#ifndef DIFFSIM_KIT_ROLLOUT_H
#define DIFFSIM_KIT_ROLLOUT_H

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "kit.h"
#include "plugin.h"

enum { DS_KIT_MAX_LAYERS = 64, DS_KIT_MAX_WIDTH = 1 << 24 };

/* The network a spec tensor describes (a view of its data). */
static inline ds_kit_mlp ds_kit_net_of(const ds_tensor *spec) {
  ds_kit_mlp net;
  net.layers = (int32_t)((spec->count - 1) / 2);
  net.sizes = ds_idata(spec);
  net.acts = ds_idata(spec) + net.layers + 1;
  return net;
}

/* Sum of the hidden layers' widths: the width of a rollout's hidden row. */
static inline int64_t ds_kit_hidden_width(const ds_kit_mlp *net) {
  int64_t h = 0;
  for (int l = 1; l < net->layers; l++) h += net->sizes[l];
  return h;
}

/* A sin layer needs its pre-activations in backward, which hidden rows do not
 * keep: such a step's forward is recomputed instead. */
static inline int ds_kit_has_sin(const ds_kit_mlp *net) {
  for (int l = 0; l < net->layers; l++)
    if (net->acts[l] == DS_KIT_ACT_SIN) return 1;
  return 0;
}

/* The spec in argument `slot` must map n_in inputs to n_out outputs with
 * activations the kit runs; in_what / out_what say what those are in the
 * message. Also refuses a core whose kit lacks mlp_backward_inject. */
static inline int ds_kit_check_spec(const ds_call *c, int slot, int64_t n_in, int64_t n_out, const char *in_what,
                                    const char *out_what) {
  const ds_tensor *spec = c->args[slot];
  const ds_kit_api *kit = c->host->kit;
  if (!kit || kit->size <= offsetof(ds_kit_api, mlp_backward_inject))
    return c->host->error(c, "the core's kit has no mlp_backward_inject (kit version %u): rebuild the plugin with "
                             "the diffsim it loads into", kit ? kit->version : 0u);
  if (spec->count < 3 || spec->count % 2 == 0 || spec->count > 2 * DS_KIT_MAX_LAYERS + 1)
    return c->host->error(c,
                          "argument 'spec' (#%d) must hold 2 L + 1 integers (L + 1 layer widths, then L activation "
                          "codes, 1 <= L <= %d; ds.kit.mlp_spec builds it), got %lld",
                          slot + 1, DS_KIT_MAX_LAYERS, (long long)spec->count);
  ds_kit_mlp net = ds_kit_net_of(spec);
  if (net.sizes[0] != n_in || net.sizes[net.layers] != n_out)
    return c->host->error(c,
                          "argument 'spec' (#%d): the network maps %d inputs to %d outputs; the controller has %lld "
                          "inputs (%s) and %lld outputs (%s)",
                          slot + 1, net.sizes[0], net.sizes[net.layers], (long long)n_in, in_what, (long long)n_out,
                          out_what);
  for (int l = 1; l < net.layers; l++)
    if (net.sizes[l] < 1 || net.sizes[l] > DS_KIT_MAX_WIDTH)
      return c->host->error(c, "argument 'spec' (#%d): hidden layer %d has width %d; widths must be in [1, 2^24]",
                            slot + 1, l, net.sizes[l]);
  for (int l = 0; l < net.layers; l++)
    if (!kit->act_name(net.acts[l]))
      return c->host->error(c,
                            "argument 'spec' (#%d): layer %d has activation code %d, which the fused MLP does not "
                            "support (0 identity, 1 tanh, 2 relu, 3 sigmoid, 4 sin)",
                            slot + 1, l + 1, net.acts[l]);
  return DS_OK;
}

/* The weight list (list slot `slot`): one flat tensor of nw values, or W_l, b_l
 * per layer with the spec's shapes. Shapes only: no tensor data is read. */
static inline int ds_kit_check_weights(const ds_call *c, int slot, const ds_kit_mlp *net, int64_t nw) {
  const int L = net->layers;
  if (c->list_len == 1) {
    const ds_tensor *t = ds_list(c, 0);
    if (t->ndim != 1 || t->count != nw)
      return c->host->error(c,
                            "argument 'w' (#%d): one flat tensor must be {%lld} for the network of 'spec' (the kit's "
                            "layout: W_1 {in, out} row-major, b_1, W_2, b_2, ...; ds.kit.flatten(net:parameters())), "
                            "got %lld elements in %d dims",
                            slot + 1, (long long)nw, (long long)t->count, t->ndim);
    return DS_OK;
  }
  if (c->list_len != 2 * L)
    return c->host->error(c,
                          "argument 'w' (#%d) is a list of %d tensors; the network of 'spec' takes its %d layers' "
                          "W, b (%d tensors) or one flat tensor",
                          slot + 1, c->list_len, L, 2 * L);
  for (int l = 0; l < L; l++) {
    const ds_tensor *W = ds_list(c, 2 * l), *b = ds_list(c, 2 * l + 1);
    if (W->ndim != 2 || W->dims[0] != net->sizes[l] || W->dims[1] != net->sizes[l + 1] || b->ndim != 1 ||
        b->dims[0] != net->sizes[l + 1])
      return c->host->error(c, "argument 'w' (#%d): layer %d must be W {%d, %d} and b {%d} (net:parameters() order)",
                            slot + 1, l + 1, net->sizes[l], net->sizes[l + 1], net->sizes[l + 1]);
  }
  return DS_OK;
}

/* Every weight finite (a data check: call it from the forward, on the host). */
static inline int ds_kit_check_weights_finite(const ds_call *c, int slot) {
  for (int i = 0; i < c->list_len; i++) {
    const ds_tensor *t = ds_list(c, i);
    const ds_real *p = ds_rdata(t);
    for (int64_t k = 0; k < t->count; k++)
      if (!isfinite(p[k]))
        return c->host->error(c, "argument 'w' (#%d): tensor %d of the list has a non-finite value (%g) at element %lld",
                              slot + 1, i + 1, (double)p[k], (long long)k + 1);
  }
  return DS_OK;
}

/* The flat weights: the single tensor's data, or the list copied into `flat`
 * (nw reals of scratch) in the kit's layout. */
static inline const ds_real *ds_kit_flat_weights(const ds_call *c, ds_real *flat) {
  if (c->list_len == 1) return ds_rdata(ds_list(c, 0));
  ds_real *p = flat;
  for (int i = 0; i < c->list_len; i++) {
    const ds_tensor *t = ds_list(c, i);
    memcpy(p, ds_rdata(t), (size_t)t->count * sizeof(ds_real));
    p += t->count;
  }
  return flat;
}

/* Where the adjoint accumulates the weight gradient: a single flat tensor's own
 * gradient, or `gflat` (nw reals, zeroed here) when a list wants one; NULL when
 * no weight needs a gradient. Finish with ds_kit_weight_grad_end. */
static inline ds_real *ds_kit_weight_grad_begin(const ds_call *c, ds_real *gflat, int64_t nw) {
  if (c->list_len == 1) return ds_rgrad(ds_list(c, 0));
  int any = 0;
  for (int i = 0; i < c->list_len; i++) any |= ds_rgrad(ds_list(c, i)) != NULL;
  if (!any) return NULL;
  memset(gflat, 0, (size_t)nw * sizeof(ds_real));
  return gflat;
}
/* Adds gflat into each listed tensor's gradient (nothing for a flat tensor). */
static inline void ds_kit_weight_grad_end(const ds_call *c, const ds_real *gw) {
  if (c->list_len == 1 || !gw) return;
  for (int i = 0; i < c->list_len; i++) {
    const ds_tensor *t = ds_list(c, i);
    ds_real *gt = ds_rgrad(t);
    if (gt)
      for (int64_t e = 0; e < t->count; e++) gt[e] += gw[e];
    gw += t->count;
  }
}

/* One step's kit save [z_1, a_1, ..., z_L, a_L] -> the hidden row a_1 ... a_{L-1}. */
static inline void ds_kit_save_to_rows(const ds_kit_mlp *net, const ds_real *st, ds_real *h) {
  for (int l = 1, off = 0; l < net->layers; l++) {
    memcpy(h, st + off + net->sizes[l], (size_t)net->sizes[l] * sizeof(ds_real));
    h += net->sizes[l];
    off += 2 * net->sizes[l];
  }
}
/* The hidden row and the output row back into a save (the z slots are left as
 * they are: backward reads them only for sin layers, which recompute). */
static inline void ds_kit_rows_to_save(const ds_kit_mlp *net, const ds_real *h, const ds_real *act, ds_real *st) {
  int off = 0;
  for (int l = 1; l < net->layers; l++) {
    memcpy(st + off + net->sizes[l], h, (size_t)net->sizes[l] * sizeof(ds_real));
    h += net->sizes[l];
    off += 2 * net->sizes[l];
  }
  memcpy(st + off + net->sizes[net->layers], act, (size_t)net->sizes[net->layers] * sizeof(ds_real));
}

#endif
