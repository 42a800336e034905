/* mpm: what the 2D passes (passes.c) and their vectorised parts (lanes.c,
 * g2p_lanes.c, p2g_adj_lanes.c) share. */
#ifndef MPM_PASSES_H
#define MPM_PASSES_H

#include "mpm.h"

enum { PARTICLE_GRAIN = 256 }; /* fixed particle blocks (a multiple of LANES) */

#define PV(s, name, p) ((s)->name[(s)->s##name ? (p) : 0])

/* One particle's quantities before the scatter. */
typedef struct pre {
  stencil2 st;
  mat_in mi;
  R m, vol, Fn[4], tau[4], Fout[4], A[4];
} pre;

static inline __attribute__((always_inline)) void particle_pre(const sim *s, int64_t p, pre *q) {
  stencil_of(s->x + 2 * p, s->inv_dx, &q->st);
  const R *C = s->C + 4 * p, *F = s->F + 4 * p;
  const R dt = s->dt;
  const R IC[4] = {1 + dt * C[0], dt * C[1], dt * C[2], 1 + dt * C[3]};
  mat_mul(IC, F, q->Fn);
  q->m = PV(s, mass, p);
  q->vol = PV(s, vol, p);
  q->mi.kind = s->mat[p];
  q->mi.mu = PV(s, mu, p);
  q->mi.lam = PV(s, lam, p);
  q->mi.bulk = PV(s, bulk, p);
  int32_t g = s->group[p];
  q->mi.act = g >= 0 ? s->act[g] * s->strength : 0;
  material_fwd(&q->mi, q->Fn, q->tau, q->Fout);
  const R k = -dt * q->vol * 4 * s->inv_dx * s->inv_dx;
  for (int i = 0; i < 4; i++) q->A[i] = k * q->tau[i] + q->m * C[i];
}

enum { LANES = 16 }; /* particles per chunk in the vector passes (a multiple of 8: nodes8.c) */

/* Lane l's corotated Fn = (I + dt C) F, stress tau (material_fwd's corotated
 * branch with the fibre term) and A = kst vol tau + m C, from lane arrays into
 * lane arrays: straight-line arithmetic the compiler vectorises over l (lanes.c,
 * p2g_adj_lanes.c; the same expression in both, so the adjoint's recompute gives
 * the forward's bits). */
MPM_INLINE void corotated_lane(int l, R dt, R kst, R (*Cm)[LANES], R (*Fm)[LANES], const R *MU, const R *LAM,
                               const R *ACT, const R *M, const R *VOL, R (*Fn)[LANES], R (*tau)[LANES],
                               R (*A)[LANES]) {
  const R i0 = 1 + dt * Cm[0][l], i1 = dt * Cm[1][l], i2 = dt * Cm[2][l], i3 = 1 + dt * Cm[3][l];
  const R n0 = i0 * Fm[0][l] + i1 * Fm[2][l], n1 = i0 * Fm[1][l] + i1 * Fm[3][l];
  const R n2 = i2 * Fm[0][l] + i3 * Fm[2][l], n3 = i2 * Fm[1][l] + i3 * Fm[3][l];
  /* 2 mu (Fn - R) Fn^T + lam (J - 1) J I, R the polar rotation */
  const R xr = n0 + n3, yr = n2 - n1;
  const R sc = 1 / RSQRT(xr * xr + yr * yr);
  const R c = xr * sc, sn = yr * sc;
  const R d0 = n0 - c, d1 = n1 + sn, d2 = n2 - sn, d3 = n3 - c;
  const R mu2 = 2 * MU[l], act = ACT[l], J = n0 * n3 - n1 * n2, pr = LAM[l] * (J - 1) * J;
  /* plus the fibre term act (Fn e_y)(Fn e_y)^T */
  const R t0 = mu2 * (d0 * n0 + d1 * n1) + pr + act * n1 * n1;
  const R t1 = mu2 * (d0 * n2 + d1 * n3) + act * n1 * n3;
  const R t2 = mu2 * (d2 * n0 + d3 * n1) + act * n3 * n1;
  const R t3 = mu2 * (d2 * n2 + d3 * n3) + pr + act * n3 * n3;
  const R k = kst * VOL[l], m = M[l];
  Fn[0][l] = n0, Fn[1][l] = n1, Fn[2][l] = n2, Fn[3][l] = n3;
  tau[0][l] = t0, tau[1][l] = t1, tau[2][l] = t2, tau[3][l] = t3;
  A[0][l] = k * t0 + m * Cm[0][l], A[1][l] = k * t1 + m * Cm[1][l];
  A[2][l] = k * t2 + m * Cm[2][l], A[3][l] = k * t3 + m * Cm[3][l];
}

/* Lanes P[l]'s per-particle constants into lane arrays: mass, vol, mu, lam and
 * act strength (0 without a group); returns whether every lane is corotated.
 * s's fields are read into locals first: the stores into the lane arrays could
 * otherwise alias them (the arrays' addresses escape into the moves below) and
 * force a reload of each per lane. */
MPM_INLINE int lanes_consts(const sim *s, const int64_t *P, R *M, R *VOL, R *MU, R *LAM, R *ACT) {
  const R *mass = s->mass, *vol = s->vol, *mu = s->mu, *lam = s->lam, *act = s->act, strength = s->strength;
  const int sm = s->smass, sv = s->svol, su = s->smu, sl = s->slam;
  const int32_t *group = s->group, *mat = s->mat;
  int corot = 1;
  for (int l = 0; l < LANES; l++) {
    const int64_t p = P[l];
    M[l] = mass[sm ? p : 0], VOL[l] = vol[sv ? p : 0], MU[l] = mu[su ? p : 0], LAM[l] = lam[sl ? p : 0];
    const int32_t g = group[p];
    ACT[l] = g >= 0 ? act[g] * strength : 0;
    corot &= mat[p] == MAT_COROTATED;
  }
  return corot;
}

/* nodes8.c: out {3 rows, 3 ch, LANES}: lane l's 3 x 3 node block of grid {ncell, ch}
 * (ch 2 or 3) from its base node base[l], lane-major. */
void nodes_gather8(const R *grid, int64_t ny, int ch, const int32_t *base, R *out);
/* nodes8.c: out {w, LANES}: the w (2 or 4) values of particle P[l] of src {n, w}, lane-major. */
void lanes_load(const R *src, int w, const int64_t *P, R *out);
/* nodes8.c: the LANES consecutive particles k0 .. k0 + LANES - 1 (a full chunk in
 * index order): lanes_load_seq reads their w (2 or 4) values of src {n, w} into
 * out {w, LANES}; lanes_store_seq writes v {w, LANES} into dst {n, w} (add: adds
 * it; dst NULL: nothing). */
void lanes_load_seq(const R *src, int w, int64_t k0, R *out);
void lanes_store_seq(R *dst, int w, int64_t k0, const R *v, int add);
/* lanes_load, or zeros where src is NULL (an output without a gradient) */
MPM_INLINE void lanes_load_or_zero(const R *src, int w, const int64_t *P, R *out) {
  if (src) {
    lanes_load(src, w, P, out);
  } else {
    for (int i = 0; i < w * LANES; i++) out[i] = 0;
  }
}

/* nodes8.c: adds a chunk's per-particle stencil values out {3 rows, 3 ch, LANES}
 * (lanes l < L, base nodes base[l]) into the grid: particle by particle, slot by
 * slot (the caller's block order makes that order fixed). */
void nodes_scatter8(R *grid, int64_t ny, int ch, const int32_t *base, int L, const R *out);

/* lanes.c: P2G of bins [lo, hi) (one block of cell rows), added into s->gmm. */
void p2g_block(sim *s, int64_t lo, int64_t hi);
/* g2p_lanes.c: G2P (x', v', C'); the G2P adjoint of bins [lo, hi) (x grads, and
 * the grid velocity reads' grads added into s->ggvel). */
void pass_g2p_lanes(int64_t lo, int64_t hi, void *user);
void g2p_adj_block(sim *s, int64_t lo, int64_t hi);
/* p2g_adj_lanes.c: pass F, the P2G, stress and F update adjoint (recomputes Fn, tau, A). */
void pass_p2g_adj_lanes(int64_t lo, int64_t hi, void *user);

#endif
