/* The 2D P2G of one block of bins (passes.c): for the block's particles in bin
 * order, LANES (16) at a time (one SIMD lane each), the stress, the affine matrix and
 * the 9 stencil contributions (m, mv), then each particle's 27 values added
 * straight into the grid (s->gmm). passes.c runs the blocks in two phases so
 * that no two blocks of a phase touch the same node; every node's sum then has
 * one fixed order (phase, particle in bin order, stencil slot) whatever the
 * thread count, and the grid is bitwise identical for any number of threads.
 *
 * Why lanes: the per-particle work is most of a substep and vectorises only as
 * a plain loop over independent particles; the adds into the grid that follow
 * are serial by nature (their order makes the result deterministic). Chunks of
 * LANES start at the block's first particle; a partial last chunk repeats its last
 * particle in the spare lanes (dropped), so the vector loop keeps its fixed
 * LANES trip count. Block boundaries depend on the bins only, so whether a
 * particle goes through the vector or the scalar code never depends on the
 * thread count.
 *
 * The vector path covers chunks of corotated particles (the reference's
 * material; its stress needs only a square root). Other chunks take the scalar
 * particle_pre. */
#include <string.h>

#include "passes.h"

/* one particle through the scalar code, into lane l of chunk `out` */
static void contrib_scalar(sim *s, int64_t k, R *out, int l) {
  const int64_t p = s->order[k];
  pre q;
  particle_pre(s, p, &q);
  if (s->Fo) memcpy(s->Fo + 4 * p, q.Fout, sizeof q.Fout);
  const R *v = s->v + 2 * p;
  const R mv0 = q.m * v[0], mv1 = q.m * v[1];
  for (int a = 0; a < 3; a++)
    for (int b = 0; b < 3; b++) {
      const R w = q.st.w[0][a] * q.st.w[1][b];
      const R d0 = ((R)a - q.st.f[0]) * s->dx, d1 = ((R)b - q.st.f[1]) * s->dx;
      R *o = out + (a * 3 + b) * 3 * LANES + l;
      o[0] = w * q.m;
      o[LANES] = w * (mv0 + q.A[0] * d0 + q.A[1] * d1);
      o[2 * LANES] = w * (mv1 + q.A[2] * d0 + q.A[3] * d1);
    }
}

/* 8 corotated particles k0 .. k0 + 7: the equations of particle_pre and
 * material_fwd (mpm_phys.h) written over lanes. */
static inline __attribute__((always_inline)) void contrib_corotated_lanes(sim *s, int64_t k0, int L, R *out) {
  const R dt = s->dt, dx = s->dx, inv_dx = s->inv_dx;
  const R kst = -dt * 4 * inv_dx * inv_dx;
  /* gather the chunk's particles' inputs into lane arrays (the loads are indirect;
   * the arithmetic below then runs on plain arrays) */
  int64_t P[LANES];
  R X[2][LANES], V[2][LANES], Cm[4][LANES], Fm[4][LANES];
  R MU[LANES], LAM[LANES], M[LANES], VOL[LANES], ACT[LANES];
  const int32_t *order = s->order;
  for (int l = 0; l < LANES; l++) P[l] = order[k0 + (l < L ? l : L - 1)];
  lanes_consts(s, P, M, VOL, MU, LAM, ACT);
  lanes_load(s->x, 2, P, X[0]), lanes_load(s->v, 2, P, V[0]);
  lanes_load(s->C, 4, P, Cm[0]), lanes_load(s->F, 4, P, Fm[0]);
  R Fn_[4][LANES], tau_[4][LANES], A_[4][LANES];
#pragma omp simd
  for (int l = 0; l < LANES; l++) {
    /* stencil */
    const R g0 = X[0][l] * inv_dx, g1 = X[1][l] * inv_dx;
    const R f0 = g0 - (R)(int32_t)(g0 - (R)0.5), f1 = g1 - (R)(int32_t)(g1 - (R)0.5);
    const R w00 = (R)0.5 * ((R)1.5 - f0) * ((R)1.5 - f0), w01 = (R)0.75 - (f0 - 1) * (f0 - 1);
    const R w02 = (R)0.5 * (f0 - (R)0.5) * (f0 - (R)0.5);
    const R w10 = (R)0.5 * ((R)1.5 - f1) * ((R)1.5 - f1), w11 = (R)0.75 - (f1 - 1) * (f1 - 1);
    const R w12 = (R)0.5 * (f1 - (R)0.5) * (f1 - (R)0.5);
    corotated_lane(l, dt, kst, Cm, Fm, MU, LAM, ACT, M, VOL, Fn_, tau_, A_);
    const R m = M[l], A0 = A_[0][l], A1 = A_[1][l], A2 = A_[2][l], A3 = A_[3][l];
    const R mv0 = m * V[0][l], mv1 = m * V[1][l];
    const R wa[3] = {w00, w01, w02}, wb[3] = {w10, w11, w12};
#pragma GCC unroll 3
    for (int a = 0; a < 3; a++) {
      const R e0 = ((R)a - f0) * dx;
      const R r0 = mv0 + A0 * e0, r1 = mv1 + A2 * e0;
#pragma GCC unroll 3
      for (int b = 0; b < 3; b++) {
        const R w = wa[a] * wb[b];
        const R e1 = ((R)b - f1) * dx;
        R *o = out + (a * 3 + b) * 3 * LANES + l;
        o[0] = w * m;
        o[LANES] = w * (r0 + A1 * e1);
        o[2 * LANES] = w * (r1 + A3 * e1);
      }
    }
  }
  if (s->Fo)
    for (int l = 0; l < L; l++) {
      const int64_t p = s->order[k0 + l];
      for (int i = 0; i < 4; i++) s->Fo[4 * p + i] = Fn_[i][l];
    }
}

MPM_CLONES void p2g_block(sim *s, int64_t lo, int64_t hi) {
  R out[27 * LANES];
  for (int64_t k0 = lo; k0 < hi; k0 += LANES) {
    const int L = hi - k0 < LANES ? (int)(hi - k0) : LANES;
    int corot = 1;
    for (int l = 0; l < L && corot; l++) corot = s->mat[s->order[k0 + l]] == MAT_COROTATED;
    if (corot) {
      contrib_corotated_lanes(s, k0, L, out);
    } else {
      for (int l = 0; l < L; l++) contrib_scalar(s, k0 + l, out, l);
    }
    int32_t base[LANES];
    for (int l = 0; l < L; l++) base[l] = s->cell[s->order[k0 + l]];
    nodes_scatter8(s->gmm, s->ny, 3, base, L, out);
  }
}
