/* fem: linear tetrahedra. Three constitutive models share everything but the
 * first Piola-Kirchhoff stress P(F):
 *   tet_snh     stable Neo-Hookean (Smith, de Goes, Kim 2018), in the form
 *               psi = mu/2 (I_C - 3) - mu (J - 1) + lam'/2 (J - 1)^2 with
 *               lam' = lam + mu, so that its linearisation at rest is linear
 *               elasticity with the user's (E, nu); finite for inverted J <= 0;
 *   tet_corot   corotated: psi = mu |F - R|^2 + lam/2 tr(R^T F - I)^2, R the
 *               polar rotation of F (assumes non-inverted elements);
 *   tet_linear  small strain: psi = mu eps:eps + lam/2 tr(eps)^2.
 * Params per element: E (Pa), nu, density (kg/m^3), act_vol, act_fib,
 * fib_x, fib_y, fib_z. Activations change the rest shape: the elastic
 * deformation is F A^-1 with A = (1 + act_vol) (I + act_fib d d^T), d the unit
 * fibre direction, so act_vol = 0.1 swells the element by 10% in every
 * direction and act_fib = -0.2 shortens it by 20% along its fibre (muscle-like
 * contraction). The energy is psi(F A^-1) times the rest volume.
 * Gradients are written in complex arithmetic (element.h); the Hessian w.r.t.
 * positions is analytic in structure: dP/dF (9 x 9) by the complex step,
 * projected to SPD at that level, then mapped to the 12 DOFs. */
#include "element.h"

#include <stdio.h>
#include <string.h>

enum { MODEL_SNH = 0, MODEL_COROT = 1, MODEL_LINEAR = 2 };
enum { P_E = 0, P_NU, P_RHO, P_AVOL, P_AFIB, P_FX, P_FY, P_FZ, TET_NPARAM };
static const char *const tet_param_names[] = {"E", "nu", "density", "act_vol", "act_fib", "fib_x", "fib_y", "fib_z", 0};

/* 3x3 complex matrices, row-major m[3*i + j]. */
static fem_cplx det3(const fem_cplx *m) {
  return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
}
/* cofactor matrix: dJ/dF */
static void cof3(const fem_cplx *m, fem_cplx *c) {
  c[0] = m[4] * m[8] - m[5] * m[7], c[1] = m[5] * m[6] - m[3] * m[8], c[2] = m[3] * m[7] - m[4] * m[6];
  c[3] = m[2] * m[7] - m[1] * m[8], c[4] = m[0] * m[8] - m[2] * m[6], c[5] = m[1] * m[6] - m[0] * m[7];
  c[6] = m[1] * m[5] - m[2] * m[4], c[7] = m[2] * m[3] - m[0] * m[5], c[8] = m[0] * m[4] - m[1] * m[3];
}
static void inv3(const fem_cplx *m, fem_cplx *out) { /* inverse = cof^T / det */
  fem_cplx c[9];
  cof3(m, c);
  const fem_cplx d = det3(m);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) out[3 * i + j] = c[3 * j + i] / d;
}
static void mul3(const fem_cplx *a, const fem_cplx *b, fem_cplx *c) {
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) c[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
}

static void lame(const fem_cplx *p, fem_cplx *mu, fem_cplx *lam) {
  *mu = p[P_E] / (2 * (1 + p[P_NU]));
  *lam = p[P_E] * p[P_NU] / ((1 + p[P_NU]) * (1 - 2 * p[P_NU]));
}

/* Polar rotation of F by Newton's iteration R <- (R + R^-T) / 2, run to
 * convergence of the real part plus two more iterations so that the complex
 * step's imaginary part (the derivative) has converged too. */
static void polar_R(const fem_cplx *F, fem_cplx *R) {
  memcpy(R, F, 9 * sizeof *R);
  int extra = 0;
  for (int it = 0; it < 60 && extra < 3; it++) {
    fem_cplx Ri[9], Rn[9];
    inv3(R, Ri);
    double ch = 0;
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 3; j++) {
        Rn[3 * i + j] = 0.5 * (R[3 * i + j] + Ri[3 * j + i]);
        ch += fabs(creal(Rn[3 * i + j]) - creal(R[3 * i + j]));
      }
    memcpy(R, Rn, sizeof Rn);
    if (ch < 1e-15) extra++;
  }
}

/* psi and P of a model at F = I + Hd (either output may be NULL). Written in Hd
 * so that small strains lose nothing to cancellation: the line search compares
 * energies, and Newton's tolerance is limited by the gradient's round-off. */
static void model_eval(int model, const fem_cplx *Hd, fem_cplx mu, fem_cplx lam, fem_cplx *psi, fem_cplx *P) {
  fem_cplx F[9];
  for (int i = 0; i < 9; i++) F[i] = Hd[i] + (i % 4 == 0);
  if (model == MODEL_SNH) {
    const fem_cplx lp = lam + mu;
    /* J - 1 = tr H + c2 + det H, c2 = (tr^2 H - tr H^2)/2; cof F = I + (tr H I - H^T) + cof H */
    fem_cplx tr = Hd[0] + Hd[4] + Hd[8], hh = 0, h2 = 0;
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 3; j++) hh += Hd[3 * i + j] * Hd[3 * i + j], h2 += Hd[3 * i + j] * Hd[3 * j + i];
    const fem_cplx c2 = 0.5 * (tr * tr - h2), c3 = det3(Hd), jm1 = tr + c2 + c3;
    /* mu/2 (I_C - 3) - mu (J - 1) = mu/2 |H|^2 - mu (c2 + det H) */
    if (psi) *psi = 0.5 * mu * hh - mu * (c2 + c3) + 0.5 * lp * jm1 * jm1;
    if (P) {
      fem_cplx cH[9];
      cof3(Hd, cH);
      for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
          const int k = 3 * i + j;
          const fem_cplx cofF_minus_I = (i == j ? tr : 0) - Hd[3 * j + i] + cH[k];
          /* P = mu F + (lp (J-1) - mu) cof F = mu (H - (cof F - I)) + lp (J-1) cof F */
          P[k] = mu * (Hd[k] - cofF_minus_I) + lp * jm1 * ((i == j) + cofF_minus_I);
        }
    }
  } else if (model == MODEL_LINEAR) {
    fem_cplx e[9];
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 3; j++) e[3 * i + j] = 0.5 * (Hd[3 * i + j] + Hd[3 * j + i]);
    const fem_cplx tr = e[0] + e[4] + e[8];
    fem_cplx ee = 0;
    for (int i = 0; i < 9; i++) ee += e[i] * e[i];
    if (psi) *psi = mu * ee + 0.5 * lam * tr * tr;
    if (P)
      for (int i = 0; i < 9; i++) P[i] = 2 * mu * e[i] + (i % 4 == 0 ? lam * tr : 0);
  } else {
    fem_cplx R[9];
    polar_R(F, R);
    fem_cplx tr = -3, d2 = 0;
    for (int i = 0; i < 9; i++) tr += R[i] * F[i], d2 += (F[i] - R[i]) * (F[i] - R[i]);
    if (psi) *psi = mu * d2 + 0.5 * lam * tr * tr;
    if (P)
      for (int i = 0; i < 9; i++) P[i] = 2 * mu * (F[i] - R[i]) + lam * tr * R[i];
  }
}

/* The element's shape data: B = Dm^-1 A^-1 (so F = Ds B), its inverse A Dm and the rest volume. */
static void shape(const fem_cplx *X, const fem_cplx *p, fem_cplx *B, fem_cplx *Binv, fem_cplx *vol) {
  fem_cplx Dm[9], Dmi[9], Ai[9], A[9];
  for (int d = 0; d < 3; d++)
    for (int a = 0; a < 3; a++) Dm[3 * d + a] = X[3 * (a + 1) + d] - X[d];
  *vol = det3(Dm) / 6;
  inv3(Dm, Dmi);
  fem_cplx f[3] = {p[P_FX], p[P_FY], p[P_FZ]};
  const fem_cplx f2 = fem_cdot3(f, f), s = 1 + p[P_AVOL], af = p[P_AFIB];
  /* A = s (I + af d d^T), d = f/|f|: A^-1 = (I - af/(1+af) f f^T / |f|^2) / s */
  const fem_cplx w = creal(f2) > 0 ? af / ((1 + af) * f2) : 0, wa = creal(f2) > 0 ? af / f2 : 0;
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      Ai[3 * i + j] = ((i == j) - w * f[i] * f[j]) / s;
      A[3 * i + j] = s * ((i == j) + wa * f[i] * f[j]);
    }
  mul3(Dmi, Ai, B);
  if (Binv) mul3(A, Dm, Binv);
}
/* Hd = F - I = (Ds - A Dm) B, without the cancellation of Ds B - I. */
static void deformation(const fem_cplx *x, const fem_cplx *B, const fem_cplx *Binv, fem_cplx *Hd) {
  fem_cplx D[9];
  for (int d = 0; d < 3; d++)
    for (int a = 0; a < 3; a++) D[3 * d + a] = x[3 * (a + 1) + d] - x[d] - Binv[3 * d + a];
  mul3(D, B, Hd);
}

static void tet_grad_model(int model, const fem_cplx *x, const fem_cplx *X, const fem_cplx *p, fem_cplx *g) {
  fem_cplx B[9], Bi[9], Hd[9], P[9], vol, mu, lam;
  shape(X, p, B, Bi, &vol);
  deformation(x, B, Bi, Hd);
  lame(p, &mu, &lam);
  model_eval(model, Hd, mu, lam, NULL, P);
  for (int d = 0; d < 3; d++) g[d] = 0;
  for (int a = 0; a < 3; a++) /* force on vertex a+1: column a of vol P B^T */
    for (int d = 0; d < 3; d++) {
      fem_cplx s = 0;
      for (int j = 0; j < 3; j++) s += P[3 * d + j] * B[3 * a + j];
      g[3 * (a + 1) + d] = vol * s;
      g[d] -= vol * s;
    }
}

static double tet_energy_model(int model, const double *x, const double *X, const double *p) {
  fem_cplx xc[12], Xc[12], pc[TET_NPARAM], B[9], Bi[9], Hd[9], vol, mu, lam, psi;
  for (int i = 0; i < 12; i++) xc[i] = x[i], Xc[i] = X[i];
  for (int i = 0; i < TET_NPARAM; i++) pc[i] = p[i];
  shape(Xc, pc, B, Bi, &vol);
  deformation(xc, B, Bi, Hd);
  lame(pc, &mu, &lam);
  model_eval(model, Hd, mu, lam, &psi, NULL);
  return creal(vol * psi);
}

/* H = vol G^T (dP/dF) G with G the constant map from the 12 DOFs to F:
 * F[d][j] = sum_a x_a[d] c[a][j], c[a][j] = B[a-1][j] (a >= 1), c[0][j] = -sum. */
static void tet_hessian_model(int model, const double *x, const double *X, const double *p, int project, double *H) {
  fem_cplx xc[12], Xc[12], pc[TET_NPARAM], B[9], Bi[9], F[9], P[9], vol, mu, lam;
  for (int i = 0; i < 12; i++) xc[i] = x[i], Xc[i] = X[i];
  for (int i = 0; i < TET_NPARAM; i++) pc[i] = p[i];
  shape(Xc, pc, B, Bi, &vol);
  deformation(xc, B, Bi, F); /* F holds Hd = F - I here */
  lame(pc, &mu, &lam);
  double D[81]; /* D[(3d+j)*9 + (3e+l)] = dP_dj / dF_el */
  const double h = 1e-30;
  for (int q = 0; q < 9; q++) {
    const fem_cplx keep = F[q];
    F[q] = creal(keep) + I * h;
    model_eval(model, F, mu, lam, NULL, P);
    F[q] = keep;
    for (int r = 0; r < 9; r++) D[r * 9 + q] = cimag(P[r]) / h;
  }
  for (int r = 0; r < 9; r++)
    for (int q = r + 1; q < 9; q++) D[r * 9 + q] = D[q * 9 + r] = 0.5 * (D[r * 9 + q] + D[q * 9 + r]);
  if (project) fem_project_spd(9, D);
  double c[4][3];
  for (int j = 0; j < 3; j++) {
    c[0][j] = 0;
    for (int a = 1; a < 4; a++) c[a][j] = creal(B[3 * (a - 1) + j]), c[0][j] -= c[a][j];
  }
  const double v = creal(vol);
  /* T[(3d+j)][b*3+e] = sum_l D[(3d+j)(3e+l)] c[b][l] */
  double T[9][12];
  for (int r = 0; r < 9; r++)
    for (int b = 0; b < 4; b++)
      for (int e = 0; e < 3; e++) {
        double s = 0;
        for (int l = 0; l < 3; l++) s += D[r * 9 + 3 * e + l] * c[b][l];
        T[r][3 * b + e] = s;
      }
  for (int a = 0; a < 4; a++)
    for (int d = 0; d < 3; d++)
      for (int col = 0; col < 12; col++) {
        double s = 0;
        for (int j = 0; j < 3; j++) s += c[a][j] * T[3 * d + j][col];
        H[(3 * a + d) * 12 + col] = v * s;
      }
}

static fem_cplx tet_measure(const fem_cplx *X) {
  fem_cplx Dm[9];
  for (int d = 0; d < 3; d++)
    for (int a = 0; a < 3; a++) Dm[3 * d + a] = X[3 * (a + 1) + d] - X[d];
  return det3(Dm) / 6;
}

static int tet_check(const double *X, const double *p, char *msg, size_t len) {
  fem_cplx Xc[12];
  for (int i = 0; i < 12; i++) Xc[i] = X[i];
  const double vol = creal(tet_measure(Xc));
  /* scale: the cube of the longest edge; a sliver below 1e-8 of it is degenerate */
  double l2 = 0;
  for (int a = 0; a < 4; a++)
    for (int b = a + 1; b < 4; b++) {
      double s = 0;
      for (int d = 0; d < 3; d++) s += (X[3 * a + d] - X[3 * b + d]) * (X[3 * a + d] - X[3 * b + d]);
      if (s > l2) l2 = s;
    }
  if (!(vol > 1e-8 * l2 * sqrt(l2))) {
    snprintf(msg, len, "rest volume %.3g is %s (vertices out of order, or a flat tet)", vol,
             vol < 0 ? "negative: the element is inverted" : "zero or degenerate");
    return 1;
  }
  const double E = p[P_E], nu = p[P_NU];
  if (!(E > 0) || !isfinite(E)) return snprintf(msg, len, "Young's modulus E = %g must be positive and finite", E), 1;
  if (!(nu > -1 && nu < 0.5))
    return snprintf(msg, len, "Poisson's ratio nu = %g must be in (-1, 0.5) (0.5 is incompressible)", nu), 1;
  if (!(p[P_RHO] >= 0) || !isfinite(p[P_RHO]))
    return snprintf(msg, len, "density = %g must be non-negative and finite", p[P_RHO]), 1;
  if (!(p[P_AVOL] > -1)) return snprintf(msg, len, "act_vol = %g must be > -1", p[P_AVOL]), 1;
  if (!(p[P_AFIB] > -1)) return snprintf(msg, len, "act_fib = %g must be > -1", p[P_AFIB]), 1;
  for (int i = P_AVOL; i < TET_NPARAM; i++)
    if (!isfinite(p[i])) return snprintf(msg, len, "%s = %g is not finite", tet_param_names[i], p[i]), 1;
  return 0;
}

#define TET_TYPE(tag, MODEL, stiff)                                                                          \
  static void tag##_grad(const fem_cplx *x, const fem_cplx *X, const fem_cplx *p, fem_cplx *g) {           \
    tet_grad_model(MODEL, x, X, p, g);                                                                       \
  }                                                                                                          \
  static double tag##_energy(const double *x, const double *X, const double *p) {                           \
    return tet_energy_model(MODEL, x, X, p);                                                                 \
  }                                                                                                          \
  static void tag##_hess(const double *x, const double *X, const double *p, int project, double *H) {       \
    tet_hessian_model(MODEL, x, X, p, project, H);                                                           \
  }                                                                                                          \
  const fem_elem_type fem_type_##tag = {#tag,      4,         TET_NPARAM,  tet_param_names, P_RHO, tet_measure, \
                                        tet_check, tag##_energy, tag##_grad, tag##_hess, stiff};

TET_TYPE(tet_linear, MODEL_LINEAR, &fem_type_tet_linear)
TET_TYPE(tet_snh, MODEL_SNH, &fem_type_tet_linear)
TET_TYPE(tet_corot, MODEL_COROT, &fem_type_tet_linear)
