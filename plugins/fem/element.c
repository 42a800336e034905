/* fem: the generic element derivatives (element.h). Every derivative a type
 * does not give analytically comes from its complex gradient by the complex
 * step, d f/d s = Im f(s + i h) / h: no subtraction, so it is exact to
 * round-off for any h small enough that h^2 terms vanish (h = 1e-30 here). */
#include "element.h"

#include <math.h>
#include <string.h>

static const double CS_H = 1e-30;

static void to_c(int n, const double *a, fem_cplx *c) {
  for (int i = 0; i < n; i++) c[i] = a[i];
  for (int i = n; i < FEM_MAX_PARAM && i < FEM_MAX_DOF; i++) c[i] = 0; /* unused tail, defined */
}

double fem_elem_energy(const fem_elem_type *T, const double *x, const double *X, const double *p) {
  return T->energy(x, X, p);
}

void fem_elem_gradient(const fem_elem_type *T, const double *x, const double *X, const double *p, double *g) {
  const int n = 3 * T->k;
  fem_cplx xc[FEM_MAX_DOF], Xc[FEM_MAX_DOF], pc[FEM_MAX_PARAM], gc[FEM_MAX_DOF];
  to_c(n, x, xc), to_c(n, X, Xc), to_c(T->nparam, p, pc);
  T->grad_c(xc, Xc, pc, gc);
  for (int i = 0; i < n; i++) g[i] = creal(gc[i]);
}

/* Columns j of d g / d s for s in {x, X, p}: which = 0, 1, 2. J is rows(3k) x ncols, row-major. */
static void cs_jacobian(const fem_elem_type *T, const double *x, const double *X, const double *p, int which,
                        double *J) {
  const int n = 3 * T->k, ncol = which == 2 ? T->nparam : n;
  fem_cplx xc[FEM_MAX_DOF], Xc[FEM_MAX_DOF], pc[FEM_MAX_PARAM], gc[FEM_MAX_DOF];
  to_c(n, x, xc), to_c(n, X, Xc), to_c(T->nparam, p, pc);
  fem_cplx *s = which == 0 ? xc : which == 1 ? Xc : pc;
  for (int j = 0; j < ncol; j++) {
    const fem_cplx keep = s[j];
    s[j] = creal(keep) + I * CS_H;
    T->grad_c(xc, Xc, pc, gc);
    s[j] = keep;
    for (int i = 0; i < n; i++) J[i * ncol + j] = cimag(gc[i]) / CS_H;
  }
}

void fem_elem_hessian(const fem_elem_type *T, const double *x, const double *X, const double *p, int project,
                      double *H) {
  const int n = 3 * T->k;
  if (T->hessian) {
    T->hessian(x, X, p, project, H);
  } else {
    cs_jacobian(T, x, X, p, 0, H);
    if (project) fem_project_spd(n, H);
  }
  /* symmetric to round-off already; make it exactly so (CHOLMOD refuses an unsymmetric matrix) */
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++) H[i * n + j] = H[j * n + i] = 0.5 * (H[i * n + j] + H[j * n + i]);
}

void fem_elem_dgrad_dparam(const fem_elem_type *T, const double *x, const double *X, const double *p, double *J) {
  cs_jacobian(T, x, X, p, 2, J);
}

void fem_elem_dgrad_drest(const fem_elem_type *T, const double *x, const double *X, const double *p, double *J) {
  cs_jacobian(T, x, X, p, 1, J);
}

double fem_elem_measure(const fem_elem_type *T, const double *X, double *gX) {
  const int n = 3 * T->k;
  if (!T->measure_c) {
    if (gX) memset(gX, 0, (size_t)n * sizeof *gX);
    return 0;
  }
  fem_cplx Xc[FEM_MAX_DOF];
  to_c(n, X, Xc);
  const double m = creal(T->measure_c(Xc));
  if (gX)
    for (int j = 0; j < n; j++) {
      Xc[j] = X[j] + I * CS_H;
      gX[j] = cimag(T->measure_c(Xc)) / CS_H;
      Xc[j] = X[j];
    }
  return m;
}

/* Cyclic Jacobi eigenvalue iteration on a small symmetric matrix: A = V L V^T,
 * then A <- V max(L, 0) V^T. Sweeps until the off-diagonal mass is at
 * round-off relative to the diagonal (at most 30 sweeps). */
void fem_project_spd(int n, double *A) {
  double V[FEM_MAX_DOF * FEM_MAX_DOF];
  memset(V, 0, sizeof V);
  for (int i = 0; i < n; i++) V[i * n + i] = 1;
  for (int sweep = 0; sweep < 30; sweep++) {
    double off = 0, diag = 0;
    for (int i = 0; i < n; i++) {
      diag += A[i * n + i] * A[i * n + i];
      for (int j = i + 1; j < n; j++) off += A[i * n + j] * A[i * n + j];
    }
    if (off <= 1e-30 * diag || off == 0) break;
    for (int p = 0; p < n; p++)
      for (int q = p + 1; q < n; q++) {
        const double apq = A[p * n + q];
        if (fabs(apq) < 1e-300) continue;
        const double theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
        const double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
        const double c = 1 / sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < n; k++) { /* A <- A G (columns p, q) */
          const double akp = A[k * n + p], akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (int k = 0; k < n; k++) { /* A <- G^T A (rows p, q) */
          const double apk = A[p * n + k], aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        for (int k = 0; k < n; k++) {
          const double vkp = V[k * n + p], vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  double L[FEM_MAX_DOF];
  int neg = 0;
  for (int i = 0; i < n; i++) {
    L[i] = A[i * n + i];
    if (L[i] < 0) L[i] = 0, neg = 1;
  }
  (void)neg;
  for (int i = 0; i < n; i++)
    for (int j = i; j < n; j++) {
      double s = 0;
      for (int k = 0; k < n; k++) s += V[i * n + k] * L[k] * V[j * n + k];
      A[i * n + j] = A[j * n + i] = s;
    }
}
