/* The parallel passes of one substep (mpm_phys.h has the equations).
 *
 * Forward:  A particles: stress, affine, the 9 (m, mv) contributions, base cell
 *           bins (serial counting sort)
 *           B node rows: gather m, mv; grid velocity with gravity and the band
 *           C particles: G2P -> v', C', x' (and F' from A)
 * Adjoint:  recomputes A, bins and B from the step's inputs (no grid history is
 *           kept between forward and adjoint), then
 *           D particles: G2P adjoint -> grads of x, and of the grid velocity reads
 *           E node rows: gather those; grid update adjoint -> grads of m, mv;
 *                        per-row sums of the gravity and friction grads
 *           F particles: P2G adjoint, stress and material adjoint, F update adjoint.
 * Particle passes write only their particle's rows and node passes only their
 * nodes: no atomics, and blocks never depend on the thread count. */
#include <string.h>

#include "passes.h"

/* particle_pre from what the adjoint's pass A cached (Fn, tau, A): the stencil
 * and the constants only. */
MPM_INLINE void particle_cached(const sim *s, int64_t p, pre *q) {
  stencil_of(s->x + 2 * p, s->inv_dx, &q->st);
  q->m = PV(s, mass, p);
  q->vol = PV(s, vol, p);
  q->mi.kind = s->mat[p];
  q->mi.mu = PV(s, mu, p);
  q->mi.lam = PV(s, lam, p);
  q->mi.bulk = PV(s, bulk, p);
  const int32_t g = s->group[p];
  q->mi.act = g >= 0 ? s->act[g] * s->strength : 0;
  const R *cc = s->cache + 12 * p;
  memcpy(q->Fn, cc, sizeof q->Fn), memcpy(q->tau, cc + 4, sizeof q->tau), memcpy(q->A, cc + 8, sizeof q->A);
}

/* ---- A: per-particle contributions ------------------------------------------ */
/* Base cells only (bins need them before A writes contributions in bin order). */
static void pass_cells(int64_t lo, int64_t hi, void *user) {
  sim *s = user;
  for (int64_t p = lo; p < hi; p++) {
    const R *x = s->x + 2 * p;
    const int32_t b0 = (int32_t)(x[0] * s->inv_dx - (R)0.5), b1 = (int32_t)(x[1] * s->inv_dx - (R)0.5);
    s->cell[p] = (int32_t)(b0 * s->ny + b1);
  }
}

/* P2G, the per-cell half: parallel over node rows of cells; each occupied cell
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
    for (int64_t j = 0; j < s->ny; j++) {
      const int64_t c = i * s->ny + j;
      R M[4], dmu[2];
      grid_velocity(s, i, j, s->gmm + 3 * c, s->gvel + 2 * c, M, dmu);
    }
}

void pass_forward(sim *s) {
  s->host->parallel_for(s->ctx, s->n, PARTICLE_GRAIN, pass_cells, s);
  bins_build(s);
  s->host->parallel_for(s->ctx, s->n, PARTICLE_GRAIN, pass_lanes, s);
  s->host->parallel_for(s->ctx, s->nx, ROW_GRAIN, pass_a, s);
  s->host->parallel_for(s->ctx, s->nx, ROW_GRAIN, pass_b, s);
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
    double sg = 0, sf = 0;
    for (int64_t j = 0; j < s->ny; j++) {
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

/* ---- F: P2G, stress and F update adjoint ------------------------------------------ */
MPM_CLONES static void pass_f(int64_t lo, int64_t hi, void *user) {
  sim *s = user;
  const R dt = s->dt, dx = s->dx;
  const R kst = -dt * 4 * s->inv_dx * s->inv_dx; /* A = kst vol tau + m C */
  for (int64_t k = lo; k < hi; k++) {
    const int64_t p = s->order[k];
    pre q;
    particle_cached(s, p, &q);
    const R *v = s->v + 2 * p, *C = s->C + 4 * p, *F = s->F + 4 * p;
    R gA[4] = {0, 0, 0, 0}, gm = 0, gv0 = 0, gv1 = 0, gx0 = 0, gx1 = 0;
    for (int a = 0; a < 3; a++)
      for (int b = 0; b < 3; b++) {
        const R *gg = s->ggmm + 3 * ((int64_t)(q.st.base[0] + a) * s->ny + q.st.base[1] + b);
        const R w = q.st.w[0][a] * q.st.w[1][b];
        const R d0 = ((R)a - q.st.f[0]) * dx, d1 = ((R)b - q.st.f[1]) * dx;
        const R c1 = q.m * v[0] + q.A[0] * d0 + q.A[1] * d1;
        const R c2 = q.m * v[1] + q.A[2] * d0 + q.A[3] * d1;
        gm += w * (gg[0] + gg[1] * v[0] + gg[2] * v[1]);
        gv0 += w * q.m * gg[1], gv1 += w * q.m * gg[2];
        gA[0] += w * gg[1] * d0, gA[1] += w * gg[1] * d1;
        gA[2] += w * gg[2] * d0, gA[3] += w * gg[2] * d1;
        const R sc = gg[0] * q.m + gg[1] * c1 + gg[2] * c2;
        gx0 += q.st.dw[0][a] * q.st.w[1][b] * sc;
        gx1 += q.st.w[0][a] * q.st.dw[1][b] * sc;
        /* d = (o - x/dx + base) dx: dd/dx = -1 */
        gx0 -= w * (q.A[0] * gg[1] + q.A[2] * gg[2]);
        gx1 -= w * (q.A[1] * gg[1] + q.A[3] * gg[2]);
      }
    /* A = kst vol tau + m C */
    R gC[4], G[4], gFn[4] = {0, 0, 0, 0};
    for (int k = 0; k < 4; k++) gC[k] = q.m * gA[k], G[k] = kst * q.vol * gA[k];
    gm += mat_ddot(gA, C);
    const R gvol = kst * mat_ddot(gA, q.tau);
    const R zero[4] = {0, 0, 0, 0};
    mat_grad mg;
    material_adj(&q.mi, q.Fn, G, s->gFo ? s->gFo + 4 * p : zero, gFn, &mg);
    /* Fn = (I + dt C) F: gC += dt gFn F^T, gF += (I + dt C)^T gFn */
    R t[4];
    mat_mul_bt(gFn, F, t);
    for (int k = 0; k < 4; k++) gC[k] += dt * t[k];
    if (s->gF) {
      const R IC[4] = {1 + dt * C[0], dt * C[1], dt * C[2], 1 + dt * C[3]};
      mat_mul_at(IC, gFn, t);
      for (int k = 0; k < 4; k++) s->gF[4 * p + k] += t[k];
    }
    if (s->gC)
      for (int k = 0; k < 4; k++) s->gC[4 * p + k] += gC[k];
    if (s->gv) s->gv[2 * p] += gv0, s->gv[2 * p + 1] += gv1;
    if (s->gx) s->gx[2 * p] += gx0, s->gx[2 * p + 1] += gx1;
    if (s->pg) {
      R *pg = s->pg;
      const int64_t n = s->n;
      pg[PG_MASS * n + p] = gm;
      pg[PG_VOL * n + p] = gvol;
      pg[PG_MU * n + p] = mg.mu;
      pg[PG_LAM * n + p] = mg.lam;
      pg[PG_BULK * n + p] = mg.bulk;
      pg[PG_ACT * n + p] = s->group[p] >= 0 ? mg.act * s->strength : 0;
    }
  }
}

void pass_adjoint(sim *s) {
  s->Fo = NULL;
  s->host->parallel_for(s->ctx, s->n, PARTICLE_GRAIN, pass_cells, s);
  bins_build(s);
  s->host->parallel_for(s->ctx, s->n, PARTICLE_GRAIN, pass_lanes, s);
  s->host->parallel_for(s->ctx, s->nx, ROW_GRAIN, pass_a, s);
  s->host->parallel_for(s->ctx, s->nx, ROW_GRAIN, pass_b, s);
  s->host->parallel_for(s->ctx, s->n, PARTICLE_GRAIN, pass_g2p_adj_lanes, s);
  s->host->parallel_for(s->ctx, s->nx, ROW_GRAIN, pass_d, s);
  s->host->parallel_for(s->ctx, s->nx, ROW_GRAIN, pass_e, s);
  s->host->parallel_for(s->ctx, s->n, PARTICLE_GRAIN, pass_f, s);
}
