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
#include <diffsim/kit_rollout.h>

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

/* The network checks and weight plumbing: diffsim/kit_rollout.h. */
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
  if ((rc = ds_kit_check_spec(c, DS_SLOT(roll, spec), N_IN, E, "x - 0.5, v, goal - 0.5, goal_v - 0.5",
                              "one per electrode")))
    return rc;
  ds_kit_mlp net = ds_kit_net_of(DS_ARGV(c, roll)->spec);
  ds_kit_mlp_sizes sz;
  if ((rc = c->host->kit->mlp_query(c->ctx, &net, 1, &sz))) return rc;
  if ((rc = ds_kit_check_weights(c, DS_SLOT(roll, w), &net, sz.weights))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(roll, xs), 2, T + 1, 2, -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(roll, vs), 2, T + 1, 2, -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(roll, hidden), 2, T, ds_kit_hidden_width(&net), -1, -1))) return rc;
  return ds_expect_shape(c, DS_SLOT(roll, charges), 2, T, E, -1, -1);
}

/* The network's input for step t (1-based) from the state of step t-1. */
static void net_input(const R *x, const R *v, const R *goal, const R *goal_v, R in[N_IN]) {
  in[0] = x[0] - (R)0.5, in[1] = x[1] - (R)0.5;
  in[2] = v[0], in[3] = v[1];
  in[4] = goal[0] - (R)0.5, in[5] = goal[1] - (R)0.5;
  in[6] = goal_v[0] - (R)0.5, in[7] = goal_v[1] - (R)0.5; /* the reference's offset on goal_v too */
}

/* Data checks (forward only): NaN states, electrodes, goals or weights. */
static int roll_check_data(const ds_call *c) {
  const int slots[] = {DS_SLOT(roll, x0), DS_SLOT(roll, v0), DS_SLOT(roll, electrodes), DS_SLOT(roll, goal),
                       DS_SLOT(roll, goal_v)};
  for (int k = 0; k < 5; k++) {
    int rc = elec_finite(c, slots[k], "NaN or infinite input");
    if (rc) return rc;
  }
  return ds_kit_check_weights_finite(c, DS_SLOT(roll, w));
}

static int roll_forward(const ds_call *c) {
  const roll_argv *a = DS_ARGV(c, roll);
  const roll_params *p = DS_PARAMS(c, roll);
  const ds_kit_api *kit = c->host->kit;
  elec_phys ph = {0};
  int rc = elec_read_phys(c, a->electrodes, a->K, a->damping, p->dt, p->rmin, &ph);
  if (rc || (rc = roll_check_data(c))) return rc;
  ds_kit_mlp net = ds_kit_net_of(DS_ARGV(c, roll)->spec);
  ds_kit_mlp_sizes sz;
  if (kit->mlp_query(c->ctx, &net, 1, &sz)) return DS_ERR_ARG;
  const int64_t T = a->goal->dims[0], E = ph.E, H = a->hidden->dims[1];
  R *buf = c->host->scratch(c, ((size_t)N_IN + (size_t)sz.save + (size_t)sz.weights) * sizeof(R));
  if (!buf) return c->host->error(c, "out of memory for the network's buffers");
  R *in = buf, *st = buf + N_IN;
  const R *w = ds_kit_flat_weights(c, st + sz.save);
  R *xs = ds_rdata(a->xs), *vs = ds_rdata(a->vs), *hid = ds_rdata(a->hidden), *g = ds_rdata(a->charges);
  const R *goal = ds_rdata(a->goal), *goal_v = ds_rdata(a->goal_v);
  memcpy(xs, ds_rdata(a->x0), 2 * sizeof(R));
  memcpy(vs, ds_rdata(a->v0), 2 * sizeof(R));
  for (int64_t t = 1; t <= T; t++) {
    const R *x = xs + 2 * (t - 1), *v = vs + 2 * (t - 1);
    R *gt = g + (t - 1) * E;
    net_input(x, v, goal + 2 * (t - 1), goal_v + 2 * (t - 1), in);
    kit->mlp_forward(&net, w, in, gt, st);
    ds_kit_save_to_rows(&net, st, hid + (t - 1) * H);
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
  elec_phys ph = {0};
  int rc = elec_read_phys(c, a->electrodes, a->K, a->damping, p->dt, p->rmin, &ph);
  if (rc) return rc;
  ds_kit_mlp net = ds_kit_net_of(DS_ARGV(c, roll)->spec);
  ds_kit_mlp_sizes sz;
  if (kit->mlp_query(c->ctx, &net, 1, &sz)) return DS_ERR_ARG;
  const int recompute = ds_kit_has_sin(&net);
  const int64_t T = a->goal->dims[0], E = ph.E, H = a->hidden->dims[1];
  const size_t nw = (size_t)sz.weights;
  R *buf = c->host->scratch(c, (8 + 2 * (size_t)E + 2 * N_IN + (size_t)sz.save + (size_t)sz.scratch + 2 * nw) *
                                   sizeof(R));
  if (!buf) return c->host->error(c, "out of memory for the adjoint's buffers");
  R *gx_next = buf, *gv_next = buf + 2, *gx_cur = buf + 4, *gv_cur = buf + 6;
  R *gch = buf + 8, *y = gch + E, *in = y + E, *gin = in + N_IN, *st = gin + N_IN;
  R *kscratch = st + sz.save, *wflat = kscratch + sz.scratch, *gflat = wflat + nw;
  const R *w = ds_kit_flat_weights(c, wflat);
  R *gw = ds_kit_weight_grad_begin(c, gflat, (int64_t)nw); /* a list's: added back after the last step */
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
      ds_kit_rows_to_save(&net, hid + (t - 1) * H, gt, st);
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
  ds_kit_weight_grad_end(c, gw);
  elec_finish_scalars(&ph, &o, a->K, a->damping);
  return DS_OK;
}

const ds_kernel_desc electric_nn_rollout_kernel = {"nn_rollout", roll_args, roll_param_names, roll_check,
                                                   {[DS_CPU] = roll_forward}, {[DS_CPU] = roll_adjoint}};
