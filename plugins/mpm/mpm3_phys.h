/* mpm: the per-particle and per-node physics of one 3D MLS-MPM substep (the
 * reference's diffmpm3d / liquid), with the hand-written adjoint of each piece.
 * Header-only and inlined, like mpm_phys.h (the 2D version, which also holds the
 * shared types and constants).
 *
 * Matrices are 3x3 row-major (m[3 r + c]).
 *   Fn     = (I + dt C) F
 *   tau    = material(Fn) + act strength (F' e_z)(F' e_z)^T     (F' = F_out: the fibre along z)
 *            neo-Hookean: mu (Fn Fn^T - I) + lam log(J) I      (= mu F F^T + (lam log J - mu) I)
 *            fluid:       bulk (J - 1) I, F_out = diag(sqrt J, sqrt J, 1)  (the reference's reset)
 *   corotated needs a 3D polar decomposition (an SVD); the reference's 3D scenes do
 *   not use it, and the 3D kernel refuses it with an error naming the argument. */
#ifndef MPM3_PHYS_H
#define MPM3_PHYS_H

#include "mpm_phys.h"

typedef struct stencil3 {
  int32_t base[3];
  R f[3];
  R w[3][3];
  R dw[3][3]; /* dw/dx in world units */
} stencil3;

MPM_INLINE void stencil3_of(const R *xp, R inv_dx, stencil3 *s) {
  for (int d = 0; d < 3; d++) {
    R g = xp[d] * inv_dx;
    int32_t b = (int32_t)(g - (R)0.5);
    R f = g - (R)b;
    s->base[d] = b;
    s->f[d] = f;
    s->w[d][0] = (R)0.5 * ((R)1.5 - f) * ((R)1.5 - f);
    s->w[d][1] = (R)0.75 - (f - 1) * (f - 1);
    s->w[d][2] = (R)0.5 * (f - (R)0.5) * (f - (R)0.5);
    s->dw[d][0] = (f - (R)1.5) * inv_dx;
    s->dw[d][1] = -2 * (f - 1) * inv_dx;
    s->dw[d][2] = (f - (R)0.5) * inv_dx;
  }
}

/* o = a b (o may not alias) */
MPM_INLINE void m3_mul(const R *a, const R *b, R *o) {
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 3; c++) o[3 * r + c] = a[3 * r] * b[c] + a[3 * r + 1] * b[3 + c] + a[3 * r + 2] * b[6 + c];
}
/* o = a b^T */
MPM_INLINE void m3_mul_bt(const R *a, const R *b, R *o) {
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 3; c++)
      o[3 * r + c] = a[3 * r] * b[3 * c] + a[3 * r + 1] * b[3 * c + 1] + a[3 * r + 2] * b[3 * c + 2];
}
/* o = a^T b */
MPM_INLINE void m3_mul_at(const R *a, const R *b, R *o) {
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 3; c++) o[3 * r + c] = a[r] * b[c] + a[3 + r] * b[3 + c] + a[6 + r] * b[6 + c];
}
/* the cofactor matrix d det(a)/da */
MPM_INLINE void m3_cof(const R *a, R *o) {
  o[0] = a[4] * a[8] - a[5] * a[7], o[1] = a[5] * a[6] - a[3] * a[8], o[2] = a[3] * a[7] - a[4] * a[6];
  o[3] = a[2] * a[7] - a[1] * a[8], o[4] = a[0] * a[8] - a[2] * a[6], o[5] = a[1] * a[6] - a[0] * a[7];
  o[6] = a[1] * a[5] - a[2] * a[4], o[7] = a[2] * a[3] - a[0] * a[5], o[8] = a[0] * a[4] - a[1] * a[3];
}
MPM_INLINE R m3_det(const R *a) {
  return a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) + a[2] * (a[3] * a[7] - a[4] * a[6]);
}
MPM_INLINE R m3_ddot(const R *a, const R *b) {
  R s = 0;
  for (int k = 0; k < 9; k++) s += a[k] * b[k];
  return s;
}

/* tau and F_out from Fn (kind: MAT_FLUID or MAT_NEOHOOKEAN; validate3 refuses the rest). */
MPM_INLINE void material3_fwd(const mat_in *m, const R *Fn, R *tau, R *Fout) {
  const R J = m3_det(Fn);
  if (m->kind == MAT_FLUID) {
    const R sj = RSQRT(J);
    for (int k = 0; k < 9; k++) Fout[k] = 0, tau[k] = 0;
    Fout[0] = sj, Fout[4] = sj, Fout[8] = 1;
    const R p = m->bulk * (J - 1);
    tau[0] = tau[4] = tau[8] = p;
  } else {
    m3_mul_bt(Fn, Fn, tau);
    for (int k = 0; k < 9; k++) tau[k] *= m->mu, Fout[k] = Fn[k];
    const R p = m->lam * RLOG(J) - m->mu;
    tau[0] += p, tau[4] += p, tau[8] += p;
  }
  if (m->act != 0) {
    /* the fibre along the material z axis: f = F_out e_z, the third column */
    const R f[3] = {Fout[2], Fout[5], Fout[8]};
    for (int r = 0; r < 3; r++)
      for (int c = 0; c < 3; c++) tau[3 * r + c] += m->act * f[r] * f[c];
  }
}

/* Given G = d loss/d tau and gFout, adds d loss/d Fn into gFn and sets the
 * constants' grads in *g. */
MPM_INLINE void material3_adj(const mat_in *m, const R *Fn, const R *G, const R *gFout, R *gFn, mat_grad *g) {
  const R J = m3_det(Fn);
  const R trG = G[0] + G[4] + G[8];
  R Fo[9], gFo[9], cof[9];
  for (int k = 0; k < 9; k++) Fo[k] = Fn[k], gFo[k] = gFout[k];
  const R sj = m->kind == MAT_FLUID ? RSQRT(J) : 0;
  if (m->kind == MAT_FLUID) {
    for (int k = 0; k < 9; k++) Fo[k] = 0;
    Fo[0] = sj, Fo[4] = sj, Fo[8] = 1;
  }
  g->mu = g->lam = g->bulk = 0;
  {
    /* act f f^T: g_act = f^T G f, gf = act (G + G^T) f on F_out's third column */
    const R f[3] = {Fo[2], Fo[5], Fo[8]};
    R gact = 0;
    for (int r = 0; r < 3; r++) {
      R Gf = G[3 * r] * f[0] + G[3 * r + 1] * f[1] + G[3 * r + 2] * f[2];
      R Gtf = G[r] * f[0] + G[3 + r] * f[1] + G[6 + r] * f[2];
      gact += f[r] * Gf;
      gFo[3 * r + 2] += m->act * (Gf + Gtf);
    }
    g->act = gact;
  }
  m3_cof(Fn, cof);
  if (m->kind == MAT_FLUID) {
    /* F_out depends on Fn only through J (entries 0 and 4: sqrt J) */
    const R gJ = m->bulk * trG + (gFo[0] + gFo[4]) / (2 * sj);
    g->bulk = (J - 1) * trG;
    for (int k = 0; k < 9; k++) gFn[k] += gJ * cof[k];
  } else {
    R FF[9], S[9], SF[9];
    m3_mul_bt(Fn, Fn, FF);
    FF[0] -= 1, FF[4] -= 1, FF[8] -= 1;
    g->mu = m3_ddot(G, FF);
    /* mu Fn Fn^T: gFn += mu (G + G^T) Fn */
    for (int r = 0; r < 3; r++)
      for (int c = 0; c < 3; c++) S[3 * r + c] = G[3 * r + c] + G[3 * c + r];
    m3_mul(S, Fn, SF);
    g->lam = RLOG(J) * trG;
    const R kJ = m->lam * trG / J;
    for (int k = 0; k < 9; k++) gFn[k] += gFo[k] + m->mu * SF[k] + kJ * cof[k];
  }
}

/* ---- the 3D boundary band ----------------------------------------------------------
 * The reference's order: x walls (i), z walls (k), floor (j < bound), ceiling
 * (j > ny - bound), each when the velocity points into it. Walls and ceiling:
 * slip zeroes the normal component, sticky all three. The Coulomb floor removes
 * v_n = v_y < 0 and shrinks the tangential (v_x, v_z) by mu |v_n| along itself,
 * stopping rather than reversing: vt' = vt (1 + mu v_n / |vt|), or 0 when
 * |vt| + mu v_n <= 0. The band is piecewise smooth; the adjoint uses its Jacobian
 * M = d v_out / d v_in (3x3) and dmu = d v_out / d friction, recomputed. */
typedef struct band3 {
  int32_t bound, nx, ny, nz;
  int wall, floor, ceiling;
  R mu;
} band3;

/* rows k of (v, M, dmu) zeroed (k = -1: all) */
MPM_INLINE void band3_zero(R *v, R *M, R *dmu, int k) {
  for (int a = 0; a < 3; a++)
    if (k < 0 || k == a) v[a] = 0, M[3 * a] = M[3 * a + 1] = M[3 * a + 2] = 0, dmu[a] = 0;
}

MPM_INLINE void band3_apply(const band3 *b, int64_t i, int64_t j, int64_t k, R *v, R *M, R *dmu) {
  for (int q = 0; q < 9; q++) M[q] = 0;
  M[0] = M[4] = M[8] = 1, dmu[0] = dmu[1] = dmu[2] = 0;
  const int wk = b->wall == BC_STICKY ? -1 : 0, zk = b->wall == BC_STICKY ? -1 : 2;
  if (i < b->bound && v[0] < 0) band3_zero(v, M, dmu, wk);
  if (i > b->nx - b->bound && v[0] > 0) band3_zero(v, M, dmu, wk);
  if (k < b->bound && v[2] < 0) band3_zero(v, M, dmu, zk);
  if (k > b->nz - b->bound && v[2] > 0) band3_zero(v, M, dmu, zk);
  if (j < b->bound && v[1] < 0) {
    if (b->floor == BC_COULOMB) {
      const R vn = v[1], L = RSQRT(v[0] * v[0] + v[2] * v[2]);
      if (L + b->mu * vn <= 0) {
        band3_zero(v, M, dmu, -1);
      } else {
        /* Jc = d v'/d v: tangential rows s I - mu vn t t^T / L, column y mu t; row y 0 */
        const R s = 1 + b->mu * vn / L, t0 = v[0] / L, t2 = v[2] / L;
        const R q = b->mu * vn / L;
        R Jc[9] = {s - q * t0 * t0, b->mu * t0, -q * t0 * t2, 0, 0, 0, -q * t2 * t0, b->mu * t2, s - q * t2 * t2};
        R Mn[9], dn[3];
        m3_mul(Jc, M, Mn);
        for (int a = 0; a < 3; a++) dn[a] = Jc[3 * a] * dmu[0] + Jc[3 * a + 1] * dmu[1] + Jc[3 * a + 2] * dmu[2];
        dn[0] += t0 * vn, dn[2] += t2 * vn;
        for (int q2 = 0; q2 < 9; q2++) M[q2] = Mn[q2];
        dmu[0] = dn[0], dmu[1] = 0, dmu[2] = dn[2];
        v[0] *= s, v[1] = 0, v[2] *= s;
      }
    } else {
      band3_zero(v, M, dmu, b->floor == BC_STICKY ? -1 : 1);
    }
  }
  if (j > b->ny - b->bound && v[1] > 0) band3_zero(v, M, dmu, b->ceiling == BC_STICKY ? -1 : 1);
}

#endif
