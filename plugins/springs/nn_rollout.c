/* springs: closed-loop rollouts with a neural controller.
 *   springs.nn_rollout  T steps of controller + physics in one launch
 *   springs.nn_input    the controller's input for one state (for controllers written in Lua)
 * The controller's input is built here (controller.c: physics-specific); the
 * network itself is the core's fused MLP (host->kit, docs/kit.md): any depth,
 * the activations of ds.nn, one flat weight tensor. */
#include <diffsim/kit.h>

#include "controller.h"
#include "springs.h"

/* =================================================================== nn_rollout */
/* spec: i32 {2 L + 1}, the L + 1 widths then the L activation codes (ds_kit_act),
 * as core.mlp takes it. w (a list, the last slot): either the 2 L tensors of
 * net:parameters() (W_1 {in, h_1}, b_1 {h_1}, W_2, b_2, ...), whose gradients the
 * adjoint adds straight into theirs, or one flat tensor in the kit's layout
 * (ds.kit.flatten). The list spares a training loop a flatten launch each way.
 * Outputs: the states, the hidden layers' activations concatenated per step
 * {T, sum of hidden widths}, and the output layer's activations, the springs'
 * actuation {T, ns}. Those activations are all the adjoint needs of the
 * network's forward (the kit's backward reads z only for sin layers, which it
 * recomputes), so nothing else is stored. */
#define NN_ROLLOUT_ARGS(A)                                                                          \
  A(x0, DS_IN, DS_REAL, 2, 0) A(v0, DS_IN, DS_REAL, 2, 0) SYSTEM_ARGS(A)                             \
  A(spec, DS_NODIFF, DS_I32, 1, 0) A(xs, DS_OUT, DS_REAL, 3, 0) A(vs, DS_OUT, DS_REAL, 3, 0)         \
  A(hidden, DS_OUT, DS_REAL, 2, 0) A(acts, DS_OUT, DS_REAL, 2, 0) A(w, DS_IN, DS_REAL, -1, DS_LIST)
#define NN_ROLLOUT_PARAMS(P) PHYS_PARAMS(P) P(steps) P(t0) CTRL_PARAMS(P)
DS_DECLARE_ARGS(nn_rollout, NN_ROLLOUT_ARGS)
DS_DECLARE_PARAMS(nn_rollout, NN_ROLLOUT_PARAMS)

static int check_ctrl_params(const ds_call *c, double n_sin, const char *t_name, double t) {
  if (!(n_sin >= 0 && n_sin <= 1024 && n_sin == (double)(int64_t)n_sin))
    return c->host->error(c, "param 'n_sin' must be an integer in [0, 1024], got %g", n_sin);
  if (!(t >= 0 && t == (double)(int64_t)t))
    return c->host->error(c, "param '%s' must be an integer >= 0, got %g", t_name, t);
  return DS_OK;
}

/* The network of a launch, from its spec tensor (checked by nn_rollout_check). */
static ds_kit_mlp nn_net(const ds_call *c) {
  const ds_tensor *spec = DS_ARGV(c, nn_rollout)->spec;
  ds_kit_mlp net;
  net.layers = (int32_t)((spec->count - 1) / 2);
  net.sizes = ds_idata(spec);
  net.acts = ds_idata(spec) + net.layers + 1;
  return net;
}

/* Sum of the hidden widths (the columns of `hidden`). */
static int64_t hidden_width(const ds_kit_mlp *net) {
  int64_t h = 0;
  for (int l = 1; l < net->layers; l++) h += net->sizes[l];
  return h;
}

/* The spec must be a network the kit runs, from the controller's inputs to one
 * actuation per spring. The kit would refuse a bad spec too, but its message
 * names the kit; this one names the kernel and the argument. */
static int check_spec(const ds_call *c, int64_t n_in, int64_t ns) {
  const int slot = DS_SLOT(nn_rollout, spec);
  const ds_tensor *spec = DS_ARGV(c, nn_rollout)->spec;
  const ds_kit_api *kit = c->host->kit;
  if (!kit || kit->size <= offsetof(ds_kit_api, mlp_backward_inject))
    return c->host->error(c, "the core's kit has no mlp_backward_inject (kit version %u): rebuild the plugin with "
                             "the diffsim it loads into", kit ? kit->version : 0u);
  if (spec->count < 3 || spec->count % 2 == 0 || spec->count > 2 * 4096 + 1)
    return c->host->error(c,
                          "argument 'spec' (#%d) must hold 2 L + 1 integers (L + 1 layer widths, then L activation "
                          "codes, 1 <= L <= 4096; ds.kit.mlp_spec builds it), got %lld",
                          slot + 1, (long long)spec->count);
  ds_kit_mlp net = nn_net(c);
  if (net.sizes[0] != n_in || net.sizes[net.layers] != ns)
    return c->host->error(c,
                          "argument 'spec' (#%d): the network maps %d inputs to %d outputs; the controller has "
                          "%lld inputs (n_sin + 2 D n + D) and %lld outputs (one per spring)",
                          slot + 1, net.sizes[0], net.sizes[net.layers], (long long)n_in, (long long)ns);
  for (int l = 1; l < net.layers; l++)
    if (net.sizes[l] < 1 || net.sizes[l] > (1 << 24))
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

/* The weight list: one flat tensor of the spec's weight count, or W_l, b_l per
 * layer with the spec's shapes; every value finite. */
static int check_weights(const ds_call *c, const ds_kit_mlp *net, int64_t nw) {
  const int slot = DS_SLOT(nn_rollout, w);
  const int L = net->layers;
  if (c->list_len == 1) {
    const ds_tensor *t = ds_list(c, 0);
    if (t->ndim != 1 || t->count != nw)
      return c->host->error(c,
                            "argument 'w' (#%d): one flat tensor must be {%lld} for the network of 'spec' (the kit's "
                            "layout: W_1 {in, out} row-major, b_1, W_2, b_2, ...; ds.kit.flatten(net:parameters())), "
                            "got %lld elements in %d dims",
                            slot + 1, (long long)nw, (long long)t->count, t->ndim);
  } else if (c->list_len == 2 * L) {
    for (int l = 0; l < L; l++) {
      const ds_tensor *W = ds_list(c, 2 * l), *b = ds_list(c, 2 * l + 1);
      if (W->ndim != 2 || W->dims[0] != net->sizes[l] || W->dims[1] != net->sizes[l + 1] || b->ndim != 1 ||
          b->dims[0] != net->sizes[l + 1])
        return c->host->error(c, "argument 'w' (#%d): layer %d must be W {%d, %d} and b {%d} (net:parameters() order)",
                              slot + 1, l + 1, net->sizes[l], net->sizes[l + 1], net->sizes[l + 1]);
    }
  } else {
    return c->host->error(c,
                          "argument 'w' (#%d) is a list of %d tensors; the network of 'spec' takes its %d layers' "
                          "W, b (%d tensors) or one flat tensor",
                          slot + 1, c->list_len, L, 2 * L);
  }
  for (int i = 0; i < c->list_len; i++) {
    const ds_tensor *t = ds_list(c, i);
    const R *p = ds_rdata(t);
    for (int64_t k = 0; k < t->count; k++)
      if (!isfinite(p[k]))
        return c->host->error(c, "argument 'w' (#%d): tensor %d of the list has a non-finite value (%g) at element %lld",
                              slot + 1, i + 1, (double)p[k], (long long)k + 1);
  }
  return DS_OK;
}

/* The flat weights of a launch: the single tensor's data, or the list copied
 * into `flat` (nw reals of scratch) in the kit's layout. */
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

static int nn_rollout_check(const ds_call *c) {
  int rc = check_system(c);
  if (rc) return rc;
  const nn_rollout_argv *a = DS_ARGV(c, nn_rollout);
  const nn_rollout_params *p = DS_PARAMS(c, nn_rollout);
  int64_t T;
  if ((rc = check_steps(c, (int)(offsetof(nn_rollout_params, steps) / sizeof(double)), "steps", &T))) return rc;
  if ((rc = check_ctrl_params(c, p->n_sin, "t0", p->t0))) return rc;
  int64_t n = a->x0->dims[0], D = a->x0->dims[1], ns = a->rest->count;
  if ((rc = check_spec(c, ctrl_n_inputs((int64_t)p->n_sin, n, D), ns))) return rc;
  ds_kit_mlp net = nn_net(c);
  ds_kit_mlp_sizes sz;
  if ((rc = c->host->kit->mlp_query(c->ctx, &net, 1, &sz))) return rc;
  if ((rc = check_weights(c, &net, sz.weights))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(nn_rollout, xs), 3, T + 1, n, D, -1))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(nn_rollout, vs), 3, T + 1, n, D, -1))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(nn_rollout, hidden), 2, T, hidden_width(&net), -1, -1))) return rc;
  return ds_expect_shape(c, DS_SLOT(nn_rollout, acts), 2, T, ns, -1, -1);
}

static ctrl nn_ctrl(const ds_call *c, const step_job *j) {
  const nn_rollout_params *p = DS_PARAMS(c, nn_rollout);
  ctrl k;
  k.n = j->g.n;
  k.D = j->D;
  k.n_sin = (int)p->n_sin;
  k.n_in = (int)ctrl_n_inputs(k.n_sin, k.n, k.D);
  k.omega = (R)p->omega;
  k.scale = (R)p->input_scale;
  k.dt = (R)p->dt;
  k.t0 = (int64_t)p->t0;
  k.goal[0] = (R)p->goal_x;
  k.goal[1] = (R)p->goal_y;
  k.goal[2] = (R)p->goal_z;
  return k;
}

/* The kit's save of one step holds [z_1, a_1, ..., z_L, a_L]; the rollout's
 * outputs keep the a_l: hidden row t = a_1 ... a_{L-1}, acts row t = a_L. */
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

static int nn_rollout_forward(const ds_call *c) {
  const nn_rollout_argv *a = DS_ARGV(c, nn_rollout);
  const ds_kit_api *kit = c->host->kit;
  phys p = phys_of(c);
  int64_t T = (int64_t)DS_PARAMS(c, nn_rollout)->steps;
  step_job j;
  if (job_init(&j, c, &p, 0)) return DS_ERR_NOMEM;
  ctrl k = nn_ctrl(c, &j);
  ds_kit_mlp net = nn_net(c);
  ds_kit_mlp_sizes sz;
  if (kit->mlp_query(c->ctx, &net, 1, &sz)) return DS_ERR_ARG;
  const int64_t Hs = a->hidden->dims[1];
  size_t nn = (size_t)j.g.n * j.D, ns = (size_t)j.g.ns;
  R *xs = ds_rdata(a->xs), *vs = ds_rdata(a->vs), *hid = ds_rdata(a->hidden), *acts = ds_rdata(a->acts);
  memcpy(xs, ds_rdata(a->x0), nn * sizeof(R));
  memcpy(vs, ds_rdata(a->v0), nn * sizeof(R));
  R *in = c->host->scratch(c, ((size_t)k.n_in + (size_t)sz.save + (size_t)sz.weights) * sizeof(R));
  if (!in) return DS_ERR_NOMEM;
  R *st = in + k.n_in; /* the kit's save of the current step */
  const R *w = flat_weights(c, st + sz.save);
  for (int64_t t = 0; t < T; t++) {
    j.x = xs + t * nn;
    j.v = vs + t * nn;
    j.xo = xs + (t + 1) * nn;
    j.vo = vs + (t + 1) * nn;
    j.act = acts + t * ns;
    ctrl_input(&k, t, j.x, j.v, in);
    kit->mlp_forward(&net, w, in, acts + t * ns, st);
    save_to_rows(&net, st, hid + t * Hs);
    sim_forward(&j);
  }
  return DS_OK;
}

static int nn_rollout_adjoint(const ds_call *c) {
  const nn_rollout_argv *a = DS_ARGV(c, nn_rollout);
  const ds_kit_api *kit = c->host->kit;
  phys p = phys_of(c);
  int64_t T = (int64_t)DS_PARAMS(c, nn_rollout)->steps;
  step_job j;
  if (job_init(&j, c, &p, 1)) return DS_ERR_NOMEM;
  ctrl k = nn_ctrl(c, &j);
  ds_kit_mlp net = nn_net(c);
  ds_kit_mlp_sizes sz;
  if (kit->mlp_query(c->ctx, &net, 1, &sz)) return DS_ERR_ARG;
  const int recompute = has_sin(&net);
  const int64_t Hs = a->hidden->dims[1];
  size_t nn = (size_t)j.g.n * j.D, ns = (size_t)j.g.ns;
  const R *xs = ds_rdata(a->xs), *vs = ds_rdata(a->vs), *hid = ds_rdata(a->hidden), *acts = ds_rdata(a->acts);
  const R *gxs = ds_rgrad(a->xs), *gvs = ds_rgrad(a->vs), *ghid = ds_rgrad(a->hidden), *gacts = ds_rgrad(a->acts);
  const size_t nw = (size_t)sz.weights;
  R *buf = c->host->scratch(c, (4 * nn + 2 * ns + 2 * (size_t)k.n_in + (size_t)sz.save + (size_t)sz.scratch +
                                2 * nw) * sizeof(R));
  if (!buf) return DS_ERR_NOMEM;
  R *gx_next = buf, *gv_next = gx_next + nn, *gx_cur = gv_next + nn, *gv_cur = gx_cur + nn;
  R *gact = gv_cur + nn, *y = gact + ns, *in = y + ns, *gin = in + k.n_in, *st = gin + k.n_in;
  R *kscratch = st + sz.save, *wflat = kscratch + sz.scratch, *gflat = wflat + nw;
  const R *w = flat_weights(c, wflat);
  /* The weight gradient: straight into a single flat tensor's; for a list, into
   * gflat (zeroed), added to each tensor's gradient after the last step. */
  int any_grad = 0;
  for (int i = 0; i < c->list_len; i++) any_grad |= ds_rgrad(ds_list(c, i)) != NULL;
  R *gw = NULL;
  if (c->list_len == 1) {
    gw = ds_rgrad(ds_list(c, 0));
  } else if (any_grad) {
    gw = gflat;
    memset(gw, 0, nw * sizeof(R));
  }
  /* z slots stay unread unless a layer is sin (then the step's forward is
   * recomputed); zero them once so nothing uninitialised is ever in play */
  memset(st, 0, (size_t)sz.save * sizeof(R));
  memcpy(gx_next, gxs + T * nn, nn * sizeof(R));
  memcpy(gv_next, gvs + T * nn, nn * sizeof(R));
  for (int64_t t = T - 1; t >= 0; t--) {
    memcpy(gx_cur, gxs + t * nn, nn * sizeof(R));
    memcpy(gv_cur, gvs + t * nn, nn * sizeof(R));
    memcpy(gact, gacts + t * ns, ns * sizeof(R));
    j.x = xs + t * nn;
    j.v = vs + t * nn;
    j.act = acts + t * ns;
    j.gact = gact;
    j.gxo = gx_next;
    j.gvo = gv_next;
    j.gx = gx_cur;
    j.gv = gv_cur;
    sim_adjoint(&j); /* gact += what the physics sends back to the actuation */
    ctrl_input(&k, t, j.x, j.v, in);
    if (recompute)
      kit->mlp_forward(&net, w, in, y, st); /* the same bits as the forward's */
    else
      rows_to_save(&net, hid + t * Hs, acts + t * ns, st);
    memset(gin, 0, (size_t)k.n_in * sizeof(R));
    kit->mlp_backward_inject(&net, w, in, st, gact, ghid + t * Hs, gin, gw, kscratch);
    ctrl_input_adjoint(&k, gin, gx_cur, gv_cur);
    R *tx = gx_next, *tv = gv_next;
    gx_next = gx_cur, gv_next = gv_cur;
    gx_cur = tx, gv_cur = tv;
  }
  R *gx0 = ds_rgrad(a->x0), *gv0 = ds_rgrad(a->v0);
  if (gx0)
    for (size_t i = 0; i < nn; i++) gx0[i] += gx_next[i];
  if (gv0)
    for (size_t i = 0; i < nn; i++) gv0[i] += gv_next[i];
  if (c->list_len != 1 && any_grad) {
    const R *g = gflat;
    for (int i = 0; i < c->list_len; i++) {
      const ds_tensor *t = ds_list(c, i);
      R *gt = ds_rgrad(t);
      if (gt)
        for (int64_t e = 0; e < t->count; e++) gt[e] += g[e];
      g += t->count;
    }
  }
  job_finish_grads(&j, c);
  return DS_OK;
}

const ds_kernel_desc springs_nn_rollout_kernel = {
    "nn_rollout", nn_rollout_args, nn_rollout_param_names, nn_rollout_check,
    {[DS_CPU] = nn_rollout_forward}, {[DS_CPU] = nn_rollout_adjoint}};

/* ===================================================================== nn_input */
/* t: the absolute step (t0 + t of nn_rollout); the other params as in nn_rollout. */
#define NN_INPUT_ARGS(A) A(x, DS_IN, DS_REAL, 2, 0) A(v, DS_IN, DS_REAL, 2, 0) A(input, DS_OUT, DS_REAL, 1, 0)
#define NN_INPUT_PARAMS(P) P(t) P(dt) CTRL_PARAMS(P)
DS_DECLARE_ARGS(nn_input, NN_INPUT_ARGS)
DS_DECLARE_PARAMS(nn_input, NN_INPUT_PARAMS)

static ctrl input_ctrl(const ds_call *c) {
  const nn_input_argv *a = DS_ARGV(c, nn_input);
  const nn_input_params *p = DS_PARAMS(c, nn_input);
  ctrl k;
  memset(&k, 0, sizeof k);
  k.n = (int)a->x->dims[0];
  k.D = (int)a->x->dims[1];
  k.n_sin = (int)p->n_sin;
  k.n_in = (int)ctrl_n_inputs(k.n_sin, k.n, k.D);
  k.omega = (R)p->omega;
  k.scale = (R)p->input_scale;
  k.dt = (R)p->dt;
  k.t0 = (int64_t)p->t;
  k.goal[0] = (R)p->goal_x;
  k.goal[1] = (R)p->goal_y;
  k.goal[2] = (R)p->goal_z;
  return k;
}

static int nn_input_check(const ds_call *c) {
  const nn_input_argv *a = DS_ARGV(c, nn_input);
  const nn_input_params *p = DS_PARAMS(c, nn_input);
  const ds_tensor *x = a->x;
  if (x->ndim != 2 || (x->dims[1] != 2 && x->dims[1] != 3))
    return c->host->error(c, "argument 'x' (#1) must have shape {n, 2} or {n, 3}");
  int rc = ds_expect_shape(c, DS_SLOT(nn_input, v), 2, x->dims[0], x->dims[1], -1, -1);
  if (rc) return rc;
  if ((rc = check_ctrl_params(c, p->n_sin, "t", p->t))) return rc;
  return ds_expect_shape(c, DS_SLOT(nn_input, input), 1, ctrl_n_inputs((int64_t)p->n_sin, x->dims[0], x->dims[1]),
                         -1, -1, -1);
}

static int nn_input_forward(const ds_call *c) {
  const nn_input_argv *a = DS_ARGV(c, nn_input);
  ctrl k = input_ctrl(c);
  ctrl_input(&k, 0, ds_rdata(a->x), ds_rdata(a->v), ds_rdata(a->input));
  return DS_OK;
}

static int nn_input_adjoint(const ds_call *c) {
  const nn_input_argv *a = DS_ARGV(c, nn_input);
  ctrl k = input_ctrl(c);
  ctrl_input_adjoint(&k, ds_rgrad(a->input), ds_rgrad(a->x), ds_rgrad(a->v));
  return DS_OK;
}

const ds_kernel_desc springs_nn_input_kernel = {"nn_input", nn_input_args, nn_input_param_names, nn_input_check,
                                                {[DS_CPU] = nn_input_forward}, {[DS_CPU] = nn_input_adjoint}};
