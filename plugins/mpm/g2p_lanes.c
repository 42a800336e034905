/* The 2D G2P (pass C) and its adjoint (pass D), vectorised over LANES (16)
 * particles as lanes.c does for P2G: G2P in particle-index order (it writes only
 * its own particles), the adjoint in bin order (it adds into the grid). Neither
 * depends on the material, so every chunk takes the same code; a partial last
 * chunk runs the same loop with its last particle repeated in the spare lanes.
 * G2P chunks start at multiples of LANES inside parallel_for's fixed blocks; the
 * adjoint's start at its bin block's first particle (passes.c runs those blocks
 * in two phases, as the P2G). Either way the split never depends on the thread
 * count.
 *
 * G2P:  v' = sum w v_i,  C' = 4/dx sum w v_i e^T (e = x_i/dx - x_p/dx),  x' = x + dt v'
 * Its adjoint, per particle: the grads of the 9 velocity reads,
 * w (gv + 4/dx gC e), added straight into s->ggvel (nodes_scatter8, in the block
 * order passes.c fixes), and x's grad through the weights and through e. */
#include "passes.h"

/* The particles k0 .. k0 + L - 1 (bin order) and their positions into lane
 * arrays; a partial last chunk repeats its last particle in the spare lanes, so
 * the vector loops always run LANES lanes (a fixed trip count the compiler
 * vectorises whole) and the spare results are dropped. */
static inline __attribute__((always_inline)) void load_x(const sim *s, int64_t k0, int L, int64_t *P, R *X) {
  for (int l = 0; l < LANES; l++) P[l] = s->order[k0 + (l < L ? l : L - 1)];
  lanes_load(s->x, 2, P, X);
}

MPM_CLONES void pass_g2p_lanes(int64_t lo, int64_t hi, void *user) {
  sim *s = user;
  const R kc = 4 * s->inv_dx, inv_dx = s->inv_dx, dt = s->dt;
  for (int64_t k0 = lo; k0 < hi; k0 += LANES) {
    const int L = hi - k0 < LANES ? (int)(hi - k0) : LANES;
    int64_t P[LANES];
    int32_t base[LANES];
    R X[2][LANES], V[2][LANES], Cc[4][LANES], U[18 * LANES];
    for (int l = 0; l < LANES; l++) P[l] = k0 + (l < L ? l : L - 1);
    if (L == LANES) lanes_load_seq(s->x, 2, k0, X[0]);
    else lanes_load(s->x, 2, P, X[0]);
    for (int l = 0; l < LANES; l++) base[l] = s->cell[P[l]];
    nodes_gather8(s->gvel, s->ny, 2, base, U); /* U[(a 6 + 2 b + c) LANES + l]: lane l's node (a, b), channel c */
#pragma omp simd
    for (int l = 0; l < LANES; l++) {
      const R g0 = X[0][l] * inv_dx, g1 = X[1][l] * inv_dx;
      const int32_t b0 = (int32_t)(g0 - (R)0.5), b1 = (int32_t)(g1 - (R)0.5);
      const R f0 = g0 - (R)b0, f1 = g1 - (R)b1;
      const R wa[3] = {(R)0.5 * ((R)1.5 - f0) * ((R)1.5 - f0), (R)0.75 - (f0 - 1) * (f0 - 1),
                       (R)0.5 * (f0 - (R)0.5) * (f0 - (R)0.5)};
      const R wb[3] = {(R)0.5 * ((R)1.5 - f1) * ((R)1.5 - f1), (R)0.75 - (f1 - 1) * (f1 - 1),
                       (R)0.5 * (f1 - (R)0.5) * (f1 - (R)0.5)};
      R v0 = 0, v1 = 0, c0 = 0, c1 = 0, c2 = 0, c3 = 0;
#pragma GCC unroll 3
      for (int a = 0; a < 3; a++)
#pragma GCC unroll 3
        for (int b = 0; b < 3; b++) {
          const R w = wa[a] * wb[b];
          const R e0 = (R)a - f0, e1 = (R)b - f1;
          const R u0 = U[(a * 6 + 2 * b) * LANES + l], u1 = U[(a * 6 + 2 * b + 1) * LANES + l];
          v0 += w * u0, v1 += w * u1;
          const R kw = kc * w;
          c0 += kw * u0 * e0, c1 += kw * u0 * e1, c2 += kw * u1 * e0, c3 += kw * u1 * e1;
        }
      V[0][l] = v0, V[1][l] = v1;
      Cc[0][l] = c0, Cc[1][l] = c1, Cc[2][l] = c2, Cc[3][l] = c3;
    }
    /* the chunk's particles are consecutive */
    R *vo = s->vo + 2 * k0, *xo = s->xo + 2 * k0, *Co = s->Co + 4 * k0;
    if (L == LANES) {
      R XO[2][LANES];
      for (int l = 0; l < LANES; l++) XO[0][l] = X[0][l] + dt * V[0][l], XO[1][l] = X[1][l] + dt * V[1][l];
      lanes_store_seq(s->vo, 2, k0, V[0], 0), lanes_store_seq(s->xo, 2, k0, XO[0], 0);
      lanes_store_seq(s->Co, 4, k0, Cc[0], 0);
    } else {
      for (int l = 0; l < L; l++) {
        vo[2 * l] = V[0][l], vo[2 * l + 1] = V[1][l];
        xo[2 * l] = X[0][l] + dt * V[0][l], xo[2 * l + 1] = X[1][l] + dt * V[1][l];
        for (int i = 0; i < 4; i++) Co[4 * l + i] = Cc[i][l];
      }
    }
  }
}

MPM_CLONES void g2p_adj_block(sim *s, int64_t lo, int64_t hi) {
  const R kc = 4 * s->inv_dx, inv_dx = s->inv_dx, dt = s->dt;
  for (int64_t k0 = lo; k0 < hi; k0 += LANES) {
    const int L = hi - k0 < LANES ? (int)(hi - k0) : LANES;
    int64_t P[LANES];
    R X[2][LANES], GV[2][LANES], GXO[2][LANES], GC[4][LANES], GX[2][LANES];
    load_x(s, k0, L, P, X[0]);
    lanes_load_or_zero(s->gxo, 2, P, GXO[0]), lanes_load_or_zero(s->gvo, 2, P, GV[0]);
    lanes_load_or_zero(s->gCo, 4, P, GC[0]);
    R out[18 * LANES], U[18 * LANES];
    int32_t base[LANES]; /* the binned base nodes: the adds stay inside the block's node rows */
    for (int l = 0; l < LANES; l++) base[l] = s->cell[P[l]];
    nodes_gather8(s->gvel, s->ny, 2, base, U);
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
      /* x' = x + dt v': v' gets dt x̄' */
      const R gv0 = GV[0][l] + dt * GXO[0][l], gv1 = GV[1][l] + dt * GXO[1][l];
      const R gC0 = GC[0][l], gC1 = GC[1][l], gC2 = GC[2][l], gC3 = GC[3][l];
      R gx0 = GXO[0][l], gx1 = GXO[1][l];
#pragma GCC unroll 3
      for (int a = 0; a < 3; a++)
#pragma GCC unroll 3
        for (int b = 0; b < 3; b++) {
          const R u0 = U[(a * 6 + 2 * b) * LANES + l], u1 = U[(a * 6 + 2 * b + 1) * LANES + l];
          const R w = wa[a] * wb[b];
          const R e0 = (R)a - f0, e1 = (R)b - f1;
          /* (gC e), and the velocity read's grad w (gv + kc gC e) */
          const R ge0 = gC0 * e0 + gC1 * e1, ge1 = gC2 * e0 + gC3 * e1;
          R *o = out + (a * 3 + b) * 2 * LANES + l;
          o[0] = w * (gv0 + kc * ge0);
          o[LANES] = w * (gv1 + kc * ge1);
          /* through the weights: dw/dx (g . gv + kc g^T gC e) */
          const R sc = u0 * gv0 + u1 * gv1 + kc * (u0 * ge0 + u1 * ge1);
          gx0 += da[a] * wb[b] * sc;
          gx1 += wa[a] * db[b] * sc;
          /* through e = o - x/dx + base: de/dx = -1/dx */
          const R kw = kc * inv_dx * w;
          gx0 -= kw * (gC0 * u0 + gC2 * u1);
          gx1 -= kw * (gC1 * u0 + gC3 * u1);
        }
      GX[0][l] = gx0, GX[1][l] = gx1;
    }
    if (s->gx)
      for (int l = 0; l < L; l++) s->gx[2 * P[l]] += GX[0][l], s->gx[2 * P[l] + 1] += GX[1][l];
    nodes_scatter8(s->ggvel, s->ny, 2, base, L, out);
  }
}
