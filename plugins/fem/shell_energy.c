/* Membrane (StVK triangle) and bending (dihedral hinge) energies with their
 * gradients and Hessians. See shell.h for the formulas and conventions; the
 * element types over them are in shell_types.c. */
#include <math.h>
#include <string.h>

#include "shell.h"

static void cross3(const double a[3], const double b[3], double r[3]) {
  r[0] = a[1] * b[2] - a[2] * b[1];
  r[1] = a[2] * b[0] - a[0] * b[2];
  r[2] = a[0] * b[1] - a[1] * b[0];
}
static double dot3(const double a[3], const double b[3]) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

void fem_membrane_lame(double E, double nu, double *mu, double *lambda) {
  *mu = E / (2 * (1 + nu));
  *lambda = E * nu / (1 - nu * nu); /* plane stress: 2 mu lambda_3d / (lambda_3d + 2 mu) */
}

int fem_membrane_rest(const double X[9], double Dminv[4], double *area) {
  double e1[3], e2[3], e3[3], n[3], t1[3], t2[3];
  for (int c = 0; c < 3; c++) {
    e1[c] = X[3 + c] - X[c];
    e2[c] = X[6 + c] - X[c];
    e3[c] = e2[c] - e1[c];
  }
  cross3(e1, e2, n);
  const double nn = sqrt(dot3(n, n)), l1 = sqrt(dot3(e1, e1));
  double lmax2 = fmax(dot3(e1, e1), fmax(dot3(e2, e2), dot3(e3, e3)));
  if (!(nn > 2e-14 * lmax2) || !isfinite(nn)) return -1;
  /* the triangle's own frame: t1 along e1, t2 in the plane, perpendicular */
  for (int c = 0; c < 3; c++) t1[c] = e1[c] / l1;
  cross3(n, t1, t2);
  for (int c = 0; c < 3; c++) t2[c] /= nn;
  const double a = l1, b = dot3(e2, t1), d = dot3(e2, t2); /* Dm = [[a, b], [0, d]] */
  Dminv[0] = 1 / a;
  Dminv[1] = -b / (a * d);
  Dminv[2] = 0;
  Dminv[3] = 1 / d;
  *area = nn / 2;
  return 0;
}

/* F = Ds Dm^-1 (3x2, F[2 r + j]) from the three vertices. */
static void membrane_F(const double x[9], const double Dminv[4], double F[6]) {
  for (int r = 0; r < 3; r++) {
    const double d0 = x[3 + r] - x[r], d1 = x[6 + r] - x[r];
    F[2 * r] = d0 * Dminv[0] + d1 * Dminv[2];
    F[2 * r + 1] = d0 * Dminv[1] + d1 * Dminv[3];
  }
}

/* The 3x2 matrix G = vol P Dm^-T spread onto the vertices' 9 entries. */
static void membrane_scatter(const double P[6], const double Dminv[4], double vol, double *out) {
  for (int r = 0; r < 3; r++) {
    const double g1 = vol * (P[2 * r] * Dminv[0] + P[2 * r + 1] * Dminv[1]);
    const double g2 = vol * (P[2 * r] * Dminv[2] + P[2 * r + 1] * Dminv[3]);
    out[3 + r] = g1;
    out[6 + r] = g2;
    out[r] = -g1 - g2;
  }
}

double fem_membrane_energy(const double x[9], const double Dminv[4], double vol, double mu, double lambda,
                           double *grad, double *hess) {
  double F[6], E[4], S[4];
  membrane_F(x, Dminv, F);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++)
      E[2 * i + j] = 0.5 * (F[i] * F[j] + F[2 + i] * F[2 + j] + F[4 + i] * F[4 + j] - (i == j));
  const double tr = E[0] + E[3];
  const double W = vol * (mu * (E[0] * E[0] + 2 * E[1] * E[1] + E[3] * E[3]) + 0.5 * lambda * tr * tr);
  /* second Piola-Kirchhoff stress S = 2 mu E + lambda tr(E) I, first P = F S */
  for (int i = 0; i < 4; i++) S[i] = 2 * mu * E[i];
  S[0] += lambda * tr;
  S[3] += lambda * tr;
  if (grad) {
    double P[6];
    for (int r = 0; r < 3; r++)
      for (int j = 0; j < 2; j++) P[2 * r + j] = F[2 * r] * S[j] + F[2 * r + 1] * S[2 + j];
    membrane_scatter(P, Dminv, vol, grad);
  }
  if (hess) {
    /* one column per coordinate: the differential dP = dF S + F dS along it */
    static const double w[3][2] = {{-1, -1}, {1, 0}, {0, 1}};
    for (int a = 0; a < 3; a++)
      for (int c = 0; c < 3; c++) {
        double dF[6] = {0}, dE[4], dS[4], dP[6], col[9];
        dF[2 * c] = w[a][0] * Dminv[0] + w[a][1] * Dminv[2];
        dF[2 * c + 1] = w[a][0] * Dminv[1] + w[a][1] * Dminv[3];
        for (int i = 0; i < 2; i++)
          for (int j = 0; j < 2; j++) dE[2 * i + j] = 0.5 * (F[2 * c + i] * dF[2 * c + j] + dF[2 * c + i] * F[2 * c + j]);
        const double dtr = dE[0] + dE[3];
        for (int i = 0; i < 4; i++) dS[i] = 2 * mu * dE[i];
        dS[0] += lambda * dtr;
        dS[3] += lambda * dtr;
        for (int r = 0; r < 3; r++)
          for (int j = 0; j < 2; j++)
            dP[2 * r + j] = dF[2 * r] * S[j] + dF[2 * r + 1] * S[2 + j] + F[2 * r] * dS[j] + F[2 * r + 1] * dS[2 + j];
        membrane_scatter(dP, Dminv, vol, col);
        for (int i = 0; i < 9; i++) hess[i * 9 + 3 * a + c] = col[i];
      }
  }
  return W;
}

/* The hinge's edge e = x1 - x0, wing vectors a = x2 - x0, b = x3 - x0 and the
 * triangles' normals n1 = e x a, n2 = b x e (they agree when the hinge is flat). */
static void hinge_vectors(const double x[12], double e[3], double a[3], double b[3], double n1[3], double n2[3]) {
  for (int c = 0; c < 3; c++) {
    e[c] = x[3 + c] - x[c];
    a[c] = x[6 + c] - x[c];
    b[c] = x[9 + c] - x[c];
  }
  cross3(e, a, n1);
  cross3(b, e, n2);
}

int fem_hinge_rest(const double X[12], double *scale, double *theta0) {
  double e[3], a[3], b[3], n1[3], n2[3];
  hinge_vectors(X, e, a, b, n1, n2);
  const double ee = dot3(e, e), s1 = sqrt(dot3(n1, n1)), s2 = sqrt(dot3(n2, n2));
  if (!(ee > 0) || !(s1 > 1e-14 * fmax(ee, dot3(a, a))) || !(s2 > 1e-14 * fmax(ee, dot3(b, b)))) return -1;
  *scale = 3 * ee / (0.5 * (s1 + s2)); /* A1 + A2 = (|n1| + |n2|) / 2 */
  *theta0 = fem_hinge_angle(X, NULL, NULL);
  return 0;
}

/* The angle's gradient in closed form (a wing moves the angle along its
 * triangle's normal over its height, ‖e‖ n / ‖n‖^2; the edge's vertices take
 * the wings' gradients back in proportion to where the wings project onto the
 * edge, t = (w - x0).e / ‖e‖^2) and, when dx is not NULL, its derivative dg
 * along dx: the same formula in first-order dual arithmetic (value, derivative). */
static void hinge_angle_grad(const double x[12], const double *dx, double g[12], double *dg) {
  double e[3], a[3], b[3], n1[3], n2[3];
  hinge_vectors(x, e, a, b, n1, n2);
  const double ee = dot3(e, e), le = sqrt(ee), q1 = dot3(n1, n1), q2 = dot3(n2, n2);
  const double t1 = dot3(a, e) / ee, t2 = dot3(b, e) / ee;
  double g2[3], g3[3];
  for (int c = 0; c < 3; c++) {
    g2[c] = -le * n1[c] / q1, g3[c] = -le * n2[c] / q2;
    g[6 + c] = g2[c], g[9 + c] = g3[c];
    g[c] = -(1 - t1) * g2[c] - (1 - t2) * g3[c];
    g[3 + c] = -t1 * g2[c] - t2 * g3[c];
  }
  if (!dx) return;
  double de[3], da[3], db[3], dn1[3], dn2[3], u[3], w[3];
  for (int c = 0; c < 3; c++) de[c] = dx[3 + c] - dx[c], da[c] = dx[6 + c] - dx[c], db[c] = dx[9 + c] - dx[c];
  cross3(de, a, u), cross3(e, da, w);
  for (int c = 0; c < 3; c++) dn1[c] = u[c] + w[c];
  cross3(db, e, u), cross3(b, de, w);
  for (int c = 0; c < 3; c++) dn2[c] = u[c] + w[c];
  const double dee = 2 * dot3(e, de), dle = dee / (2 * le), dq1 = 2 * dot3(n1, dn1), dq2 = 2 * dot3(n2, dn2);
  const double dt1 = ((dot3(da, e) + dot3(a, de)) - t1 * dee) / ee, dt2 = ((dot3(db, e) + dot3(b, de)) - t2 * dee) / ee;
  for (int c = 0; c < 3; c++) {
    const double dg2 = -(dle * n1[c] + le * dn1[c]) / q1 + le * n1[c] * dq1 / (q1 * q1);
    const double dg3 = -(dle * n2[c] + le * dn2[c]) / q2 + le * n2[c] * dq2 / (q2 * q2);
    dg[6 + c] = dg2, dg[9 + c] = dg3;
    dg[c] = dt1 * g2[c] - (1 - t1) * dg2 + dt2 * g3[c] - (1 - t2) * dg3;
    dg[3 + c] = -dt1 * g2[c] - t1 * dg2 - dt2 * g3[c] - t2 * dg3;
  }
}

/* theta = atan2((n1 x n2) . e, |e| n1 . n2), n1 = e x (x2 - x0), n2 = (x3 - x0) x e,
 * e = x1 - x0: n1 and n2 agree when the hinge is flat. The Hessian's columns
 * are the gradient's derivatives along the 12 coordinates. */
double fem_hinge_angle(const double x[12], double *grad, double *hess) {
  double e[3], a[3], b[3], n1[3], n2[3], m[3], g[12];
  hinge_vectors(x, e, a, b, n1, n2);
  cross3(n1, n2, m);
  const double th = atan2(dot3(m, e), sqrt(dot3(e, e)) * dot3(n1, n2));
  if (grad || hess) hinge_angle_grad(x, NULL, grad ? grad : g, NULL);
  if (hess) {
    double dx[12] = {0}, col[12];
    for (int j = 0; j < 12; j++) {
      dx[j] = 1;
      hinge_angle_grad(x, dx, g, col);
      dx[j] = 0;
      for (int i = 0; i < 12; i++) hess[12 * i + j] = col[i];
    }
    for (int i = 0; i < 12; i++) /* symmetric to round-off; make it exactly so */
      for (int j = i + 1; j < 12; j++) hess[12 * i + j] = hess[12 * j + i] = 0.5 * (hess[12 * i + j] + hess[12 * j + i]);
  }
  return th;
}

double fem_hinge_energy(const double x[12], double scale, double theta0, double k, double *grad, double *hess) {
  double g[12], h[144];
  const double th = fem_hinge_angle(x, grad || hess ? g : NULL, hess ? h : NULL);
  const double dth = th - theta0, c = k * scale;
  if (grad)
    for (int i = 0; i < 12; i++) grad[i] = 2 * c * dth * g[i];
  if (hess)
    for (int i = 0; i < 12; i++)
      for (int j = 0; j < 12; j++) hess[12 * i + j] = 2 * c * (g[i] * g[j] + dth * h[12 * i + j]);
  return c * dth * dth;
}
