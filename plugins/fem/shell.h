/* Thin-shell (cloth) elements of the fem plugin, as pure double functions of
 * one element: no ds types, no allocation, so the stepper's element table, the
 * kernels and a C unit test all call the same code.
 *
 *   membrane  a triangle (x0, x1, x2), StVK in its plane (plane-stress Lame
 *             parameters), W = A h (mu |E|^2 + lambda/2 tr(E)^2), E = (F^T F - I)/2,
 *             F = [x1 - x0, x2 - x0] Dm^-1 the 3x2 deformation gradient from the
 *             rest triangle's own 2D frame;
 *   bending   a hinge (x0, x1 | x2, x3): two triangles (x0, x1, x2) and (x1, x0, x3)
 *             sharing the edge x0-x1, W = k 3|e0|^2/(A1 + A2) (theta - theta0)^2
 *             (Grinspun et al. 2003, discrete shells; e0, A1, A2, theta0 at rest),
 *             theta the signed angle between the two triangles' normals.
 *
 * Both energies are linear in their stiffness (mu, lambda; k): the derivative of
 * the gradient with respect to a stiffness is the gradient with that stiffness
 * set to 1 and the others to 0. Gradients are 9 (12) doubles, Hessians 9x9
 * (12x12) row-major; either may be NULL. Vertex-major: entry 3 a + c is
 * coordinate c of vertex a. */
#ifndef FEM_SHELL_H
#define FEM_SHELL_H

#include <stdint.h>

/* Rest data of a triangle: Dm^-1 (2x2 row-major) and the area. Returns 0, or -1
 * when the triangle is degenerate (area <= 1e-14 of its squared longest edge). */
int fem_membrane_rest(const double X[9], double Dminv[4], double *area);
/* Energy of one triangle; vol = rest area x thickness. */
double fem_membrane_energy(const double x[9], const double Dminv[4], double vol, double mu, double lambda,
                           double *grad, double *hess);
/* Plane-stress Lame parameters of Young's modulus E and Poisson's ratio nu. */
void fem_membrane_lame(double E, double nu, double *mu, double *lambda);

/* Rest data of a hinge: the geometric factor 3|e0|^2/(A1 + A2) and theta0.
 * Returns 0, or -1 when the edge or a triangle is degenerate. */
int fem_hinge_rest(const double X[12], double *scale, double *theta0);
/* Signed dihedral angle of a hinge; its gradient (12) and Hessian (144) when not NULL. */
double fem_hinge_angle(const double x[12], double *grad, double *hess);
/* Energy of one hinge with stiffness k. */
double fem_hinge_energy(const double x[12], double scale, double theta0, double k, double *grad, double *hess);

/* Topology of a triangle mesh (0-based vertex indices, ntri x 3): its hinges,
 * one per interior edge, as {v0, v1, v2, v3} rows of fem_hinge_* order.
 * hinges must hold 3 ntri / 2 rows. Returns the number of hinges, or -1 with
 * a message in err (naming the triangles, edge or vertex) when the mesh is not
 * an oriented 2-manifold: an index out of range, a repeated vertex in a
 * triangle, an edge of more than two triangles, two triangles that order a
 * shared edge the same way (inconsistent orientation), or a vertex whose
 * triangles form more than one fan (two sheets touching at a point). */
int64_t fem_shell_hinges(const int32_t *tri, int64_t ntri, int64_t nvert, int32_t *hinges, char *err,
                         int errlen);

#endif
