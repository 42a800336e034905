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
static inline void rot(rn c, rn s, rn ox, rn oy, rn *rx, rn *ry) {
  *rx = dsub(dmul(c, ox), dmul(s, oy));
  *ry = dadd(dmul(s, ox), dmul(c, oy));
}

/* The reference's apply_impulse: impulse (px, py) at world point (lx, ly) on body
 * i; toi (clamped to [0, dt]) shifts the body back by toi times the change. */
static inline void apply_impulse(const box_sys *s, incs *q, const rn *st, int64_t i, rn px, rn py, rn lx, rn ly,
                                 rn toi, int with_toi) {
  const rn dvx = dmul(px, q->im[i]), dvy = dmul(py, q->im[i]);
  const rn dw = dmul(dcross(dsub(lx, st[6 * i]), dsub(ly, st[6 * i + 1]), px, py), q->ii[i]);
  const rn t = dmin(dmax(dc(0), toi), dc(s->dt));
  /* a zero shift (no time of impact, the usual case) changes nothing: skip it */
  if (with_toi && !(t.i < 0 && t.v == 0)) {
    q->xx[i] = dsub(q->xx[i], dmul(t, dvx));
    q->xy[i] = dsub(q->xy[i], dmul(t, dvy));
    q->th[i] = dsub(q->th[i], dmul(t, dw));
  }
  q->vx[i] = dadd(q->vx[i], dvx);
  q->vy[i] = dadd(q->vy[i], dvy);
  q->w[i] = dadd(q->w[i], dw);
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
static void corner_at(const box_sys *s, const rn *b, rn c, rn sn, int64_t i, int k, rn *rx, rn *ry, rn *cx, rn *cy) {
  const R sx = (R)(k % 2 * 2 - 1), sy = (R)(k / 2 % 2 * 2 - 1);
  rot(c, sn, dscl(s->hs[2 * i], sx), dscl(s->hs[2 * i + 1], sy), rx, ry);
  *cx = dadd(b[0], *rx), *cy = dadd(b[1], *ry);
}
/* corner velocity v + w x r, plus this step's gravity gdt */
static void corner_vel(rn vx, rn vy, rn w, rn rx, rn ry, rn gdt, rn *cvx, rn *cvy) {
  *cvx = dsub(vx, dmul(w, ry));
  *cvy = dadd(dadd(vy, dmul(w, rx)), gdt);
}
/* (normal, tangent) effective inverse mass at a corner: normal (0, 1), r x n = rx;
 * tangent (1, 0), r x t = -ry */
static void corner_mass(const incs *q, int64_t i, rn rx, rn ry, rn *ic, rn *tc) {
  *ic = dadd(q->im[i], dmul(dmul(rx, rx), q->ii[i]));
  *tc = dadd(q->im[i], dmul(dmul(ry, ry), q->ii[i]));
}

static void collide(const box_sys *s, incs *q, const rn *st) {
  const R dt = s->dt, gy = s->ground_y;
  const rn one_e = daddc(s->restitution, 1), gdt = dscl(s->gravity, s->dt);
  for (int64_t i = 0; i < s->n; i++) {
    const rn *b = st + 6 * i;
    const rn c = dcos(b[2]), sn = dsin(b[2]);
    if (s->reference) {
      for (int k = 0; k < 4; k++) {
        rn rx, ry, cx, cy, cvx, cvy, ic, tc;
        corner_at(s, b, c, sn, i, k, &rx, &ry, &cx, &cy);
        corner_vel(b[3], b[4], b[5], rx, ry, gdt, &cvx, &cvy);
        const rn ncx = dadd(cx, dscl(cvx, dt)), ncy = dadd(cy, dscl(cvy, dt));
        if (!(cvy.v < 0 && ncy.v < gy)) continue;
        corner_mass(q, i, rx, ry, &ic, &tc);
        const rn imp = ddiv(dneg(dmul(one_e, cvy)), ic);
        rn timp = dc(0), toi = dc(0);
        if (imp.v > 0) {
          const rn lim = dmul(s->friction, imp);
          timp = dmin(lim, dmax(dneg(lim), ddiv(dneg(cvx), tc)));
          if (cy.v > gy) toi = ddiv(dneg(daddc(cy, -gy)), dmin(cvy, dc(TOI_VCAP)));
        }
        apply_impulse(s, q, st, i, timp, imp, ncx, ncy, toi, s->toi);
      }
      continue;
    }
    /* the corners' geometry and effective masses do not change over the sweeps */
    int touched[4] = {0, 0, 0, 0};
    rn Pn[4], Pt[4], target[4], toi[4], rx[4], ry[4], cx[4], cy[4], ic[4], tc[4];
    for (int k = 0; k < 4; k++) {
      Pn[k] = Pt[k] = target[k] = toi[k] = dc(0);
      corner_at(s, b, c, sn, i, k, rx + k, ry + k, cx + k, cy + k);
      corner_mass(q, i, rx[k], ry[k], ic + k, tc + k);
    }
    for (int sw = 0; sw < CONTACT_SWEEPS; sw++) {
      double change = 0;
      for (int k = 0; k < 4; k++) {
        const rn vx = dadd(b[3], q->vx[i]), vy = dadd(b[4], q->vy[i]), w = dadd(b[5], q->w[i]);
        rn cvx, cvy;
        if (!touched[k]) {
          /* the test on values alone (nothing recorded): most corners stay out */
          rn px, py;
          corner_vel(dval(vx), dval(vy), dval(w), dval(rx[k]), dval(ry[k]), dval(gdt), &px, &py);
          if (!(py.v < 0 && dadd(dval(cy[k]), dscl(py, dt)).v < gy)) continue;
          touched[k] = 1;
          corner_vel(vx, vy, w, rx[k], ry[k], gdt, &cvx, &cvy);
          target[k] = dneg(dmul(s->restitution, cvy));
          if (cy[k].v > gy) toi[k] = ddiv(dneg(daddc(cy[k], -gy)), dmin(cvy, dc(TOI_VCAP)));
        } else {
          corner_vel(vx, vy, w, rx[k], ry[k], gdt, &cvx, &cvy);
        }
        const rn ncx = dadd(cx[k], dscl(cvx, dt)), ncy = dadd(cy[k], dscl(cvy, dt));
        /* the clamps' candidates are recorded only where they are chosen */
        rn pn = dc(0);
        if (!(0 > dadd(dval(Pn[k]), ddiv(dsub(dval(target[k]), dval(cvy)), dval(ic[k]))).v))
          pn = dmax(dadd(Pn[k], ddiv(dsub(target[k], cvy), ic[k])), dc(0));
        const rn jn = dsub(pn, Pn[k]);
        Pn[k] = pn;
        const rn lim = dmul(s->friction, pn);
        const R free_t = dadd(dval(Pt[k]), ddiv(dneg(dval(cvx)), dval(tc[k]))).v;
        const rn pt = free_t > -lim.v ? (free_t < lim.v ? dadd(Pt[k], ddiv(dneg(cvx), tc[k])) : lim)
                                      : (-lim.v < lim.v ? dneg(lim) : lim);
        const rn jt = dsub(pt, Pt[k]);
        Pt[k] = pt;
        change += (fabs((double)jn.v) + fabs((double)jt.v)) * (double)q->im[i].v;
        apply_impulse(s, q, st, i, jt, jn, ncx, ncy, toi[k], s->toi);
      }
      /* a change below what the precision can resolve is no change: f32 sums
       * rarely get under 1e-10 and would run every sweep */
      if (change < (sizeof(R) == 4 ? 1e-6 : 1e-10)) break;
    }
  }
}

static void springs(const box_sys *s, incs *q, const rn *st, const rn *act) {
  const R dt = s->dt;
  for (int64_t k = 0; k < s->ns; k++) {
    const int32_t a = s->sp[3 * k], b = s->sp[3 * k + 1], joint = s->sp[3 * k + 2];
    const R *an = s->anchor + 4 * k;
    const rn *A = st + 6 * a, *B = st + 6 * b;
    rn rax, ray, rbx, rby;
    rot(dcos(A[2]), dsin(A[2]), dc(an[0]), dc(an[1]), &rax, &ray);
    rot(dcos(B[2]), dsin(B[2]), dc(an[2]), dc(an[3]), &rbx, &rby);
    const rn pax = dadd(A[0], rax), pay = dadd(A[1], ray), pbx = dadd(B[0], rbx), pby = dadd(B[1], rby);
    const rn dx = dsub(pax, pbx), dy = dsub(pay, pby);
    const rn len = daddc(dsqrt(dadd(dmul(dx, dx), dmul(dy, dy))), SPRING_EPS);
    rn target = dc(0);
    if (!joint) {
      rn a_t = act ? act[k] : dc(0);
      target = dmul(s->rest[k], daddc(dmul(s->amp[k], a_t), 1));
    }
    const rn f = ddiv(dscl(dmul(dsub(len, target), s->stiff[k]), dt), len);
    rn px = dmul(f, dx), py = dmul(f, dy);
    if (joint) {
      /* relative velocity of the anchors, projected out along its own direction */
      const rn vax = dsub(A[3], dmul(A[5], ray)), vay = dadd(A[4], dmul(A[5], rax));
      const rn vbx = dsub(B[3], dmul(B[5], rby)), vby = dadd(B[4], dmul(B[5], rbx));
      const rn rvx = dsub(vax, vbx), rvy = dsub(vay, vby);
      const rn rvn = daddc(dsqrt(dadd(dmul(rvx, rvx), dmul(rvy, rvy))), JOINT_EPS);
      const rn ux = ddiv(rvx, rvn), uy = ddiv(rvy, rvn);
      const rn ca = dcross(ux, uy, rax, ray), cb = dcross(ux, uy, rbx, rby);
      const rn ic = dadd(dadd(q->im[a], dmul(dmul(ca, ca), q->ii[a])), dadd(q->im[b], dmul(dmul(cb, cb), q->ii[b])));
      const rn m = ddiv(rvn, ic);
      px = dadd(px, dmul(m, ux));
      py = dadd(py, dmul(m, uy));
    }
    apply_impulse(s, q, st, a, dneg(px), dneg(py), pax, pay, dc(0), 0);
    apply_impulse(s, q, st, b, px, py, pbx, pby, dc(0), 0);
  }
}

void box_step(const box_sys *s, const rn *st, const rn *act, rn *out, rn *work) {
  const int64_t n = s->n;
  incs q = {work, work + n, work + 2 * n, work + 3 * n, work + 4 * n, work + 5 * n, work + 6 * n, work + 7 * n};
  for (int64_t i = 0; i < n; i++) {
    q.vx[i] = q.vy[i] = q.w[i] = q.xx[i] = q.xy[i] = q.th[i] = dc(0);
    const rn hx = s->hs[2 * i], hy = s->hs[2 * i + 1];
    const rn m = dmul(dscl(dmul(hx, hy), 4), s->density);
    q.im[i] = ddiv(dc(1), m);
    q.ii[i] = ddiv(dc(3), dmul(m, dadd(dmul(hx, hx), dmul(hy, hy))));
  }
  collide(s, &q, st);
  springs(s, &q, st, act);
  const rn decay = dexp(dscl(s->damping, -s->dt));
  const rn gdt = dscl(s->gravity, s->dt);
  for (int64_t i = 0; i < n; i++) {
    const rn *b = st + 6 * i;
    rn *o = out + 6 * i;
    o[3] = dadd(dmul(decay, b[3]), q.vx[i]);
    o[4] = dadd(dadd(dmul(decay, b[4]), q.vy[i]), gdt);
    o[5] = dadd(dmul(decay, b[5]), q.w[i]);
    o[0] = dadd(b[0], dscl(o[3], s->dt));
    o[1] = dadd(b[1], dscl(o[4], s->dt));
    o[2] = dadd(b[2], dscl(o[5], s->dt));
    if (s->toi) {
      o[0] = dadd(o[0], q.xx[i]);
      o[1] = dadd(o[1], q.xy[i]);
      o[2] = dadd(o[2], q.th[i]);
    }
  }
}

_Thread_local rtape *rt_cur __attribute__((tls_model("initial-exec")));

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
  rtape *prev = rt_cur;
  rt_cur = tape;
  for (int64_t k = 0; k < nd; k++) dirs[k].in->i = rt_leaf();
  box_step(s, st, act, out, work);
  rt_cur = prev;
  for (int64_t k = 0; k < nd; k++) dirs[k].in->i = -1;
  if (tape->overflow) return -1;
  memset(tape->adj, 0, (size_t)tape->n * sizeof *tape->adj);
  for (int64_t o = 0; o < no; o++)
    if (out[o].i >= 0) tape->adj[out[o].i] += (double)gout[o];
  rt_sweep(tape);
  for (int64_t k = 0; k < nd; k++) *dirs[k].grad += (R)tape->adj[1 + k];
  return 0;
}
