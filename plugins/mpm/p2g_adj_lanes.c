/* The 2D adjoint's pass F vectorised over LANES (16) particles in index order: the P2G
 * adjoint (grads of m, v, A and x from the grid's mass and momentum grads),
 * then A = kst vol tau + m C, the material adjoint and Fn = (I + dt C) F
 * (Fn, tau and A recomputed from the step's inputs, as the forward has them).
 * The equations are those of passes.c / mpm_phys.h (material_adj); the vector
 * path covers chunks of corotated particles, other chunks run particle_pre and
 * material_adj per lane. Chunks start at multiples of LANES inside parallel_for's fixed blocks, so
 * which path a particle takes never depends on the thread count. */
#include <string.h>

#include "passes.h"

/* The corotated material adjoint for lane arrays: from G = d loss/d tau and
 * gFo = d loss/d F_out, gFn (overwritten) and the grads of mu, lam and the
 * activation (material_adj written out for one material). */
static inline __attribute__((always_inline)) void corotated_adj_lanes(int L, R (*Fn)[LANES], R (*G)[LANES],
                                                               R (*gFo)[LANES], const R *MU, const R *LAM,
                                                               const R *ACT, R (*gFn)[LANES], R *gmu, R *glam,
                                                               R *gact) {
#pragma omp simd
  for (int l = 0; l < L; l++) {
    const R n0 = Fn[0][l], n1 = Fn[1][l], n2 = Fn[2][l], n3 = Fn[3][l];
    const R G0 = G[0][l], G1 = G[1][l], G2 = G[2][l], G3 = G[3][l];
    const R J = n0 * n3 - n1 * n2, trG = G0 + G3, act = ACT[l], tm = 2 * MU[l];
    /* the fibre act f f^T, f = Fn e_y = (n1, n3) */
    const R Gf0 = G0 * n1 + G1 * n3, Gf1 = G2 * n1 + G3 * n3;
    const R Gtf0 = G0 * n1 + G2 * n3, Gtf1 = G1 * n1 + G3 * n3;
    gact[l] = n1 * Gf0 + n3 * Gf1;
    R g0 = gFo[0][l], g1 = gFo[1][l] + act * (Gf0 + Gtf0), g2 = gFo[2][l], g3 = gFo[3][l] + act * (Gf1 + Gtf1);
    /* polar rotation R = [c -s; s c] */
    const R x = n0 + n3, y = n2 - n1;
    const R r2 = x * x + y * y, r = RSQRT(r2), sc = 1 / r;
    const R c = x * sc, sn = y * sc;
    const R d0 = n0 - c, d1 = n1 + sn, d2 = n2 - sn, d3 = n3 - c;
    /* 2 mu (Fn - R) Fn^T: gFn += 2mu (G Fn + G^T (Fn - R)), gR = -2mu G Fn */
    const R GF0 = G0 * n0 + G1 * n2, GF1 = G0 * n1 + G1 * n3, GF2 = G2 * n0 + G3 * n2, GF3 = G2 * n1 + G3 * n3;
    const R GtD0 = G0 * d0 + G2 * d2, GtD1 = G0 * d1 + G2 * d3, GtD2 = G1 * d0 + G3 * d2, GtD3 = G1 * d1 + G3 * d3;
    g0 += tm * (GF0 + GtD0), g1 += tm * (GF1 + GtD1), g2 += tm * (GF2 + GtD2), g3 += tm * (GF3 + GtD3);
    /* the rotation's adjoint (polar_rot_adj) with gR = -tm GF */
    const R gc = -tm * (GF0 + GF3), gs = -tm * (GF2 - GF1);
    const R t = (gc * y - gs * x) / (r2 * r);
    const R gx = y * t, gy = -x * t;
    g0 += gx, g3 += gx, g2 += gy, g1 -= gy;
    /* mu's grad 2 G : (Fn - R) Fn^T */
    const R t0 = d0 * n0 + d1 * n1, t1 = d0 * n2 + d1 * n3, t2 = d2 * n0 + d3 * n1, t3 = d2 * n2 + d3 * n3;
    gmu[l] = 2 * (G0 * t0 + G1 * t1 + G2 * t2 + G3 * t3);
    glam[l] = (J - 1) * J * trG;
    /* lam (J - 1) J I: the cofactor times lam (2J - 1) trG */
    const R kj = LAM[l] * (2 * J - 1) * trG;
    g0 += kj * n3, g1 -= kj * n2, g2 -= kj * n1, g3 += kj * n0;
    gFn[0][l] = g0, gFn[1][l] = g1, gFn[2][l] = g2, gFn[3][l] = g3;
  }
}

/* dst[w (k0 + l) + c] += v[c LANES + l] for the L < LANES consecutive particles
 * from k0 of a partial last chunk (dst NULL: not wanted). */
MPM_INLINE void add_lanes(R *dst, int w, int64_t k0, int L, const R *v) {
  if (!dst) return;
  dst += w * k0;
  for (int l = 0; l < L; l++)
    for (int c = 0; c < w; c++) dst[w * l + c] += v[c * LANES + l];
}

MPM_CLONES void pass_p2g_adj_lanes(int64_t lo, int64_t hi, void *user) {
  sim *s = user;
  const R dt = s->dt, dx = s->dx, inv_dx = s->inv_dx;
  const R kst = -dt * 4 * inv_dx * inv_dx; /* A = kst vol tau + m C */
  const int64_t n = s->n;
  const int32_t *cell = s->cell;
  /* this block's act grads, summed in particle order (substep.c adds the blocks in order) */
  double *gact = s->gact_blk + lo / PARTICLE_GRAIN * s->ngroup;
  for (int64_t g = 0; g < s->ngroup; g++) gact[g] = 0;
  for (int64_t k0 = lo; k0 < hi; k0 += LANES) {
    const int L = hi - k0 < LANES ? (int)(hi - k0) : LANES;
    int64_t P[LANES];
    int32_t base[LANES];
    R Q[27 * LANES];
    R X[2][LANES], V[2][LANES], Cm[4][LANES], Fm[4][LANES], Fn[4][LANES], TAU[4][LANES];
    R Am[4][LANES], M[LANES], VOL[LANES], MU[LANES], LAM[LANES], ACT[LANES], GFO[4][LANES];
    /* a partial last chunk repeats its last particle in the spare lanes (the
     * vector loop keeps its fixed LANES trip count; spare results are dropped) */
    for (int l = 0; l < LANES; l++) P[l] = k0 + (l < L ? l : L - 1);
    const int corot = lanes_consts(s, P, M, VOL, MU, LAM, ACT);
    for (int l = 0; l < LANES; l++) base[l] = cell[P[l]];
    if (L == LANES) { /* consecutive particles: vector loads */
      lanes_load_seq(s->x, 2, k0, X[0]), lanes_load_seq(s->v, 2, k0, V[0]);
      lanes_load_seq(s->C, 4, k0, Cm[0]), lanes_load_seq(s->F, 4, k0, Fm[0]);
      if (s->gFo) lanes_load_seq(s->gFo, 4, k0, GFO[0]);
      else memset(GFO, 0, sizeof GFO);
    } else {
      lanes_load(s->x, 2, P, X[0]), lanes_load(s->v, 2, P, V[0]);
      lanes_load(s->C, 4, P, Cm[0]), lanes_load(s->F, 4, P, Fm[0]);
      lanes_load_or_zero(s->gFo, 4, P, GFO[0]);
    }
    nodes_gather8(s->ggmm, s->ny, 3, base, Q); /* Q[(a 9 + 3 b + c) LANES + l]: lane l's node (a, b), channel c */
    /* the forward's Fn, tau and A, recomputed (cheaper than keeping them) */
    if (corot) {
#pragma omp simd
      for (int l = 0; l < LANES; l++) corotated_lane(l, dt, kst, Cm, Fm, MU, LAM, ACT, M, VOL, Fn, TAU, Am);
    } else {
      for (int l = 0; l < LANES; l++) {
        pre q;
        particle_pre(s, P[l], &q);
        for (int i = 0; i < 4; i++) Fn[i][l] = q.Fn[i], TAU[i][l] = q.tau[i], Am[i][l] = q.A[i];
      }
    }
    R GA[4][LANES], GM[LANES], GV[2][LANES], GX[2][LANES], G[4][LANES], GVOL[LANES];
#pragma omp simd
    for (int l = 0; l < LANES; l++) {
      const R g0 = X[0][l] * inv_dx, g1 = X[1][l] * inv_dx;
      const int32_t b0 = (int32_t)(g0 - (R)0.5), b1 = (int32_t)(g1 - (R)0.5);
      const R f0 = g0 - (R)b0, f1 = g1 - (R)b1;
      const R wa[3] = {(R)0.5 * ((R)1.5 - f0) * ((R)1.5 - f0), (R)0.75 - (f0 - 1) * (f0 - 1),
                       (R)0.5 * (f0 - (R)0.5) * (f0 - (R)0.5)};
      const R wb[3] = {(R)0.5 * ((R)1.5 - f1) * ((R)1.5 - f1), (R)0.75 - (f1 - 1) * (f1 - 1),
                       (R)0.5 * (f1 - (R)0.5) * (f1 - (R)0.5)};
      const R da[3] = {(f0 - (R)1.5) * inv_dx, -2 * (f0 - 1) * inv_dx, (f0 - (R)0.5) * inv_dx};
      const R db[3] = {(f1 - (R)1.5) * inv_dx, -2 * (f1 - 1) * inv_dx, (f1 - (R)0.5) * inv_dx};
      const R m = M[l], v0 = V[0][l], v1 = V[1][l];
      const R A0 = Am[0][l], A1 = Am[1][l], A2 = Am[2][l], A3 = Am[3][l];
      R gA0 = 0, gA1 = 0, gA2 = 0, gA3 = 0, gm = 0, gv0 = 0, gv1 = 0, gx0 = 0, gx1 = 0;
#pragma GCC unroll 3
      for (int a = 0; a < 3; a++)
#pragma GCC unroll 3
        for (int b = 0; b < 3; b++) {
          const R *q = Q + (a * 9 + 3 * b) * LANES + l;
          const R q0 = q[0], q1 = q[LANES], q2 = q[2 * LANES];
          const R w = wa[a] * wb[b];
          const R e0 = ((R)a - f0) * dx, e1 = ((R)b - f1) * dx;
          const R c1 = m * v0 + A0 * e0 + A1 * e1, c2 = m * v1 + A2 * e0 + A3 * e1;
          gm += w * (q0 + q1 * v0 + q2 * v1);
          gv0 += w * m * q1, gv1 += w * m * q2;
          gA0 += w * q1 * e0, gA1 += w * q1 * e1, gA2 += w * q2 * e0, gA3 += w * q2 * e1;
          const R sc = q0 * m + q1 * c1 + q2 * c2;
          gx0 += da[a] * wb[b] * sc;
          gx1 += wa[a] * db[b] * sc;
          /* e = (o - x/dx + base) dx: de/dx = -1 */
          gx0 -= w * (A0 * q1 + A2 * q2);
          gx1 -= w * (A1 * q1 + A3 * q2);
        }
      /* A = kst vol tau + m C */
      const R kv = kst * VOL[l];
      GA[0][l] = gA0, GA[1][l] = gA1, GA[2][l] = gA2, GA[3][l] = gA3;
      G[0][l] = kv * gA0, G[1][l] = kv * gA1, G[2][l] = kv * gA2, G[3][l] = kv * gA3;
      GM[l] = gm + gA0 * Cm[0][l] + gA1 * Cm[1][l] + gA2 * Cm[2][l] + gA3 * Cm[3][l];
      GVOL[l] = kst * (gA0 * TAU[0][l] + gA1 * TAU[1][l] + gA2 * TAU[2][l] + gA3 * TAU[3][l]);
      GV[0][l] = gv0, GV[1][l] = gv1, GX[0][l] = gx0, GX[1][l] = gx1;
    }
    R GFN[4][LANES], GMU[LANES], GLAM[LANES], GBULK[LANES], GACT[LANES];
    if (corot) {
      corotated_adj_lanes(LANES, Fn, G, GFO, MU, LAM, ACT, GFN, GMU, GLAM, GACT);
      for (int l = 0; l < L; l++) GBULK[l] = 0;
    } else {
      for (int l = 0; l < L; l++) {
        const int64_t p = P[l];
        mat_in mi = {s->mat[p], MU[l], LAM[l], PV(s, bulk, p), ACT[l]};
        R fn[4], g[4], gfo[4], gfn[4] = {0, 0, 0, 0};
        for (int i = 0; i < 4; i++) fn[i] = Fn[i][l], g[i] = G[i][l], gfo[i] = GFO[i][l];
        mat_grad mg;
        material_adj(&mi, fn, g, gfo, gfn, &mg);
        for (int i = 0; i < 4; i++) GFN[i][l] = gfn[i];
        GMU[l] = mg.mu, GLAM[l] = mg.lam, GBULK[l] = mg.bulk, GACT[l] = mg.act;
      }
    }
    /* Fn = (I + dt C) F: gC = m gA + dt gFn F^T, gF += (I + dt C)^T gFn */
    R GC[4][LANES], GF[4][LANES];
#pragma omp simd
    for (int l = 0; l < LANES; l++) {
      const R g0 = GFN[0][l], g1 = GFN[1][l], g2 = GFN[2][l], g3 = GFN[3][l];
      const R F0 = Fm[0][l], F1 = Fm[1][l], F2 = Fm[2][l], F3 = Fm[3][l], m = M[l];
      GC[0][l] = m * GA[0][l] + dt * (g0 * F0 + g1 * F1);
      GC[1][l] = m * GA[1][l] + dt * (g0 * F2 + g1 * F3);
      GC[2][l] = m * GA[2][l] + dt * (g2 * F0 + g3 * F1);
      GC[3][l] = m * GA[3][l] + dt * (g2 * F2 + g3 * F3);
      const R i0 = 1 + dt * Cm[0][l], i1 = dt * Cm[1][l], i2 = dt * Cm[2][l], i3 = 1 + dt * Cm[3][l];
      GF[0][l] = i0 * g0 + i2 * g2, GF[1][l] = i0 * g1 + i2 * g3;
      GF[2][l] = i1 * g0 + i3 * g2, GF[3][l] = i1 * g1 + i3 * g3;
    }
    /* the chunk's particles are consecutive */
    if (L == LANES) {
      lanes_store_seq(s->gC, 4, k0, GC[0], 1), lanes_store_seq(s->gF, 4, k0, GF[0], 1);
      lanes_store_seq(s->gv, 2, k0, GV[0], 1), lanes_store_seq(s->gx, 2, k0, GX[0], 1);
    } else {
      add_lanes(s->gC, 4, k0, L, GC[0]), add_lanes(s->gF, 4, k0, L, GF[0]);
      add_lanes(s->gv, 2, k0, L, GV[0]), add_lanes(s->gx, 2, k0, L, GX[0]);
    }
    R *pg = s->pg;
    for (int l = 0; l < L; l++) {
      pg[PG_MASS * n + k0 + l] = GM[l];
      pg[PG_VOL * n + k0 + l] = GVOL[l];
      pg[PG_MU * n + k0 + l] = GMU[l];
      pg[PG_LAM * n + k0 + l] = GLAM[l];
      pg[PG_BULK * n + k0 + l] = GBULK[l];
    }
    if (s->ngroup > 0)
      for (int l = 0; l < L; l++)
        if (s->group[k0 + l] >= 0) gact[s->group[k0 + l]] += (double)(GACT[l] * s->strength);
  }
}
