/* springs: the physics of one time step, shared by every springs kernel.
 *
 * State is structure-of-arrays per tensor: x {n, D} and v {n, D}, D = 2 or 3,
 * y (axis 1) is up, the ground is the plane y = ground_y, walls are the planes
 * x = wall_lo and x = wall_hi.  One step, for every node i:
 *
 *   spring s = (a, b):  d = x_a - x_b,  l = |d| + 1e-4,  L = L0 (1 + amp act)
 *                       f = (k (l - L) / l + c (v_a - v_b).d / l^2) d
 *   F_i  = sum over springs of  -f (i = a)  or  +f (i = b)
 *   v*   = exp(-damping dt) v + dt g y^ + dt F_i / m_i
 *   wall : moving out through a wall -> normal velocity 0, Coulomb friction on the rest
 *   ground (naive): below ground and falling -> contact response, x' = x + dt v'
 *   ground (TOI):   x + dt v* crosses the ground while falling -> advance to the
 *                   exact time of impact toi, respond, then move for dt - toi
 *   contact response: v'_n = -e v_n; tangential: zero (sticky) or shrunk by
 *                     mu (1 + e) |v_n| (Coulomb, isotropic in 3D).
 *
 * The 1e-4 in l is the reference's guard against a zero-length spring; it is
 * kept so that --reference runs reproduce the reference numbers.
 *
 * Forces are gathered per node through a CSR adjacency (topology tensor), never
 * scattered with atomics, so results are bitwise identical for any thread count. */
#ifndef SPRINGS_PHYS_H
#define SPRINGS_PHYS_H

#include <diffsim/plugin.h>
#include <math.h>
#include <string.h>

typedef ds_real R;

/* The per-node and per-spring bodies are always inlined into loops that call them
 * with a literal D (2 or 3), so the compiler unrolls the tiny vector loops. */
#define FORCE_INLINE static inline __attribute__((always_inline))
#ifdef DS_REAL_F64
#define RTANH tanh
#define RSQRT sqrt
#define RFABS fabs
#else
#define RTANH tanhf
#define RSQRT sqrtf
#define RFABS fabsf
#endif

#define SPRING_EPS ((R)1e-4)
/* The reference's TOI only triggers for a clearly falling node (v_y < -1e-4), so a
 * node resting on the ground is not re-projected by round-off. */
#define TOI_VEPS ((R)1e-4)

enum { GROUND_NONE = 0, GROUND_NAIVE = 1, GROUND_TOI = 2 };
enum { WALL_NONE = 0, WALL_PROJECT = 1, WALL_REFERENCE = 2 };

/* The physics of a step as the bodies below use it, from the kernel's params and
 * its 0-dim physical inputs (springs.h builds it). */
typedef struct phys {
  R dt, decay, gravity;
  int ground, sticky, wall;
  R ground_y, e, mu, wall_lo, wall_hi, wall_mu;
} phys;

/* Gradients of one node's step with respect to the physical inputs: gravity,
 * the velocity decay exp(-damping dt) (springs.h turns it into d/d damping),
 * restitution e and ground friction mu. Summed per block, in a fixed order. */
typedef struct phys_grad {
  double gravity, decay, e, mu;
} phys_grad;

/* The topology tensor (i32, 1-D), built once by springs.topology:
 *   [0] n, [1] ns, then ns pairs (a, b), then the CSR row pointers (n + 1),
 *   then 2 ns adjacency entries: s for the a end of spring s, -(s + 1) for the b end. */
typedef struct topo {
  int32_t n, ns;
  const int32_t *pair, *ptr, *adj;
} topo;

static inline int64_t topo_len(int64_t n, int64_t ns) { return 2 + 4 * ns + n + 1; }

static inline topo topo_from(const int32_t *t) {
  topo g;
  g.n = t[0];
  g.ns = t[1];
  g.pair = t + 2;
  g.ptr = t + 2 + 2 * (int64_t)g.ns;
  g.adj = g.ptr + g.n + 1;
  return g;
}

/* ---- friction: shrink the components other than `axis` by r (isotropic) ---- */
FORCE_INLINE void fric_fwd(R *u, int D, int axis, R r) {
  R t2 = 0;
  for (int k = 0; k < D; k++)
    if (k != axis) t2 += u[k] * u[k];
  R tn = RSQRT(t2);
  R s = tn > r ? 1 - r / tn : 0;
  for (int k = 0; k < D; k++)
    if (k != axis) u[k] *= s;
}
/* u: the components before friction; g: grad of those after; adds into gu and
 * returns the grad of r. Sliding (|u_t| > r): the Coulomb shrink's Jacobian.
 * Not sliding: sticking (r > 0, zero Jacobian) or frictionless (r = 0, so
 * |u_t| = 0: the identity, see below). */
FORCE_INLINE R fric_adj(const R *u, const R *g, R *gu, int D, int axis, R r) {
  R t2 = 0, ug = 0;
  for (int k = 0; k < D; k++)
    if (k != axis) {
      t2 += u[k] * u[k];
      ug += u[k] * g[k];
    }
  R tn = RSQRT(t2);
  if (!(tn > r)) {
    /* No friction (r = 0) at a zero tangential velocity: the map is the identity
     * here (u_t = 0 in, 0 out, and u_t for any u_t nearby), so the gradient passes
     * through; d/dr is 0 (u_t = 0 stays 0 for every r >= 0). With r > 0 the node
     * sticks: the map is locally constant and passes nothing. */
    if (!(r > 0))
      for (int k = 0; k < D; k++)
        if (k != axis) gu[k] += g[k];
    return 0;
  }
  R s = 1 - r / tn, c = r * ug / (tn * tn * tn);
  for (int k = 0; k < D; k++)
    if (k != axis) gu[k] += s * g[k] + c * u[k];
  return -ug / tn;
}

/* ---- per-node integration ------------------------------------------------ */
typedef struct node_tmp {
  R vs[3], u[3], up[3], vpos[3];
  R toi, rw;
  int hitw, contact, pinned;
} node_tmp;

/* x, v: the node's state; F: the spring force sum; im: inverse mass. */
FORCE_INLINE void node_fwd(const phys *p, int D, const R *x, const R *v, const R *F, R im, R *xo, R *vo,
                            node_tmp *t) {
  t->pinned = im == 0;
  t->hitw = t->contact = 0;
  t->toi = 0;
  if (t->pinned) { /* infinite mass: stays put */
    for (int k = 0; k < D; k++) {
      xo[k] = x[k];
      vo[k] = 0;
    }
    return;
  }
  for (int k = 0; k < D; k++) t->vs[k] = p->decay * v[k] + p->dt * im * F[k];
  t->vs[1] += p->dt * p->gravity;
  for (int k = 0; k < D; k++) t->u[k] = t->vs[k];
  if (p->wall) {
    R xt = x[0] + p->dt * t->vs[0];
    if ((xt > p->wall_hi && t->vs[0] > 0) || (xt < p->wall_lo && t->vs[0] < 0)) {
      t->hitw = 1;
      t->rw = p->wall_mu * RFABS(t->vs[0]);
      t->u[0] = 0;
      fric_fwd(t->u, D, 0, t->rw);
    }
  }
  /* reference wall semantics: x moves with the velocity from before the projection */
  const R *vp = (t->hitw && p->wall == WALL_REFERENCE) ? t->vs : t->u;
  for (int k = 0; k < D; k++) t->vpos[k] = vp[k];
  if (p->ground == GROUND_NAIVE)
    t->contact = x[1] < p->ground_y && t->u[1] < 0;
  else if (p->ground == GROUND_TOI)
    t->contact = x[1] + p->dt * t->vpos[1] < p->ground_y && t->vpos[1] < -TOI_VEPS;
  for (int k = 0; k < D; k++) t->up[k] = t->u[k];
  if (t->contact) {
    R n = t->u[1];
    t->up[1] = -p->e * n;
    if (p->sticky) {
      for (int k = 0; k < D; k++)
        if (k != 1) t->up[k] = 0;
    } else {
      fric_fwd(t->up, D, 1, p->mu * (1 + p->e) * (n < 0 ? -n : 0));
    }
  }
  if (t->contact && p->ground == GROUND_TOI) {
    t->toi = -(x[1] - p->ground_y) / t->vpos[1];
    for (int k = 0; k < D; k++) xo[k] = x[k] + t->toi * t->vpos[k] + (p->dt - t->toi) * t->up[k];
  } else if (t->contact) {
    for (int k = 0; k < D; k++) xo[k] = x[k] + p->dt * t->up[k];
  } else {
    for (int k = 0; k < D; k++) xo[k] = x[k] + p->dt * t->vpos[k];
  }
  for (int k = 0; k < D; k++) vo[k] = t->up[k];
}

/* Reverse of node_fwd. gxo, gvo: grads of the outputs. Adds into gx, gv (either
 * may be NULL) and writes gF, the grad of the force sum F. */
/* pg (may be NULL) accumulates the grads of the physical inputs, gim (may be
 * NULL) that of the inverse mass. A pinned node (im == 0) is a mode, not a value:
 * it passes no gradient to im, gravity or damping. */
FORCE_INLINE void node_adj(const phys *p, int D, const R *x, const R *v, const R *F, R im, const R *gxo,
                            const R *gvo, R *gx, R *gv, R *gF, phys_grad *pg, R *gim) {
  node_tmp t;
  R xo[3], vo[3];
  node_fwd(p, D, x, v, F, im, xo, vo, &t);
  for (int k = 0; k < D; k++) gF[k] = 0;
  if (t.pinned) {
    if (gx)
      for (int k = 0; k < D; k++) gx[k] += gxo[k];
    return;
  }
  R gup[3] = {0, 0, 0}, gu[3] = {0, 0, 0}, gvp[3] = {0, 0, 0}, gvs[3] = {0, 0, 0};
  R gxl[3];
  for (int k = 0; k < D; k++) gxl[k] = gxo[k];
  if (t.contact && p->ground == GROUND_TOI) {
    R gtoi = 0;
    for (int k = 0; k < D; k++) {
      gtoi += gxo[k] * (t.vpos[k] - t.up[k]);
      gvp[k] += t.toi * gxo[k];
      gup[k] += (p->dt - t.toi) * gxo[k];
    }
    R vy = t.vpos[1];
    gxl[1] += -gtoi / vy;
    gvp[1] += gtoi * (x[1] - p->ground_y) / (vy * vy);
  } else if (t.contact) {
    for (int k = 0; k < D; k++) gup[k] += p->dt * gxo[k];
  } else {
    for (int k = 0; k < D; k++) gvp[k] += p->dt * gxo[k];
  }
  for (int k = 0; k < D; k++) gup[k] += gvo[k];
  if (t.contact) {
    R n = t.u[1];
    gu[1] += -p->e * gup[1];
    if (pg) pg->e += -(double)n * gup[1];
    if (!p->sticky) {
      /* the sliding branch of Coulomb friction; a sticking node (|u_t| <= r) gives
       * gr = 0: the active branch is differentiated, the switch is not */
      R gr = fric_adj(t.u, gup, gu, D, 1, p->mu * (1 + p->e) * (n < 0 ? -n : 0));
      if (n < 0) {
        gu[1] += -gr * p->mu * (1 + p->e);
        if (pg) { /* r = mu (1 + e) (-n) */
          pg->e += (double)gr * p->mu * -n;
          pg->mu += (double)gr * (1 + p->e) * -n;
        }
      }
    }
  } else {
    for (int k = 0; k < D; k++) gu[k] += gup[k];
  }
  if (t.hitw && p->wall == WALL_REFERENCE)
    for (int k = 0; k < D; k++) gvs[k] += gvp[k];
  else
    for (int k = 0; k < D; k++) gu[k] += gvp[k];
  if (t.hitw) {
    R gr = fric_adj(t.vs, gu, gvs, D, 0, t.rw); /* u[0] = 0: no grad to vs[0] from u[0] */
    gvs[0] += gr * p->wall_mu * (t.vs[0] > 0 ? 1 : -1);
  } else {
    for (int k = 0; k < D; k++) gvs[k] += gu[k];
  }
  if (gx)
    for (int k = 0; k < D; k++) gx[k] += gxl[k];
  if (gv)
    for (int k = 0; k < D; k++) gv[k] += p->decay * gvs[k];
  for (int k = 0; k < D; k++) gF[k] = p->dt * im * gvs[k];
  /* vs = decay v + dt im F + dt g y^ */
  if (pg) {
    pg->gravity += (double)p->dt * gvs[1];
    for (int k = 0; k < D; k++) pg->decay += (double)v[k] * gvs[k];
  }
  if (gim) {
    R s = 0;
    for (int k = 0; k < D; k++) s += F[k] * gvs[k];
    *gim += p->dt * s;
  }
}

/* ---- per-spring force ------------------------------------------------------ */
typedef struct spring_mat {
  const R *rest, *stiff, *amp, *sdamp;
} spring_mat;

/* f = s d for spring s at the given state and actuation (act may be NULL). */
FORCE_INLINE void spring_fwd(int D, const R *xa, const R *xb, const R *va, const R *vb, R L0, R k, R a,
                              R c, R act, R *f) {
  R d[3], q2 = 0, vd = 0;
  for (int j = 0; j < D; j++) {
    d[j] = xa[j] - xb[j];
    q2 += d[j] * d[j];
    vd += (va[j] - vb[j]) * d[j];
  }
  R l = RSQRT(q2) + SPRING_EPS;
  R L = L0 * (1 + a * act);
  R s = k * (l - L) / l + c * vd / (l * l);
  for (int j = 0; j < D; j++) f[j] = s * d[j];
}

/* gf: grad of f. Writes gd (grad of d = xa - xb) and gvr (grad of va - vb);
 * adds the per-spring grads into the non-NULL pointers. */
FORCE_INLINE void spring_adj(int D, const R *xa, const R *xb, const R *va, const R *vb, R L0, R k, R a, R c,
                              R act, const R *gf, R *gd, R *gvr, R *gL0, R *gk, R *ga, R *gc, R *gact) {
  R d[3], vr[3], q2 = 0, vd = 0, gs = 0;
  for (int j = 0; j < D; j++) {
    d[j] = xa[j] - xb[j];
    vr[j] = va[j] - vb[j];
    q2 += d[j] * d[j];
    vd += vr[j] * d[j];
    gs += gf[j] * d[j];
  }
  R q = RSQRT(q2), l = q + SPRING_EPS, l2 = l * l;
  R L = L0 * (1 + a * act);
  R s = k * (l - L) / l + c * vd / l2;
  R ds_dl = k * L / l2 - 2 * c * vd / (l2 * l);
  R coef = q > 0 ? gs * ds_dl / q : 0;
  for (int j = 0; j < D; j++) {
    gd[j] = s * gf[j] + coef * d[j] + gs * c * vr[j] / l2;
    gvr[j] = gs * c * d[j] / l2;
  }
  R gL = -gs * k / l;
  if (gL0) *gL0 += gL * (1 + a * act);
  if (ga) *ga += gL * L0 * act;
  if (gact) *gact += gL * L0 * a;
  if (gk) *gk += gs * (1 - L / l);
  if (gc) *gc += gs * vd / l2;
}

#endif
