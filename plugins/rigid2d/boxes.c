/* rigid2d: the box step (physics in boxes.h), written once over recorded numbers;
 * box_vjp turns it into the adjoint (rev.h says why). Accumulation order is
 * fixed (bodies, corners, springs in index order), so results are bitwise
 * reproducible; the reference adds with atomics in no fixed order. */
#include "boxes.h"

#define TOI_VCAP ((R)-1e-3)
#define SPRING_EPS ((R)1e-4)
#define JOINT_EPS ((R)1e-1)

int64_t box_work_len(int64_t n) { return 8 * n; }

typedef struct incs {
  rn *vx, *vy, *w, *xx, *xy, *th, *im, *ii; /* velocity, spin and TOI position increments; 1/m, 1/I */
} incs;

/* rotate (ox, oy) by theta = (c, s) */
static inline void rot(rtape *tp, rn c, rn s, rn ox, rn oy, rn *rx, rn *ry) {
  *rx = dsub(tp, dmul(tp, c, ox), dmul(tp, s, oy));
  *ry = dadd(tp, dmul(tp, s, ox), dmul(tp, c, oy));
}

/* The reference's apply_impulse: impulse (px, py) at world point (lx, ly) on body
 * i; toi (clamped to [0, dt]) shifts the body back by toi times the change. */
static inline void apply_impulse(rtape *tp, const box_sys *s, incs *q, const rn *st, int64_t i, rn px, rn py, rn lx,
                                 rn ly, rn toi, int with_toi) {
  const rn dvx = dmul(tp, px, q->im[i]), dvy = dmul(tp, py, q->im[i]);
  const rn dw = dmul(tp, dcross(tp, dsub(tp, lx, st[6 * i]), dsub(tp, ly, st[6 * i + 1]), px, py), q->ii[i]);
  const rn t = dmin(dmax(dc(0), toi), dc(s->dt));
  /* a zero shift (no time of impact, the usual case) changes nothing: skip it */
  if (with_toi && !(t.i < 0 && t.v == 0)) {
    q->xx[i] = dsub(tp, q->xx[i], dmul(tp, t, dvx));
    q->xy[i] = dsub(tp, q->xy[i], dmul(tp, t, dvy));
    q->th[i] = dsub(tp, q->th[i], dmul(tp, t, dw));
  }
  q->vx[i] = dadd(tp, q->vx[i], dvx);
  q->vy[i] = dadd(tp, q->vy[i], dvy);
  q->w[i] = dadd(tp, q->w[i], dw);
}

/* Corner-ground contact of a body's 4 corners.
 * reference: each corner's impulse from the pre-step velocity, all added at once
 *   (the reference). Two corners resting on the ground then each remove v_n as if
 *   alone, the spin from one undoes half of the other's, and a box lying flat
 *   sinks by about 0.7 g dt per step.
 * default: projected Gauss-Seidel over the corners with accumulated impulses
 *   (sequential impulses). A corner joins the step's contact set under the same
 *   test as the reference (approaching, predicted below the ground); its target
 *   normal velocity is -e times its approach then, and its time of impact is the
 *   reference's. Each sweep moves every contact corner's total normal impulse
 *   towards that target, kept >= 0, and its total friction impulse towards zero
 *   tangential velocity, kept within mu times the normal total; the increments are
 *   applied as the reference's apply_impulse does (TOI shift included). Sweeps
 *   repeat until no impulse changes the velocity by more than 1e-10 (1e-6 in f32; at most
 *   CONTACT_SWEEPS). A flat box's two corners then both stop: it rests.
 *   All decisions are on values, so the record follows the same branches and
 *   the adjoint is the exact derivative of the computation that ran. */
#define CONTACT_SWEEPS 32
/* corner k's offset r (rotated by theta = (c, sn)) and world position */
static void corner_at(rtape *tp, const box_sys *s, const rn *b, rn c, rn sn, int64_t i, int k, rn *rx, rn *ry, rn *cx,
                      rn *cy) {
  const R sx = (R)(k % 2 * 2 - 1), sy = (R)(k / 2 % 2 * 2 - 1);
  rot(tp, c, sn, dscl(tp, s->hs[2 * i], sx), dscl(tp, s->hs[2 * i + 1], sy), rx, ry);
  *cx = dadd(tp, b[0], *rx), *cy = dadd(tp, b[1], *ry);
}
/* corner velocity v + w x r, plus this step's gravity gdt */
static void corner_vel(rtape *tp, rn vx, rn vy, rn w, rn rx, rn ry, rn gdt, rn *cvx, rn *cvy) {
  *cvx = dsub(tp, vx, dmul(tp, w, ry));
  *cvy = dadd(tp, dadd(tp, vy, dmul(tp, w, rx)), gdt);
}
/* (normal, tangent) effective inverse mass at a corner: normal (0, 1), r x n = rx;
 * tangent (1, 0), r x t = -ry */
static void corner_mass(rtape *tp, const incs *q, int64_t i, rn rx, rn ry, rn *ic, rn *tc) {
  *ic = dadd(tp, q->im[i], dmul(tp, dmul(tp, rx, rx), q->ii[i]));
  *tc = dadd(tp, q->im[i], dmul(tp, dmul(tp, ry, ry), q->ii[i]));
}

static void collide(rtape *tp, const box_sys *s, incs *q, const rn *st) {
  const R dt = s->dt, gy = s->ground_y;
  const rn one_e = daddc(s->restitution, 1), gdt = dscl(tp, s->gravity, s->dt);
  for (int64_t i = 0; i < s->n; i++) {
    const rn *b = st + 6 * i;
    const rn c = dcos(tp, b[2]), sn = dsin(tp, b[2]);
    if (s->reference) {
      for (int k = 0; k < 4; k++) {
        rn rx, ry, cx, cy, cvx, cvy, ic, tc;
        corner_at(tp, s, b, c, sn, i, k, &rx, &ry, &cx, &cy);
        corner_vel(tp, b[3], b[4], b[5], rx, ry, gdt, &cvx, &cvy);
        const rn ncx = dadd(tp, cx, dscl(tp, cvx, dt)), ncy = dadd(tp, cy, dscl(tp, cvy, dt));
        if (!(cvy.v < 0 && ncy.v < gy)) continue;
        corner_mass(tp, q, i, rx, ry, &ic, &tc);
        const rn imp = ddiv(tp, dneg(tp, dmul(tp, one_e, cvy)), ic);
        rn timp = dc(0), toi = dc(0);
        if (imp.v > 0) {
          const rn lim = dmul(tp, s->friction, imp);
          timp = dmin(lim, dmax(dneg(tp, lim), ddiv(tp, dneg(tp, cvx), tc)));
          if (cy.v > gy) toi = ddiv(tp, dneg(tp, daddc(cy, -gy)), dmin(cvy, dc(TOI_VCAP)));
        }
        apply_impulse(tp, s, q, st, i, timp, imp, ncx, ncy, toi, s->toi);
      }
      continue;
    }
    /* the corners' geometry and effective masses do not change over the sweeps */
    int touched[4] = {0, 0, 0, 0};
    rn Pn[4], Pt[4], target[4], toi[4], rx[4], ry[4], cx[4], cy[4], ic[4], tc[4];
    for (int k = 0; k < 4; k++) {
      Pn[k] = Pt[k] = target[k] = toi[k] = dc(0);
      corner_at(tp, s, b, c, sn, i, k, rx + k, ry + k, cx + k, cy + k);
      corner_mass(tp, q, i, rx[k], ry[k], ic + k, tc + k);
    }
    for (int sw = 0; sw < CONTACT_SWEEPS; sw++) {
      double change = 0;
      for (int k = 0; k < 4; k++) {
        const rn vx = dadd(tp, b[3], q->vx[i]), vy = dadd(tp, b[4], q->vy[i]), w = dadd(tp, b[5], q->w[i]);
        rn cvx, cvy;
        if (!touched[k]) {
          /* the test on values alone (nothing recorded): most corners stay out */
          rn px, py;
          corner_vel(tp, dval(vx), dval(vy), dval(w), dval(rx[k]), dval(ry[k]), dval(gdt), &px, &py);
          if (!(py.v < 0 && dadd(tp, dval(cy[k]), dscl(tp, py, dt)).v < gy)) continue;
          touched[k] = 1;
          corner_vel(tp, vx, vy, w, rx[k], ry[k], gdt, &cvx, &cvy);
          target[k] = dneg(tp, dmul(tp, s->restitution, cvy));
          if (cy[k].v > gy) toi[k] = ddiv(tp, dneg(tp, daddc(cy[k], -gy)), dmin(cvy, dc(TOI_VCAP)));
        } else {
          corner_vel(tp, vx, vy, w, rx[k], ry[k], gdt, &cvx, &cvy);
        }
        const rn ncx = dadd(tp, cx[k], dscl(tp, cvx, dt)), ncy = dadd(tp, cy[k], dscl(tp, cvy, dt));
        /* the clamps' candidates are recorded only where they are chosen */
        rn pn = dc(0);
        if (!(0 > dadd(tp, dval(Pn[k]), ddiv(tp, dsub(tp, dval(target[k]), dval(cvy)), dval(ic[k]))).v))
          pn = dmax(dadd(tp, Pn[k], ddiv(tp, dsub(tp, target[k], cvy), ic[k])), dc(0));
        const rn jn = dsub(tp, pn, Pn[k]);
        Pn[k] = pn;
        const rn lim = dmul(tp, s->friction, pn);
        const R free_t = dadd(tp, dval(Pt[k]), ddiv(tp, dneg(tp, dval(cvx)), dval(tc[k]))).v;
        const rn pt = free_t > -lim.v ? (free_t < lim.v ? dadd(tp, Pt[k], ddiv(tp, dneg(tp, cvx), tc[k])) : lim)
                                      : (-lim.v < lim.v ? dneg(tp, lim) : lim);
        const rn jt = dsub(tp, pt, Pt[k]);
        Pt[k] = pt;
        change += (fabs((double)jn.v) + fabs((double)jt.v)) * (double)q->im[i].v;
        apply_impulse(tp, s, q, st, i, jt, jn, ncx, ncy, toi[k], s->toi);
      }
      /* a change below what the precision can resolve is no change: f32 sums
       * rarely get under 1e-10 and would run every sweep */
      if (change < (sizeof(R) == 4 ? 1e-6 : 1e-10)) break;
    }
  }
}

static void springs(rtape *tp, const box_sys *s, incs *q, const rn *st, const rn *act) {
  const R dt = s->dt;
  for (int64_t k = 0; k < s->ns; k++) {
    const int32_t a = s->sp[3 * k], b = s->sp[3 * k + 1], joint = s->sp[3 * k + 2];
    const R *an = s->anchor + 4 * k;
    const rn *A = st + 6 * a, *B = st + 6 * b;
    rn rax, ray, rbx, rby;
    rot(tp, dcos(tp, A[2]), dsin(tp, A[2]), dc(an[0]), dc(an[1]), &rax, &ray);
    rot(tp, dcos(tp, B[2]), dsin(tp, B[2]), dc(an[2]), dc(an[3]), &rbx, &rby);
    const rn pax = dadd(tp, A[0], rax), pay = dadd(tp, A[1], ray), pbx = dadd(tp, B[0], rbx), pby = dadd(tp, B[1], rby);
    const rn dx = dsub(tp, pax, pbx), dy = dsub(tp, pay, pby);
    const rn len = daddc(dsqrt(tp, dadd(tp, dmul(tp, dx, dx), dmul(tp, dy, dy))), SPRING_EPS);
    rn target = dc(0);
    if (!joint) {
      rn a_t = act ? act[k] : dc(0);
      target = dmul(tp, s->rest[k], daddc(dmul(tp, s->amp[k], a_t), 1));
    }
    const rn f = ddiv(tp, dscl(tp, dmul(tp, dsub(tp, len, target), s->stiff[k]), dt), len);
    rn px = dmul(tp, f, dx), py = dmul(tp, f, dy);
    if (joint) {
      /* relative velocity of the anchors, projected out along its own direction */
      const rn vax = dsub(tp, A[3], dmul(tp, A[5], ray)), vay = dadd(tp, A[4], dmul(tp, A[5], rax));
      const rn vbx = dsub(tp, B[3], dmul(tp, B[5], rby)), vby = dadd(tp, B[4], dmul(tp, B[5], rbx));
      const rn rvx = dsub(tp, vax, vbx), rvy = dsub(tp, vay, vby);
      const rn rvn = daddc(dsqrt(tp, dadd(tp, dmul(tp, rvx, rvx), dmul(tp, rvy, rvy))), JOINT_EPS);
      const rn ux = ddiv(tp, rvx, rvn), uy = ddiv(tp, rvy, rvn);
      const rn ca = dcross(tp, ux, uy, rax, ray), cb = dcross(tp, ux, uy, rbx, rby);
      const rn ic = dadd(tp, dadd(tp, q->im[a], dmul(tp, dmul(tp, ca, ca), q->ii[a])),
                         dadd(tp, q->im[b], dmul(tp, dmul(tp, cb, cb), q->ii[b])));
      const rn m = ddiv(tp, rvn, ic);
      px = dadd(tp, px, dmul(tp, m, ux));
      py = dadd(tp, py, dmul(tp, m, uy));
    }
    apply_impulse(tp, s, q, st, a, dneg(tp, px), dneg(tp, py), pax, pay, dc(0), 0);
    apply_impulse(tp, s, q, st, b, px, py, pbx, pby, dc(0), 0);
  }
}

void box_step(const box_sys *s, rtape *tp, const rn *st, const rn *act, rn *out, rn *work) {
  const int64_t n = s->n;
  incs q = {work, work + n, work + 2 * n, work + 3 * n, work + 4 * n, work + 5 * n, work + 6 * n, work + 7 * n};
  for (int64_t i = 0; i < n; i++) {
    q.vx[i] = q.vy[i] = q.w[i] = q.xx[i] = q.xy[i] = q.th[i] = dc(0);
    const rn hx = s->hs[2 * i], hy = s->hs[2 * i + 1];
    const rn m = dmul(tp, dscl(tp, dmul(tp, hx, hy), 4), s->density);
    q.im[i] = ddiv(tp, dc(1), m);
    q.ii[i] = ddiv(tp, dc(3), dmul(tp, m, dadd(tp, dmul(tp, hx, hx), dmul(tp, hy, hy))));
  }
  collide(tp, s, &q, st);
  springs(tp, s, &q, st, act);
  const rn decay = dexp(tp, dscl(tp, s->damping, -s->dt));
  const rn gdt = dscl(tp, s->gravity, s->dt);
  for (int64_t i = 0; i < n; i++) {
    const rn *b = st + 6 * i;
    rn *o = out + 6 * i;
    o[3] = dadd(tp, dmul(tp, decay, b[3]), q.vx[i]);
    o[4] = dadd(tp, dadd(tp, dmul(tp, decay, b[4]), q.vy[i]), gdt);
    o[5] = dadd(tp, dmul(tp, decay, b[5]), q.w[i]);
    o[0] = dadd(tp, b[0], dscl(tp, o[3], s->dt));
    o[1] = dadd(tp, b[1], dscl(tp, o[4], s->dt));
    o[2] = dadd(tp, b[2], dscl(tp, o[5], s->dt));
    if (s->toi) {
      o[0] = dadd(tp, o[0], q.xx[i]);
      o[1] = dadd(tp, o[1], q.xy[i]);
      o[2] = dadd(tp, o[2], q.th[i]);
    }
  }
}

int rt_grow(rtape *t) {
  const int64_t cap = t->cap ? 2 * t->cap : 4096;
  if (cap > INT32_MAX || !t->alloc) return 0;
  char *m = t->alloc((size_t)cap * (sizeof *t->par + sizeof *t->w + sizeof *t->adj));
  if (!m) return 0;
  int32_t(*par)[2] = (int32_t(*)[2])m;
  R(*w)[2] = (R(*)[2])(m + (size_t)cap * sizeof *t->par);
  double *adj = (double *)(m + (size_t)cap * (sizeof *t->par + sizeof *t->w));
  if (t->n) {
    memcpy(par, t->par, (size_t)t->n * sizeof *t->par);
    memcpy(w, t->w, (size_t)t->n * sizeof *t->w);
  }
  if (t->par) t->free(t->par);
  t->par = par, t->w = w, t->adj = adj, t->cap = cap;
  return 1;
}

void rt_free(rtape *t) {
  if (t->par) t->free(t->par);
  t->par = NULL, t->w = NULL, t->adj = NULL, t->cap = t->n = 0;
}

void rt_reset(rtape *t) {
  t->n = 0, t->overflow = 0;
  if (!t->cap && !rt_grow(t)) {
    t->overflow = 1;
    return;
  }
  t->par[0][0] = t->par[0][1] = 0; /* node 0: the sink */
  t->w[0][0] = t->w[0][1] = 0;
  t->n = 1;
}

/* Branch-free: a missing parent is the sink, whose adjoint nobody reads. */
void rt_sweep(rtape *t) {
  const int32_t(*par)[2] = (const int32_t(*)[2])t->par;
  const R(*w)[2] = (const R(*)[2])t->w;
  double *adj = t->adj;
  for (int64_t i = t->n - 1; i > 0; i--) {
    const double a = adj[i];
    adj[par[i][0]] += a * w[i][0];
    adj[par[i][1]] += a * w[i][1];
  }
}

int box_vjp(const box_sys *s, rtape *tape, rn *st, rn *act, rn *out, rn *work, const R *gout, const box_dir *dirs,
            int64_t nd) {
  const int64_t no = 6 * s->n;
  rt_reset(tape);
  if (tape->overflow) return -1;
  for (int64_t k = 0; k < nd; k++) dirs[k].in->i = rt_leaf(tape);
  box_step(s, tape, st, act, out, work);
  for (int64_t k = 0; k < nd; k++) dirs[k].in->i = -1;
  if (tape->overflow) return -1;
  memset(tape->adj, 0, (size_t)tape->n * sizeof *tape->adj);
  for (int64_t o = 0; o < no; o++)
    if (out[o].i >= 0) tape->adj[out[o].i] += (double)gout[o];
  rt_sweep(tape);
  for (int64_t k = 0; k < nd; k++) *dirs[k].grad += (R)tape->adj[1 + k];
  return 0;
}
