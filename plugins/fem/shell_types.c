/* fem: the cloth / thin-shell element types on the element interface
 * (element.h), over the energies of shell_energy.c (shell.h).
 *
 *   tri_membrane  k = 3, params {E, nu, thickness, areal_density}: StVK in the
 *                 plane, plane-stress Lame parameters of E and nu, energy per
 *                 rest area x thickness; mass = areal_density (kg/m^2) x rest area;
 *   tri_neohookean  as tri_membrane with a Neo-Hookean energy (below);
 *   hinge_bend    k = 4, params {k_bend}: the discrete-shells dihedral energy
 *                 k_bend 3|e|^2/(A1 + A2) (theta - theta0)^2, all rest quantities
 *                 (e, A1, A2, theta0) from the rest positions X; no mass.
 *
 * The gradients are written again here in complex arithmetic (grad_c): the
 * stepper differentiates them by the complex step for d grad / d params and
 * d grad / d rest positions. Hessians are the analytic ones of shell_energy.c
 * (exact, and cheaper than 3k complex gradients). */
#include <math.h>
#include <stdio.h>

#include "element.h"
#include "shell.h"

enum { MB_E, MB_NU, MB_H, MB_RHO, MB_NPARAM };
static const char *const membrane_param_names[] = {"E", "nu", "thickness", "areal_density", 0};
static const char *const hinge_param_names[] = {"k_bend", 0};

/* ---- membrane ------------------------------------------------------------- */
static fem_cplx membrane_measure(const fem_cplx *X) {
  fem_cplx e1[3], e2[3], n[3];
  for (int c = 0; c < 3; c++) e1[c] = X[3 + c] - X[c], e2[c] = X[6 + c] - X[c];
  fem_ccross(e1, e2, n);
  return 0.5 * fem_cnorm3(n);
}

static int membrane_check(const double *X, const double *p, char *msg, size_t len) {
  double D[4], A;
  if (fem_membrane_rest(X, D, &A))
    return snprintf(msg, len, "the rest triangle is degenerate (zero area or collinear vertices)"), 1;
  if (!(p[MB_E] > 0) || !isfinite(p[MB_E]))
    return snprintf(msg, len, "Young's modulus E = %g must be positive and finite", p[MB_E]), 1;
  if (!(p[MB_NU] > -1 && p[MB_NU] < 0.5))
    return snprintf(msg, len, "Poisson's ratio nu = %g must be in (-1, 0.5)", p[MB_NU]), 1;
  if (!(p[MB_H] > 0) || !isfinite(p[MB_H]))
    return snprintf(msg, len, "thickness = %g must be positive and finite", p[MB_H]), 1;
  if (!(p[MB_RHO] >= 0) || !isfinite(p[MB_RHO]))
    return snprintf(msg, len, "areal_density = %g must be non-negative and finite", p[MB_RHO]), 1;
  return 0;
}

static double membrane_energy(const double *x, const double *X, const double *p) {
  double D[4], A, mu, lam;
  fem_membrane_rest(X, D, &A);
  fem_membrane_lame(p[MB_E], p[MB_NU], &mu, &lam);
  return fem_membrane_energy(x, D, A * p[MB_H], mu, lam, NULL, NULL);
}

static void membrane_hessian(const double *x, const double *X, const double *p, int project, double *H) {
  double D[4], A, mu, lam;
  fem_membrane_rest(X, D, &A);
  fem_membrane_lame(p[MB_E], p[MB_NU], &mu, &lam);
  fem_membrane_energy(x, D, A * p[MB_H], mu, lam, NULL, H);
  if (project) fem_project_spd(9, H);
}

/* In complex: F = Ds Dm^-1 (3x2), Dm^-1 from the rest triangle's own frame (as
 * fem_membrane_rest), vol = rest area x thickness, plane-stress Lame parameters. */
static void membrane_kin_c(const fem_cplx *x, const fem_cplx *X, const fem_cplx *p, fem_cplx F[6], fem_cplx Di[4],
                           fem_cplx *vol, fem_cplx *mu, fem_cplx *lam) {
  fem_cplx e1[3], e2[3], n[3], t1[3], t2[3];
  for (int c = 0; c < 3; c++) e1[c] = X[3 + c] - X[c], e2[c] = X[6 + c] - X[c];
  fem_ccross(e1, e2, n);
  const fem_cplx nn = fem_cnorm3(n), l1 = fem_cnorm3(e1);
  for (int c = 0; c < 3; c++) t1[c] = e1[c] / l1;
  fem_ccross(n, t1, t2);
  for (int c = 0; c < 3; c++) t2[c] /= nn;
  const fem_cplx b = fem_cdot3(e2, t1), d = fem_cdot3(e2, t2);
  Di[0] = 1 / l1, Di[1] = -b / (l1 * d), Di[2] = 0, Di[3] = 1 / d;
  *vol = 0.5 * nn * p[MB_H];
  *mu = p[MB_E] / (2 * (1 + p[MB_NU]));
  *lam = p[MB_E] * p[MB_NU] / (1 - p[MB_NU] * p[MB_NU]);
  for (int r = 0; r < 3; r++) {
    const fem_cplx d0 = x[3 + r] - x[r], d1 = x[6 + r] - x[r];
    F[2 * r] = d0 * Di[0] + d1 * Di[2];
    F[2 * r + 1] = d0 * Di[1] + d1 * Di[3];
  }
}

/* The gradient vol P Dm^-T spread onto the three vertices. */
static void membrane_scatter_c(const fem_cplx P[6], const fem_cplx Di[4], fem_cplx vol, fem_cplx *g) {
  for (int r = 0; r < 3; r++) {
    const fem_cplx g1 = vol * (P[2 * r] * Di[0] + P[2 * r + 1] * Di[1]);
    const fem_cplx g2 = vol * (P[2 * r] * Di[2] + P[2 * r + 1] * Di[3]);
    g[3 + r] = g1;
    g[6 + r] = g2;
    g[r] = -g1 - g2;
  }
}

/* fem_membrane_energy's gradient, in complex. */
static void membrane_grad_c(const fem_cplx *x, const fem_cplx *X, const fem_cplx *p, fem_cplx *g) {
  fem_cplx F[6], Di[4], vol, mu, lam, S[4], E[4], P[6];
  membrane_kin_c(x, X, p, F, Di, &vol, &mu, &lam);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++)
      E[2 * i + j] = 0.5 * (F[i] * F[j] + F[2 + i] * F[2 + j] + F[4 + i] * F[4 + j] - (i == j));
  const fem_cplx tr = E[0] + E[3];
  for (int i = 0; i < 4; i++) S[i] = 2 * mu * E[i];
  S[0] += lam * tr;
  S[3] += lam * tr;
  for (int r = 0; r < 3; r++)
    for (int j = 0; j < 2; j++) P[2 * r + j] = F[2 * r] * S[j] + F[2 * r + 1] * S[2 + j];
  membrane_scatter_c(P, Di, vol, g);
}

const fem_elem_type fem_type_tri_membrane = {
    .name = "tri_membrane",
    .k = 3,
    .nparam = MB_NPARAM,
    .param_names = membrane_param_names,
    .density_param = MB_RHO,
    .measure_c = membrane_measure,
    .check = membrane_check,
    .energy = membrane_energy,
    .grad_c = membrane_grad_c,
    .hessian = membrane_hessian,
    .rest_stiffness = NULL,
};

/* ---- bending hinge ---------------------------------------------------------- */
static int hinge_check(const double *X, const double *p, char *msg, size_t len) {
  double s, th;
  if (fem_hinge_rest(X, &s, &th))
    return snprintf(msg, len, "the rest hinge is degenerate (a zero-length edge or a zero-area triangle)"), 1;
  if (!(p[0] >= 0) || !isfinite(p[0])) return snprintf(msg, len, "k_bend = %g must be non-negative and finite", p[0]), 1;
  return 0;
}

static double hinge_energy(const double *x, const double *X, const double *p) {
  double s, th0;
  fem_hinge_rest(X, &s, &th0);
  return fem_hinge_energy(x, s, th0, p[0], NULL, NULL);
}

static void hinge_hessian(const double *x, const double *X, const double *p, int project, double *H) {
  double s, th0;
  fem_hinge_rest(X, &s, &th0);
  fem_hinge_energy(x, s, th0, p[0], NULL, H);
  if (project) fem_project_spd(12, H);
}

/* The hinge's angle and, when grad is not NULL, its gradient in closed form:
 * a wing vertex moves the angle along its triangle's normal over its height,
 * and the edge's vertices take the wings' gradients back in proportion to
 * where the wings project onto the edge (the angle is invariant to rigid motion). */
static fem_cplx hinge_angle_c(const fem_cplx *x, fem_cplx *grad) {
  fem_cplx e[3], a[3], b[3], n1[3], n2[3], m[3];
  for (int c = 0; c < 3; c++) e[c] = x[3 + c] - x[c], a[c] = x[6 + c] - x[c], b[c] = x[9 + c] - x[c];
  fem_ccross(e, a, n1);
  fem_ccross(b, e, n2);
  fem_ccross(n1, n2, m);
  const fem_cplx ee = fem_cdot3(e, e), le = csqrt(ee);
  if (grad) {
    const fem_cplx q1 = fem_cdot3(n1, n1), q2 = fem_cdot3(n2, n2);
    const fem_cplx t1 = fem_cdot3(a, e) / ee, t2 = fem_cdot3(b, e) / ee;
    for (int c = 0; c < 3; c++) {
      const fem_cplx g2 = -le * n1[c] / q1, g3 = -le * n2[c] / q2;
      grad[6 + c] = g2;
      grad[9 + c] = g3;
      grad[c] = -(1 - t1) * g2 - (1 - t2) * g3;
      grad[3 + c] = -t1 * g2 - t2 * g3;
    }
  }
  return fem_catan2(fem_cdot3(m, e), le * fem_cdot3(n1, n2));
}

static void hinge_grad_c(const fem_cplx *x, const fem_cplx *X, const fem_cplx *p, fem_cplx *g) {
  fem_cplx e[3], n1[3], n2[3], a[3], b[3];
  for (int c = 0; c < 3; c++) e[c] = X[3 + c] - X[c], a[c] = X[6 + c] - X[c], b[c] = X[9 + c] - X[c];
  fem_ccross(e, a, n1);
  fem_ccross(b, e, n2);
  const fem_cplx scale = 3 * fem_cdot3(e, e) / (0.5 * (fem_cnorm3(n1) + fem_cnorm3(n2)));
  const fem_cplx th0 = hinge_angle_c(X, NULL), th = hinge_angle_c(x, g);
  const fem_cplx f = 2 * p[0] * scale * (th - th0);
  for (int i = 0; i < 12; i++) g[i] *= f;
}

const fem_elem_type fem_type_hinge_bend = {
    .name = "hinge_bend",
    .k = 4,
    .nparam = 1,
    .param_names = hinge_param_names,
    .density_param = -1,
    .measure_c = NULL,
    .check = hinge_check,
    .energy = hinge_energy,
    .grad_c = hinge_grad_c,
    .hessian = hinge_hessian,
    .rest_stiffness = NULL,
};

/* ---- Neo-Hookean membrane --------------------------------------------------- */
/* tri_neohookean: the same parameters and mass as tri_membrane, energy per rest
 * area x thickness W = mu/2 (tr C - 2) - mu ln J + lambda/2 (ln J)^2, C = F^T F
 * (2x2), J = sqrt(det C): the area ratio. Its linearisation at rest is the same
 * plane-stress elasticity as StVK, but ln J grows without bound as a triangle
 * collapses (J -> 0), where StVK's energy stays bounded and lets a compressed
 * triangle pass through zero area. P = mu F + (lambda ln J - mu) F C^-1. The
 * Hessian comes from the complex step of the gradient (element.c). */
static fem_cplx nh_invariants(const fem_cplx F[6], fem_cplx Ci[4], fem_cplx *trC) {
  fem_cplx C[4];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) C[2 * i + j] = F[i] * F[j] + F[2 + i] * F[2 + j] + F[4 + i] * F[4 + j];
  const fem_cplx det = C[0] * C[3] - C[1] * C[2];
  if (Ci) Ci[0] = C[3] / det, Ci[1] = -C[1] / det, Ci[2] = -C[2] / det, Ci[3] = C[0] / det;
  *trC = C[0] + C[3];
  return 0.5 * clog(det); /* ln J */
}

static fem_cplx nh_energy_c(const fem_cplx *x, const fem_cplx *X, const fem_cplx *p) {
  fem_cplx F[6], Di[4], vol, mu, lam, trC;
  membrane_kin_c(x, X, p, F, Di, &vol, &mu, &lam);
  const fem_cplx lnJ = nh_invariants(F, NULL, &trC);
  return vol * (0.5 * mu * (trC - 2) - mu * lnJ + 0.5 * lam * lnJ * lnJ);
}

static double nh_energy(const double *x, const double *X, const double *p) {
  fem_cplx xc[9], Xc[9], pc[MB_NPARAM];
  for (int i = 0; i < 9; i++) xc[i] = x[i], Xc[i] = X[i];
  for (int i = 0; i < MB_NPARAM; i++) pc[i] = p[i];
  const double J2 = creal(nh_energy_c(xc, Xc, pc));
  return isfinite(J2) ? J2 : INFINITY; /* a collapsed triangle: the line search backs off */
}

static void nh_grad_c(const fem_cplx *x, const fem_cplx *X, const fem_cplx *p, fem_cplx *g) {
  fem_cplx F[6], Di[4], vol, mu, lam, Ci[4], trC, P[6];
  membrane_kin_c(x, X, p, F, Di, &vol, &mu, &lam);
  const fem_cplx lnJ = nh_invariants(F, Ci, &trC), f = lam * lnJ - mu;
  for (int r = 0; r < 3; r++)
    for (int j = 0; j < 2; j++) P[2 * r + j] = mu * F[2 * r + j] + f * (F[2 * r] * Ci[j] + F[2 * r + 1] * Ci[2 + j]);
  membrane_scatter_c(P, Di, vol, g);
}

const fem_elem_type fem_type_tri_neohookean = {
    .name = "tri_neohookean",
    .k = 3,
    .nparam = MB_NPARAM,
    .param_names = membrane_param_names,
    .density_param = MB_RHO,
    .measure_c = membrane_measure,
    .check = membrane_check,
    .energy = nh_energy,
    .grad_c = nh_grad_c,
    .hessian = NULL,
    .rest_stiffness = NULL,
};
