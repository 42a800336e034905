/* The 3D G2P (pass C of passes3.c) vectorised over 8 particles in bin order, as
 * g2p_lanes.c does in 2D: each lane runs the scalar pass's arithmetic in the
 * same order for its own particle (27 stencil nodes a, b, c), so the results are
 * those of the scalar code. Chunks start at multiples of 8 inside parallel_for's
 * fixed blocks, and a partial last chunk repeats its last particle in the spare
 * lanes (dropped), so every chunk runs the same fixed 8-lane loop.
 *
 *   v' = sum w v_i,  C' = 4/dx sum w v_i e^T (e = x_i/dx - x_p/dx),  x' = x + dt v' */
#include "mpm3.h"

enum { LANES = 8 };

MPM_CLONES void pass3_g2p_lanes(int64_t lo, int64_t hi, void *user) {
  sim3 *s = user;
  const R kc = 4 * s->inv_dx, inv_dx = s->inv_dx, dt = s->dt;
  const int32_t ny32 = (int32_t)s->ny, nz32 = (int32_t)s->nz; /* 3 ncell < 2^31 (substep3_check) */
  const R *gvel = s->gvel;
  for (int64_t k0 = lo; k0 < hi; k0 += LANES) {
    const int L = hi - k0 < LANES ? (int)(hi - k0) : LANES;
    int64_t P[LANES];
    R X[3][LANES], V[3][LANES], Cc[9][LANES];
    for (int l = 0; l < LANES; l++) {
      const int64_t p = s->order[k0 + (l < L ? l : L - 1)];
      P[l] = p;
      for (int d = 0; d < 3; d++) X[d][l] = s->x[3 * p + d];
    }
#pragma omp simd
    for (int l = 0; l < LANES; l++) {
      R f[3], w[3][3];
      int32_t base[3];
      for (int d = 0; d < 3; d++) {
        /* stencil3_of */
        const R g = X[d][l] * inv_dx;
        const int32_t b = (int32_t)(g - (R)0.5);
        const R fd = g - (R)b;
        base[d] = b, f[d] = fd;
        w[d][0] = (R)0.5 * ((R)1.5 - fd) * ((R)1.5 - fd);
        w[d][1] = (R)0.75 - (fd - 1) * (fd - 1);
        w[d][2] = (R)0.5 * (fd - (R)0.5) * (fd - (R)0.5);
      }
      R v0 = 0, v1 = 0, v2 = 0, C[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
#pragma GCC unroll 3
      for (int a = 0; a < 3; a++)
#pragma GCC unroll 3
        for (int b = 0; b < 3; b++)
#pragma GCC unroll 3
          for (int c = 0; c < 3; c++) {
            const int32_t node = 3 * (((base[0] + a) * ny32 + base[1] + b) * nz32 + base[2] + c);
            const R u[3] = {gvel[node], gvel[node + 1], gvel[node + 2]};
            const R wt = w[0][a] * w[1][b] * w[2][c];
            const R e[3] = {(R)a - f[0], (R)b - f[1], (R)c - f[2]};
            const R kw = kc * wt;
            v0 += wt * u[0], v1 += wt * u[1], v2 += wt * u[2];
#pragma GCC unroll 3
            for (int r = 0; r < 3; r++)
#pragma GCC unroll 3
              for (int h = 0; h < 3; h++) C[3 * r + h] += kw * u[r] * e[h];
          }
      V[0][l] = v0, V[1][l] = v1, V[2][l] = v2;
      for (int i = 0; i < 9; i++) Cc[i][l] = C[i];
    }
    for (int l = 0; l < L; l++) {
      const int64_t p = P[l];
      for (int r = 0; r < 3; r++) s->vo[3 * p + r] = V[r][l], s->xo[3 * p + r] = X[r][l] + dt * V[r][l];
      for (int i = 0; i < 9; i++) s->Co[9 * p + i] = Cc[i][l];
    }
  }
}

