/* The data checks of an mpm.substep forward: what a shape check cannot see.
 * Each failure names the kernel (the host prefixes it), the argument and the
 * first offending particle. The per-particle checks run in parallel over fixed
 * blocks (each block keeps its first failure and its stiffest particle); the
 * blocks are then scanned in order, so the particle reported is the first one
 * whatever the thread count. The velocity's CFL limit is not a refusal here:
 * validate reports the fastest velocity component when some particle breaks it
 * (*vmax), and substep.c splits the substep into sub-substeps that respect it. */
#include <math.h>

#include "mpm.h"

enum { VALIDATE_GRAIN = 1024 };

/* what is wrong with one particle */
enum {
  V_OK = 0, V_X, V_V_NONFINITE, V_C, V_F, V_MATERIAL, V_GROUP, V_MASS, V_VOL, V_MU, V_LAM, V_BULK, V_INVERTED
};

static int finite4(const R *a, int k) {
  for (int i = 0; i < k; i++)
    if (!isfinite((double)a[i])) return 0;
  return 1;
}

static double pv(const R *a, int stride, int64_t p) { return (double)a[stride ? p : 0]; }

/* V_OK and the squared elastic wave speed (lam + 2 mu) vol / m (bulk vol / m for
 * fluid) in *c2, or the first failed check. */
static int particle_check(const sim *s, int64_t p, double *c2) {
  const R *x = s->x + 2 * p;
  const R g0 = x[0] * s->inv_dx, g1 = x[1] * s->inv_dx;
  if (!(g0 >= (R)0.5 && g0 < (R)(s->nx - 1.5) && g1 >= (R)0.5 && g1 < (R)(s->ny - 1.5))) return V_X;
  const R *v = s->v + 2 * p;
  if (!finite4(v, 2)) return V_V_NONFINITE;
  if (!finite4(s->C + 4 * p, 4)) return V_C;
  const R *F = s->F + 4 * p;
  if (!finite4(F, 4)) return V_F;
  const int32_t k = s->mat[p];
  if (k < 0 || k >= MAT_COUNT) return V_MATERIAL;
  if (s->group[p] < -1 || s->group[p] >= s->ngroup) return V_GROUP;
  const double m = pv(s->mass, s->smass, p), vol = pv(s->vol, s->svol, p);
  if (!(m > 0) || !isfinite(m)) return V_MASS;
  if (!(vol > 0) || !isfinite(vol)) return V_VOL;
  const double mu = pv(s->mu, s->smu, p), lam = pv(s->lam, s->slam, p), bulk = pv(s->bulk, s->sbulk, p);
  if (!(mu >= 0) || !isfinite(mu)) return V_MU;
  if (!(lam >= 0) || !isfinite(lam)) return V_LAM;
  if (!(bulk >= 0) || !isfinite(bulk)) return V_BULK;
  /* log J (neo-Hookean) and sqrt J (fluid) need an uninverted (I + dt C) F */
  if (k != MAT_COROTATED) {
    const R *C = s->C + 4 * p;
    const R IC[4] = {1 + s->dt * C[0], s->dt * C[1], s->dt * C[2], 1 + s->dt * C[3]};
    R Fn[4];
    mat_mul(IC, F, Fn);
    if (!(mat_det(Fn) > 0)) return V_INVERTED;
  }
  *c2 = (k == MAT_FLUID ? bulk : lam + 2 * mu) * vol / m;
  return V_OK;
}

static int report(const ds_call *c, const sim *s, int64_t p, int code) {
  const ds_host_api *h = c->host;
  const long long pl = (long long)p;
  const R *x = s->x + 2 * p;
  const double dx = s->dx;
  switch (code) {
  case V_X:
    return h->error(c, "argument 'x': particle %lld at (%g, %g) is outside the grid; its stencil needs "
                       "0.5 dx <= x < (nx - 1.5) dx = %g and 0.5 dx <= y < (ny - 1.5) dx = %g (dx = %g)",
                    pl, (double)x[0], (double)x[1], (s->nx - 1.5) * dx, (s->ny - 1.5) * dx, dx);
  case V_V_NONFINITE: return h->error(c, "argument 'v': particle %lld has a non-finite velocity", pl);
  case V_C: return h->error(c, "argument 'C': particle %lld is not finite", pl);
  case V_F: return h->error(c, "argument 'F': particle %lld is not finite", pl);
  case V_MATERIAL:
    return h->error(c, "argument 'material': particle %lld has %d; expected 0 (fluid), 1 (corotated) or "
                       "2 (neo-Hookean)", pl, (int)s->mat[p]);
  case V_GROUP:
    return h->error(c, "argument 'group': particle %lld has %d; expected -1 (passive) or 0..%lld", pl,
                    (int)s->group[p], (long long)(s->ngroup - 1));
  case V_MASS:
    return h->error(c, "argument 'mass': particle %lld has %g; masses must be positive and finite", pl,
                    pv(s->mass, s->smass, p));
  case V_VOL:
    return h->error(c, "argument 'vol': particle %lld has %g; volumes must be positive and finite", pl,
                    pv(s->vol, s->svol, p));
  case V_MU: return h->error(c, "argument 'mu': particle %lld has %g, expected >= 0", pl, pv(s->mu, s->smu, p));
  case V_LAM: return h->error(c, "argument 'lam': particle %lld has %g, expected >= 0", pl, pv(s->lam, s->slam, p));
  case V_BULK:
    return h->error(c, "argument 'bulk': particle %lld has %g, expected >= 0", pl, pv(s->bulk, s->sbulk, p));
  default: {
    const R *C = s->C + 4 * p, *F = s->F + 4 * p;
    const R IC[4] = {1 + s->dt * C[0], s->dt * C[1], s->dt * C[2], 1 + s->dt * C[3]};
    R Fn[4];
    mat_mul(IC, F, Fn);
    return h->error(c, "argument 'F': particle %lld is inverted (det((I + dt C) F) = %g <= 0)", pl,
                    (double)mat_det(Fn));
  }
  }
}

typedef struct vblock {
  int64_t bad_p, worst_p; /* first failing particle (-1: none), stiffest particle */
  int bad_code;
  double worst_c2;
  double vmax; /* a block the fast check sent to particle_check: its fastest |v_d| (else 0) */
  int64_t vmax_p;
} vblock;

typedef struct vjob {
  const sim *s;
  vblock *blocks;
  ds_range_fn also; /* run on each block too (NULL: nothing) */
} vjob;

/* The common case, every particle fine, without a branch per check: one pass
 * over the state that ORs every failure condition (branch-free, so the compiler
 * vectorises it), and the constants checked once when they are shared. Only a
 * block that fails goes through particle_check, to name the first offender. */
MPM_CLONES static int block_fast(const sim *s, int64_t lo, int64_t hi, double *worst_c2) {
  const R lo_g = (R)0.5, hi0 = (R)(s->nx - 1.5), hi1 = (R)(s->ny - 1.5), big = (R)1e30;
  const R dt = s->dt, inv_dx = s->inv_dx;
  const double dx = s->dx;
  const R *X = s->x, *V = s->v, *CC = s->C, *FF = s->F;
  const int32_t *mat = s->mat, *grp = s->group;
  const int32_t ng = (int32_t)s->ngroup;
  int bad = 0, fluid = 0, solid = 0;
  for (int64_t p = lo; p < hi; p++) {
    const R *x = X + 2 * p, *v = V + 2 * p, *C = CC + 4 * p, *F = FF + 4 * p;
    const R g0 = x[0] * inv_dx, g1 = x[1] * inv_dx;
    int b = !(g0 >= lo_g) | !(g0 < hi0) | !(g1 >= lo_g) | !(g1 < hi1);
    /* |a| <= 1e30 is false for inf and NaN: finiteness without a branch (a
     * finite value past 1e30 only sends the block to the exact check) */
    b |= !(RABS(v[0]) <= big) | !(RABS(v[1]) <= big);
    /* past the CFL limit: to the exact pass, which finds the fastest velocity */
    b |= (fabs((double)v[0]) * dt > dx) | (fabs((double)v[1]) * dt > dx);
    b |= !(RABS(C[0]) <= big) | !(RABS(C[1]) <= big) | !(RABS(C[2]) <= big) | !(RABS(C[3]) <= big);
    b |= !(RABS(F[0]) <= big) | !(RABS(F[1]) <= big) | !(RABS(F[2]) <= big) | !(RABS(F[3]) <= big);
    const int32_t k = mat[p], g = grp[p];
    b |= (k < 0) | (k >= MAT_COUNT) | (g < -1) | (g >= ng);
    const R n0 = (1 + dt * C[0]) * F[0] + dt * C[1] * F[2], n1 = (1 + dt * C[0]) * F[1] + dt * C[1] * F[3];
    const R n2 = dt * C[2] * F[0] + (1 + dt * C[3]) * F[2], n3 = dt * C[2] * F[1] + (1 + dt * C[3]) * F[3];
    /* a margin: these clones may contract to FMAs where particle_check does not,
     * so a det near 0 goes to the exact check */
    b |= (k != MAT_COROTATED) & !(n0 * n3 - n1 * n2 > (R)1e-4);
    bad |= b;
    fluid |= k == MAT_FLUID, solid |= k != MAT_FLUID;
  }
  if (bad) return 1;
  double w = 0;
  if (!s->smass && !s->svol && !s->smu && !s->slam && !s->sbulk) {
    const double m = pv(s->mass, 0, 0), vol = pv(s->vol, 0, 0);
    const double mu = pv(s->mu, 0, 0), lam = pv(s->lam, 0, 0), bulk = pv(s->bulk, 0, 0);
    if (!(m > 0) || !isfinite(m) || !(vol > 0) || !isfinite(vol) || !(mu >= 0) || !isfinite(mu) || !(lam >= 0) ||
        !isfinite(lam) || !(bulk >= 0) || !isfinite(bulk))
      return 1;
    /* particle_check's c2 of each material present */
    if (fluid) w = bulk * vol / m;
    if (solid) {
      const double c2 = (lam + 2 * mu) * vol / m;
      w = c2 > w ? c2 : w;
    }
  } else {
    for (int64_t p = lo; p < hi; p++) {
      const double m = pv(s->mass, s->smass, p), vol = pv(s->vol, s->svol, p);
      const double mu = pv(s->mu, s->smu, p), lam = pv(s->lam, s->slam, p), bulk = pv(s->bulk, s->sbulk, p);
      if (!(m > 0) || !isfinite(m) || !(vol > 0) || !isfinite(vol) || !(mu >= 0) || !isfinite(mu) || !(lam >= 0) ||
          !isfinite(lam) || !(bulk >= 0) || !isfinite(bulk))
        return 1;
      const double c2 = (mat[p] == MAT_FLUID ? bulk : lam + 2 * mu) * vol / m;
      w = c2 > w ? c2 : w;
    }
  }
  *worst_c2 = w;
  return 0;
}

static void validate_block(int64_t lo, int64_t hi, void *user) {
  const vjob *j = user;
  vblock *b = &j->blocks[lo / VALIDATE_GRAIN];
  if (j->also) j->also(lo, hi, (void *)j->s);
  b->bad_p = -1, b->worst_p = -1, b->worst_c2 = 0, b->bad_code = V_OK, b->vmax = 0, b->vmax_p = -1;
  if (!block_fast(j->s, lo, hi, &b->worst_c2)) return;
  b->worst_c2 = 0;
  for (int64_t p = lo; p < hi; p++) {
    double c2 = 0;
    const int code = particle_check(j->s, p, &c2);
    if (code != V_OK) {
      b->bad_p = p, b->bad_code = code;
      return;
    }
    if (c2 > b->worst_c2) b->worst_c2 = c2, b->worst_p = p;
    const R *v = j->s->v + 2 * p;
    const double a0 = fabs((double)v[0]), a1 = fabs((double)v[1]), a = a0 > a1 ? a0 : a1;
    if (a > b->vmax) b->vmax = a, b->vmax_p = p;
  }
}

/* the first particle with the largest c2 (for the stability error's message) */
static int64_t stiffest(const sim *s, double worst_c2) {
  for (int64_t p = 0; p < s->n; p++) {
    double c2 = 0;
    if (particle_check(s, p, &c2) == V_OK && c2 == worst_c2) return p;
  }
  return -1;
}

int validate(const ds_call *c, const sim *s, ds_range_fn also, double *vmax, int64_t *vmax_p) {
  const ds_host_api *h = c->host;
  if (!isfinite((double)s->gravity)) return h->error(c, "argument 'gravity' must be finite, got %g", (double)s->gravity);
  if (!(s->bd.mu >= 0) || !isfinite((double)s->bd.mu))
    return h->error(c, "argument 'friction' must be finite and >= 0, got %g", (double)s->bd.mu);
  for (int64_t g = 0; g < s->ngroup; g++)
    if (!isfinite((double)s->act[g])) return h->error(c, "argument 'act' entry %lld is not finite", (long long)g);
  const int64_t nb = (s->n + VALIDATE_GRAIN - 1) / VALIDATE_GRAIN;
  vjob j = {s, c->host->scratch(c, (size_t)nb * sizeof(vblock)), also};
  if (!j.blocks) return DS_ERR_NOMEM;
  h->parallel_for(c->ctx, s->n, VALIDATE_GRAIN, validate_block, &j);
  double worst_c2 = 0;
  *vmax = 0, *vmax_p = 0;
  for (int64_t b = 0; b < nb; b++) {
    if (j.blocks[b].bad_p >= 0) return report(c, s, j.blocks[b].bad_p, j.blocks[b].bad_code);
    if (j.blocks[b].worst_c2 > worst_c2) worst_c2 = j.blocks[b].worst_c2;
    /* every particle past the limit is in a block that went to particle_check */
    if (j.blocks[b].vmax > *vmax) *vmax = j.blocks[b].vmax, *vmax_p = j.blocks[b].vmax_p;
  }
  const double dt = s->dt, dx = s->dx;
  if (worst_c2 > 0 && dt * dt * worst_c2 > dx * dx)
    return h->error(c, "param 'dt' = %g is past the elastic stability limit dx / sqrt((lam + 2 mu) vol / mass) = %g "
                       "(particle %lld)", dt, dx / sqrt(worst_c2), (long long)stiffest(s, worst_c2));
  return DS_OK;
}

/* The fastest velocity component max |v_pd| over particles and axes (in
 * double) and the first particle reaching it: a particle moving at v for a
 * (sub)substep dt crosses |v_d| dt / dx cells along axis d. For the adjoint,
 * which does not rerun the data checks. */
double vmax2(const sim *s, int64_t *vmax_p) {
  double m = 0;
  *vmax_p = 0;
  for (int64_t i = 0; i < 2 * s->n; i++) {
    const double a = fabs((double)s->v[i]);
    if (a > m) m = a, *vmax_p = i / 2;
  }
  return m;
}
