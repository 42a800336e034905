/* Shared by the wave plugin's kernel files: the 5-point stencil with its two
 * boundary rules, the grid params every kernel takes, and the physical
 * constants c (wave speed) and alpha (damping), which arrive as 0-dim tensors
 * so that they can require grad.
 *
 * The model (docs/wave.md): the damped wave equation
 *     u_tt = c^2 lap(u) + c alpha lap(u_t)
 * by leap-frog over three time levels with the unscaled 5-point Laplacian L
 * (neighbours minus 4 x centre):
 *     u+ = 2 u - u- + k1 L u - k2 L u-,   k1 = (c^2 dt^2 + c alpha dt)/dx^2,  k2 = c alpha dt/dx^2
 * Boundaries: 0 = zero Dirichlet (outside cells hold 0), 1 = reflecting
 * (an outside cell mirrors the edge cell). Both make L symmetric, so every
 * adjoint applies the same stencil to the incoming gradient: gathers, no atomics.
 *
 * Stability: a Fourier mode with eigenvalue -lam of L/dx^2 obeys
 * z^2 - (2 - A lam) z + (1 - B lam) = 0, A = c^2dt^2 + c alpha dt, B = c alpha dt;
 * both roots stay in the unit disc for all 0 <= lam <= 8/dx^2 iff
 * c^2 dt^2 + 2 c alpha dt <= dx^2 / 2 (the CFL limit wave_phys_read enforces). */
#ifndef WAVE_H
#define WAVE_H

#include <diffsim/plugin.h>

typedef ds_real real;

enum { BC_DIRICHLET = 0, BC_REFLECT = 1 };

/* Rows per parallel block: about 16k cells, big enough to amortise scheduling,
 * small enough to balance 1024^2 over many threads. Never depends on the
 * thread count, so results do not either. */
static inline int64_t row_grain(int64_t w) {
  int64_t g = 16384 / (w > 0 ? w : 1);
  return g < 1 ? 1 : g;
}

/* Neighbour rows of row i: for an edge row the outside row is replaced by the
 * row itself with weight 0 (Dirichlet) or 1 (reflecting: the ghost equals the
 * edge cell). Interior rows get weight 1 from real neighbours. */
typedef struct {
  const real *up, *dn;
  real su, sd;
} nbrs;

static inline nbrs rows_of(const real *x, int64_t i, int64_t h, int64_t w, int bc) {
  nbrs n;
  const real *mid = x + i * w;
  n.up = i > 0 ? mid - w : mid;
  n.dn = i < h - 1 ? mid + w : mid;
  n.su = (i > 0 || bc == BC_REFLECT) ? (real)1 : (real)0;
  n.sd = (i < h - 1 || bc == BC_REFLECT) ? (real)1 : (real)0;
  return n;
}

/* L x at (row of `mid`, column j): the scalar path, for edge columns. */
static inline real lap_at(const real *mid, nbrs n, int64_t j, int64_t w, int bc) {
  real side = bc == BC_REFLECT ? (real)1 : (real)0;
  real left = j > 0 ? mid[j - 1] : side * mid[j];
  real right = j < w - 1 ? mid[j + 1] : side * mid[j];
  return n.su * n.up[j] + n.sd * n.dn[j] + left + right - 4 * mid[j];
}

/* The grid params every stepping kernel takes, in this order (named in Lua). */
#define WAVE_GRID_PARAMS(P) P(dt) P(dx) P(boundary)

/* Physical constants as the kernels use them: read from the 0-dim tensors in
 * `real`, the type the params were converted to before they became tensors,
 * so a plain number gives bit for bit the old results. */
typedef struct {
  real c, alpha, dt, dx;
  int bc;
} wave_phys;

/* Host side, params only (a check never reads tensor data): dt, dx, boundary. */
int wave_check_grid(const ds_call *c, double dt, double dx, double boundary);
/* All args in `same` (slot indices) must have the shape of the first, non-empty. */
int wave_check_same(const ds_call *c, int n, const int *same);
/* Reads c and alpha (alpha_t may be NULL: the kernel has no damping) at the
 * start of a forward, refusing c <= 0, alpha < 0 and, when `cfl`, a dt past the
 * stability limit. The values live in tensor memory, which only the forward
 * (running on the tensors' device) may read: that is why this is not in check. */
int wave_phys_read(const ds_call *c, const ds_tensor *c_t, const ds_tensor *alpha_t, double dt, double dx,
                   double boundary, int cfl, wave_phys *out);
/* The same values without the checks, for adjoints (the forward accepted them). */
wave_phys wave_phys_get(const ds_tensor *c_t, const ds_tensor *alpha_t, double dt, double dx, double boundary);

/* Per-row double sums of two stencil contractions, reduced in row order:
 * s[0] = sum (L g) . x,  s[1] = sum (L g) . y   (y may be NULL).
 * Since L is symmetric, (L g) . x = g . (L x): this is how the adjoints get the
 * gradient of a coefficient that multiplies L x. Uses call scratch. */
int wave_lap_dots(const ds_call *c, const real *g, const real *x, const real *y, int64_t h, int64_t w, int bc,
                  double s[2]);

/* Registration, one per kernel file. */
int wave_register_step(const ds_host_api *host, ds_registrar *reg);
int wave_register_start(const ds_host_api *host, ds_registrar *reg);
int wave_register_energy(const ds_host_api *host, ds_registrar *reg);
int wave_register_drops(const ds_host_api *host, ds_registrar *reg);

#endif
