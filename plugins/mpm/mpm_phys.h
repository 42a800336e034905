/* mpm: the per-particle and per-node physics of one 2D MLS-MPM substep, with
 * the hand-written adjoint of every piece. Header-only and inlined, so the
 * substep passes (substep.c) stay loops of plain arithmetic.
 *
 * Matrices are 2x2 row-major: m[0] = m00, m[1] = m01, m[2] = m10, m[3] = m11.
 *
 * One substep (docs/mpm.md has the derivation of each adjoint):
 *   Fn     = (I + dt C) F
 *   cauchy = material(Fn) + act * strength * (Fn e_y)(Fn e_y)^T
 *            corotated:   2 mu (Fn - R) Fn^T + lam (J - 1) J I    (R: 2D polar rotation)
 *            neo-Hookean: mu (Fn Fn^T - I) + lam log(J) I
 *            fluid:       bulk (J - 1) I, and F_out = sqrt(J) I (the reference's reset)
 *   A      = -(dt vol 4/dx^2) cauchy + m C                 (MLS force + APIC affine)
 *   grid   m_i += w m,  mv_i += w (m v + A (x_i - x_p))
 *   v_i    = mv_i / (m_i + 1e-10) - dt g e_y, then the boundary band
 *   v'     = sum w v_i,  C' = 4/dx^2 sum w v_i (x_i - x_p)^T,  x' = x + dt v'. */
#ifndef MPM_PHYS_H
#define MPM_PHYS_H

#include <diffsim/plugin.h>
#include <math.h>

typedef ds_real R;

#define MPM_INLINE static inline __attribute__((always_inline))
#ifdef DS_REAL_F64
#define RSQRT sqrt
#define RLOG log
#define RABS fabs
#else
#define RSQRT sqrtf
#define RLOG logf
#define RABS fabsf
#endif

/* The particle and node passes get AVX2/FMA and AVX-512 clones picked at load
 * time (the baseline build stays portable). Every thread runs the same clone, so
 * results stay bitwise identical across thread counts on a machine. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__) && !defined(DS_NO_CLONES)
#define MPM_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define MPM_CLONES
#endif

/* The reference divides grid momentum by (m + 1e-10) so empty nodes give 0. */
#define MPM_MASS_EPS ((R)1e-10)

enum { MAT_FLUID = 0, MAT_COROTATED = 1, MAT_NEOHOOKEAN = 2, MAT_COUNT = 3 };
enum { BC_SLIP = 0, BC_STICKY = 1, BC_COULOMB = 2 };

/* ---- quadratic B-spline stencil ---------------------------------------------
 * g = x / dx; base = (int)(g - 0.5) (truncation, as the reference; equals floor
 * since the checks keep g >= 0.5); f = g - base in [0.5, 1.5). */
typedef struct stencil2 {
  int32_t base[2];
  R f[2];
  R w[2][3];
  R dw[2][3]; /* dw/dx in world units */
} stencil2;

MPM_INLINE void stencil_of(const R *xp, R inv_dx, stencil2 *s) {
  for (int d = 0; d < 2; d++) {
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

/* ---- 2x2 helpers ---------------------------------------------------------------- */
MPM_INLINE void mat_mul(const R *a, const R *b, R *o) {
  R o0 = a[0] * b[0] + a[1] * b[2], o1 = a[0] * b[1] + a[1] * b[3];
  R o2 = a[2] * b[0] + a[3] * b[2], o3 = a[2] * b[1] + a[3] * b[3];
  o[0] = o0, o[1] = o1, o[2] = o2, o[3] = o3;
}
/* o = a b^T */
MPM_INLINE void mat_mul_bt(const R *a, const R *b, R *o) {
  R o0 = a[0] * b[0] + a[1] * b[1], o1 = a[0] * b[2] + a[1] * b[3];
  R o2 = a[2] * b[0] + a[3] * b[1], o3 = a[2] * b[2] + a[3] * b[3];
  o[0] = o0, o[1] = o1, o[2] = o2, o[3] = o3;
}
/* o = a^T b */
MPM_INLINE void mat_mul_at(const R *a, const R *b, R *o) {
  R o0 = a[0] * b[0] + a[2] * b[2], o1 = a[0] * b[1] + a[2] * b[3];
  R o2 = a[1] * b[0] + a[3] * b[2], o3 = a[1] * b[1] + a[3] * b[3];
  o[0] = o0, o[1] = o1, o[2] = o2, o[3] = o3;
}
MPM_INLINE R mat_det(const R *a) { return a[0] * a[3] - a[1] * a[2]; }
MPM_INLINE R mat_ddot(const R *a, const R *b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3]; }
/* g += s * d det(a)/da, the cofactor matrix */
MPM_INLINE void add_cof(R *g, const R *a, R s) {
  g[0] += s * a[3], g[1] -= s * a[2], g[2] -= s * a[1], g[3] += s * a[0];
}

/* The reference's 2D polar decomposition: R is the rotation by
 * theta = atan2(F10 - F01, F00 + F11). */
MPM_INLINE void polar_rot(const R *F, R *rot) {
  R x = F[0] + F[3], y = F[2] - F[1];
  R sc = 1 / RSQRT(x * x + y * y);
  R c = x * sc, s = y * sc;
  rot[0] = c, rot[1] = -s, rot[2] = s, rot[3] = c;
}
/* gF += d/dF of <gR, R(F)>: with c = x/r, s = y/r,
 * dx = y (gc y - gs x)/r^3, dy = x (gs x - gc y)/r^3 (gc, gs: grads of c and s). */
MPM_INLINE void polar_rot_adj(const R *F, const R *gR, R *gF) {
  R x = F[0] + F[3], y = F[2] - F[1];
  R r2 = x * x + y * y, r = RSQRT(r2), r3 = r2 * r;
  R gc = gR[0] + gR[3], gs = gR[2] - gR[1];
  R t = (gc * y - gs * x) / r3;
  R gx = y * t, gy = -x * t;
  gF[0] += gx, gF[3] += gx, gF[2] += gy, gF[1] -= gy;
}

/* ---- one particle's constitutive model ---------------------------------------- */
typedef struct mat_in {
  int kind;            /* MAT_* */
  R mu, lam, bulk;     /* material constants of this particle */
  R act;               /* activation * strength (0 when passive) */
} mat_in;

/* From Fn, the cauchy-like stress the reference scatters (tau) and F_out. */
MPM_INLINE void material_fwd(const mat_in *m, const R *Fn, R *tau, R *Fout) {
  R J = mat_det(Fn);
  if (m->kind == MAT_FLUID) {
    R sj = RSQRT(J);
    Fout[0] = sj, Fout[1] = 0, Fout[2] = 0, Fout[3] = sj;
    R p = m->bulk * (J - 1);
    tau[0] = p, tau[1] = 0, tau[2] = 0, tau[3] = p;
  } else if (m->kind == MAT_COROTATED) {
    R rot[4], d[4];
    polar_rot(Fn, rot);
    for (int k = 0; k < 4; k++) d[k] = Fn[k] - rot[k], Fout[k] = Fn[k];
    mat_mul_bt(d, Fn, tau);
    for (int k = 0; k < 4; k++) tau[k] *= 2 * m->mu;
    R p = m->lam * (J - 1) * J;
    tau[0] += p, tau[3] += p;
  } else {
    mat_mul_bt(Fn, Fn, tau);
    tau[0] -= 1, tau[3] -= 1;
    for (int k = 0; k < 4; k++) tau[k] *= m->mu, Fout[k] = Fn[k];
    R p = m->lam * RLOG(J);
    tau[0] += p, tau[3] += p;
  }
  /* the fibre (material y axis) pulls along its current direction f = Fn e_y */
  if (m->act != 0) {
    R f0 = Fout[1], f1 = Fout[3];
    tau[0] += m->act * f0 * f0, tau[1] += m->act * f0 * f1;
    tau[2] += m->act * f1 * f0, tau[3] += m->act * f1 * f1;
  }
}

/* Grads of one particle's material constants and activation. */
typedef struct mat_grad {
  R mu, lam, bulk, act;
} mat_grad;

/* Given G = d loss/d tau and gFout = d loss/d F_out, adds d loss/d Fn into gFn
 * and the constants' grads into *g (overwritten). The fibre term uses F_out, as
 * the reference does (for fluid that is the reset sqrt(J) I). */
MPM_INLINE void material_adj(const mat_in *m, const R *Fn, const R *G, const R *gFout, R *gFn, mat_grad *g) {
  R J = mat_det(Fn);
  R trG = G[0] + G[3];
  R Fo[4], gFo[4];
  if (m->kind == MAT_FLUID) {
    R sj = RSQRT(J);
    Fo[0] = sj, Fo[1] = 0, Fo[2] = 0, Fo[3] = sj;
  } else {
    for (int k = 0; k < 4; k++) Fo[k] = Fn[k];
  }
  for (int k = 0; k < 4; k++) gFo[k] = gFout[k];
  g->mu = g->lam = g->bulk = 0;
  {
    /* act f f^T with f = F_out e_y: gf = act (G + G^T) f, g_act = f^T G f */
    R f0 = Fo[1], f1 = Fo[3];
    R Gf0 = G[0] * f0 + G[1] * f1, Gf1 = G[2] * f0 + G[3] * f1;
    R Gtf0 = G[0] * f0 + G[2] * f1, Gtf1 = G[1] * f0 + G[3] * f1;
    g->act = f0 * Gf0 + f1 * Gf1;
    gFo[1] += m->act * (Gf0 + Gtf0);
    gFo[3] += m->act * (Gf1 + Gtf1);
  }
  if (m->kind == MAT_FLUID) {
    R sj = Fo[0];
    R gJ = m->bulk * trG + (gFo[0] + gFo[3]) / (2 * sj);
    g->bulk = (J - 1) * trG;
    add_cof(gFn, Fn, gJ);
  } else if (m->kind == MAT_COROTATED) {
    R rot[4], d[4], t[4], gR[4], GF[4], GtD[4];
    polar_rot(Fn, rot);
    for (int k = 0; k < 4; k++) d[k] = Fn[k] - rot[k], gFn[k] += gFo[k];
    /* tau1 = 2 mu (Fn - R) Fn^T: gFn += 2mu (G Fn + G^T (Fn - R)), gR = -2mu G Fn */
    mat_mul(G, Fn, GF);
    mat_mul_at(G, d, GtD);
    mat_mul_bt(d, Fn, t);
    R tm = 2 * m->mu;
    for (int k = 0; k < 4; k++) gFn[k] += tm * (GF[k] + GtD[k]), gR[k] = -tm * GF[k];
    polar_rot_adj(Fn, gR, gFn);
    g->mu = 2 * mat_ddot(G, t);
    g->lam = (J - 1) * J * trG;
    add_cof(gFn, Fn, m->lam * (2 * J - 1) * trG);
  } else {
    R FF[4], S[4], SF[4];
    mat_mul_bt(Fn, Fn, FF);
    FF[0] -= 1, FF[3] -= 1;
    g->mu = mat_ddot(G, FF);
    for (int k = 0; k < 4; k++) gFn[k] += gFo[k];
    /* mu Fn Fn^T: gFn += mu (G + G^T) Fn */
    S[0] = 2 * G[0], S[1] = G[1] + G[2], S[2] = S[1], S[3] = 2 * G[3];
    mat_mul(S, Fn, SF);
    for (int k = 0; k < 4; k++) gFn[k] += m->mu * SF[k];
    g->lam = RLOG(J) * trG;
    add_cof(gFn, Fn, m->lam * trG / J);
  }
}

/* ---- the grid boundary band ------------------------------------------------------
 * Applied in the reference's order: the x walls (i < bound, i > n - bound), the
 * floor (j < bound), the ceiling (j > n - bound), each only when the velocity
 * points into it. Every rule is linear in v given its branch, so the band is
 * v_out = M v + dmu (M 2x2, dmu = d v_out / d friction), which the adjoint
 * recomputes and transposes. */
typedef struct band {
  int32_t bound, nx, ny;
  int wall, floor, ceiling; /* BC_* (the floor alone may be BC_COULOMB) */
  R mu;                     /* floor friction */
} band;

/* Left-multiplies (M, dmu) by the zeroing of component k (k = -1: both). */
MPM_INLINE void band_zero(R *v, R *M, R *dmu, int k) {
  for (int a = 0; a < 2; a++)
    if (k < 0 || k == a) v[a] = 0, M[2 * a] = 0, M[2 * a + 1] = 0, dmu[a] = 0;
}

MPM_INLINE void band_apply(const band *b, int64_t i, int64_t j, R *v, R *M, R *dmu) {
  M[0] = 1, M[1] = 0, M[2] = 0, M[3] = 1, dmu[0] = dmu[1] = 0;
  if (i < b->bound && v[0] < 0) band_zero(v, M, dmu, b->wall == BC_STICKY ? -1 : 0);
  if (i > b->nx - b->bound && v[0] > 0) band_zero(v, M, dmu, b->wall == BC_STICKY ? -1 : 0);
  if (j < b->bound && v[1] < 0) {
    if (b->floor == BC_COULOMB) {
      /* v_n = v_y < 0 is removed; the tangential speed shrinks by mu |v_n|,
       * stopping when it would reverse: vt' = vt + mu vn sign(vt). */
      R vn = v[1], vt = v[0];
      /* row 1 of (M, dmu) becomes 0, row 0 becomes row0 + mu sign(vt) row1 */
      if (RABS(vt) + b->mu * vn <= 0) {
        band_zero(v, M, dmu, -1);
      } else {
        R sg = vt > 0 ? (R)1 : (R)-1;
        v[0] = vt + b->mu * vn * sg;
        v[1] = 0;
        M[0] += b->mu * sg * M[2], M[1] += b->mu * sg * M[3];
        dmu[0] += b->mu * sg * dmu[1] + sg * vn;
        M[2] = M[3] = 0, dmu[1] = 0;
      }
    } else {
      band_zero(v, M, dmu, b->floor == BC_STICKY ? -1 : 1);
    }
  }
  if (j > b->ny - b->bound && v[1] > 0) band_zero(v, M, dmu, b->ceiling == BC_STICKY ? -1 : 1);
}

#endif
