/* rigid2d: the disc kernels.
 *   rigid2d.disc_step     one step (x, v) -> (x_out, v_out)
 *   rigid2d.disc_rollout  T steps in one launch, every state kept as an output
 *                         {T+1, n, 2}; the adjoint runs all T steps backward in
 *                         one launch, recomputing each step's pair list from
 *                         the stored state (cheap, and nothing else is stored).
 * Physics in discs.c. radius {n}, mass {n} and restitution (0-dim) are
 * differentiable inputs. Param `reference`: 1 loops over all O(n^2) ordered
 * pairs as the reference does; 0 (default) finds candidates by sort-and-sweep.
 * Both give the same bits (discs.c says why). */
#include <stdlib.h>

#include "rigid2d.h"

#define DISC_SYSTEM_ARGS(A) \
  A(radius, DS_IN, DS_REAL, 1, 0) A(mass, DS_IN, DS_REAL, 1, 0) A(restitution, DS_IN, DS_REAL, 0, 0)

/* ---- the work memory: host->alloc, grown when the pair list overflows -------- */
typedef struct work_buf {
  void *mem;
  disc_work w;
} work_buf;

static int work_open(const ds_call *c, work_buf *b, int64_t n, int64_t cap) {
  b->mem = c->host->alloc(disc_work_bytes(n, cap));
  if (!b->mem) return c->host->error(c, "out of memory for the pair lists of %lld discs", (long long)n);
  disc_work_init(&b->w, b->mem, n, cap);
  return DS_OK;
}
static void work_close(const ds_call *c, work_buf *b) {
  if (b->mem) c->host->free(b->mem);
  b->mem = NULL;
}
/* Pairs of a state, growing the list as needed (the sorted order is kept). */
static int pairs_of(const ds_call *c, const disc_sys *s, const R *x, const R *v, work_buf *b) {
  while (disc_pairs(s, x, v, &b->w)) {
    work_buf nb;
    int64_t cap = 2 * b->w.cap;
    if (work_open(c, &nb, s->n, cap)) return DS_ERR_NOMEM;
    memcpy(nb.w.order, b->w.order, (size_t)s->n * sizeof(int32_t));
    work_close(c, b);
    *b = nb;
  }
  return DS_OK;
}
static int64_t first_cap(int64_t n) { return 16 * n + 64; }

/* The system of a launch; the value checks common to both kernels. */
static int disc_sys_of(const ds_call *c, int sx, int sv, int sr, int sm, int se, double dt, double reference,
                       disc_sys *s) {
  int rc;
  if ((rc = ds_expect_finite(c, sx)) || (rc = ds_expect_finite(c, sv))) return rc;
  if ((rc = r2_check_positive(c, sr, "disc")) || (rc = r2_check_positive(c, sm, "disc"))) return rc;
  if ((rc = r2_check_range(c, se, 0, 1))) return rc;
  s->n = c->args[sx]->dims[0];
  s->dt = (R)dt;
  s->e = ds_rdata(c->args[se])[0];
  s->radius = ds_rdata(c->args[sr]);
  s->mass = ds_rdata(c->args[sm]);
  s->reference = reference != 0;
  return DS_OK;
}

static int check_shapes(const ds_call *c, int sx, const int *same, int nsame, int sr, int sm, double dt,
                        double reference) {
  const ds_tensor *x = c->args[sx];
  if (x->ndim != 2 || x->dims[1] != 2)
    return c->host->error(c, "argument '%s' (#%d) must have shape {n, 2} (disc centres)", ds_arg_desc_of(c, sx)->name,
                          sx + 1);
  int rc;
  for (int k = 0; k < nsame; k++)
    if ((rc = ds_expect_shape(c, same[k], 2, x->dims[0], 2, -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, sr, 1, x->dims[0], -1, -1, -1))) return rc;
  if ((rc = ds_expect_shape(c, sm, 1, x->dims[0], -1, -1, -1))) return rc;
  if (!(dt > 0 && isfinite(dt))) return c->host->error(c, "param 'dt' must be positive and finite, got %g", dt);
  if (reference != 0 && reference != 1)
    return c->host->error(c, "param 'reference' must be 0 (broad phase) or 1 (all pairs), got %g", reference);
  return DS_OK;
}

/* ======================================================================= step */
#define STEP_ARGS(A) \
  A(x, DS_IN, DS_REAL, 2, 0) A(v, DS_IN, DS_REAL, 2, 0) DISC_SYSTEM_ARGS(A) \
  A(x_out, DS_OUT, DS_REAL, 2, 0) A(v_out, DS_OUT, DS_REAL, 2, 0)
#define STEP_PARAMS(P) P(dt) P(reference)
DS_DECLARE_ARGS(dstep, STEP_ARGS)
DS_DECLARE_PARAMS(dstep, STEP_PARAMS)
#define S_(name) DS_SLOT(dstep, name)

static int dstep_check(const ds_call *c) {
  const dstep_params *p = DS_PARAMS(c, dstep);
  const int same[] = {S_(v), S_(x_out), S_(v_out)};
  return check_shapes(c, S_(x), same, 3, S_(radius), S_(mass), p->dt, p->reference);
}

static int dstep_forward(const ds_call *c) {
  const dstep_argv *a = DS_ARGV(c, dstep);
  const dstep_params *p = DS_PARAMS(c, dstep);
  disc_sys s;
  int rc = disc_sys_of(c, S_(x), S_(v), S_(radius), S_(mass), S_(restitution), p->dt, p->reference, &s);
  if (rc) return rc;
  work_buf b;
  if ((rc = work_open(c, &b, s.n, first_cap(s.n)))) return rc;
  if (!(rc = pairs_of(c, &s, ds_rdata(a->x), ds_rdata(a->v), &b)))
    disc_step_forward(&s, ds_rdata(a->x), ds_rdata(a->v), &b.w, ds_rdata(a->x_out), ds_rdata(a->v_out));
  work_close(c, &b);
  return rc;
}

/* The adjoint's results for the starting state and the restitution, added to
 * whatever gradients those inputs already hold (NULL grads are skipped). */
static void add_start_grads(const ds_tensor *x, const ds_tensor *v, const ds_tensor *restitution, const R *gx,
                            const R *gv, size_t nn, double ge) {
  R *g;
  if ((g = ds_rgrad(x)))
    for (size_t i = 0; i < nn; i++) g[i] += gx[i];
  if ((g = ds_rgrad(v)))
    for (size_t i = 0; i < nn; i++) g[i] += gv[i];
  if ((g = ds_rgrad(restitution))) g[0] += (R)ge;
}

static int dstep_adjoint(const ds_call *c) {
  const dstep_argv *a = DS_ARGV(c, dstep);
  const dstep_params *p = DS_PARAMS(c, dstep);
  disc_sys s;
  int rc = disc_sys_of(c, S_(x), S_(v), S_(radius), S_(mass), S_(restitution), p->dt, p->reference, &s);
  if (rc) return rc;
  const size_t nn = (size_t)(2 * s.n);
  /* grads of x and v may be absent: accumulate into scratch, then add */
  R *gx = c->host->scratch(c, 2 * nn * sizeof(R));
  if (!gx) return c->host->error(c, "out of memory");
  R *gv = gx + nn;
  memset(gx, 0, 2 * nn * sizeof(R));
  work_buf b;
  if ((rc = work_open(c, &b, s.n, first_cap(s.n)))) return rc;
  double ge = 0;
  if (!(rc = pairs_of(c, &s, ds_rdata(a->x), ds_rdata(a->v), &b)))
    disc_step_adjoint(&s, ds_rdata(a->x), ds_rdata(a->v), &b.w, ds_rgrad(a->x_out), ds_rgrad(a->v_out), gx, gv,
                      ds_rgrad(a->radius), ds_rgrad(a->mass), &ge);
  work_close(c, &b);
  if (rc) return rc;
  add_start_grads(a->x, a->v, a->restitution, gx, gv, nn, ge);
  return DS_OK;
}

const ds_kernel_desc rigid2d_disc_step_kernel = {"disc_step", dstep_args, dstep_param_names, dstep_check,
                                                 {[DS_CPU] = dstep_forward}, {[DS_CPU] = dstep_adjoint}};

/* ==================================================================== rollout */
#define ROLL_ARGS(A) \
  A(x0, DS_IN, DS_REAL, 2, 0) A(v0, DS_IN, DS_REAL, 2, 0) DISC_SYSTEM_ARGS(A) \
  A(xs, DS_OUT, DS_REAL, 3, 0) A(vs, DS_OUT, DS_REAL, 3, 0)
#define ROLL_PARAMS(P) P(dt) P(steps) P(reference) P(allow_overlap)
DS_DECLARE_ARGS(droll, ROLL_ARGS)
DS_DECLARE_PARAMS(droll, ROLL_PARAMS)
#define Q_(name) DS_SLOT(droll, name)

static int droll_check(const ds_call *c) {
  const droll_argv *a = DS_ARGV(c, droll);
  const droll_params *p = DS_PARAMS(c, droll);
  const int same[] = {Q_(v0)};
  int rc = check_shapes(c, Q_(x0), same, 1, Q_(radius), Q_(mass), p->dt, p->reference);
  if (rc) return rc;
  int64_t T;
  if ((rc = r2_check_steps(c, p->steps, "steps", &T))) return rc;
  if (p->allow_overlap != 0 && p->allow_overlap != 1)
    return c->host->error(c, "param 'allow_overlap' must be 0 or 1, got %g", p->allow_overlap);
  const int64_t n = a->x0->dims[0];
  if ((rc = ds_expect_shape(c, Q_(xs), 3, T + 1, n, 2, -1))) return rc;
  return ds_expect_shape(c, Q_(vs), 3, T + 1, n, 2, -1);
}

static int droll_forward(const ds_call *c) {
  const droll_argv *a = DS_ARGV(c, droll);
  const droll_params *p = DS_PARAMS(c, droll);
  disc_sys s;
  int rc = disc_sys_of(c, Q_(x0), Q_(v0), Q_(radius), Q_(mass), Q_(restitution), p->dt, p->reference, &s);
  if (rc) return rc;
  const int64_t T = (int64_t)p->steps;
  const size_t nn = (size_t)(2 * s.n);
  R *xs = ds_rdata(a->xs), *vs = ds_rdata(a->vs);
  work_buf b;
  if ((rc = work_open(c, &b, s.n, first_cap(s.n)))) return rc;
  /* overlapping discs at the start have no meaningful contact response (the
   * impulse only acts on approach): refuse them instead of letting them pass,
   * unless asked (allow_overlap = 1: the reference never checks, and its
   * optimiser may move the cue ball into the triangle) */
  int64_t i, j;
  double depth;
  int ov = 0;
  while (!p->allow_overlap && (ov = disc_first_overlap(&s, ds_rdata(a->x0), &b.w, &i, &j, &depth)) < 0) {
    if ((rc = pairs_of(c, &(disc_sys){.n = s.n, .radius = s.radius, .mass = s.mass}, ds_rdata(a->x0),
                       ds_rdata(a->x0), &b)))
      break;
  }
  if (!rc && ov > 0)
    rc = c->host->error(c,
                        "argument 'x0' (#1): discs %lld and %lld (0-based) overlap at the start by %g (centres %g "
                        "apart, radii sum %g); place them at least r_i + r_j apart",
                        (long long)i, (long long)j, depth, (double)s.radius[i] + s.radius[j] - depth,
                        (double)s.radius[i] + s.radius[j]);
  if (rc) {
    work_close(c, &b);
    return rc;
  }
  for (int64_t k = 0; k < s.n; k++) b.w.order[k] = (int32_t)k;
  memcpy(xs, ds_rdata(a->x0), nn * sizeof(R));
  memcpy(vs, ds_rdata(a->v0), nn * sizeof(R));
  for (int64_t t = 0; t < T && !rc; t++) {
    const R *x = xs + t * nn, *v = vs + t * nn;
    if (!(rc = pairs_of(c, &s, x, v, &b))) disc_step_forward(&s, x, v, &b.w, xs + (t + 1) * nn, vs + (t + 1) * nn);
  }
  work_close(c, &b);
  return rc;
}

static int droll_adjoint(const ds_call *c) {
  const droll_argv *a = DS_ARGV(c, droll);
  const droll_params *p = DS_PARAMS(c, droll);
  disc_sys s;
  int rc = disc_sys_of(c, Q_(x0), Q_(v0), Q_(radius), Q_(mass), Q_(restitution), p->dt, p->reference, &s);
  if (rc) return rc;
  const int64_t T = (int64_t)p->steps;
  const size_t nn = (size_t)(2 * s.n);
  const R *xs = ds_rdata(a->xs), *vs = ds_rdata(a->vs);
  const R *gxs = ds_rgrad(a->xs), *gvs = ds_rgrad(a->vs);
  R *buf = c->host->scratch(c, 4 * nn * sizeof(R));
  if (!buf) return c->host->error(c, "out of memory");
  R *gx_next = buf, *gv_next = buf + nn, *gx = buf + 2 * nn, *gv = buf + 3 * nn;
  memcpy(gx_next, gxs + T * nn, nn * sizeof(R));
  memcpy(gv_next, gvs + T * nn, nn * sizeof(R));
  work_buf b;
  if ((rc = work_open(c, &b, s.n, first_cap(s.n)))) return rc;
  double ge = 0;
  for (int64_t t = T - 1; t >= 0 && !rc; t--) {
    const R *x = xs + t * nn, *v = vs + t * nn;
    memcpy(gx, gxs + t * nn, nn * sizeof(R));
    memcpy(gv, gvs + t * nn, nn * sizeof(R));
    if ((rc = pairs_of(c, &s, x, v, &b))) break;
    disc_step_adjoint(&s, x, v, &b.w, gx_next, gv_next, gx, gv, ds_rgrad(a->radius), ds_rgrad(a->mass), &ge);
    R *tx = gx_next, *tv = gv_next;
    gx_next = gx, gv_next = gv, gx = tx, gv = tv;
  }
  work_close(c, &b);
  if (rc) return rc;
  add_start_grads(a->x0, a->v0, a->restitution, gx_next, gv_next, nn, ge);
  return DS_OK;
}

const ds_kernel_desc rigid2d_disc_rollout_kernel = {"disc_rollout", droll_args, droll_param_names, droll_check,
                                                    {[DS_CPU] = droll_forward}, {[DS_CPU] = droll_adjoint}};
