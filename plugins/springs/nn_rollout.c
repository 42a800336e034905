/* springs: closed-loop rollouts with the reference robots' controller.
 *   springs.nn_rollout  T steps of controller + physics in one launch
 *   springs.nn_input    the controller's input for one state (for controllers written in Lua)
 * The controller itself lives in controller.c. */
#include "controller.h"
#include "springs.h"

/* =================================================================== nn_rollout */
#define NN_ROLLOUT_ARGS(A)                                                                          \
  A(x0, DS_IN, DS_REAL, 2, 0) A(v0, DS_IN, DS_REAL, 2, 0) SYSTEM_ARGS(A)                             \
  A(W1, DS_IN, DS_REAL, 2, 0) A(b1, DS_IN, DS_REAL, 1, 0) A(W2, DS_IN, DS_REAL, 2, 0)                 \
  A(b2, DS_IN, DS_REAL, 1, 0) A(xs, DS_OUT, DS_REAL, 3, 0) A(vs, DS_OUT, DS_REAL, 3, 0)               \
  A(hidden, DS_OUT, DS_REAL, 2, 0) A(acts, DS_OUT, DS_REAL, 2, 0)
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

static int nn_rollout_check(const ds_call *c) {
  int rc = check_system(c);
  if (rc) return rc;
  const nn_rollout_argv *a = DS_ARGV(c, nn_rollout);
  const nn_rollout_params *p = DS_PARAMS(c, nn_rollout);
  int64_t T;
  if ((rc = check_steps(c, (int)(offsetof(nn_rollout_params, steps) / sizeof(double)), "steps", &T))) return rc;
  if ((rc = check_ctrl_params(c, p->n_sin, "t0", p->t0))) return rc;
  int64_t n = a->x0->dims[0], D = a->x0->dims[1], ns = a->rest->count;
  int64_t n_in = ctrl_n_inputs((int64_t)p->n_sin, n, D);
  if (a->W1->ndim != 2 || a->W1->dims[0] != n_in)
    return c->host->error(c,
                          "argument 'W1' (#%d) must have shape {%lld, hidden}: n_sin + 2 D n + D = %lld inputs for "
                          "%lld masses in %lldD",
                          DS_SLOT(nn_rollout, W1) + 1, (long long)n_in, (long long)n_in, (long long)n, (long long)D);
  int64_t H = a->W1->dims[1];
  if ((rc = ds_expect_shape(c, DS_SLOT(nn_rollout, b1), 1, H, -1, -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(nn_rollout, W2), 2, H, ns, -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(nn_rollout, b2), 1, ns, -1, -1, -1))) return rc;
  for (int i = DS_SLOT(nn_rollout, W1); i <= DS_SLOT(nn_rollout, b2); i++)
    if ((rc = check_finite(c, i))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(nn_rollout, xs), 3, T + 1, n, D, -1))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(nn_rollout, vs), 3, T + 1, n, D, -1))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(nn_rollout, hidden), 2, T, H, -1, -1))) return rc;
  return ds_expect_shape(c, DS_SLOT(nn_rollout, acts), 2, T, ns, -1, -1);
}

static ctrl nn_ctrl(const ds_call *c, const step_job *j) {
  const nn_rollout_argv *a = DS_ARGV(c, nn_rollout);
  const nn_rollout_params *p = DS_PARAMS(c, nn_rollout);
  ctrl k;
  k.n = j->g.n;
  k.D = j->D;
  k.n_sin = (int)p->n_sin;
  k.n_in = (int)ctrl_n_inputs(k.n_sin, k.n, k.D);
  k.H = (int)a->W1->dims[1];
  k.ns = j->g.ns;
  k.omega = (R)p->omega;
  k.scale = (R)p->input_scale;
  k.dt = (R)p->dt;
  k.t0 = (int64_t)p->t0;
  k.goal[0] = (R)p->goal_x;
  k.goal[1] = (R)p->goal_y;
  k.goal[2] = (R)p->goal_z;
  k.W1 = ds_rdata(a->W1);
  k.b1 = ds_rdata(a->b1);
  k.W2 = ds_rdata(a->W2);
  k.b2 = ds_rdata(a->b2);
  k.gW1 = ds_rgrad(a->W1);
  k.gb1 = ds_rgrad(a->b1);
  k.gW2 = ds_rgrad(a->W2);
  k.gb2 = ds_rgrad(a->b2);
  return k;
}

static int nn_rollout_forward(const ds_call *c) {
  const nn_rollout_argv *a = DS_ARGV(c, nn_rollout);
  phys p = phys_of(c);
  int64_t T = (int64_t)DS_PARAMS(c, nn_rollout)->steps;
  step_job j;
  if (job_init(&j, c, &p, 0)) return DS_ERR_NOMEM;
  ctrl k = nn_ctrl(c, &j);
  const int H = k.H;
  size_t nn = (size_t)j.g.n * j.D, ns = (size_t)j.g.ns;
  R *xs = ds_rdata(a->xs), *vs = ds_rdata(a->vs), *hid = ds_rdata(a->hidden), *acts = ds_rdata(a->acts);
  memcpy(xs, ds_rdata(a->x0), nn * sizeof(R));
  memcpy(vs, ds_rdata(a->v0), nn * sizeof(R));
  R *in = c->host->scratch(c, (size_t)k.n_in * sizeof(R));
  if (!in) return DS_ERR_NOMEM;
  for (int64_t t = 0; t < T; t++) {
    j.x = xs + t * nn;
    j.v = vs + t * nn;
    j.xo = xs + (t + 1) * nn;
    j.vo = vs + (t + 1) * nn;
    j.act = acts + t * ns;
    ctrl_input(&k, t, j.x, j.v, in);
    ctrl_forward(&k, in, hid + t * H, acts + t * ns);
    sim_forward(&j);
  }
  return DS_OK;
}

static int nn_rollout_adjoint(const ds_call *c) {
  const nn_rollout_argv *a = DS_ARGV(c, nn_rollout);
  phys p = phys_of(c);
  int64_t T = (int64_t)DS_PARAMS(c, nn_rollout)->steps;
  step_job j;
  if (job_init(&j, c, &p, 1)) return DS_ERR_NOMEM;
  ctrl k = nn_ctrl(c, &j);
  const int H = k.H;
  size_t nn = (size_t)j.g.n * j.D, ns = (size_t)j.g.ns;
  const R *xs = ds_rdata(a->xs), *vs = ds_rdata(a->vs), *hid = ds_rdata(a->hidden), *acts = ds_rdata(a->acts);
  const R *gxs = ds_rgrad(a->xs), *gvs = ds_rgrad(a->vs), *ghid = ds_rgrad(a->hidden), *gacts = ds_rgrad(a->acts);
  R *w = c->host->scratch(c, (4 * nn + 2 * ns + 2 * (size_t)k.n_in + H) * sizeof(R));
  if (!w) return DS_ERR_NOMEM;
  R *gx_next = w, *gv_next = gx_next + nn, *gx_cur = gv_next + nn, *gv_cur = gx_cur + nn;
  R *gact = gv_cur + nn, *gp = gact + ns, *in = gp + ns, *gin = in + k.n_in, *gh = gin + k.n_in;
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
    sim_adjoint(&j);
    ctrl_input(&k, t, j.x, j.v, in);
    ctrl_adjoint(&k, in, hid + t * H, acts + t * ns, gact, ghid + t * H, gin, gp, gh);
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
