/* fem: the incremental potential of one step, element-agnostic (internal).
 *
 * Unknowns y (n x 3, the positions at the end of the step; doubles). With d = y - x,
 * implicit (backward) Euler minimises
 *   Phi(y) = sum_i m_i/2 |d_i - h v_i|^2
 *          + h^2 [ sum_e psi_e(y) - sum_i m_i g.y_i + C(y) + D(y)
 *                  + alpha/(2h) sum_i m_i |d_i|^2 + beta/(2h) d^T K0 d ]
 * and a static solve minimises sum_e psi_e(y) - sum_i m_i g.y_i + C(y).
 *   C     ground contact: a C2 cubic penalty kc/3 max(0, ground_y - y_y)^3 per vertex;
 *   D     friction: lagged, smoothed Coulomb (IPC-style): mu lam_n F0(|d_T|), lam_n the contact
 *         force at the step's start, F0' = f1(s / (eps_v h)), f1(r) = 2r - r^2 below 1, 1 above,
 *         so the force reaches mu lam_n once the sliding speed exceeds eps_v (m/s);
 *   alpha, beta  Rayleigh damping (mass- and stiffness-proportional, K0 the rest stiffness).
 * Pinned vertices are not unknowns: their rows of G are zero and their
 * Hessian rows/columns are the identity. G = dPhi/dy is the residual Newton
 * drives to zero, and its partials w.r.t. every input give the IFT adjoint. */
#ifndef FEM_SYSTEM_H
#define FEM_SYSTEM_H

#include <diffsim/plugin.h>
#include <diffsim/solve.h>

#include "element.h"

enum { FEM_MAX_SETS = 16 };
enum { FEM_IMPLICIT = 0, FEM_STATIC = 1, FEM_SYMPLECTIC = 2 };

typedef struct fem_set {
  const fem_elem_type *T;
  const int32_t *conn; /* m x k vertex indices */
  int64_t m;
  const ds_real *p;    /* nparam x m: one row per parameter, p[j * m + e] */
  ds_real *pgrad;      /* its gradient, or NULL */
  int64_t trip0;       /* first Hessian triplet of this set */
} fem_set;

typedef struct fem_sys {
  const ds_call *c;
  int64_t n;
  int nsets;
  fem_set set[FEM_MAX_SETS];
  const ds_real *x0, *v0, *X; /* start positions, velocities, rest positions (n x 3) */
  double *mass;               /* n lumped masses */
  unsigned char *pinned;      /* n flags */
  double h, g[3];
  int mode, ground;
  double ground_y, kc, mu, eps_v, alpha, beta;
  int64_t ntrip;              /* Hessian triplets: element blocks, then 9 per vertex */
} fem_sys;

/* fem_setup (setup.c) builds S from a launch and validates it. */
double fem_sys_energy(const fem_sys *S, const double *y);
/* G = dPhi/dy (pinned rows zero). Returns 0, or nonzero when not finite. */
void fem_sys_gradient(const fem_sys *S, const double *y, ds_real *G);
/* The triplet pattern (rows, cols: ntrip each) and values at y (project: SPD per element). */
void fem_sys_pattern(const fem_sys *S, int32_t *rows, int32_t *cols);
void fem_sys_hessian(const fem_sys *S, const double *y, int project, ds_real *vals);

/* Pullback of the residual: for w (n x 3, pinned rows ignored) adds (dG/dz)^T w
 * into every gradient that is wanted: x0, v0, rest, each set's params, gravity
 * (3 doubles), and ybar (n x 3: the full true Hessian times w, pinned columns
 * included). Any output pointer may be NULL. */
typedef struct fem_pullback {
  ds_real *x0, *v0, *rest, *y;
  double *gravity;
} fem_pullback;
int fem_sys_pullback(const fem_sys *S, const double *y, const ds_real *w, fem_pullback *out);
/* y as doubles (the system's point is always double: in the float build Newton
 * iterates on a small increment, see step.c), in host scratch. */
double *fem_to_double(const ds_call *c, const ds_real *y, int64_t count);

#endif
