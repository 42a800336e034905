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
 *            corotated:   2 mu (Fn - R) Fn^T + lam (J - 1) J I, Fn = R S the polar
 *                         decomposition (R a rotation, S symmetric positive definite;
 *                         validate3 refuses det Fn <= 0, so R is unique and smooth). */
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

/* ---- 3x3 polar decomposition Fn = R S (det Fn > 0) -------------------------------
 * Higham's scaled Newton iteration X <- (z X + (z X)^-T) / 2, z = |det X|^(-1/3),
 * in double whatever the build precision: it converges quadratically to the
 * rotation factor for any nonsingular F and, unlike an SVD, does not care about
 * repeated singular values. Stops when an update changes X by < 1e-15 relative
 * (typically 3-5 iterations for the near-identity F of an MPM substep). */
MPM_INLINE void polar3(const R *F, R *rot) {
  double X[9], cof[9];
  for (int k = 0; k < 9; k++) X[k] = (double)F[k];
  for (int it = 0; it < 40; it++) {
    cof[0] = X[4] * X[8] - X[5] * X[7], cof[1] = X[5] * X[6] - X[3] * X[8], cof[2] = X[3] * X[7] - X[4] * X[6];
    cof[3] = X[2] * X[7] - X[1] * X[8], cof[4] = X[0] * X[8] - X[2] * X[6], cof[5] = X[1] * X[6] - X[0] * X[7];
    cof[6] = X[1] * X[5] - X[2] * X[4], cof[7] = X[2] * X[3] - X[0] * X[5], cof[8] = X[0] * X[4] - X[1] * X[3];
    const double det = X[0] * cof[0] + X[1] * cof[1] + X[2] * cof[2];
    /* X^-T = cof / det; scaling by z only while far from converged keeps the
     * final iterations the plain (quadratically convergent) Newton step */
    const double z = it < 6 ? 1 / cbrt(fabs(det)) : 1;
    double diff = 0, norm = 0;
    for (int k = 0; k < 9; k++) {
      const double nx = 0.5 * (z * X[k] + cof[k] / (z * det));
      diff += (nx - X[k]) * (nx - X[k]), norm += nx * nx;
      X[k] = nx;
    }
    if (diff <= 1e-30 * norm) break;
  }
  for (int k = 0; k < 9; k++) rot[k] = (R)X[k];
}

/* gF += d/dF <gR, R(F)>. With F = R S: R^T dF - dF^T R = [w]x S + S [w]x
 * = [(tr S I - S) w]x for dR = R [w]x, so with [a]x = skew(R^T gR) and
 * c = (tr S I - S)^-1 a: gF = 2 R [c]x. tr S I - S has eigenvalues s_i + s_j > 0
 * (S positive definite), so the adjoint stays finite and well conditioned when
 * singular values coincide (where an SVD-based adjoint divides by s_i - s_j). */
MPM_INLINE void polar3_adj(const R *F, const R *rot, const R *gR, R *gF) {
  double Rd[9], S[9], A[9];
  for (int k = 0; k < 9; k++) Rd[k] = (double)rot[k];
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 3; c++) {
      double sr = 0, ar = 0;
      for (int k = 0; k < 3; k++) sr += Rd[3 * k + r] * (double)F[3 * k + c], ar += Rd[3 * k + r] * (double)gR[3 * k + c];
      S[3 * r + c] = sr, A[3 * r + c] = ar;
    }
  /* symmetrise S (R^T F is symmetric up to round-off) */
  for (int r = 0; r < 3; r++)
    for (int c = r + 1; c < 3; c++) S[3 * r + c] = S[3 * c + r] = 0.5 * (S[3 * r + c] + S[3 * c + r]);
  const double a[3] = {0.5 * (A[7] - A[5]), 0.5 * (A[2] - A[6]), 0.5 * (A[3] - A[1])};
  const double tr = S[0] + S[4] + S[8];
  double K[9];
  for (int k = 0; k < 9; k++) K[k] = -S[k];
  K[0] += tr, K[4] += tr, K[8] += tr;
  /* c = K^-1 a by the cofactors (K symmetric positive definite) */
  const double k0 = K[4] * K[8] - K[5] * K[7], k1 = K[5] * K[6] - K[3] * K[8], k2 = K[3] * K[7] - K[4] * K[6];
  const double k4 = K[0] * K[8] - K[2] * K[6], k5 = K[1] * K[6] - K[0] * K[7], k8 = K[0] * K[4] - K[1] * K[3];
  const double det = K[0] * k0 + K[1] * k1 + K[2] * k2;
  const double c[3] = {(k0 * a[0] + k1 * a[1] + k2 * a[2]) / det, (k1 * a[0] + k4 * a[1] + k5 * a[2]) / det,
                       (k2 * a[0] + k5 * a[1] + k8 * a[2]) / det};
  /* [c]x = [[0, -c2, c1], [c2, 0, -c0], [-c1, c0, 0]]; gF += 2 R [c]x */
  const double W[9] = {0, -c[2], c[1], c[2], 0, -c[0], -c[1], c[0], 0};
  for (int r = 0; r < 3; r++)
    for (int col = 0; col < 3; col++)
      gF[3 * r + col] +=
          (R)(2 * (Rd[3 * r] * W[col] + Rd[3 * r + 1] * W[3 + col] + Rd[3 * r + 2] * W[6 + col]));
}

/* tau and F_out from Fn (validate3 refuses det Fn <= 0). */
MPM_INLINE void material3_fwd(const mat_in *m, const R *Fn, R *tau, R *Fout) {
  const R J = m3_det(Fn);
  if (m->kind == MAT_FLUID) {
    const R sj = RSQRT(J);
    for (int k = 0; k < 9; k++) Fout[k] = 0, tau[k] = 0;
    Fout[0] = sj, Fout[4] = sj, Fout[8] = 1;
    const R p = m->bulk * (J - 1);
    tau[0] = tau[4] = tau[8] = p;
  } else if (m->kind == MAT_COROTATED) {
    R rot[9], d[9];
    polar3(Fn, rot);
    for (int k = 0; k < 9; k++) d[k] = Fn[k] - rot[k], Fout[k] = Fn[k];
    m3_mul_bt(d, Fn, tau);
    for (int k = 0; k < 9; k++) tau[k] *= 2 * m->mu;
    const R p = m->lam * (J - 1) * J;
    tau[0] += p, tau[4] += p, tau[8] += p;
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
  } else if (m->kind == MAT_COROTATED) {
    /* tau = 2 mu (Fn - R) Fn^T + lam (J - 1) J I:
     * gFn += 2mu (G Fn + G^T (Fn - R)) + lam (2J - 1) tr G cof, gR = -2mu G Fn */
    R rot[9], d[9], GF[9], GtD[9], t[9], gR[9];
    polar3(Fn, rot);
    for (int k = 0; k < 9; k++) d[k] = Fn[k] - rot[k];
    m3_mul(G, Fn, GF);
    m3_mul_at(G, d, GtD);
    m3_mul_bt(d, Fn, t);
    const R tm = 2 * m->mu, kJ = m->lam * (2 * J - 1) * trG;
    for (int k = 0; k < 9; k++) gFn[k] += gFo[k] + tm * (GF[k] + GtD[k]) + kJ * cof[k], gR[k] = -tm * GF[k];
    polar3_adj(Fn, rot, gR, gFn);
    g->mu = 2 * m3_ddot(G, t);
    g->lam = (J - 1) * J * trG;
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
