/* rigid2d: the box kernels (physics in boxes.c).
 *   rigid2d.box_step        one step with given actuation act {ns}
 *   rigid2d.box_rollout     T steps with given actuation acts {T, ns} (or {1, ns}: held)
 *   rigid2d.box_nn_rollout  T steps of controller + physics in one launch: the
 *                           kit's fused MLP sets the actuation from state t
 *                           (box_controller.c builds its input)
 * Every kernel starts with the same slots (the state, then the system), so one
 * overlay (head_argv) and one preparation serve all three. Rollouts keep every
 * state as an output {T+1, n, 6}; their adjoints run all steps backward in one
 * launch. Differentiable: the state, the actuation, halfsize, density, spring
 * rest length, stiffness and amplitude, gravity, damping, friction and
 * restitution; the spring topology and anchors are geometry (not differentiable). */
#include <diffsim/kit_rollout.h>

#include "box_controller.h"
#include "boxes.h"

#define HEAD_ARGS(A)                                                                                   \
  A(state, DS_IN, DS_REAL, 2, 0) A(halfsize, DS_IN, DS_REAL, 2, 0) A(density, DS_IN, DS_REAL, 0, 0)    \
  A(springs, DS_NODIFF, DS_I32, 2, 0) A(anchors, DS_NODIFF, DS_REAL, 2, 0) A(rest, DS_IN, DS_REAL, 1, 0) \
  A(stiffness, DS_IN, DS_REAL, 1, 0) A(amplitude, DS_IN, DS_REAL, 1, 0) A(gravity, DS_IN, DS_REAL, 0, 0) \
  A(damping, DS_IN, DS_REAL, 0, 0) A(friction, DS_IN, DS_REAL, 0, 0) A(restitution, DS_IN, DS_REAL, 0, 0)
#define HEAD_PARAMS(P) P(dt) P(ground_y) P(toi) P(reference)
#define FIELD_(name, role, dtype, ndim, flags) ds_tensor *name;
typedef struct head_argv { HEAD_ARGS(FIELD_) } head_argv;
#define HEAD(c) ((const head_argv *)(const void *)(c)->args)
#define H_(name) DS_SLOT(head, name)
typedef struct head_params { double dt, ground_y, toi, reference; } head_params;
#define HP(c) ((const head_params *)(const void *)(c)->params)

/* ---- checks ---------------------------------------------------------------------- */
static int head_check(const ds_call *c) {
  const head_argv *a = HEAD(c);
  const head_params *p = HP(c);
  if (a->state->dims[1] != 6)
    return c->host->error(c, "argument 'state' (#1) must have shape {n, 6}: x, y, theta, vx, vy, omega per body");
  const int64_t n = a->state->dims[0], ns = a->springs->dims[0];
  int rc;
  if ((rc = ds_expect_shape(c, H_(halfsize), 2, n, 2, -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, H_(springs), 2, ns, 3, -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, H_(anchors), 2, ns, 4, -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, H_(rest), 1, ns, -1, -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, H_(stiffness), 1, ns, -1, -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, H_(amplitude), 1, ns, -1, -1, -1))) return rc;
  if (!(p->dt > 0 && isfinite(p->dt))) return c->host->error(c, "param 'dt' must be positive and finite, got %g", p->dt);
  if (!isfinite(p->ground_y)) return c->host->error(c, "param 'ground_y' must be finite, got %g", p->ground_y);
  if (p->toi != 0 && p->toi != 1) return c->host->error(c, "param 'toi' must be 0 (naive) or 1 (time of impact), got %g", p->toi);
  if (p->reference != 0 && p->reference != 1)
    return c->host->error(c, "param 'reference' must be 0 (sequential corner impulses) or 1 (the reference's "
                             "simultaneous ones), got %g", p->reference);
  return DS_OK;
}

/* Value checks (tensor data), at the start of a forward or adjoint. */
static int head_values(const ds_call *c) {
  const head_argv *a = HEAD(c);
  int rc;
  if ((rc = ds_expect_finite(c, H_(state))) || (rc = r2_check_positive(c, H_(halfsize), "half-size element")) ||
      (rc = r2_check_positive(c, H_(density), "value")) || (rc = ds_expect_finite(c, H_(anchors))) ||
      (rc = ds_expect_finite(c, H_(rest))) || (rc = ds_expect_finite(c, H_(amplitude))) ||
      (rc = ds_expect_finite(c, H_(gravity))) || (rc = r2_check_range(c, H_(damping), 0, 1e6)) ||
      (rc = r2_check_range(c, H_(friction), 0, 1e6)) || (rc = r2_check_range(c, H_(restitution), 0, 1)))
    return rc;
  const R *k = ds_rdata(a->stiffness);
  for (int64_t s = 0; s < a->stiffness->count; s++)
    if (!(k[s] >= 0) || !isfinite(k[s]))
      return c->host->error(c, "argument 'stiffness' (#%d): spring %lld (0-based) has stiffness %g; it must be >= 0",
                            H_(stiffness) + 1, (long long)s, (double)k[s]);
  const int32_t *sp = ds_idata(a->springs);
  const int64_t n = a->state->dims[0];
  for (int64_t s = 0; s < a->springs->dims[0]; s++)
    if (sp[3 * s] < 0 || sp[3 * s] >= n || sp[3 * s + 1] < 0 || sp[3 * s + 1] >= n || sp[3 * s] == sp[3 * s + 1] ||
        (sp[3 * s + 2] != 0 && sp[3 * s + 2] != 1))
      return c->host->error(c,
                            "argument 'springs' (#%d): spring %lld (0-based) is (%d, %d, joint %d); bodies must be two "
                            "different indices in [0, %lld) and the joint flag 0 or 1",
                            H_(springs) + 1, (long long)s, sp[3 * s], sp[3 * s + 1], sp[3 * s + 2], (long long)n);
  return DS_OK;
}

/* ---- the recorded system of a launch ------------------------------------------------ */
typedef struct box_run {
  box_sys s;
  rn *st, *act, *out, *work; /* 6n, ns, 6n, work */
  rtape tape;                /* one step's record, grown as needed; box_done frees it */
  box_dir *dirs;
  int64_t nd_fixed;          /* directions of the physical inputs (before state and act) */
} box_run;

static int box_prep(const ds_call *c, box_run *r, int want_grads) {
  memset(&r->tape, 0, sizeof r->tape);
  r->tape.alloc = c->host->alloc, r->tape.free = c->host->free;
  const head_argv *a = HEAD(c);
  const head_params *p = HP(c);
  const int64_t n = a->state->dims[0], ns = a->springs->dims[0];
  const int64_t nphys = 2 * n + 3 * ns + 5;
  const int64_t nnum = 2 * n + 3 * ns + 6 * n + ns + 6 * n + box_work_len(n);
  const int64_t ndir = nphys + 6 * n + ns;
  char *mem = c->host->scratch(c, (size_t)nnum * sizeof(rn) + (size_t)ndir * sizeof(box_dir) + 64);
  if (!mem) return c->host->error(c, "out of memory for %lld bodies", (long long)n);
  rn *d = (rn *)mem;
  for (int64_t k = 0; k < nnum; k++) d[k] = dc(0);
  box_sys *s = &r->s;
  s->n = n, s->ns = ns, s->dt = (R)p->dt, s->ground_y = (R)p->ground_y, s->toi = p->toi != 0, s->reference = p->reference != 0;
  s->sp = ds_idata(a->springs), s->anchor = ds_rdata(a->anchors);
  s->hs = d, d += 2 * n;
  s->rest = d, d += ns;
  s->stiff = d, d += ns;
  s->amp = d, d += ns;
  r->st = d, d += 6 * n;
  r->act = d, d += ns;
  r->out = d, d += 6 * n;
  r->work = d;
  r->dirs = (box_dir *)(mem + (size_t)nnum * sizeof(rn));
  const R *hs = ds_rdata(a->halfsize), *L = ds_rdata(a->rest), *k = ds_rdata(a->stiffness), *am = ds_rdata(a->amplitude);
  for (int64_t i = 0; i < 2 * n; i++) s->hs[i].v = hs[i];
  for (int64_t i = 0; i < ns; i++) s->rest[i].v = L[i], s->stiff[i].v = k[i], s->amp[i].v = am[i];
  s->density = dc(ds_rdata(a->density)[0]);
  s->gravity = dc(ds_rdata(a->gravity)[0]);
  s->damping = dc(ds_rdata(a->damping)[0]);
  s->friction = dc(ds_rdata(a->friction)[0]);
  s->restitution = dc(ds_rdata(a->restitution)[0]);
  /* the physical inputs whose gradient is wanted become directions */
  int64_t nd = 0;
  if (want_grads) {
    struct { ds_tensor *t; rn *d; int64_t cnt; } in[] = {
        {a->halfsize, s->hs, 2 * n}, {a->rest, s->rest, ns}, {a->stiffness, s->stiff, ns}, {a->amplitude, s->amp, ns},
        {a->density, &s->density, 1}, {a->gravity, &s->gravity, 1}, {a->damping, &s->damping, 1},
        {a->friction, &s->friction, 1}, {a->restitution, &s->restitution, 1}};
    for (size_t q = 0; q < sizeof in / sizeof in[0]; q++) {
      R *g = ds_rgrad(in[q].t);
      if (!g) continue;
      for (int64_t e = 0; e < in[q].cnt; e++) r->dirs[nd].in = in[q].d + e, r->dirs[nd].grad = g + e, nd++;
    }
  }
  r->nd_fixed = nd;
  return DS_OK;
}

static void load_state(box_run *r, const R *x, const R *act) {
  for (int64_t i = 0; i < 6 * r->s.n; i++) r->st[i].v = x[i];
  if (act)
    for (int64_t k = 0; k < r->s.ns; k++) r->act[k].v = act[k];
}

static void forward_step(box_run *r, const R *x, const R *act, R *xo) {
  load_state(r, x, act);
  box_step(&r->s, NULL, r->st, r->act, r->out, r->work);
  for (int64_t i = 0; i < 6 * r->s.n; i++) xo[i] = r->out[i].v;
}

/* gx += gout^T d out/d x, gact += gout^T d out/d act (gact may be NULL), and the
 * physical inputs' grads. */
static void box_done(box_run *r) { rt_free(&r->tape); }

static int adjoint_step(const ds_call *c, box_run *r, const R *x, const R *act, const R *gout, R *gx, R *gact) {
  load_state(r, x, act);
  int64_t nd = r->nd_fixed;
  for (int64_t i = 0; i < 6 * r->s.n; i++) r->dirs[nd].in = r->st + i, r->dirs[nd].grad = gx + i, nd++;
  if (gact)
    for (int64_t k = 0; k < r->s.ns; k++) r->dirs[nd].in = r->act + k, r->dirs[nd].grad = gact + k, nd++;
  if (box_vjp(&r->s, &r->tape, r->st, r->act, r->out, r->work, gout, r->dirs, nd))
    return c->host->error(c, "out of memory for the record of one step's adjoint");
  return DS_OK;
}

/* ============================================================================ step */
#define STEP_ARGS(A) HEAD_ARGS(A) A(act, DS_IN, DS_REAL, 1, 0) A(state_out, DS_OUT, DS_REAL, 2, 0)
#define STEP_PARAMS(P) HEAD_PARAMS(P)
DS_DECLARE_ARGS(bstep, STEP_ARGS)
DS_DECLARE_PARAMS(bstep, STEP_PARAMS)

static int bstep_check(const ds_call *c) {
  int rc = head_check(c);
  if (rc) return rc;
  const bstep_argv *a = DS_ARGV(c, bstep);
  if ((rc = ds_expect_shape(c, DS_SLOT(bstep, act), 1, a->springs->dims[0], -1, -1, -1))) return rc;
  return ds_expect_shape(c, DS_SLOT(bstep, state_out), 2, a->state->dims[0], 6, -1, -1);
}
static int bstep_forward(const ds_call *c) {
  const bstep_argv *a = DS_ARGV(c, bstep);
  int rc;
  box_run r;
  if ((rc = head_values(c)) || (rc = ds_expect_finite(c, DS_SLOT(bstep, act))) || (rc = box_prep(c, &r, 0))) return rc;
  forward_step(&r, ds_rdata(a->state), ds_rdata(a->act), ds_rdata(a->state_out));
  return DS_OK;
}
static int bstep_adjoint(const ds_call *c) {
  const bstep_argv *a = DS_ARGV(c, bstep);
  const int64_t n6 = 6 * a->state->dims[0], ns = a->springs->dims[0];
  R *tmp = c->host->alloc((size_t)(n6 + ns + 1) * sizeof(R));
  if (!tmp) return c->host->error(c, "out of memory");
  memset(tmp, 0, (size_t)(n6 + ns + 1) * sizeof(R));
  box_run r;
  int rc = box_prep(c, &r, 1);
  if (!rc) rc = adjoint_step(c, &r, ds_rdata(a->state), ds_rdata(a->act), ds_rgrad(a->state_out), tmp, tmp + n6);
  if (!rc) {
    R *g;
    if ((g = ds_rgrad(a->state)))
      for (int64_t i = 0; i < n6; i++) g[i] += tmp[i];
    if ((g = ds_rgrad(a->act)))
      for (int64_t i = 0; i < ns; i++) g[i] += tmp[n6 + i];
  }
  box_done(&r);
  c->host->free(tmp);
  return rc;
}
const ds_kernel_desc rigid2d_box_step_kernel = {"box_step", bstep_args, bstep_param_names, bstep_check,
                                                {[DS_CPU] = bstep_forward}, {[DS_CPU] = bstep_adjoint}};

/* ========================================================================= rollout */
#define ROLL_ARGS(A) HEAD_ARGS(A) A(acts, DS_IN, DS_REAL, 2, 0) A(states, DS_OUT, DS_REAL, 3, 0)
#define ROLL_PARAMS(P) HEAD_PARAMS(P) P(steps)
DS_DECLARE_ARGS(broll, ROLL_ARGS)
DS_DECLARE_PARAMS(broll, ROLL_PARAMS)

static int broll_check(const ds_call *c) {
  int rc = head_check(c);
  if (rc) return rc;
  const broll_argv *a = DS_ARGV(c, broll);
  int64_t T;
  if ((rc = r2_check_steps(c, DS_PARAMS(c, broll)->steps, "steps", &T))) return rc;
  const ds_tensor *acts = a->acts;
  if (acts->dims[1] != a->springs->dims[0] || (acts->dims[0] != T && acts->dims[0] != 1))
    return c->host->error(c, "argument 'acts' (#%d) must have shape {%lld, %lld} or {1, %lld} (held), got {%lld, %lld}",
                          DS_SLOT(broll, acts) + 1, (long long)T, (long long)a->springs->dims[0],
                          (long long)a->springs->dims[0], (long long)acts->dims[0], (long long)acts->dims[1]);
  return ds_expect_shape(c, DS_SLOT(broll, states), 3, T + 1, a->state->dims[0], 6, -1);
}
static int broll_forward(const ds_call *c) {
  const broll_argv *a = DS_ARGV(c, broll);
  int rc;
  box_run r;
  if ((rc = head_values(c)) || (rc = ds_expect_finite(c, DS_SLOT(broll, acts))) || (rc = box_prep(c, &r, 0))) return rc;
  const int64_t T = (int64_t)DS_PARAMS(c, broll)->steps, n6 = 6 * r.s.n, ns = r.s.ns;
  const int held = a->acts->dims[0] == 1;
  R *xs = ds_rdata(a->states);
  memcpy(xs, ds_rdata(a->state), (size_t)n6 * sizeof(R));
  for (int64_t t = 0; t < T; t++) forward_step(&r, xs + t * n6, ds_rdata(a->acts) + (held ? 0 : t * ns), xs + (t + 1) * n6);
  return DS_OK;
}
static int broll_adjoint(const ds_call *c) {
  const broll_argv *a = DS_ARGV(c, broll);
  const int64_t T = (int64_t)DS_PARAMS(c, broll)->steps, n6 = 6 * a->state->dims[0], ns = a->springs->dims[0];
  const int held = a->acts->dims[0] == 1;
  R *buf = c->host->alloc((size_t)(2 * n6 + ns + 1) * sizeof(R));
  if (!buf) return c->host->error(c, "out of memory");
  box_run r;
  int rc = box_prep(c, &r, 1);
  if (!rc) {
    R *gnext = buf, *gcur = buf + n6, *gact = buf + 2 * n6;
    const R *xs = ds_rdata(a->states), *gxs = ds_rgrad(a->states);
    R *gacts = ds_rgrad(a->acts);
    memcpy(gnext, gxs + T * n6, (size_t)n6 * sizeof(R));
    for (int64_t t = T - 1; t >= 0; t--) {
      memcpy(gcur, gxs + t * n6, (size_t)n6 * sizeof(R));
      memset(gact, 0, (size_t)ns * sizeof(R));
      if ((rc = adjoint_step(c, &r, xs + t * n6, ds_rdata(a->acts) + (held ? 0 : t * ns), gnext, gcur,
                             gacts ? gact : NULL))) break;
      if (gacts)
        for (int64_t k = 0; k < ns; k++) gacts[(held ? 0 : t * ns) + k] += gact[k];
      R *sw = gnext;
      gnext = gcur, gcur = sw;
    }
    R *g = ds_rgrad(a->state);
    if (g && !rc)
      for (int64_t i = 0; i < n6; i++) g[i] += gnext[i];
  }
  box_done(&r);
  c->host->free(buf);
  return rc;
}
const ds_kernel_desc rigid2d_box_rollout_kernel = {"box_rollout", broll_args, broll_param_names, broll_check,
                                                   {[DS_CPU] = broll_forward}, {[DS_CPU] = broll_adjoint}};

/* ====================================================================== nn rollout */
/* T steps of controller + physics in one launch: per step t the controller input
 * (box_controller.c) of state t goes through the kit's fused MLP (any depth, the
 * activations the kit runs), whose outputs are the springs' actuation of step t.
 * spec: i32 {2 L + 1}, the L + 1 widths then the L activation codes (ds.kit.mlp_spec).
 * w (the last slot, a list): the 2 L tensors of net:parameters() (W_1, b_1, ...) or
 * one flat tensor in the kit's layout. Outputs: the states {T+1, n, 6}, the hidden
 * activations {T, sum of hidden widths} and the actuation {T, ns}; the adjoint needs
 * nothing else of the network's forward (the kit reads z only for sin layers, and
 * then the step's network is recomputed). One actuation per spring, joints
 * included (the reference's network has one output per spring; a joint ignores it). */
#define NN_ARGS(A)                                                                                     \
  HEAD_ARGS(A) A(spec, DS_NODIFF, DS_I32, 1, 0) A(states, DS_OUT, DS_REAL, 3, 0)                      \
  A(hidden, DS_OUT, DS_REAL, 2, 0) A(acts, DS_OUT, DS_REAL, 2, 0) A(w, DS_IN, DS_REAL, -1, DS_LIST)
#define NN_PARAMS(P) HEAD_PARAMS(P) P(steps) P(t0) P(n_sin) P(omega) P(input_scale) P(head) P(goal_x) P(goal_y)
DS_DECLARE_ARGS(bnn, NN_ARGS)
DS_DECLARE_PARAMS(bnn, NN_PARAMS)





static int bnn_check(const ds_call *c) {
  int rc = head_check(c);
  if (rc) return rc;
  const bnn_argv *a = DS_ARGV(c, bnn);
  const bnn_params *p = DS_PARAMS(c, bnn);
  const int64_t n = a->state->dims[0], ns = a->springs->dims[0];
  int64_t T;
  if ((rc = r2_check_steps(c, p->steps, "steps", &T))) return rc;
  if (T < 1) return c->host->error(c, "param 'steps' must be >= 1 (the controller runs once per step), got %g", p->steps);
  if (!(p->t0 >= 0 && p->t0 == (double)(int64_t)p->t0))
    return c->host->error(c, "param 't0' must be an integer >= 0 (the first step's index for the sines), got %g", p->t0);
  if (!(p->n_sin >= 0 && p->n_sin <= 1024 && p->n_sin == (double)(int64_t)p->n_sin))
    return c->host->error(c, "param 'n_sin' must be an integer in [0, 1024], got %g", p->n_sin);
  if (!(p->head >= 0 && p->head < (double)n && p->head == (double)(int64_t)p->head))
    return c->host->error(c, "param 'head' must be a body index in [0, %lld) (0-based), got %g", (long long)n, p->head);
  if (!isfinite(p->omega) || !isfinite(p->input_scale) || !isfinite(p->goal_x) || !isfinite(p->goal_y))
    return c->host->error(c, "params 'omega', 'input_scale', 'goal_x', 'goal_y' must be finite");
  if ((rc = ds_kit_check_spec(c, DS_SLOT(bnn, spec), box_ctrl_inputs((int64_t)p->n_sin, n), ns, "n_sin + 6 n + 2",
                              "one per spring"))) return rc;
  const ds_kit_mlp net = ds_kit_net_of(DS_ARGV(c, bnn)->spec);
  ds_kit_mlp_sizes sz;
  if ((rc = c->host->kit->mlp_query(c->ctx, &net, 1, &sz))) return rc;
  if ((rc = ds_kit_check_weights(c, DS_SLOT(bnn, w), &net, sz.weights))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(bnn, states), 3, T + 1, n, 6, -1))) return rc;
  if ((rc = ds_expect_shape(c, DS_SLOT(bnn, hidden), 2, T, ds_kit_hidden_width(&net), -1, -1))) return rc;
  return ds_expect_shape(c, DS_SLOT(bnn, acts), 2, T, ns, -1, -1);
}

static box_ctrl bnn_ctrl(const ds_call *c) {
  const bnn_params *p = DS_PARAMS(c, bnn);
  box_ctrl k;
  k.n = DS_ARGV(c, bnn)->state->dims[0];
  k.head = (int64_t)p->head;
  k.t0 = (int64_t)p->t0;
  k.n_sin = (int)p->n_sin;
  k.omega = (R)p->omega;
  k.scale = (R)p->input_scale;
  k.dt = (R)p->dt;
  k.goal[0] = (R)p->goal_x;
  k.goal[1] = (R)p->goal_y;
  return k;
}



static int bnn_forward(const ds_call *c) {
  const bnn_argv *a = DS_ARGV(c, bnn);
  const ds_kit_api *kit = c->host->kit;
  int rc;
  box_run r;
  if ((rc = ds_kit_check_weights_finite(c, DS_SLOT(bnn, w))) || (rc = head_values(c)) || (rc = box_prep(c, &r, 0)))
    return rc;
  const int64_t T = (int64_t)DS_PARAMS(c, bnn)->steps, n6 = 6 * r.s.n, ns = r.s.ns;
  const box_ctrl k = bnn_ctrl(c);
  const ds_kit_mlp net = ds_kit_net_of(DS_ARGV(c, bnn)->spec);
  ds_kit_mlp_sizes sz;
  if ((rc = kit->mlp_query(c->ctx, &net, 1, &sz))) return rc;
  const int64_t n_in = box_ctrl_inputs(k.n_sin, k.n), H = a->hidden->dims[1];
  /* box_prep holds the launch's scratch; the network's buffers come from alloc */
  R *buf = c->host->alloc((size_t)(n_in + sz.save + sz.weights + 1) * sizeof(R));
  if (!buf) return c->host->error(c, "out of memory for the controller's buffers");
  R *in = buf, *save = in + n_in;
  const R *w = ds_kit_flat_weights(c, save + sz.save);
  R *xs = ds_rdata(a->states), *hid = ds_rdata(a->hidden), *acts = ds_rdata(a->acts);
  memcpy(xs, ds_rdata(a->state), (size_t)n6 * sizeof(R));
  for (int64_t t = 0; t < T; t++) {
    box_ctrl_input(&k, t, xs + t * n6, in);
    kit->mlp_forward(&net, w, in, acts + t * ns, save);
    ds_kit_save_to_rows(&net, save, hid + t * H);
    forward_step(&r, xs + t * n6, acts + t * ns, xs + (t + 1) * n6);
  }
  c->host->free(buf);
  return DS_OK;
}

/* Backward over the steps: the physics' VJP of step t (its reverse record) sends the
 * gradient of state t+1 to state t and to the actuation of step t; the kit's
 * backward sends the actuation's (plus the hidden outputs' own) to the network's
 * input and weights; the controller input's adjoint adds the input's into state t. */
static int bnn_adjoint(const ds_call *c) {
  const bnn_argv *a = DS_ARGV(c, bnn);
  const ds_kit_api *kit = c->host->kit;
  box_run r;
  int rc = box_prep(c, &r, 1);
  if (rc) return rc;
  const int64_t T = (int64_t)DS_PARAMS(c, bnn)->steps, n6 = 6 * r.s.n, ns = r.s.ns;
  const box_ctrl k = bnn_ctrl(c);
  const ds_kit_mlp net = ds_kit_net_of(DS_ARGV(c, bnn)->spec);
  ds_kit_mlp_sizes sz;
  if ((rc = kit->mlp_query(c->ctx, &net, 1, &sz))) return rc;
  const int recompute = ds_kit_has_sin(&net);
  const int64_t n_in = box_ctrl_inputs(k.n_sin, k.n), H = a->hidden->dims[1], nw = sz.weights;
  const size_t len = (size_t)(2 * n6 + 2 * ns + 2 * n_in + sz.save + sz.scratch + 2 * nw + 1);
  R *buf = c->host->alloc(len * sizeof(R));
  if (!buf) return c->host->error(c, "out of memory for the adjoint's buffers");
  memset(buf, 0, len * sizeof(R));
  R *gnext = buf, *gcur = gnext + n6, *gact = gcur + n6, *y = gact + ns, *in = y + ns, *gin = in + n_in;
  R *save = gin + n_in, *kscr = save + sz.save, *wflat = kscr + sz.scratch, *gflat = wflat + nw;
  const R *w = ds_kit_flat_weights(c, wflat);
  /* one flat tensor: straight into its gradient; a list: into gflat, split at the end */
  R *gw = ds_kit_weight_grad_begin(c, gflat, nw);
  const R *xs = ds_rdata(a->states), *hid = ds_rdata(a->hidden), *acts = ds_rdata(a->acts);
  const R *gxs = ds_rgrad(a->states), *ghid = ds_rgrad(a->hidden), *gacts = ds_rgrad(a->acts);
  memcpy(gnext, gxs + T * n6, (size_t)n6 * sizeof(R));
  for (int64_t t = T - 1; t >= 0; t--) {
    memcpy(gcur, gxs + t * n6, (size_t)n6 * sizeof(R));
    memcpy(gact, gacts + t * ns, (size_t)ns * sizeof(R));
    if ((rc = adjoint_step(c, &r, xs + t * n6, acts + t * ns, gnext, gcur, gact))) break;
    box_ctrl_input(&k, t, xs + t * n6, in);
    if (recompute)
      kit->mlp_forward(&net, w, in, y, save); /* the same bits as the forward's */
    else
      ds_kit_rows_to_save(&net, hid + t * H, acts + t * ns, save);
    memset(gin, 0, (size_t)n_in * sizeof(R));
    kit->mlp_backward_inject(&net, w, in, save, gact, H > 0 ? ghid + t * H : NULL, gin, gw, kscr);
    box_ctrl_adjoint(&k, gin, gcur);
    R *sw = gnext;
    gnext = gcur, gcur = sw;
  }
  R *g = ds_rgrad(a->state);
  if (g && !rc)
    for (int64_t i = 0; i < n6; i++) g[i] += gnext[i];
  if (!rc) ds_kit_weight_grad_end(c, gw);
  box_done(&r);
  c->host->free(buf);
  return rc;
}
const ds_kernel_desc rigid2d_box_nn_rollout_kernel = {"box_nn_rollout", bnn_args, bnn_param_names, bnn_check,
                                                      {[DS_CPU] = bnn_forward}, {[DS_CPU] = bnn_adjoint}};
