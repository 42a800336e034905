/* fem: the element interface. The incremental-potential stepper (step.c,
 * system.c) never knows which elements it sums: the total potential is a sum
 * over element SETS, each set one TYPE from the table below, each element of a
 * set k vertex indices and one row of nparam material parameters.
 *
 * ---- How to add an element type (cloth membrane, bending hinge, ...) --------
 *  1. Write a file (e.g. shell.c) that defines a `const fem_elem_type` with
 *     name, k, nparam, param_names, density_param, and the functions below.
 *     Only `grad_c` and `energy` are required; every derivative the stepper
 *     needs (Hessian, its SPD projection, d grad/d params, d grad/d rest
 *     positions, d measure/d rest) comes from `grad_c` by complex-step
 *     differentiation (exact to round-off: no subtraction), unless you give an
 *     analytic override. So write grad_c with the operators of <complex.h>
 *     only (+ - * /, csqrt, clog, catan2-free: use fem_c* helpers below for
 *     atan2/acos/norms), never with fabs/fmax on a complex value: branch on
 *     creal() instead.
 *  2. Add one line `extern const fem_elem_type fem_type_<name>;` below, and
 *     `&fem_type_<name>,` to the table in types.c (append at the end: the
 *     index is the type id Lua passes; ids never change).
 *  3. Add the file to plugins/fem/CMakeLists.txt and the type's name/params to
 *     the TYPES table in fem.lua (append). Tests: tests/lua/fem_kernels_spec.lua
 *     shows the FD checks to copy for a new type (energy gradient and Hessian
 *     against central differences through fem.energy / fem.residual /
 *     fem.hessian; parameter and rest derivatives through fem.residual's
 *     adjoint with ds.gradcheck; one implicit step's IFT gradient).
 * Nothing else changes: the stepper, the adjoint and the kernels are generic.
 *
 * Conventions: positions are world vertex positions (3k doubles, vertex-major:
 * x[3*a + d]); X the same vertices' REST positions (the rest shape is an input
 * that can require grad); p the element's nparam material parameters. All
 * functions are pure (no state, thread-safe) and in double precision whatever
 * the build's ds_real. Energies are total element energies (density x rest
 * measure), in J. */
#ifndef FEM_ELEMENT_H
#define FEM_ELEMENT_H

#include <complex.h>
#include <math.h>
#include <stddef.h>

typedef double _Complex fem_cplx;

enum { FEM_MAX_K = 4, FEM_MAX_DOF = 3 * FEM_MAX_K, FEM_MAX_PARAM = 12 };

typedef struct fem_elem_type {
  const char *name;                /* "tet_snh", ...: what Lua calls it */
  int k;                           /* vertices per element (<= FEM_MAX_K) */
  int nparam;                      /* material parameters per element (<= FEM_MAX_PARAM) */
  const char *const *param_names;  /* nparam names, e.g. {"E", "nu", "density", ...} */
  int density_param;               /* index of the density among the params, or -1: the type carries no
                                      mass. Lumped mass: density * measure / k to each vertex */
  /* Rest measure (volume, area) from rest positions, in complex (for d/dX). NULL: no mass. */
  fem_cplx (*measure_c)(const fem_cplx *X);
  /* Validates one element's rest shape and parameters; returns 0, or nonzero after writing a
     message (no kernel name: the caller prefixes it) such as "rest volume -1e-9 <= 0 (inverted or
     degenerate)" or "nu = 0.5 must be in (-1, 0.5)". */
  int (*check)(const double *X, const double *p, char *msg, size_t len);
  /* Energy (double). Used by the line search and for diagnostics. */
  double (*energy)(const double *x, const double *X, const double *p);
  /* Gradient of the energy w.r.t. x (3k), in complex arithmetic (see above). */
  void (*grad_c)(const fem_cplx *x, const fem_cplx *X, const fem_cplx *p, fem_cplx *g);
  /* Optional analytic Hessian (3k x 3k, row-major), projected to SPD when `project` != 0.
     NULL: complex step on grad_c, then (when projecting) eigenvalue clamping at 0. */
  void (*hessian)(const double *x, const double *X, const double *p, int project, double *H);
  /* Optional: the rest-stiffness type for stiffness-proportional (beta) Rayleigh damping: a
     type with the same k and params whose energy is the quadratic form of this type's
     Hessian at rest (tets: linear elasticity). NULL: beta damping skips this type. */
  const struct fem_elem_type *rest_stiffness;
} fem_elem_type;

/* ---- the generic derivatives every type gets (element.c) ----------------- */
/* All outputs are overwritten (not accumulated). */
double fem_elem_energy(const fem_elem_type *T, const double *x, const double *X, const double *p);
void fem_elem_gradient(const fem_elem_type *T, const double *x, const double *X, const double *p, double *g);
/* H (3k x 3k row-major): the Hessian; project != 0 clamps its eigenvalues at 0 (SPD projection). */
void fem_elem_hessian(const fem_elem_type *T, const double *x, const double *X, const double *p, int project,
                      double *H);
/* J (3k x nparam row-major): d gradient / d params. */
void fem_elem_dgrad_dparam(const fem_elem_type *T, const double *x, const double *X, const double *p, double *J);
/* J (3k x 3k row-major): d gradient / d rest positions. */
void fem_elem_dgrad_drest(const fem_elem_type *T, const double *x, const double *X, const double *p, double *J);
/* Rest measure and its gradient w.r.t. the rest positions (gX: 3k; may be NULL). 0 without measure_c. */
double fem_elem_measure(const fem_elem_type *T, const double *X, double *gX);

/* Symmetric eigenvalue clamp: A (n x n row-major, n <= FEM_MAX_DOF) <- V max(L, 0) V^T (Jacobi). */
void fem_project_spd(int n, double *A);

/* ---- complex helpers for grad_c ------------------------------------------ */
static inline fem_cplx fem_cdot3(const fem_cplx *a, const fem_cplx *b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
static inline void fem_ccross(const fem_cplx *a, const fem_cplx *b, fem_cplx *c) {
  c[0] = a[1] * b[2] - a[2] * b[1];
  c[1] = a[2] * b[0] - a[0] * b[2];
  c[2] = a[0] * b[1] - a[1] * b[0];
}
/* |a| (a complex-analytic norm: sqrt of the sum of squares, no conjugation) */
static inline fem_cplx fem_cnorm3(const fem_cplx *a) { return csqrt(fem_cdot3(a, a)); }
/* atan2(y, x) extended analytically: the real part from atan2, the derivative (x dy - y dx)/(x^2+y^2) */
static inline fem_cplx fem_catan2(fem_cplx y, fem_cplx x) {
  double yr = creal(y), xr = creal(x), yi = cimag(y), xi = cimag(x);
  double r2 = xr * xr + yr * yr;
  return atan2(yr, xr) + I * (r2 > 0 ? (xr * yi - yr * xi) / r2 : 0.0);
}

/* ---- the types (types.c holds the table; append only) -------------------- */
extern const fem_elem_type fem_type_tet_snh;
extern const fem_elem_type fem_type_tet_corot;
extern const fem_elem_type fem_type_tet_linear;
extern const fem_elem_type fem_type_tri_membrane; /* shell_types.c: cloth / thin shells */
extern const fem_elem_type fem_type_hinge_bend;
extern const fem_elem_type fem_type_tri_neohookean;

extern const fem_elem_type *const fem_types[];
extern const int fem_ntypes;

#endif
