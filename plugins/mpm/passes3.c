/* The parallel passes of one 3D substep (mpm3_phys.h has the equations), the
 * same plan as the 2D passes.c:
 *   forward  cells, bins, A (contributions), B (node slabs: gather, grid velocity), C (G2P)
 *   adjoint  recompute cells, bins, A, B; then D (G2P adjoint), E (grid adjoint),
 *            F (P2G, stress and F update adjoint).
 * Particle passes write only their particle's rows, node passes only their nodes:
 * results are bitwise identical for any thread count. */
#include <string.h>

#include "mpm3.h"

enum { PARTICLE_GRAIN = 256 };

#define PV(s, name, p) ((s)->name[(s)->s##name ? (p) : 0])

typedef struct pre3 {
  stencil3 st;
  mat_in mi;
  R m, vol, Fn[9], tau[9], Fout[9], A[9];
} pre3;

MPM_INLINE void particle3_pre(const sim3 *s, int64_t p, pre3 *q) {
  stencil3_of(s->x + 3 * p, s->inv_dx, &q->st);
  const R *C = s->C + 9 * p, *F = s->F + 9 * p;
  const R dt = s->dt;
  R IC[9];
  for (int k = 0; k < 9; k++) IC[k] = dt * C[k];
  IC[0] += 1, IC[4] += 1, IC[8] += 1;
  m3_mul(IC, F, q->Fn);
  q->m = PV(s, mass, p);
  q->vol = PV(s, vol, p);
  q->mi.kind = s->mat[p];
  q->mi.mu = PV(s, mu, p);
  q->mi.lam = PV(s, lam, p);
  q->mi.bulk = PV(s, bulk, p);
  const int32_t g = s->group[p];
  q->mi.act = g >= 0 ? s->act[g] * s->strength : 0;
  material3_fwd(&q->mi, q->Fn, q->tau, q->Fout);
  const R k = -dt * q->vol * 4 * s->inv_dx * s->inv_dx;
  for (int i = 0; i < 9; i++) q->A[i] = k * q->tau[i] + q->m * C[i];
}

/* particle3_pre from what the adjoint's pass A cached (Fn, tau, A). */
MPM_INLINE void particle3_cached(const sim3 *s, int64_t p, pre3 *q) {
  stencil3_of(s->x + 3 * p, s->inv_dx, &q->st);
  q->m = PV(s, mass, p);
  q->vol = PV(s, vol, p);
  q->mi.kind = s->mat[p];
  q->mi.mu = PV(s, mu, p);
  q->mi.lam = PV(s, lam, p);
  q->mi.bulk = PV(s, bulk, p);
  const int32_t g = s->group[p];
  q->mi.act = g >= 0 ? s->act[g] * s->strength : 0;
  const R *cc = s->cache + 27 * p;
  memcpy(q->Fn, cc, sizeof q->Fn), memcpy(q->tau, cc + 9, sizeof q->tau), memcpy(q->A, cc + 18, sizeof q->A);
}

MPM_INLINE int64_t node3(const sim3 *s, int64_t i, int64_t j, int64_t k) { return (i * s->ny + j) * s->nz + k; }

static void pass3_cells(int64_t lo, int64_t hi, void *user) {
  sim3 *s = user;
  for (int64_t p = lo; p < hi; p++) {
    const R *x = s->x + 3 * p;
    int32_t b[3];
    for (int d = 0; d < 3; d++) b[d] = (int32_t)(x[d] * s->inv_dx - (R)0.5);
    s->cell[p] = (int32_t)node3(s, b[0], b[1], b[2]);
  }
}

/* P2G fused with the binning, as in 2D (passes.c): parallel over x slabs of
 * cells; each occupied cell sums its particles' 27 stencil contributions
 * (m, mv), in bin order, into its patch {27, 4} (patches are stored for the
 * occupied cells only, cslot[cell] -> patch, so the scratch is O(particles)). */
MPM_CLONES static void pass3_a(int64_t lo, int64_t hi, void *user) {
  sim3 *s = user;
  const int32_t *start = s->start;
  for (int64_t cell = lo * s->ny * s->nz; cell < hi * s->ny * s->nz; cell++) {
    if (start[cell] == start[cell + 1]) continue;
    R patch[108] = {0};
    for (int32_t k = start[cell]; k < start[cell + 1]; k++) {
      const int64_t p = s->order[k];
      pre3 q;
      particle3_pre(s, p, &q);
      if (s->Fo) memcpy(s->Fo + 9 * p, q.Fout, sizeof q.Fout);
      if (s->cache) {
        /* the adjoint's pass F reads these back instead of redoing the stress */
        R *cc = s->cache + 27 * p;
        memcpy(cc, q.Fn, sizeof q.Fn), memcpy(cc + 9, q.tau, sizeof q.tau), memcpy(cc + 18, q.A, sizeof q.A);
      }
      const R *v = s->v + 3 * p;
      const R mv[3] = {q.m * v[0], q.m * v[1], q.m * v[2]};
      for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
          for (int c = 0; c < 3; c++) {
            const R w = q.st.w[0][a] * q.st.w[1][b] * q.st.w[2][c];
            const R d[3] = {((R)a - q.st.f[0]) * s->dx, ((R)b - q.st.f[1]) * s->dx, ((R)c - q.st.f[2]) * s->dx};
            R *o = patch + ((a * 3 + b) * 3 + c) * 4;
            o[0] += w * q.m;
            for (int r = 0; r < 3; r++)
              o[1 + r] += w * (mv[r] + q.A[3 * r] * d[0] + q.A[3 * r + 1] * d[1] + q.A[3 * r + 2] * d[2]);
          }
    }
    memcpy(s->contrib + (int64_t)s->cslot[cell] * 108, patch, sizeof patch);
  }
}

/* Per node (i, j, k) in slabs [i0, i1), k inside the line's span: the sum of the
 * patches src {occupied cells, 27, ch} of the 27 cells whose stencils reach it,
 * in stencil-slot order. Nodes outside the spans are left as they were: no
 * particle reads them (most lines of a 64^3 grid are far from every particle). */
static void gather3(const sim3 *s, const R *src, int ch, int64_t i0, int64_t i1, R *out) {
  const int32_t *start = s->start;
  for (int64_t i = i0; i < i1; i++)
    for (int64_t j = 0; j < s->ny; j++) {
      const int32_t *sp = s->span + 2 * (i * s->ny + j);
      for (int64_t k = sp[0]; k <= sp[1]; k++) {
        R acc[4] = {0, 0, 0, 0};
        for (int a = 0; a < 3; a++) {
          if (i - a < 0) continue;
          for (int b = 0; b < 3; b++) {
            if (j - b < 0) continue;
            for (int c = 0; c < 3; c++) {
              if (k - c < 0) continue;
              const int64_t cell = node3(s, i - a, j - b, k - c);
              if (start[cell] == start[cell + 1]) continue; /* empty: no patch */
              const R *e = src + ((int64_t)s->cslot[cell] * 27 + (a * 3 + b) * 3 + c) * ch;
              for (int h = 0; h < ch; h++) acc[h] += e[h];
            }
          }
        }
        R *o = out + node3(s, i, j, k) * ch;
        for (int h = 0; h < ch; h++) o[h] = acc[h];
      }
    }
}

/* The k span of every node line (i, j): the union over the 9 cell lines
 * (i - a, j - b) of their occupied k range widened by the stencil (hi + 2).
 * Bins are in cell order with k fastest, so a cell line's particles are one CSR
 * range and its first and last particles sit in its first and last occupied cells. */
static void spans3(sim3 *s) {
  const int64_t nx = s->nx, ny = s->ny, nz = s->nz;
  int32_t *sp = s->span;
  for (int64_t l = 0; l < nx * ny; l++) {
    const int32_t a = s->start[l * nz], b = s->start[(l + 1) * nz];
    sp[2 * l] = a == b ? (int32_t)nz : (int32_t)(s->cell[s->order[a]] - l * nz);
    sp[2 * l + 1] = a == b ? -1 : (int32_t)(s->cell[s->order[b - 1]] - l * nz);
  }
  /* in place from the last line down: line (i, j) reads lines (i - a, j - b) not yet widened */
  for (int64_t i = nx - 1; i >= 0; i--)
    for (int64_t j = ny - 1; j >= 0; j--) {
      int32_t lo = (int32_t)nz, hi = -1;
      for (int a = 0; a < 3 && i - a >= 0; a++)
        for (int b = 0; b < 3 && j - b >= 0; b++) {
          const int32_t *q = sp + 2 * ((i - a) * ny + j - b);
          if (q[0] < lo) lo = q[0];
          if (q[1] > hi) hi = q[1];
        }
      int32_t *o = sp + 2 * (i * ny + j);
      o[0] = lo, o[1] = hi < 0 ? -1 : (hi + 2 < nz ? hi + 2 : (int32_t)nz - 1);
    }
}

MPM_INLINE void grid3_velocity(const sim3 *s, int64_t i, int64_t j, int64_t k, const R *mm, R *u, R *M, R *dmu) {
  const R inv = 1 / (mm[0] + MPM_MASS_EPS);
  u[0] = mm[1] * inv;
  u[1] = mm[2] * inv - s->dt * s->gravity;
  u[2] = mm[3] * inv;
  band3_apply(&s->bd, i, j, k, u, M, dmu);
}

MPM_CLONES static void pass3_b(int64_t lo, int64_t hi, void *user) {
  sim3 *s = user;
  gather3(s, s->contrib, 4, lo, hi, s->gmm);
  for (int64_t i = lo; i < hi; i++)
    for (int64_t j = 0; j < s->ny; j++)
      for (int64_t k = s->span[2 * (i * s->ny + j)]; k <= s->span[2 * (i * s->ny + j) + 1]; k++) {
        const int64_t c = node3(s, i, j, k);
        R M[9], dmu[3];
        grid3_velocity(s, i, j, k, s->gmm + 4 * c, s->gvel + 3 * c, M, dmu);
      }
}

/* ---- C: G2P, vectorised over particles in g2p3_lanes.c ---------------------------- */

static void prepare(sim3 *s) {
  s->host->parallel_for(s->ctx, s->n, PARTICLE_GRAIN, pass3_cells, s);
  bins_sort(s->n, s->ncell, s->cell, s->start, s->order);
  /* the patch slot of each occupied cell, in cell order (the bins list the
   * particles by cell; empty cells' slots are never read) */
  int32_t nocc = 0, prev = -1;
  for (int64_t k = 0; k < s->n; k++) {
    const int32_t c = s->cell[s->order[k]];
    if (c != prev) s->cslot[c] = nocc++, prev = c;
  }
  spans3(s);
  rows_for(s->ctx, s->host, s->nx, pass3_a, s);
  rows_for(s->ctx, s->host, s->nx, pass3_b, s);
}

void pass3_forward(sim3 *s) {
  prepare(s);
  s->host->parallel_for(s->ctx, s->n, PARTICLE_GRAIN, pass3_g2p_lanes, s);
}

/* ---- D: G2P adjoint ---------------------------------------------------------------- */
/* Over x slabs of cells like pass A: each occupied cell sums its particles'
 * grads of the 27 grid velocity reads into its patch {27, 3}; each particle's x
 * grad goes to its own row. */
MPM_CLONES static void pass3_d(int64_t lo, int64_t hi, void *user) {
  sim3 *s = user;
  const R kc = 4 * s->inv_dx;
  const int32_t *start = s->start;
  for (int64_t cell = lo * s->ny * s->nz; cell < hi * s->ny * s->nz; cell++) {
    if (start[cell] == start[cell + 1]) continue;
    R patch[81] = {0};
    for (int32_t q = start[cell]; q < start[cell + 1]; q++) {
      const int64_t p = s->order[q];
      stencil3 st;
      stencil3_of(s->x + 3 * p, s->inv_dx, &st);
      R gv[3], gx[3], gC[9];
      for (int r = 0; r < 3; r++) {
        gx[r] = s->gxo ? s->gxo[3 * p + r] : 0;
        gv[r] = (s->gvo ? s->gvo[3 * p + r] : 0) + s->dt * gx[r]; /* x' = x + dt v' */
      }
      for (int h = 0; h < 9; h++) gC[h] = s->gCo ? s->gCo[9 * p + h] : 0;
      for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
          for (int c = 0; c < 3; c++) {
            const int slot = (a * 3 + b) * 3 + c;
            const R *g = s->gvel + 3 * node3(s, st.base[0] + a, st.base[1] + b, st.base[2] + c);
            const R w = st.w[0][a] * st.w[1][b] * st.w[2][c];
            const R e[3] = {(R)a - st.f[0], (R)b - st.f[1], (R)c - st.f[2]};
            R ge[3], sc = 0, gtC[3] = {0, 0, 0};
            for (int r = 0; r < 3; r++) {
              ge[r] = gC[3 * r] * e[0] + gC[3 * r + 1] * e[1] + gC[3 * r + 2] * e[2];
              patch[slot * 3 + r] += w * (gv[r] + kc * ge[r]); /* the velocity read's grad */
              sc += g[r] * (gv[r] + kc * ge[r]);
              for (int h = 0; h < 3; h++) gtC[h] += gC[3 * r + h] * g[r]; /* (gC^T g) */
            }
            /* through the weights, and through e = o - x/dx + base (de/dx = -1/dx) */
            const R kw = kc * s->inv_dx * w;
            gx[0] += st.dw[0][a] * st.w[1][b] * st.w[2][c] * sc - kw * gtC[0];
            gx[1] += st.w[0][a] * st.dw[1][b] * st.w[2][c] * sc - kw * gtC[1];
            gx[2] += st.w[0][a] * st.w[1][b] * st.dw[2][c] * sc - kw * gtC[2];
          }
      if (s->gx)
        for (int r = 0; r < 3; r++) s->gx[3 * p + r] += gx[r];
    }
    memcpy(s->gcontrib + (int64_t)s->cslot[cell] * 81, patch, sizeof patch);
  }
}

/* ---- E: grid update adjoint ------------------------------------------------------------ */
MPM_CLONES static void pass3_e(int64_t lo, int64_t hi, void *user) {
  sim3 *s = user;
  gather3(s, s->gcontrib, 3, lo, hi, s->ggvel);
  for (int64_t i = lo; i < hi; i++) {
    /* nodes outside the spans have no reads: zero grads, nothing to add */
    double sg = 0, sf = 0;
    for (int64_t j = 0; j < s->ny; j++)
      for (int64_t k = s->span[2 * (i * s->ny + j)]; k <= s->span[2 * (i * s->ny + j) + 1]; k++) {
        const int64_t c = node3(s, i, j, k);
        const R *mm = s->gmm + 4 * c, *go = s->ggvel + 3 * c;
        R u[3], M[9], dmu[3], g[3];
        grid3_velocity(s, i, j, k, mm, u, M, dmu);
        for (int r = 0; r < 3; r++) g[r] = M[r] * go[0] + M[3 + r] * go[1] + M[6 + r] * go[2]; /* M^T go */
        const R inv = 1 / (mm[0] + MPM_MASS_EPS);
        R *gg = s->ggmm + 4 * c;
        gg[0] = -inv * inv * (mm[1] * g[0] + mm[2] * g[1] + mm[3] * g[2]);
        for (int r = 0; r < 3; r++) gg[1 + r] = inv * g[r];
        sg -= (double)(s->dt * g[1]);
        sf += (double)(go[0] * dmu[0] + go[1] * dmu[1] + go[2] * dmu[2]);
      }
    s->rows[2 * i] = sg;
    s->rows[2 * i + 1] = sf;
  }
}

/* ---- F: P2G, stress and F update adjoint ---------------------------------------------- */
MPM_CLONES static void pass3_f(int64_t lo, int64_t hi, void *user) {
  sim3 *s = user;
  const R dt = s->dt, dx = s->dx;
  const R kst = -dt * 4 * s->inv_dx * s->inv_dx; /* A = kst vol tau + m C */
  for (int64_t q = lo; q < hi; q++) {
    const int64_t p = s->order[q];
    pre3 pq;
    particle3_cached(s, p, &pq);
    const R *v = s->v + 3 * p, *C = s->C + 9 * p, *F = s->F + 9 * p;
    R gA[9] = {0}, gm = 0, gv[3] = {0, 0, 0}, gx[3] = {0, 0, 0};
    for (int a = 0; a < 3; a++)
      for (int b = 0; b < 3; b++)
        for (int c = 0; c < 3; c++) {
          const R *gg = s->ggmm + 4 * node3(s, pq.st.base[0] + a, pq.st.base[1] + b, pq.st.base[2] + c);
          const R w = pq.st.w[0][a] * pq.st.w[1][b] * pq.st.w[2][c];
          const R d[3] = {((R)a - pq.st.f[0]) * dx, ((R)b - pq.st.f[1]) * dx, ((R)c - pq.st.f[2]) * dx};
          R sc = gg[0] * pq.m, gAd[3] = {0, 0, 0};
          gm += w * gg[0];
          for (int r = 0; r < 3; r++) {
            const R cr = pq.m * v[r] + pq.A[3 * r] * d[0] + pq.A[3 * r + 1] * d[1] + pq.A[3 * r + 2] * d[2];
            sc += gg[1 + r] * cr;
            gm += w * gg[1 + r] * v[r];
            gv[r] += w * pq.m * gg[1 + r];
            for (int h = 0; h < 3; h++) gA[3 * r + h] += w * gg[1 + r] * d[h], gAd[h] += pq.A[3 * r + h] * gg[1 + r];
          }
          /* through the weights, and through d = (o - x/dx + base) dx: dd/dx = -1 */
          gx[0] += pq.st.dw[0][a] * pq.st.w[1][b] * pq.st.w[2][c] * sc - w * gAd[0];
          gx[1] += pq.st.w[0][a] * pq.st.dw[1][b] * pq.st.w[2][c] * sc - w * gAd[1];
          gx[2] += pq.st.w[0][a] * pq.st.w[1][b] * pq.st.dw[2][c] * sc - w * gAd[2];
        }
    R gC[9], G[9], gFn[9] = {0}, t[9];
    for (int h = 0; h < 9; h++) gC[h] = pq.m * gA[h], G[h] = kst * pq.vol * gA[h];
    gm += m3_ddot(gA, C);
    const R gvol = kst * m3_ddot(gA, pq.tau);
    static const R zero[9] = {0};
    mat_grad mg;
    material3_adj(&pq.mi, pq.Fn, G, s->gFo ? s->gFo + 9 * p : zero, gFn, &mg);
    /* Fn = (I + dt C) F: gC += dt gFn F^T, gF += (I + dt C)^T gFn */
    m3_mul_bt(gFn, F, t);
    for (int h = 0; h < 9; h++) gC[h] += dt * t[h];
    if (s->gF) {
      R IC[9];
      for (int h = 0; h < 9; h++) IC[h] = dt * C[h];
      IC[0] += 1, IC[4] += 1, IC[8] += 1;
      m3_mul_at(IC, gFn, t);
      for (int h = 0; h < 9; h++) s->gF[9 * p + h] += t[h];
    }
    if (s->gC)
      for (int h = 0; h < 9; h++) s->gC[9 * p + h] += gC[h];
    for (int r = 0; r < 3; r++) {
      if (s->gv) s->gv[3 * p + r] += gv[r];
      if (s->gx) s->gx[3 * p + r] += gx[r];
    }
    const int64_t n = s->n;
    s->pg[PG_MASS * n + p] = gm;
    s->pg[PG_VOL * n + p] = gvol;
    s->pg[PG_MU * n + p] = mg.mu;
    s->pg[PG_LAM * n + p] = mg.lam;
    s->pg[PG_BULK * n + p] = mg.bulk;
    s->pg[PG_ACT * n + p] = s->group[p] >= 0 ? mg.act * s->strength : 0;
  }
}

void pass3_adjoint(sim3 *s) {
  s->Fo = NULL;
  prepare(s);
  rows_for(s->ctx, s->host, s->nx, pass3_d, s);
  rows_for(s->ctx, s->host, s->nx, pass3_e, s);
  s->host->parallel_for(s->ctx, s->n, PARTICLE_GRAIN, pass3_f, s);
}
