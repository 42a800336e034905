/* mpm: what the 2D passes (passes.c) and their vectorised parts (lanes.c,
 * g2p_lanes.c, p2g_adj_lanes.c) share. */
#ifndef MPM_PASSES_H
#define MPM_PASSES_H

#include "mpm.h"

enum { PARTICLE_GRAIN = 256 }; /* fixed particle blocks (multiples of 8: lanes.c) */

#define PV(s, name, p) ((s)->name[(s)->s##name ? (p) : 0])

/* One particle's quantities before the scatter. */
typedef struct pre {
  stencil2 st;
  mat_in mi;
  R m, vol, Fn[4], tau[4], Fout[4], A[4];
} pre;

static inline __attribute__((always_inline)) void particle_pre(const sim *s, int64_t p, pre *q) {
  stencil_of(s->x + 2 * p, s->inv_dx, &q->st);
  const R *C = s->C + 4 * p, *F = s->F + 4 * p;
  const R dt = s->dt;
  const R IC[4] = {1 + dt * C[0], dt * C[1], dt * C[2], 1 + dt * C[3]};
  mat_mul(IC, F, q->Fn);
  q->m = PV(s, mass, p);
  q->vol = PV(s, vol, p);
  q->mi.kind = s->mat[p];
  q->mi.mu = PV(s, mu, p);
  q->mi.lam = PV(s, lam, p);
  q->mi.bulk = PV(s, bulk, p);
  int32_t g = s->group[p];
  q->mi.act = g >= 0 ? s->act[g] * s->strength : 0;
  material_fwd(&q->mi, q->Fn, q->tau, q->Fout);
  const R k = -dt * q->vol * 4 * s->inv_dx * s->inv_dx;
  for (int i = 0; i < 4; i++) q->A[i] = k * q->tau[i] + q->m * C[i];
}

/* Adds a chunk's per-particle stencil values out {9 slots, ch, LANES 8} (lanes
 * l < L, particles order[k0 + l]) into the grid {ncell, ch}: particle by
 * particle, slot by slot. The caller's block order makes that order fixed. */
MPM_INLINE void scatter_chunk(const sim *s, int64_t k0, int L, const R *out, int ch, R *grid) {
  const int64_t ny = s->ny;
  for (int l = 0; l < L; l++) {
    const int64_t base = s->cell[s->order[k0 + l]];
    for (int a = 0; a < 3; a++) {
      R *g = grid + (base + a * ny) * ch;
      const R *o = out + a * 3 * ch * 8 + l;
      for (int j = 0; j < 3 * ch; j++) g[j] += o[8 * j];
    }
  }
}

/* lanes.c: P2G of bins [lo, hi) (one block of cell rows), added into s->gmm. */
void p2g_block(sim *s, int64_t lo, int64_t hi);
/* g2p_lanes.c: G2P (x', v', C'); the G2P adjoint of bins [lo, hi) (x grads, and
 * the grid velocity reads' grads added into s->ggvel). */
void pass_g2p_lanes(int64_t lo, int64_t hi, void *user);
void g2p_adj_block(sim *s, int64_t lo, int64_t hi);
/* p2g_adj_lanes.c: pass F, the P2G, stress and F update adjoint (reads s->cache from pass A). */
void pass_p2g_adj_lanes(int64_t lo, int64_t hi, void *user);

#endif
