/* The parallel passes of one 2D substep (mpm_phys.h has the equations).
 *
 * Forward:  cells     particles: base cell
 *           bins      serial counting sort by cell (bins.c)
 *           lanes     particles, 8 at a time: stress, affine, the 9 (m, mv) contributions (lanes.c)
 *           A         cell rows: each occupied cell sums its particles' contributions
 *           B         node rows: add the 9 patches reaching a node; grid velocity, gravity, band
 *           C         particles, 8 at a time: G2P -> v', C', x' (g2p_lanes.c; F' from lanes)
 * Adjoint:  recomputes cells, bins, lanes, A and B from the step's inputs (unless
 *           the launch's aux kept the forward's: substep.c), then
 *           D         particles, 8 at a time: G2P adjoint -> grads of x and of the
 *                     grid velocity reads (g2p_lanes.c); cell rows: their per-cell sums
 *           E         node rows: add those; grid update adjoint -> grads of m, mv;
 *                     per-row sums of the gravity and friction grads
 *           F         particles, 8 at a time: P2G, stress, material and F update
 *                     adjoint (p2g_adj_lanes.c)
 * Particle passes write only their particles' rows and node passes only their
 * nodes: no atomics, and the blocks never depend on the thread count. */
#include <string.h>

#include "passes.h"

/* ---- cells: each particle's base cell, for the binning --------------------------- */
static void pass_cells(int64_t lo, int64_t hi, void *user) {
  sim *s = user;
  for (int64_t p = lo; p < hi; p++) {
    const R *x = s->x + 2 * p;
    const int32_t b0 = (int32_t)(x[0] * s->inv_dx - (R)0.5), b1 = (int32_t)(x[1] * s->inv_dx - (R)0.5);
    s->cell[p] = (int32_t)(b0 * s->ny + b1);
  }
}

/* ---- A: P2G, the per-cell half -------------------------------------------------------
 * Parallel over node rows of cells; each occupied cell
 * sums the 9 stencil contributions (m, mv) of its particles (lanes.c computed
 * them, in bin order) into its patch {9, 3}, and the node pass adds the 9
 * patches that reach a node. Every sum has one fixed order (particles of a cell
 * in index order, then the 9 stencil slots), so the grid is bitwise identical
 * for any thread count. */
MPM_CLONES static void pass_a(int64_t lo, int64_t hi, void *user) {
  sim *s = user;
  const int32_t *start = s->start;
  for (int64_t cell = lo * s->ny; cell < hi * s->ny; cell++) {
    if (start[cell] == start[cell + 1]) continue; /* empty: the node pass skips it */
    R patch[27] = {0};
    for (int32_t k = start[cell]; k < start[cell + 1]; k++) {
      const R *src = s->lanes + (int64_t)(k >> 3) * 216 + (k & 7);
      for (int j = 0; j < 27; j++) patch[j] += src[8 * j];
    }
    memcpy(s->contrib + cell * 27, patch, sizeof patch);
  }
}

/* ---- B: grid mass, momentum and velocity ------------------------------------- */
MPM_INLINE void grid_velocity(const sim *s, int64_t i, int64_t j, const R *mm, R *u, R *M, R *dmu) {
  const R inv = 1 / (mm[0] + MPM_MASS_EPS);
  u[0] = mm[1] * inv;
  u[1] = mm[2] * inv - s->dt * s->gravity;
  band_apply(&s->bd, i, j, u, M, dmu);
}

MPM_CLONES static void pass_b(int64_t lo, int64_t hi, void *user) {
  sim *s = user;
  bins_gather_rows(s, s->contrib, 3, lo, hi, s->gmm);
  for (int64_t i = lo; i < hi; i++)
    for (int64_t j = s->span[2 * i]; j <= s->span[2 * i + 1]; j++) {
      const int64_t c = i * s->ny + j;
      R M[4], dmu[2];
      grid_velocity(s, i, j, s->gmm + 3 * c, s->gvel + 2 * c, M, dmu);
    }
}

void pass_forward(sim *s) {
  s->host->parallel_for(s->ctx, s->n, PARTICLE_GRAIN, pass_cells, s);
  bins_build(s);
  s->host->parallel_for(s->ctx, s->n, PARTICLE_GRAIN, pass_lanes, s);
  rows_for(s->ctx, s->host, s->nx, pass_a, s);
  rows_for(s->ctx, s->host, s->nx, pass_b, s);
  s->host->parallel_for(s->ctx, s->n, PARTICLE_GRAIN, pass_g2p_lanes, s); /* C: G2P */
}

/* ---- D: G2P adjoint ----------------------------------------------------------- */
/* The per-particle half runs in g2p_lanes.c; here each occupied cell sums its
 * particles' grads of the 9 grid velocity reads (bin order) into its patch
 * {9, 2}, which pass E adds per node. */
MPM_CLONES static void pass_d(int64_t lo, int64_t hi, void *user) {
  sim *s = user;
  const int32_t *start = s->start;
  for (int64_t cell = lo * s->ny; cell < hi * s->ny; cell++) {
    if (start[cell] == start[cell + 1]) continue;
    R patch[18] = {0};
    for (int32_t k = start[cell]; k < start[cell + 1]; k++) {
      const R *src = s->glanes + (int64_t)(k >> 3) * 144 + (k & 7);
      for (int j = 0; j < 18; j++) patch[j] += src[8 * j];
    }
    memcpy(s->gcontrib + cell * 18, patch, sizeof patch);
  }
}

/* ---- E: grid update adjoint ------------------------------------------------------ */
MPM_CLONES static void pass_e(int64_t lo, int64_t hi, void *user) {
  sim *s = user;
  bins_gather_rows(s, s->gcontrib, 2, lo, hi, s->ggvel);
  for (int64_t i = lo; i < hi; i++) {
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
}

/* ---- F: P2G, stress and F update adjoint: p2g_adj_lanes.c ---------------------- */

void pass_adjoint(sim *s, int kept) {
  s->Fo = NULL;
  if (!kept) { /* recompute the forward's bins, grid and stress cache */
    s->host->parallel_for(s->ctx, s->n, PARTICLE_GRAIN, pass_cells, s);
    bins_build(s);
    s->host->parallel_for(s->ctx, s->n, PARTICLE_GRAIN, pass_lanes, s);
    rows_for(s->ctx, s->host, s->nx, pass_a, s);
    rows_for(s->ctx, s->host, s->nx, pass_b, s);
  }
  s->host->parallel_for(s->ctx, s->n, PARTICLE_GRAIN, pass_g2p_adj_lanes, s);
  rows_for(s->ctx, s->host, s->nx, pass_d, s);
  rows_for(s->ctx, s->host, s->nx, pass_e, s);
  s->host->parallel_for(s->ctx, s->n, PARTICLE_GRAIN, pass_p2g_adj_lanes, s); /* F */
}
