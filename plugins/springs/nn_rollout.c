/* springs: closed-loop rollouts with a neural controller.
 *   springs.nn_rollout  T steps of controller + physics in one launch
 *   springs.nn_input    the controller's input for one state (for controllers written in Lua)
 * The controller's input is built here (controller.c: physics-specific); the
 * network itself is the core's fused MLP (host->kit, docs/kit.md): any depth,
 * the activations of ds.nn, one flat weight tensor. */
#include <diffsim/kit_rollout.h>

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

/* The network checks (spec, weight shapes) are the kit's rollout helpers
 * (diffsim/kit_rollout.h), shared with every plugin that runs a controller. */

static int nn_rollout_check(const ds_call *c) {
  int rc = check_system(c);
  if (rc) return rc;
  const nn_rollout_argv *a = DS_ARGV(c, nn_rollout);
  const nn_rollout_params *p = DS_PARAMS(c, nn_rollout);
  int64_t T;
  if ((rc = check_steps(c, (int)(offsetof(nn_rollout_params, steps) / sizeof(double)), "steps", &T))) return rc;
  if ((rc = check_ctrl_params(c, p->n_sin, "t0", p->t0))) return rc;
  int64_t n = a->x0->dims[0], D = a->x0->dims[1], ns = a->rest->count;
  if ((rc = ds_kit_check_spec(c, DS_SLOT(nn_rollout, spec), ctrl_n_inputs((int64_t)p->n_sin, n, D), ns,
                              "n_sin + 2 D n + D", "one per spring"))) return rc;
  ds_kit_mlp net = ds_kit_net_of(DS_ARGV(c, nn_rollout)->spec);
  ds_kit_mlp_sizes sz;
  if ((rc = c->host->kit->mlp_query(c->ctx, &net, 1, &sz))) return rc;
  if ((rc = ds_kit_check_weights(c, DS_SLOT(nn_rollout, w), &net, sz.weights))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(nn_rollout, xs), 3, T + 1, n, D, -1))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(nn_rollout, vs), 3, T + 1, n, D, -1))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(nn_rollout, hidden), 2, T, ds_kit_hidden_width(&net), -1, -1))) return rc;
  return ds_expect_shape(c, DS_SLOT(nn_rollout, acts), 2, T, ns, -1, -1);
}

static ctrl nn_ctrl(const ds_call *c, const step_job *j) {
  const nn_rollout_params *p = DS_PARAMS(c, nn_rollout);
  return ctrl_make((int)j->g.n, j->D, p->n_sin, p->omega, p->input_scale, p->dt, p->t0, p->goal_x, p->goal_y,
                   p->goal_z);
}

/* The kit's save of one step holds [z_1, a_1, ..., z_L, a_L]; the rollout's
 * outputs keep the a_l: hidden row t = a_1 ... a_{L-1}, acts row t = a_L
 * (ds_kit_save_to_rows / ds_kit_rows_to_save). */
static int nn_rollout_forward(const ds_call *c) {
  const nn_rollout_argv *a = DS_ARGV(c, nn_rollout);
  const ds_kit_api *kit = c->host->kit;
  int rc = ds_kit_check_weights_finite(c, DS_SLOT(nn_rollout, w));
  if (rc) return rc;
  phys p = phys_of(c);
  int64_t T = (int64_t)DS_PARAMS(c, nn_rollout)->steps;
  step_job j;
  if (job_init(&j, c, &p, 0)) return DS_ERR_NOMEM;
  ctrl k = nn_ctrl(c, &j);
  ds_kit_mlp net = ds_kit_net_of(DS_ARGV(c, nn_rollout)->spec);
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
  const R *w = ds_kit_flat_weights(c, st + sz.save);
  for (int64_t t = 0; t < T; t++) {
    j.x = xs + t * nn;
    j.v = vs + t * nn;
    j.xo = xs + (t + 1) * nn;
    j.vo = vs + (t + 1) * nn;
    j.act = acts + t * ns;
    ctrl_input(&k, t, j.x, j.v, in);
    kit->mlp_forward(&net, w, in, acts + t * ns, st);
    ds_kit_save_to_rows(&net, st, hid + t * Hs);
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
  ds_kit_mlp net = ds_kit_net_of(DS_ARGV(c, nn_rollout)->spec);
  ds_kit_mlp_sizes sz;
  if (kit->mlp_query(c->ctx, &net, 1, &sz)) return DS_ERR_ARG;
  const int recompute = ds_kit_has_sin(&net);
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
  const R *w = ds_kit_flat_weights(c, wflat);
  /* The weight gradient: straight into a single flat tensor's; for a list, into
   * gflat, added to each tensor's gradient after the last step. */
  R *gw = ds_kit_weight_grad_begin(c, gflat, (int64_t)nw);
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
      ds_kit_rows_to_save(&net, hid + t * Hs, acts + t * ns, st);
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
  ds_kit_weight_grad_end(c, gw);

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
  return ctrl_make((int)a->x->dims[0], (int)a->x->dims[1], p->n_sin, p->omega, p->input_scale, p->dt, p->t,
                   p->goal_x, p->goal_y, p->goal_z);
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
