/* rigid2d: disc-disc contact (billiards), forward and adjoint of one step.
 *
 * Per step, for every ordered pair (i, j), i != j, from the state (x, v):
 *   p   = (x_i + dt v_i) - (x_j + dt v_j)     predicted separation after the step
 *   if |p| < r_i + r_j:                         they would overlap at the end of the step
 *     dir = p / (|p| + 1e-6),  pv = dir . (v_i - v_j)
 *     if pv < 0:                                approaching
 *       imp_i  += -(1 + e) w_ij pv dir,          w_ij = m_j / (m_i + m_j)  (1/2 for equal masses)
 *       toi     = (|p| - r_i - r_j) / min(-1e-3, pv)
 *       xinc_i += min(toi - dt, 0) imp_i_contribution
 *   v' = v + imp,  x' = x + dt v' + xinc
 * The xinc term is the reference's time-of-impact correction: the impulse acts
 * from the moment of contact instead of the start of the step, so x' does not
 * depend on where in the step the contact happened -- the gradient sees it.
 * Each disc gathers its own pairs' contributions in ascending j, so the result
 * is the reference's sum order and the same for the O(n^2) loop and the broad
 * phase (pairs that do not touch contribute exact zeros). */
#include "rigid2d.h"

#define DIR_EPS ((R)1e-6)
#define PV_CAP ((R)-1e-3)

/* ---- one pair ------------------------------------------------------------------ */
typedef struct pair_in {
  R xi[2], vi[2], xj[2], vj[2], ri, rj, mi, mj;
} pair_in;

static inline pair_in pair_load(const disc_sys *s, const R *x, const R *v, int64_t i, int64_t j) {
  pair_in q;
  for (int d = 0; d < 2; d++) {
    q.xi[d] = x[2 * i + d], q.vi[d] = v[2 * i + d];
    q.xj[d] = x[2 * j + d], q.vj[d] = v[2 * j + d];
  }
  q.ri = s->radius[i], q.rj = s->radius[j], q.mi = s->mass[i], q.mj = s->mass[j];
  return q;
}

/* Adds pair (i, j)'s contribution to disc i's impulse and TOI shift. */
static inline void pair_forward(const disc_sys *s, const pair_in *q, R imp[2], R xinc[2]) {
  const R dt = s->dt;
  R p[2];
  for (int d = 0; d < 2; d++) p[d] = (q->xi[d] + dt * q->vi[d]) - (q->xj[d] + dt * q->vj[d]);
  const R dn = (R)sqrt((double)(p[0] * p[0] + p[1] * p[1]));
  const R rr = q->ri + q->rj;
  if (!(dn < rr)) return;
  const R inv = 1 / (dn + DIR_EPS);
  const R dir[2] = {p[0] * inv, p[1] * inv};
  const R pv = dir[0] * (q->vi[0] - q->vj[0]) + dir[1] * (q->vi[1] - q->vj[1]);
  if (!(pv < 0)) return;
  const R w = q->mj / (q->mi + q->mj);
  const R c = -(1 + s->e) * w * pv;
  const R toi = (dn - rr) / (pv < PV_CAP ? pv : PV_CAP);
  const R sh = toi - dt < 0 ? toi - dt : 0;
  for (int d = 0; d < 2; d++) {
    imp[d] += c * dir[d];
    xinc[d] += sh * (c * dir[d]);
  }
}

/* Gradients of pair (i, j)'s contribution, given the grads gi of imp_i and gx of
 * xinc_i: adds into the grads of x_i, v_i, x_j, v_j, r_i, r_j, m_i, m_j and e.
 * The branches are the forward's: gradients are those of the active piece. */
static inline void pair_adjoint(const disc_sys *s, const pair_in *q, const R gi[2], const R gx[2], R gxi[2],
                                R gvi[2], R gxj[2], R gvj[2], R *gri, R *grj, R *gmi, R *gmj, double *ge) {
  const R dt = s->dt;
  R p[2];
  for (int d = 0; d < 2; d++) p[d] = (q->xi[d] + dt * q->vi[d]) - (q->xj[d] + dt * q->vj[d]);
  const R dn = (R)sqrt((double)(p[0] * p[0] + p[1] * p[1]));
  const R rr = q->ri + q->rj;
  if (!(dn < rr)) return;
  const R inv = 1 / (dn + DIR_EPS);
  const R dir[2] = {p[0] * inv, p[1] * inv};
  const R rv[2] = {q->vi[0] - q->vj[0], q->vi[1] - q->vj[1]};
  const R pv = dir[0] * rv[0] + dir[1] * rv[1];
  if (!(pv < 0)) return;
  const R M = q->mi + q->mj, w = q->mj / M;
  const R c = -(1 + s->e) * w * pv;
  const int capped = !(pv < PV_CAP);
  const R den = capped ? PV_CAP : pv;
  const R toi = (dn - rr) / den;
  const int shifted = toi - dt < 0;
  const R sh = shifted ? toi - dt : 0;
  /* xinc = sh c dir, imp = c dir */
  const R g_sh = gx[0] * c * dir[0] + gx[1] * c * dir[1];
  const R gimp[2] = {gi[0] + sh * gx[0], gi[1] + sh * gx[1]};
  R g_dn = 0, g_pv = 0, g_rr = 0;
  if (shifted) {
    const R g_toi = g_sh;
    g_dn += g_toi / den;
    g_rr -= g_toi / den;
    if (!capped) g_pv += -g_toi * toi / den;
  }
  const R g_c = gimp[0] * dir[0] + gimp[1] * dir[1];
  R g_dir[2] = {c * gimp[0], c * gimp[1]};
  *ge += (double)(-w * pv * g_c);
  const R g_w = -(1 + s->e) * pv * g_c;
  g_pv += -(1 + s->e) * w * g_c;
  /* pv = dir . rv */
  g_dir[0] += g_pv * rv[0], g_dir[1] += g_pv * rv[1];
  const R g_rv[2] = {g_pv * dir[0], g_pv * dir[1]};
  /* dir = p / (dn + eps) */
  R g_p[2] = {g_dir[0] * inv, g_dir[1] * inv};
  g_dn += -(g_dir[0] * p[0] + g_dir[1] * p[1]) * inv * inv;
  /* dn = |p| */
  if (dn > 0) g_p[0] += g_dn * p[0] / dn, g_p[1] += g_dn * p[1] / dn;
  for (int d = 0; d < 2; d++) {
    gxi[d] += g_p[d];
    gvi[d] += dt * g_p[d] + g_rv[d];
    gxj[d] -= g_p[d];
    gvj[d] -= dt * g_p[d] + g_rv[d];
  }
  if (gri) *gri += g_rr, *grj += g_rr;
  if (gmi) *gmi += -g_w * q->mj / (M * M), *gmj += g_w * q->mi / (M * M);
}

/* ---- broad phase ------------------------------------------------------------- */
size_t disc_work_bytes(int64_t n, int64_t cap) {
  size_t b = 0;
  b += (size_t)(5 * n) * sizeof(R);                /* imp, xinc, key */
  b += (size_t)(n + 1) * sizeof(int32_t) * 2;      /* order, and the counting sort's starts */
  b += (size_t)(4 * cap) * sizeof(int32_t);        /* pairs, and the sort's buffer */
  return b + 256;
}

void disc_work_init(disc_work *w, void *mem, int64_t n, int64_t cap) {
  char *p = mem;
  w->imp = (R *)p, p += (size_t)(2 * n) * sizeof(R);
  w->xinc = (R *)p, p += (size_t)(2 * n) * sizeof(R);
  w->key = (R *)p, p += (size_t)n * sizeof(R);
  w->order = (int32_t *)p, p += (size_t)(n + 1) * sizeof(int32_t);
  w->start = (int32_t *)p, p += (size_t)(n + 1) * sizeof(int32_t);
  w->pairs = (int32_t *)p, p += (size_t)(2 * cap) * sizeof(int32_t);
  w->tmp = (int32_t *)p;
  w->cap = cap;
  w->np = 0;
  for (int64_t i = 0; i < n; i++) w->order[i] = (int32_t)i;
}

static inline int before(const R *key, int32_t a, int32_t b) { return key[a] < key[b] || (key[a] == key[b] && a < b); }

/* Sort-and-sweep on x of the predicted positions, with the y-intervals checked
 * too, so a column of discs (all sharing x) does not become all-pairs. The
 * sorted order is kept from the previous step (insertion sort: nearly sorted
 * input, O(n) per step), and it is unique (ties by index): deterministic. The
 * candidates then go through a counting sort by i and an insertion sort by j,
 * so each disc sees its partners in ascending j, the reference's order. */
int disc_pairs(const disc_sys *s, const R *x, const R *v, disc_work *w) {
  const int64_t n = s->n;
  const R dt = s->dt;
  w->np = 0;
  if (s->reference) return 0; /* all pairs, no list */
  R *key = w->key;
  for (int64_t i = 0; i < n; i++) key[i] = x[2 * i] + dt * v[2 * i] - s->radius[i];
  int32_t *o = w->order;
  for (int64_t k = 1; k < n; k++) {
    int32_t a = o[k];
    int64_t m = k - 1;
    while (m >= 0 && before(key, a, o[m])) o[m + 1] = o[m], m--;
    o[m + 1] = a;
  }
  int64_t np = 0;
  for (int64_t k = 0; k < n; k++) {
    const int32_t i = o[k];
    const R pxi = x[2 * i] + dt * v[2 * i], pyi = x[2 * i + 1] + dt * v[2 * i + 1];
    const R hi = pxi + s->radius[i];
    for (int64_t m = k + 1; m < n; m++) {
      const int32_t j = o[m];
      if (key[j] > hi) break;
      const R pyj = x[2 * j + 1] + dt * v[2 * j + 1];
      const R rr = s->radius[i] + s->radius[j];
      if (pyi - pyj > rr || pyj - pyi > rr) continue;
      if (np + 2 > w->cap) return -1;
      w->pairs[2 * np] = i, w->pairs[2 * np + 1] = j, np++;
      w->pairs[2 * np] = j, w->pairs[2 * np + 1] = i, np++;
    }
  }
  /* order the candidates by (i, j): a counting sort by i into tmp, then each
   * disc's few partners by insertion sort on j */
  int32_t *cnt = w->start, *pr = w->pairs, *tmp = w->tmp;
  memset(cnt, 0, (size_t)(n + 1) * sizeof(int32_t));
  for (int64_t k = 0; k < np; k++) cnt[pr[2 * k] + 1]++;
  for (int64_t i = 0; i < n; i++) cnt[i + 1] += cnt[i];
  for (int64_t k = 0; k < np; k++) {
    const int32_t at = cnt[pr[2 * k]]++;
    tmp[2 * at] = pr[2 * k], tmp[2 * at + 1] = pr[2 * k + 1];
  }
  for (int64_t k = 0, a = 0; k < np; k = a) {
    for (a = k + 1; a < np && tmp[2 * a] == tmp[2 * k]; a++) {
      const int32_t j = tmp[2 * a + 1];
      int64_t m = a - 1;
      while (m >= k && tmp[2 * m + 1] > j) tmp[2 * (m + 1) + 1] = tmp[2 * m + 1], m--;
      tmp[2 * (m + 1) + 1] = j;
    }
  }
  memcpy(pr, tmp, (size_t)(2 * np) * sizeof(int32_t));
  w->np = np;
  return 0;
}

/* ---- one step ---------------------------------------------------------------- */
void disc_step_forward(const disc_sys *s, const R *x, const R *v, disc_work *w, R *xo, R *vo) {
  const int64_t n = s->n;
  memset(w->imp, 0, (size_t)(2 * n) * sizeof(R));
  memset(w->xinc, 0, (size_t)(2 * n) * sizeof(R));
  if (s->reference) {
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < n; j++) {
        if (j == i) continue;
        pair_in q = pair_load(s, x, v, i, j);
        pair_forward(s, &q, w->imp + 2 * i, w->xinc + 2 * i);
      }
  } else {
    for (int64_t k = 0; k < w->np; k++) {
      const int32_t i = w->pairs[2 * k], j = w->pairs[2 * k + 1];
      pair_in q = pair_load(s, x, v, i, j);
      pair_forward(s, &q, w->imp + 2 * i, w->xinc + 2 * i);
    }
  }
  for (int64_t i = 0; i < 2 * n; i++) {
    vo[i] = v[i] + w->imp[i];
    xo[i] = x[i] + s->dt * vo[i] + w->xinc[i];
  }
}

static inline void pair_back(const disc_sys *s, const R *x, const R *v, int64_t i, int64_t j, const R *gimp,
                             const R *gxinc, R *gx, R *gv, R *gr, R *gm, double *ge) {
  pair_in q = pair_load(s, x, v, i, j);
  R dri = 0, drj = 0, dmi = 0, dmj = 0;
  pair_adjoint(s, &q, gimp + 2 * i, gxinc + 2 * i, gx + 2 * i, gv + 2 * i, gx + 2 * j, gv + 2 * j,
               gr ? &dri : NULL, gr ? &drj : NULL, gm ? &dmi : NULL, gm ? &dmj : NULL, ge);
  if (gr) gr[i] += dri, gr[j] += drj;
  if (gm) gm[i] += dmi, gm[j] += dmj;
}

void disc_step_adjoint(const disc_sys *s, const R *x, const R *v, const disc_work *w, const R *gxo,
                       const R *gvo, R *gx, R *gv, R *gr, R *gm, double *ge) {
  const int64_t n = s->n;
  /* v' = v + imp, x' = x + dt v' + xinc: the grads of imp and xinc, in w's
   * accumulators (the forward's values are not needed any more) */
  R *gimp = w->imp, *gxinc = w->xinc;
  for (int64_t i = 0; i < 2 * n; i++) {
    const R gv1 = gvo[i] + s->dt * gxo[i];
    gimp[i] = gv1;
    gxinc[i] = gxo[i];
    gx[i] += gxo[i];
    gv[i] += gv1;
  }
  /* serial in a fixed order: deterministic scatter into both discs of a pair */
  if (s->reference) {
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < n; j++)
        if (j != i) pair_back(s, x, v, i, j, gimp, gxinc, gx, gv, gr, gm, ge);
  } else {
    for (int64_t k = 0; k < w->np; k++)
      pair_back(s, x, v, w->pairs[2 * k], w->pairs[2 * k + 1], gimp, gxinc, gx, gv, gr, gm, ge);
  }
}

int disc_first_overlap(const disc_sys *s, const R *x, disc_work *w, int64_t *oi, int64_t *oj, double *depth) {
  /* the broad phase at dt = 0 lists every pair whose boxes touch */
  disc_sys t = *s;
  t.dt = 0, t.reference = 0;
  int64_t n = s->n;
  for (int64_t i = 0; i < n; i++) w->order[i] = (int32_t)i;
  if (disc_pairs(&t, x, x, w)) return -1;
  for (int64_t k = 0; k < w->np; k++) {
    const int32_t i = w->pairs[2 * k], j = w->pairs[2 * k + 1];
    if (j < i) continue;
    const double dx = (double)x[2 * i] - x[2 * j], dy = (double)x[2 * i + 1] - x[2 * j + 1];
    const double d = sqrt(dx * dx + dy * dy), rr = (double)s->radius[i] + s->radius[j];
    if (d < rr * (1 - 1e-5)) {
      *oi = i, *oj = j, *depth = rr - d;
      return 1;
    }
  }
  return 0;
}
