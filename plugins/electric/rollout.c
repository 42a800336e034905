/* electric.nn_rollout: T steps of (network -> electrode charges -> Coulomb step)
 * in one launch. The network is the core kit's fused MLP (docs/kit.md), one
 * call per step, no allocation in the step loop.
 *
 * Step t = 1..T reads the state of step t-1 (x_{t-1}, v_{t-1}) and the goal of
 * step t. The DiffTaichi reference reads x[t], v[t] there, i.e. the values its
 * *previous* rollout left in those slots (a bug: the controller sees a stale
 * trajectory and gets no gradient through its inputs); this kernel does not
 * reproduce that. Network input (8 numbers, as the reference lays them out):
 *   x_{t-1} - 0.5, v_{t-1}, goal_t - 0.5, goal_v_t - 0.5.
 *
 * Outputs: states {T+1, 2} (row 0 = x0, v0), the hidden layers' activations
 * {T, sum of hidden widths} and the charges {T, E} (the last layer's
 * activations). Those activations are all the adjoint needs of the network's
 * forward (the kit's backward reads z only for sin layers, recomputed then). */
#include <diffsim/kit.h>

#include "electric.h"

enum { N_IN = 8 };

#define ROLL_ARGS(A)                                                                                    \
  A(x0, DS_IN, DS_REAL, 1, 0) A(v0, DS_IN, DS_REAL, 1, 0) A(electrodes, DS_IN, DS_REAL, 2, 0)             \
  A(K, DS_IN, DS_REAL, 0, 0) A(damping, DS_IN, DS_REAL, 0, 0) A(goal, DS_IN, DS_REAL, 2, 0)               \
  A(goal_v, DS_IN, DS_REAL, 2, 0) A(spec, DS_NODIFF, DS_I32, 1, 0) A(xs, DS_OUT, DS_REAL, 2, 0)           \
  A(vs, DS_OUT, DS_REAL, 2, 0) A(hidden, DS_OUT, DS_REAL, 2, 0) A(charges, DS_OUT, DS_REAL, 2, 0)         \
  A(w, DS_IN, DS_REAL, -1, DS_LIST)
#define ROLL_PARAMS(P) P(dt) P(rmin)
DS_DECLARE_ARGS(roll, ROLL_ARGS)
DS_DECLARE_PARAMS(roll, ROLL_PARAMS)

static ds_kit_mlp roll_net(const ds_call *c) {
  const ds_tensor *spec = DS_ARGV(c, roll)->spec;
  ds_kit_mlp net;
  net.layers = (int32_t)((spec->count - 1) / 2);
  net.sizes = ds_idata(spec);
  net.acts = ds_idata(spec) + net.layers + 1;
  return net;
}

static int64_t hidden_width(const ds_kit_mlp *net) {
  int64_t h = 0;
  for (int l = 1; l < net->layers; l++) h += net->sizes[l];
  return h;
}

/* The spec must be a network the kit runs from the 8 inputs to one charge per
 * electrode. The kit would refuse a bad spec too, but naming the kit; this
 * names the kernel and the argument. */
static int check_spec(const ds_call *c, int64_t E) {
  const int slot = DS_SLOT(roll, spec);
  const ds_tensor *spec = DS_ARGV(c, roll)->spec;
  const ds_kit_api *kit = c->host->kit;
  if (!kit || kit->size <= offsetof(ds_kit_api, mlp_backward_inject))
    return c->host->error(c, "the core's kit has no mlp_backward_inject (kit version %u): rebuild the plugin with "
                             "the diffsim it loads into", kit ? kit->version : 0u);
  if (spec->count < 3 || spec->count % 2 == 0 || spec->count > 2 * 64 + 1)
    return c->host->error(c, "argument 'spec' (#%d) must hold 2 L + 1 integers (L + 1 widths, then L activation "
                             "codes, 1 <= L <= 64; ds.kit.mlp_spec builds it), got %lld",
                          slot + 1, (long long)spec->count);
  ds_kit_mlp net = roll_net(c);
  if (net.sizes[0] != N_IN || net.sizes[net.layers] != E)
    return c->host->error(c, "argument 'spec' (#%d): the network maps %d inputs to %d outputs; the controller has "
                             "%d inputs (x - 0.5, v, goal - 0.5, goal_v - 0.5) and %lld outputs (one per electrode)",
                          slot + 1, net.sizes[0], net.sizes[net.layers], N_IN, (long long)E);
  for (int l = 1; l < net.layers; l++)
    if (net.sizes[l] < 1 || net.sizes[l] > (1 << 20))
      return c->host->error(c, "argument 'spec' (#%d): hidden layer %d has width %d; widths must be in [1, 2^20]",
                            slot + 1, l, net.sizes[l]);
  for (int l = 0; l < net.layers; l++)
    if (!kit->act_name(net.acts[l]))
      return c->host->error(c, "argument 'spec' (#%d): layer %d has activation code %d, which the fused MLP does not "
                               "support (0 identity, 1 tanh, 2 relu, 3 sigmoid, 4 sin)",
                            slot + 1, l + 1, net.acts[l]);
  return DS_OK;
}

/* The weight list: one flat tensor in the kit's layout, or W_l, b_l per layer. */
static int check_weights(const ds_call *c, const ds_kit_mlp *net, int64_t nw) {
  const int slot = DS_SLOT(roll, w);
  if (c->list_len == 1) {
    const ds_tensor *t = ds_list(c, 0);
    if (t->ndim != 1 || t->count != nw)
      return c->host->error(c, "argument 'w' (#%d): one flat tensor must be {%lld} for the network of 'spec' "
                               "(ds.kit.flatten(net:parameters())), got %lld elements in %d dims",
                            slot + 1, (long long)nw, (long long)t->count, t->ndim);
    return DS_OK;
  }
  if (c->list_len != 2 * net->layers)
    return c->host->error(c, "argument 'w' (#%d) is a list of %d tensors; the network of 'spec' takes its %d "
                             "layers' W, b (%d tensors) or one flat tensor",
                          slot + 1, c->list_len, net->layers, 2 * net->layers);
  for (int l = 0; l < net->layers; l++) {
    const ds_tensor *W = ds_list(c, 2 * l), *b = ds_list(c, 2 * l + 1);
    if (W->ndim != 2 || W->dims[0] != net->sizes[l] || W->dims[1] != net->sizes[l + 1] || b->ndim != 1 ||
        b->dims[0] != net->sizes[l + 1])
      return c->host->error(c, "argument 'w' (#%d): layer %d must be W {%d, %d} and b {%d} (net:parameters() order)",
                            slot + 1, l + 1, net->sizes[l], net->sizes[l + 1], net->sizes[l + 1]);
  }
  return DS_OK;
}

static int roll_check(const ds_call *c) {
  const roll_argv *a = DS_ARGV(c, roll);
  const roll_params *p = DS_PARAMS(c, roll);
  int rc = elec_check_params(c, p->dt, p->rmin);
  if (rc) return rc;
  if ((rc = elec_check_electrodes(c, DS_SLOT(roll, electrodes)))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(roll, x0), 1, 2, -1, -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(roll, v0), 1, 2, -1, -1, -1))) return rc;
  const int64_t T = a->goal->dims[0], E = a->electrodes->dims[0];
  if (T < 1 || a->goal->dims[1] != 2)
    return c->host->error(c, "argument 'goal' (#%d) must be {T, 2} with T >= 1 steps (row t-1: the goal of step t), "
                             "got {%lld, %lld}", DS_SLOT(roll, goal) + 1, (long long)T, (long long)a->goal->dims[1]);
  if ((rc = ds_expect_shape(c, DS_SLOT(roll, goal_v), 2, T, 2, -1, -1))) return rc;
  if ((rc = check_spec(c, E))) return rc;
  ds_kit_mlp net = roll_net(c);
  ds_kit_mlp_sizes sz;
  if ((rc = c->host->kit->mlp_query(c->ctx, &net, 1, &sz))) return rc;
  if ((rc = check_weights(c, &net, sz.weights))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(roll, xs), 2, T + 1, 2, -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(roll, vs), 2, T + 1, 2, -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(roll, hidden), 2, T, hidden_width(&net), -1, -1))) return rc;
  return ds_expect_shape(c, DS_SLOT(roll, charges), 2, T, E, -1, -1);
}

/* The flat weights: the single tensor's data, or the list copied into flat. */
static const R *flat_weights(const ds_call *c, R *flat) {
  if (c->list_len == 1) return ds_rdata(ds_list(c, 0));
  R *p = flat;
  for (int i = 0; i < c->list_len; i++) {
    const ds_tensor *t = ds_list(c, i);
    memcpy(p, ds_rdata(t), (size_t)t->count * sizeof(R));
    p += t->count;
  }
  return flat;
}

/* The network's input for step t (1-based) from the state of step t-1. */
static void net_input(const R *x, const R *v, const R *goal, const R *goal_v, R in[N_IN]) {
  in[0] = x[0] - (R)0.5, in[1] = x[1] - (R)0.5;
  in[2] = v[0], in[3] = v[1];
  in[4] = goal[0] - (R)0.5, in[5] = goal[1] - (R)0.5;
  in[6] = goal_v[0] - (R)0.5, in[7] = goal_v[1] - (R)0.5; /* the reference's offset on goal_v too */
}

/* The kit's save of one step holds [z_1, a_1, ..., z_L, a_L]; the outputs keep the a_l. */
static void save_to_rows(const ds_kit_mlp *net, const R *st, R *h) {
  for (int l = 1, off = 0; l < net->layers; l++) {
    memcpy(h, st + off + net->sizes[l], (size_t)net->sizes[l] * sizeof(R));
    h += net->sizes[l];
    off += 2 * net->sizes[l];
  }
}
static void rows_to_save(const ds_kit_mlp *net, const R *h, const R *act, R *st) {
  int off = 0;
  for (int l = 1; l < net->layers; l++) {
    memcpy(st + off + net->sizes[l], h, (size_t)net->sizes[l] * sizeof(R));
    h += net->sizes[l];
    off += 2 * net->sizes[l];
  }
  memcpy(st + off + net->sizes[net->layers], act, (size_t)net->sizes[net->layers] * sizeof(R));
}

static int has_sin(const ds_kit_mlp *net) {
  for (int l = 0; l < net->layers; l++)
    if (net->acts[l] == DS_KIT_ACT_SIN) return 1;
  return 0;
}

/* Data checks (forward only): NaN states, electrodes, goals or weights. */
static int roll_check_data(const ds_call *c) {
  const int slots[] = {DS_SLOT(roll, x0), DS_SLOT(roll, v0), DS_SLOT(roll, electrodes), DS_SLOT(roll, goal),
                       DS_SLOT(roll, goal_v)};
  for (int k = 0; k < 5; k++) {
    int rc = elec_finite(c, slots[k], "NaN or infinite input");
    if (rc) return rc;
  }
  for (int i = 0; i < c->list_len; i++) {
    const ds_tensor *t = ds_list(c, i);
    const R *d = ds_rdata(t);
    for (int64_t k = 0; k < t->count; k++)
      if (!isfinite(d[k]))
        return c->host->error(c, "argument 'w' (#%d): tensor %d of the list has a non-finite value (%g) at element "
                                 "%lld", DS_SLOT(roll, w) + 1, i + 1, (double)d[k], (long long)k + 1);
  }
  return DS_OK;
}

static int roll_forward(const ds_call *c) {
  const roll_argv *a = DS_ARGV(c, roll);
  const roll_params *p = DS_PARAMS(c, roll);
  const ds_kit_api *kit = c->host->kit;
  elec_phys ph;
  int rc = elec_read_phys(c, a->electrodes, a->K, a->damping, p->dt, p->rmin, &ph);
  if (rc || (rc = roll_check_data(c))) return rc;
  ds_kit_mlp net = roll_net(c);
  ds_kit_mlp_sizes sz;
  if (kit->mlp_query(c->ctx, &net, 1, &sz)) return DS_ERR_ARG;
  const int64_t T = a->goal->dims[0], E = ph.E, H = a->hidden->dims[1];
  R *buf = c->host->scratch(c, ((size_t)N_IN + (size_t)sz.save + (size_t)sz.weights) * sizeof(R));
  if (!buf) return c->host->error(c, "out of memory for the network's buffers");
  R *in = buf, *st = buf + N_IN;
  const R *w = flat_weights(c, st + sz.save);
  R *xs = ds_rdata(a->xs), *vs = ds_rdata(a->vs), *hid = ds_rdata(a->hidden), *g = ds_rdata(a->charges);
  const R *goal = ds_rdata(a->goal), *goal_v = ds_rdata(a->goal_v);
  memcpy(xs, ds_rdata(a->x0), 2 * sizeof(R));
  memcpy(vs, ds_rdata(a->v0), 2 * sizeof(R));
  for (int64_t t = 1; t <= T; t++) {
    const R *x = xs + 2 * (t - 1), *v = vs + 2 * (t - 1);
    R *gt = g + (t - 1) * E;
    net_input(x, v, goal + 2 * (t - 1), goal_v + 2 * (t - 1), in);
    kit->mlp_forward(&net, w, in, gt, st);
    save_to_rows(&net, st, hid + (t - 1) * H);
    elec_step(&ph, x, v, gt, xs + 2 * t, vs + 2 * t);
  }
  for (int64_t i = 0; i < 2 * (T + 1); i++)
    if (!isfinite(xs[i]) || !isfinite(vs[i]))
      return c->host->error(c, "the state became non-finite at step %lld (dt %g too long for these charges?)",
                            (long long)(i / 2), p->dt);
  return DS_OK;
}

static int roll_adjoint(const ds_call *c) {
  const roll_argv *a = DS_ARGV(c, roll);
  const roll_params *p = DS_PARAMS(c, roll);
  const ds_kit_api *kit = c->host->kit;
  elec_phys ph;
  int rc = elec_read_phys(c, a->electrodes, a->K, a->damping, p->dt, p->rmin, &ph);
  if (rc) return rc;
  ds_kit_mlp net = roll_net(c);
  ds_kit_mlp_sizes sz;
  if (kit->mlp_query(c->ctx, &net, 1, &sz)) return DS_ERR_ARG;
  const int recompute = has_sin(&net);
  const int64_t T = a->goal->dims[0], E = ph.E, H = a->hidden->dims[1];
  const size_t nw = (size_t)sz.weights;
  R *buf = c->host->scratch(c, (8 + 2 * (size_t)E + 2 * N_IN + (size_t)sz.save + (size_t)sz.scratch + 2 * nw) *
                                   sizeof(R));
  if (!buf) return c->host->error(c, "out of memory for the adjoint's buffers");
  R *gx_next = buf, *gv_next = buf + 2, *gx_cur = buf + 4, *gv_cur = buf + 6;
  R *gch = buf + 8, *y = gch + E, *in = y + E, *gin = in + N_IN, *st = gin + N_IN;
  R *kscratch = st + sz.save, *wflat = kscratch + sz.scratch, *gflat = wflat + nw;
  const R *w = flat_weights(c, wflat);
  int any_grad = 0;
  for (int i = 0; i < c->list_len; i++) any_grad |= ds_rgrad(ds_list(c, i)) != NULL;
  R *gw = NULL;
  if (c->list_len == 1) {
    gw = ds_rgrad(ds_list(c, 0));
  } else if (any_grad) {
    gw = gflat;
    memset(gw, 0, nw * sizeof(R));
  }
  memset(st, 0, (size_t)sz.save * sizeof(R)); /* z slots unread unless sin: never uninitialised */
  const R *xs = ds_rdata(a->xs), *vs = ds_rdata(a->vs), *hid = ds_rdata(a->hidden), *g = ds_rdata(a->charges);
  const R *gxs = ds_rgrad(a->xs), *gvs = ds_rgrad(a->vs), *ghid = ds_rgrad(a->hidden), *gg_out = ds_rgrad(a->charges);
  const R *goal = ds_rdata(a->goal), *goal_v = ds_rdata(a->goal_v);
  R *ggoal = ds_rgrad(a->goal), *ggoal_v = ds_rgrad(a->goal_v);
  elec_grads o = {0};
  o.gpos = ds_rgrad(a->electrodes);
  memcpy(gx_next, gxs + 2 * T, 2 * sizeof(R));
  memcpy(gv_next, gvs + 2 * T, 2 * sizeof(R));
  for (int64_t t = T; t >= 1; t--) {
    const R *x = xs + 2 * (t - 1), *v = vs + 2 * (t - 1), *gt = g + (t - 1) * E;
    memcpy(gx_cur, gxs + 2 * (t - 1), 2 * sizeof(R));
    memcpy(gv_cur, gvs + 2 * (t - 1), 2 * sizeof(R));
    memcpy(gch, gg_out + (t - 1) * E, (size_t)E * sizeof(R));
    o.gx = gx_cur, o.gv = gv_cur, o.gg = gch;
    elec_step_adjoint(&ph, x, v, gt, gx_next, gv_next, &o);
    net_input(x, v, goal + 2 * (t - 1), goal_v + 2 * (t - 1), in);
    if (recompute)
      kit->mlp_forward(&net, w, in, y, st); /* the same bits as the forward's */
    else
      rows_to_save(&net, hid + (t - 1) * H, gt, st);
    memset(gin, 0, N_IN * sizeof(R));
    kit->mlp_backward_inject(&net, w, in, st, gch, ghid + (t - 1) * H, gin, gw, kscratch);
    gx_cur[0] += gin[0], gx_cur[1] += gin[1];
    gv_cur[0] += gin[2], gv_cur[1] += gin[3];
    if (ggoal) ggoal[2 * (t - 1)] += gin[4], ggoal[2 * (t - 1) + 1] += gin[5];
    if (ggoal_v) ggoal_v[2 * (t - 1)] += gin[6], ggoal_v[2 * (t - 1) + 1] += gin[7];
    R *tx = gx_next, *tv = gv_next;
    gx_next = gx_cur, gv_next = gv_cur;
    gx_cur = tx, gv_cur = tv;
  }
  R *gx0 = ds_rgrad(a->x0), *gv0 = ds_rgrad(a->v0);
  for (int d = 0; d < 2; d++) {
    if (gx0) gx0[d] += gx_next[d];
    if (gv0) gv0[d] += gv_next[d];
  }
  if (c->list_len != 1 && any_grad) {
    const R *gp = gflat;
    for (int i = 0; i < c->list_len; i++) {
      const ds_tensor *t = ds_list(c, i);
      R *gt = ds_rgrad(t);
      if (gt)
        for (int64_t e = 0; e < t->count; e++) gt[e] += gp[e];
      gp += t->count;
    }
  }
  elec_finish_scalars(&ph, &o, a->K, a->damping);
  return DS_OK;
}

const ds_kernel_desc electric_nn_rollout_kernel = {"nn_rollout", roll_args, roll_param_names, roll_check,
                                                   {[DS_CPU] = roll_forward}, {[DS_CPU] = roll_adjoint}};
