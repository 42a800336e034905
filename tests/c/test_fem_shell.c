/* The fem plugin's shell elements as pure double functions: float64 central
 * differences of the membrane and bending energies' gradients and Hessians,
 * the stiffness derivatives, the element types' complex-step gradients
 * against the analytic Hessians and finite differences of the rest shape, and
 * the manifold checks of the hinge extraction. The sources are compiled in
 * (they use no ds types). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../plugins/fem/element.c"
#include "../../plugins/fem/shell_energy.c"
#include "../../plugins/fem/shell_topology.c"
#include "../../plugins/fem/shell_types.c"
#include "check.h"

static double urand(unsigned *s) {
  *s = *s * 1664525u + 1013904223u;
  return (*s >> 8) / 16777216.0 - 0.5;
}

typedef double (*energy_fn)(const double *x, void *u, double *g, double *h);
typedef struct { double Dminv[4], vol, mu, lambda; } mem_args;
typedef struct { double scale, theta0, k; } hinge_args;
static double mem_fn(const double *x, void *u, double *g, double *h) {
  mem_args *m = u;
  return fem_membrane_energy(x, m->Dminv, m->vol, m->mu, m->lambda, g, h);
}
static double hinge_fn(const double *x, void *u, double *g, double *h) {
  hinge_args *m = u;
  return fem_hinge_energy(x, m->scale, m->theta0, m->k, g, h);
}

/* Largest relative error of the gradient (vs differences of the energy) and
 * of the Hessian (vs differences of the gradient), scaled by their largest entry. */
static void fd_check(energy_fn f, void *u, double *x, int n, double eps, double *gerr, double *herr) {
  double g[12], h[144], gp[12], gm[12], gmax = 0, hmax = 0;
  f(x, u, g, h);
  *gerr = *herr = 0;
  for (int i = 0; i < n; i++) gmax = fmax(gmax, fabs(g[i]));
  for (int i = 0; i < n * n; i++) hmax = fmax(hmax, fabs(h[i]));
  for (int i = 0; i < n; i++) {
    const double xi = x[i];
    x[i] = xi + eps;
    const double ep = f(x, u, gp, NULL);
    x[i] = xi - eps;
    const double em = f(x, u, gm, NULL);
    x[i] = xi;
    *gerr = fmax(*gerr, fabs((ep - em) / (2 * eps) - g[i]) / gmax);
    for (int j = 0; j < n; j++) *herr = fmax(*herr, fabs((gp[j] - gm[j]) / (2 * eps) - h[j * n + i]) / hmax);
  }
}

static void test_membrane(void) {
  unsigned s = 7;
  for (int trial = 0; trial < 5; trial++) {
    double X[9] = {0, 0, 0, 1, 0.1, 0.05, 0.2, 0.9, -0.1}, x[9];
    mem_args m;
    CHECK(fem_membrane_rest(X, m.Dminv, &m.vol) == 0);
    CHECK(fabs(m.vol - 0.5 * 0.9 * 1.0) < 0.1); /* about half the unit square */
    double r;
    fem_membrane_energy(X, m.Dminv, 1, 1, 1, NULL, NULL);
    CHECK(fabs(r = fem_membrane_energy(X, m.Dminv, 1, 3, 2, NULL, NULL)) < 1e-24); /* no strain at rest */
    fem_membrane_lame(1e5, 0.3, &m.mu, &m.lambda);
    m.vol *= 1e-3;
    for (int i = 0; i < 9; i++) x[i] = X[i] + 0.3 * urand(&s); /* stretched and compressed */
    double ge, he;
    fd_check(mem_fn, &m, x, 9, 1e-6, &ge, &he);
    printf("membrane trial %d: gradient rel err %.2e, Hessian rel err %.2e\n", trial, ge, he);
    CHECK(ge < 1e-7);
    CHECK(he < 1e-7);
    /* the energy is linear in mu and lambda: d grad / d mu is the gradient at (1, 0) */
    double g[9], g1[9], g2[9];
    fem_membrane_energy(x, m.Dminv, m.vol, m.mu, m.lambda, g, NULL);
    fem_membrane_energy(x, m.Dminv, m.vol, 1, 0, g1, NULL);
    fem_membrane_energy(x, m.Dminv, m.vol, 0, 1, g2, NULL);
    for (int i = 0; i < 9; i++) CHECK(fabs(g[i] - m.mu * g1[i] - m.lambda * g2[i]) <= 1e-9 * (fabs(g[i]) + 1e-12));
    /* rigid motion: a rotation of the rest triangle has no energy */
    const double c = cos(0.7), sn = sin(0.7);
    for (int a = 0; a < 3; a++) {
      x[3 * a] = c * X[3 * a] - sn * X[3 * a + 1] + 2;
      x[3 * a + 1] = sn * X[3 * a] + c * X[3 * a + 1];
      x[3 * a + 2] = X[3 * a + 2] - 1;
    }
    CHECK(fem_membrane_energy(x, m.Dminv, m.vol, m.mu, m.lambda, NULL, NULL) < 1e-20 * m.mu);
  }
  double D[4], A;
  const double line[9] = {0, 0, 0, 1, 0, 0, 2, 0, 0};
  CHECK(fem_membrane_rest(line, D, &A) == -1); /* collinear: degenerate */
}

static void test_hinge(void) {
  unsigned s = 3;
  for (int trial = 0; trial < 5; trial++) {
    /* edge along x, wings on either side, bent */
    double X[12] = {0, 0, 0, 1, 0, 0, 0.4, 0.8, 0.1, 0.6, -0.7, 0.2}, x[12];
    hinge_args m = {0, 0, 2.5};
    CHECK(fem_hinge_rest(X, &m.scale, &m.theta0) == 0);
    CHECK(fem_hinge_energy(X, m.scale, m.theta0, m.k, NULL, NULL) == 0);
    for (int i = 0; i < 12; i++) x[i] = X[i] + 0.2 * urand(&s);
    double ge, he;
    fd_check(hinge_fn, &m, x, 12, 1e-6, &ge, &he);
    printf("hinge trial %d: gradient rel err %.2e, Hessian rel err %.2e\n", trial, ge, he);
    CHECK(ge < 1e-7);
    CHECK(he < 1e-6);
  }
  /* the angle: a flat hinge is 0, folding the wing up by 60 degrees is +-60 */
  double flat[12] = {0, 0, 0, 1, 0, 0, 0.5, 1, 0, 0.5, -1, 0};
  CHECK(fabs(fem_hinge_angle(flat, NULL, NULL)) < 1e-15);
  double fold[12] = {0, 0, 0, 1, 0, 0, 0.5, 1, 0, 0.5, -cos(M_PI / 3), sin(M_PI / 3)};
  CHECK(fabs(fabs(fem_hinge_angle(fold, NULL, NULL)) - M_PI / 3) < 1e-12);
  /* rigid motion keeps the angle */
  double rot[12];
  for (int a = 0; a < 4; a++) {
    rot[3 * a] = fold[3 * a + 1] + 1;
    rot[3 * a + 1] = fold[3 * a + 2];
    rot[3 * a + 2] = fold[3 * a];
  }
  CHECK(fabs(fem_hinge_angle(rot, NULL, NULL) - fem_hinge_angle(fold, NULL, NULL)) < 1e-12);
}

static void test_projection(void) {
  unsigned s = 11;
  double H[144], P[144];
  for (int i = 0; i < 12; i++)
    for (int j = 0; j <= i; j++) H[12 * i + j] = H[12 * j + i] = urand(&s);
  for (int i = 0; i < 144; i++) P[i] = H[i];
  fem_project_spd(12, P);
  double minq = 1e300, shift = 0;
  for (int t = 0; t < 200; t++) {
    double v[12], q = 0;
    for (int i = 0; i < 12; i++) v[i] = urand(&s);
    for (int i = 0; i < 12; i++)
      for (int j = 0; j < 12; j++) q += v[i] * P[12 * i + j] * v[j];
    minq = fmin(minq, q);
  }
  for (int i = 0; i < 144; i++) shift = fmax(shift, fabs(P[i] - H[i]));
  CHECK(minq > -1e-12);
  CHECK(shift > 1e-3); /* a random symmetric matrix is indefinite: projection changed it */
}

/* The element types as the stepper sees them: the analytic Hessian against the
 * complex step of grad_c (a copy of the type without its Hessian), d grad /
 * d params and d grad / d rest against central differences of the gradient. */
static void type_check(const fem_elem_type *T, const double *X, const double *x, const double *p) {
  const int n = 3 * T->k;
  double Ha[144], Hc[144], Jp[144], Jr[144], gp[12], gm[12], Xp[12], pp[12];
  fem_elem_type Tc = *T;
  Tc.hessian = NULL;
  fem_elem_hessian(T, x, X, p, 0, Ha);
  fem_elem_hessian(&Tc, x, X, p, 0, Hc);
  double hmax = 0, herr = 0, perr = 0, pmax = 0, rerr = 0, rmax = 0;
  for (int i = 0; i < n * n; i++) hmax = fmax(hmax, fabs(Ha[i])), herr = fmax(herr, fabs(Ha[i] - Hc[i]));
  fem_elem_dgrad_dparam(T, x, X, p, Jp);
  fem_elem_dgrad_drest(T, x, X, p, Jr);
  for (int j = 0; j < T->nparam; j++) {
    for (int i = 0; i < T->nparam; i++) pp[i] = p[i];
    const double h = 1e-6 * fabs(p[j]) + 1e-9;
    pp[j] = p[j] + h;
    fem_elem_gradient(T, x, X, pp, gp);
    pp[j] = p[j] - h;
    fem_elem_gradient(T, x, X, pp, gm);
    for (int i = 0; i < n; i++) {
      pmax = fmax(pmax, fabs(Jp[i * T->nparam + j]) * fabs(p[j]));
      perr = fmax(perr, fabs((gp[i] - gm[i]) / (2 * h) - Jp[i * T->nparam + j]) * fabs(p[j]));
    }
  }
  for (int j = 0; j < n; j++) {
    for (int i = 0; i < n; i++) Xp[i] = X[i];
    Xp[j] = X[j] + 1e-6;
    fem_elem_gradient(T, x, Xp, p, gp);
    Xp[j] = X[j] - 1e-6;
    fem_elem_gradient(T, x, Xp, p, gm);
    for (int i = 0; i < n; i++) {
      rmax = fmax(rmax, fabs(Jr[i * n + j]));
      rerr = fmax(rerr, fabs((gp[i] - gm[i]) / 2e-6 - Jr[i * n + j]));
    }
  }
  printf("%s: analytic vs complex-step Hessian %.2e, d grad/d params vs FD %.2e, d grad/d rest vs FD %.2e "
         "(relative)\n", T->name, herr / hmax, perr / pmax, rerr / rmax);
  CHECK(herr < 1e-10 * hmax);
  CHECK(perr < 1e-7 * pmax);
  CHECK(rerr < 1e-6 * rmax);
  /* the double gradient agrees with the complex one's real part, and the energy's differences */
  double g[12], e = 0;
  fem_elem_gradient(T, x, X, p, g);
  double xx[12];
  for (int i = 0; i < n; i++) xx[i] = x[i];
  for (int i = 0; i < n; i++) {
    xx[i] = x[i] + 1e-6;
    const double ep = fem_elem_energy(T, xx, X, p);
    xx[i] = x[i] - 1e-6;
    const double em = fem_elem_energy(T, xx, X, p);
    xx[i] = x[i];
    e = fmax(e, fabs((ep - em) / 2e-6 - g[i]));
  }
  double gmax = 0;
  for (int i = 0; i < n; i++) gmax = fmax(gmax, fabs(g[i]));
  /* the Hessian (analytic or complex step) against differences of the gradient */
  double hfd = 0, gp2[12], gm2[12];
  for (int j = 0; j < n; j++) {
    xx[j] = x[j] + 1e-6;
    fem_elem_gradient(T, xx, X, p, gp2);
    xx[j] = x[j] - 1e-6;
    fem_elem_gradient(T, xx, X, p, gm2);
    xx[j] = x[j];
    for (int i = 0; i < n; i++) hfd = fmax(hfd, fabs((gp2[i] - gm2[i]) / 2e-6 - Ha[i * n + j]));
  }
  printf("%s: grad_c vs energy differences %.2e, Hessian vs gradient differences %.2e (relative)\n", T->name,
         e / gmax, hfd / hmax);
  CHECK(e < 1e-7 * gmax);
  CHECK(hfd < 1e-7 * hmax);
}

static void test_types(void) {
  unsigned s = 5;
  const double X3[9] = {0, 0, 0, 1, 0.1, 0.05, 0.2, 0.9, -0.1};
  double x3[9];
  for (int i = 0; i < 9; i++) x3[i] = X3[i] + 0.2 * urand(&s);
  const double pm[4] = {2e5, 0.3, 1e-3, 0.2};
  type_check(&fem_type_tri_membrane, X3, x3, pm);
  const double X4[12] = {0, 0, 0, 1, 0, 0, 0.4, 0.8, 0.1, 0.6, -0.7, 0.2};
  double x4[12];
  for (int i = 0; i < 12; i++) x4[i] = X4[i] + 0.2 * urand(&s);
  const double pb[1] = {0.03};
  type_check(&fem_type_hinge_bend, X4, x4, pb);
  type_check(&fem_type_tri_neohookean, X3, x3, pm);
  /* Neo-Hookean and StVK agree for small strains (the same plane-stress linearisation) */
  double xs[9], hn[81], hs[81];
  for (int i = 0; i < 9; i++) xs[i] = X3[i];
  fem_elem_hessian(&fem_type_tri_neohookean, xs, X3, pm, 0, hn);
  fem_elem_hessian(&fem_type_tri_membrane, xs, X3, pm, 0, hs);
  double dh = 0, hm = 0;
  for (int i = 0; i < 81; i++) dh = fmax(dh, fabs(hn[i] - hs[i])), hm = fmax(hm, fabs(hs[i]));
  printf("rest Hessians: Neo-Hookean vs StVK membrane %.2e (relative)\n", dh / hm);
  CHECK(dh < 1e-9 * hm);
  /* a collapsing triangle (x2 moved onto the line x0-x1, area ratio s) costs without bound
   * under Neo-Hookean (like -ln s) and a bounded amount under StVK */
  double en[3], es[3];
  const double svals[3] = {1e-2, 1e-4, 1e-8};
  for (int q = 0; q < 3; q++) {
    double xq[9];
    for (int i = 0; i < 6; i++) xq[i] = X3[i];
    for (int c = 0; c < 3; c++) xq[6 + c] = svals[q] * X3[6 + c] + (1 - svals[q]) * 0.5 * X3[3 + c];
    en[q] = fem_elem_energy(&fem_type_tri_neohookean, xq, X3, pm);
    es[q] = fem_elem_energy(&fem_type_tri_membrane, xq, X3, pm);
  }
  printf("collapse: Neo-Hookean %.4g %.4g %.4g, StVK %.4g %.4g %.4g J\n", en[0], en[1], en[2], es[0], es[1], es[2]);
  CHECK(en[2] - en[1] > en[1] - en[0] && en[1] - en[0] > 0);
  CHECK(fabs(es[2] - es[1]) < 1e-3 * es[1]);
  char msg[128];
  const double pbad[4] = {2e5, 0.5, 1e-3, 0.2};
  CHECK(fem_type_tri_membrane.check(X3, pbad, msg, sizeof msg) != 0);
  CHECK_CONTAINS(msg, "nu = 0.5");
  const double flat[9] = {0, 0, 0, 1, 0, 0, 2, 0, 0};
  CHECK(fem_type_tri_membrane.check(flat, pm, msg, sizeof msg) != 0);
  CHECK_CONTAINS(msg, "degenerate");
  CHECK(fem_type_tri_membrane.check(X3, pm, msg, sizeof msg) == 0);
  CHECK(fem_type_hinge_bend.check(X4, pb, msg, sizeof msg) == 0);
}

static void test_topology(void) {
  char err[256];
  int32_t hinges[4 * 64];
  /* a 3x3 grid of squares, two triangles each: 12 interior... count below */
  int32_t tri[18 * 3];
  int nt = 0;
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      const int v = i * 4 + j;
      tri[3 * nt] = v, tri[3 * nt + 1] = v + 1, tri[3 * nt + 2] = v + 5, nt++;
      tri[3 * nt] = v, tri[3 * nt + 1] = v + 5, tri[3 * nt + 2] = v + 4, nt++;
    }
  /* interior edges: 9 diagonals + 2*3 horizontal-interior + 3*2 vertical-interior = 21 */
  CHECK(fem_shell_hinges(tri, nt, 16, hinges, err, sizeof err) == 21);
  /* every hinge's wings lie on opposite sides, so the flat grid's angles are 0 */
  /* non-manifold: a third triangle on edge {0, 1} */
  int32_t fin[4 * 3] = {0, 1, 2, 1, 0, 3, 0, 1, 4, 2, 1, 5};
  CHECK(fem_shell_hinges(fin, 4, 6, hinges, err, sizeof err) == -1);
  CHECK_CONTAINS(err, "edge {0, 1} is shared by 3 triangles");
  /* inconsistent orientation */
  int32_t flip[2 * 3] = {0, 1, 2, 0, 1, 3};
  CHECK(fem_shell_hinges(flip, 2, 4, hinges, err, sizeof err) == -1);
  CHECK_CONTAINS(err, "inconsistent orientation");
  /* two triangles touching at vertex 0 only */
  int32_t bow[2 * 3] = {0, 1, 2, 0, 3, 4};
  CHECK(fem_shell_hinges(bow, 2, 5, hinges, err, sizeof err) == -1);
  CHECK_CONTAINS(err, "vertex 0 is where separate sheets meet");
  int32_t bad[3] = {0, 1, 7};
  CHECK(fem_shell_hinges(bad, 1, 3, hinges, err, sizeof err) == -1);
  CHECK_CONTAINS(err, "vertex index 7");
  int32_t rep[3] = {0, 1, 1};
  CHECK(fem_shell_hinges(rep, 1, 3, hinges, err, sizeof err) == -1);
  CHECK_CONTAINS(err, "repeats a vertex");
}

int main(void) {
  test_membrane();
  test_hinge();
  test_projection();
  test_types();
  test_topology();
  TEST_DONE();
}
