/* The parallel passes of one 2D substep (mpm_phys.h has the equations).
 *
 * Forward:  cells     particles: base cell (in the data checks' parallel region)
 *           bins      serial counting sort by cell (bins.c)
 *           A         two phases of 2-cell-row blocks, 16 particles at a time: stress,
 *                     affine, F', the 9 (m, mv) contributions added into the grid (lanes.c)
 *           B         in A's second phase, per finished node row: grid velocity, gravity, band
 *           C         particles, 16 at a time (index order): G2P -> v', C', x' (g2p_lanes.c)
 * Adjoint:  recomputes cells, bins, A and B from the step's inputs (or, when the
 *           launch's aux kept the forward's bins and grid (substep.c), B from the
 *           kept grid), then
 *           D         two phases of blocks as A, 16 particles at a time: G2P adjoint ->
 *                     grads of x, and of the grid velocity reads added into the grid (g2p_lanes.c)
 *           E         in D's second phase, per finished node row: grid update adjoint ->
 *                     grads of m, mv; per-row sums of the gravity and friction grads
 *           F         particles, 16 at a time (index order): P2G, stress, material and F update
 *                     adjoint (p2g_adj_lanes.c)
 * Particle passes write only their particles' rows, blocks only their node rows:
 * no atomics, and the blocks never depend on the thread count. A substep has 4
 * parallel regions forward (with the data checks) and 3 backward (D's first
 * phase restores a kept grid), plus 3 to recompute a grid that was not kept. */
#include <string.h>

#include "passes.h"

/* ---- cells: each particle's base cell, for the binning --------------------------- */
void pass_cells(int64_t lo, int64_t hi, void *user) {
  sim *s = user;
  for (int64_t p = lo; p < hi; p++) {
    const R *x = s->x + 2 * p;
    const int32_t b0 = (int32_t)(x[0] * s->inv_dx - (R)0.5), b1 = (int32_t)(x[1] * s->inv_dx - (R)0.5);
    s->cell[p] = (int32_t)((int64_t)b0 * s->ny + b1); /* (x may still be unchecked: no overflow) */
  }
}

/* ---- P2G and the G2P adjoint's scatter: two phases of 2-row blocks ----------------
 * Block m holds the particles of cell rows 2m and 2m + 1 (contiguous in bin
 * order); their stencils reach node rows 2m .. 2m + 3. Blocks of one parity are
 * 4 rows apart, so the even blocks (phase 0) and then the odd ones (phase 1) can
 * each run in parallel, every block adding its particles straight into the grid.
 * A node's sum then runs in one fixed order (its even block's particles in bin
 * order, then its odd block's), whatever the thread count: the grid is bitwise
 * identical for any number of threads, without atomics or per-cell buffers.
 * Phase 0's block m first clears node rows 2m .. 2m + 3 (the even blocks' rows
 * cover the grid, without overlap); phase 1's block m = 2t - 1 finishes node rows
 * 2m .. 2m + 3 (its own, with m = -1 for rows 0 and 1), so it also runs the node
 * work of those rows right after its adds. */
static int64_t bin_of_row(const sim *s, int64_t row) {
  row = row < 0 ? 0 : (row > s->nx ? s->nx : row);
  return s->rowstart[row];
}

/* Clears node rows [r0, r1) inside their spans (the rest is never read). */
static void clear_rows(const sim *s, R *grid, int ch, int64_t r0, int64_t r1) {
  for (int64_t i = r0 < 0 ? 0 : r0; i < r1 && i < s->nx; i++) {
    const int64_t lo = s->span[2 * i], hi = s->span[2 * i + 1];
    if (lo <= hi) memset(grid + (i * s->ny + lo) * ch, 0, (size_t)((hi - lo + 1) * ch) * sizeof(R));
  }
}

/* tasks per phase: phase 0 block m = 2t (4t <= nx - 1), phase 1 m = 2t - 1 (4t + 1 >= nx - 1) */
static int64_t phase_tasks(const sim *s, int phase) { return phase == 0 ? (s->nx - 1) / 4 + 1 : (s->nx + 1) / 4 + 1; }

typedef void (*row_fn)(const sim *s, int64_t i);

/* One block of a phase: node_row on its 4 node rows and a clear of them (phase
 * 0: node_row before the block's particles read the rows, or NULL), the block's
 * particles, then (phase 1) node_row on its 4 node rows. */
static void phase_block(sim *s, int64_t t, int phase, R *grid, int ch, void (*particles)(sim *, int64_t, int64_t),
                        row_fn node_row) {
  const int64_t m = phase == 0 ? 2 * t : 2 * t - 1;
  const int64_t r0 = 2 * m < 0 ? 0 : 2 * m, r1 = 2 * m + 4 < s->nx ? 2 * m + 4 : s->nx;
  if (phase == 0) {
    if (node_row)
      for (int64_t i = r0; i < r1; i++) node_row(s, i);
    clear_rows(s, grid, ch, r0, r1);
  }
  const int64_t lo = bin_of_row(s, 2 * m), hi = bin_of_row(s, 2 * m + 2);
  if (lo < hi) particles(s, lo, hi);
  if (phase == 1)
    for (int64_t i = r0; i < r1; i++) node_row(s, i);
}

/* ---- B: grid mass, momentum and velocity ------------------------------------- */
MPM_INLINE void grid_velocity(const sim *s, int64_t i, int64_t j, const R *mm, R *u, R *M, R *dmu) {
  const R inv = 1 / (mm[0] + MPM_MASS_EPS);
  u[0] = mm[1] * inv;
  u[1] = mm[2] * inv - s->dt * s->gravity;
  band_apply(&s->bd, i, j, u, M, dmu);
}

MPM_CLONES static void node_b(const sim *s, int64_t i) {
  const int64_t lo = s->span[2 * i], hi = s->span[2 * i + 1];
  for (int64_t j = lo; j <= hi; j++) {
    const int64_t c = i * s->ny + j;
    R M[4], dmu[2];
    grid_velocity(s, i, j, s->gmm + 3 * c, s->gvel + 2 * c, M, dmu);
  }
  /* the forward keeps the row's mass and momentum for its adjoint */
  if (s->kept && lo <= hi && s->rowoff[s->nx] <= s->kcap)
    memcpy(s->kept + 3 * (int64_t)s->rowoff[i], s->gmm + 3 * (i * s->ny + lo), (size_t)(3 * (hi - lo + 1)) * sizeof(R));
}

/* The adjoint with a kept grid: the row's mass and momentum back from the
 * forward's copy, then its velocities (in D's phase 0, before the block's
 * particles read the rows; the even blocks' rows cover the grid). */
static void node_unpack(const sim *s, int64_t i) {
  const int64_t lo = s->span[2 * i], hi = s->span[2 * i + 1];
  if (lo > hi) return;
  memcpy(s->gmm + 3 * (i * s->ny + lo), s->kept_in + 3 * (int64_t)s->rowoff[i], (size_t)(3 * (hi - lo + 1)) * sizeof(R));
  node_b(s, i);
}

static void p2g_phase0(int64_t t, int64_t t1, void *user) {
  (void)t1;
  phase_block(user, t, 0, ((sim *)user)->gmm, 3, p2g_block, NULL);
}
static void p2g_phase1(int64_t t, int64_t t1, void *user) {
  (void)t1;
  phase_block(user, t, 1, ((sim *)user)->gmm, 3, p2g_block, node_b);
}

/* (cells,) bins, P2G (two phases, the second with the grid velocities) */
static void forward_grid(sim *s, int cells_done) {
  if (!cells_done) s->host->parallel_for(s->ctx, s->n, PARTICLE_GRAIN, pass_cells, s);
  bins_build(s);
  rows_for(s->ctx, s->host, phase_tasks(s, 0), p2g_phase0, s);
  rows_for(s->ctx, s->host, phase_tasks(s, 1), p2g_phase1, s);
}

int64_t pass_forward(sim *s) {
  forward_grid(s, 1); /* the cells came with the data checks (substep.c) */
  s->host->parallel_for(s->ctx, s->n, PARTICLE_GRAIN, pass_g2p_lanes, s); /* C: G2P */
  return s->rowoff[s->nx] <= s->kcap ? s->rowoff[s->nx] : -1;
}

/* ---- E: grid update adjoint ------------------------------------------------------ */
MPM_CLONES static void node_e(const sim *s, int64_t i) {
  /* nodes outside the span have no particle reads: zero grads, nothing to add */
  double sg = 0, sf = 0;
  for (int64_t j = s->span[2 * i]; j <= s->span[2 * i + 1]; j++) {
    const int64_t c = i * s->ny + j;
    const R *mm = s->gmm + 3 * c, *go = s->ggvel + 2 * c;
    R u[2], M[4], dmu[2];
    grid_velocity(s, i, j, mm, u, M, dmu);
    /* u_out = M u_in + (friction terms); g_in = M^T g_out */
    const R g0 = M[0] * go[0] + M[2] * go[1], g1 = M[1] * go[0] + M[3] * go[1];
    const R inv = 1 / (mm[0] + MPM_MASS_EPS);
    R *gg = s->ggmm + 3 * c;
    gg[0] = -inv * inv * (mm[1] * g0 + mm[2] * g1);
    gg[1] = inv * g0;
    gg[2] = inv * g1;
    sg -= (double)(s->dt * g1);
    sf += (double)(go[0] * dmu[0] + go[1] * dmu[1]);
  }
  s->rows[2 * i] = sg;
  s->rows[2 * i + 1] = sf;
}

static void d_phase0(int64_t t, int64_t t1, void *user) {
  (void)t1;
  const sim *s = user;
  phase_block(user, t, 0, s->ggvel, 2, g2p_adj_block, s->kept_in ? node_unpack : NULL);
}
static void d_phase1(int64_t t, int64_t t1, void *user) {
  (void)t1;
  phase_block(user, t, 1, ((sim *)user)->ggvel, 2, g2p_adj_block, node_e);
}

/* ---- F: P2G, stress and F update adjoint: p2g_adj_lanes.c ---------------------- */

void pass_adjoint(sim *s) {
  s->Fo = NULL, s->kept = NULL;
  /* the forward's bins are in aux and D's phase 0 restores its grid, or: */
  if (!s->kept_in) forward_grid(s, 0); /* recompute the forward's bins and grid */
  rows_for(s->ctx, s->host, phase_tasks(s, 0), d_phase0, s); /* D, then E in phase 1 */
  rows_for(s->ctx, s->host, phase_tasks(s, 1), d_phase1, s);
  s->host->parallel_for(s->ctx, s->n, PARTICLE_GRAIN, pass_p2g_adj_lanes, s); /* F */
}
