/* Line-by-line stencils shared by the projection kernels: divergence D, gradient
 * subtraction v - G p, the consistent Laplacian A = D G, one compact Jacobi sweep,
 * and the null-space projection of A.
 *
 * D and G are central differences with G = D^T / h^2. That identity is what
 * makes every projection here self-adjoint, so the adjoint of a projection is the
 * same projection applied to the output gradient (see project_jacobi.c).
 *
 * Walls: the velocity component normal to a wall is zero on the wall's own cells
 * (index 0 and n-1 along that axis): D reads it as zero and v - G p writes zero
 * there. Both are masked the same way, so G = D^T / h^2 still holds, the
 * projection lands in {no flow through walls, D v = 0}, and the stencils never
 * need a pressure ghost. (Without the mask, an approximate projection lets flow
 * into the walls pile up, and a Jacobi-projected rollout blows up.) */
#include "smoke.h"

/* ---- one line, neighbours already resolved --------------------------------- */

/* o = coef * sum_d (vp_d - vm_d) - h2 * extra; the last axis comes from w. */
SMOKE_CLONES static void div_line(const grid *g, ds_real coef, ds_real h2, const ds_real *const *vm,
                                  const ds_real *const *vp, const ds_real *w, const ds_real *extra, ds_real *o) {
  const int64_t n = g->len;
  const int periodic = g->bc == BC_PERIODIC;
  const ds_real *m0 = vm[0], *p0 = vp[0];
  /* interior: both last-axis neighbours are ordinary cells */
  if (g->nd == 2) {
    /* the same association as the reference: ((a - b) + c) - d */
    for (int64_t k = 2; k < n - 2; k++) o[k] = coef * (((p0[k] - m0[k]) + w[k + 1]) - w[k - 1]);
  } else {
    const ds_real *m1 = vm[1], *p1 = vp[1];
    for (int64_t k = 2; k < n - 2; k++) o[k] = coef * (((((p0[k] - m0[k]) + p1[k]) - m1[k]) + w[k + 1]) - w[k - 1]);
  }
  const int64_t edge[4] = {0, 1, n - 2, n - 1};
  for (int e = 0; e < 4; e++) {
    int64_t k = edge[e];
    if (e == 1 && n < 3) continue;
    if (e >= 2 && k < 2) continue; /* tiny lines: already done */
    ds_real wp, wm;
    if (periodic) {
      wp = w[k + 1 < n ? k + 1 : 0];
      wm = w[k > 0 ? k - 1 : n - 1];
    } else { /* wall cells (0, n-1) carry no normal velocity; outside is nothing */
      wp = (k + 1 >= 1 && k + 1 <= n - 2) ? w[k + 1] : 0;
      wm = (k - 1 >= 1 && k - 1 <= n - 2) ? w[k - 1] : 0;
    }
    ds_real acc = p0[k] - m0[k];
    if (g->nd == 3) acc = (acc + vp[1][k]) - vm[1][k];
    o[k] = coef * ((acc + wp) - wm);
  }
  if (extra)
    for (int64_t k = 0; k < n; k++) o[k] -= h2 * extra[k];
}

/* out_d = (acc ? out_d : 0) + v_d - (p[+1] - p[-1]) / (2h) on one line. */
SMOKE_CLONES static void gradsub_line(const grid *g, ds_real inv2h, const ds_real *const *v, const ds_real *pc,
                                      const ds_real *const *pm, const ds_real *const *pp, ds_real *const *out,
                                      int acc, unsigned wall_lines) {
  const int64_t n = g->len;
  const int nd = g->nd, last = nd - 1;
  for (int d = 0; d < last; d++) {
    ds_real *o = out[d];
    if (!o) continue;
    if (wall_lines >> d & 1) { /* this line lies on a wall normal to axis d */
      if (!acc) memset(o, 0, (size_t)n * sizeof(ds_real));
      continue;
    }
    const ds_real *vd = v[d], *a = pp[d], *b = pm[d];
    if (acc)
      for (int64_t k = 0; k < n; k++) o[k] += vd[k] - (a[k] - b[k]) * inv2h;
    else
      for (int64_t k = 0; k < n; k++) o[k] = vd[k] - (a[k] - b[k]) * inv2h;
  }
  ds_real *o = out[last];
  if (!o) return;
  const ds_real *vd = v[last];
  const int periodic = g->bc == BC_PERIODIC;
  if (acc)
    for (int64_t k = 1; k < n - 1; k++) o[k] += vd[k] - (pc[k + 1] - pc[k - 1]) * inv2h;
  else
    for (int64_t k = 1; k < n - 1; k++) o[k] = vd[k] - (pc[k + 1] - pc[k - 1]) * inv2h;
  for (int e = 0; e < 2; e++) {
    int64_t k = e ? n - 1 : 0;
    if (!periodic) {
      if (!acc) o[k] = 0;
      continue;
    }
    ds_real a = pc[k + 1 < n ? k + 1 : 0], b = pc[k > 0 ? k - 1 : n - 1];
    ds_real r = vd[k] - (a - b) * inv2h;
    o[k] = acc ? o[k] + r : r;
  }
}

/* One compact Jacobi sweep on a line of a periodic grid: nb = {minus_0, plus_0,
 * minus_1, plus_1} lines; the last axis wraps. */
SMOKE_CLONES static void jacobi_line_(const grid *g, ds_real *out, const ds_real *div, const ds_real *c,
                                      const ds_real *const *nb, ds_real inv) {
  const int64_t n = g->len;
  const ds_real *m0 = nb[0], *p0 = nb[1];
  if (g->nd == 2) {
    /* (div + p[i-1] + p[i+1] + p[j-1] + p[j+1]) / 4, summed left to right */
    for (int64_t k = 1; k < n - 1; k++) out[k] = ((((div[k] + m0[k]) + p0[k]) + c[k - 1]) + c[k + 1]) * inv;
  } else {
    const ds_real *m1 = nb[2], *p1 = nb[3];
    for (int64_t k = 1; k < n - 1; k++)
      out[k] = ((((((div[k] + m0[k]) + p0[k]) + m1[k]) + p1[k]) + c[k - 1]) + c[k + 1]) * inv;
  }
  for (int e = 0; e < 2; e++) {
    int64_t k = e ? n - 1 : 0;
    ds_real cm = c[k > 0 ? k - 1 : n - 1];
    ds_real cp = c[k + 1 < n ? k + 1 : 0];
    ds_real acc = (div[k] + m0[k]) + p0[k];
    if (g->nd == 3) acc = (acc + nb[2][k]) + nb[3][k];
    out[k] = ((acc + cm) + cp) * inv;
  }
}

/* ---- whole-grid versions over line ranges (global arrays) ------------------ */

/* Bit d set: line l lies on a wall normal to axis d (walls only). */
static unsigned wall_bits(const grid *g, int64_t l) {
  if (g->bc != BC_WALL) return 0;
  unsigned b = 0;
  if (g->nd == 2) return (l == 0 || l == g->n[0] - 1) ? 1u : 0u;
  int64_t i = l / g->n[1], j = l - i * g->n[1];
  if (i == 0 || i == g->n[0] - 1) b |= 1;
  if (j == 0 || j == g->n[1] - 1) b |= 2;
  return b;
}
unsigned smoke_wall_bits(const grid *g, int64_t l) { return wall_bits(g, l); }

/* Neighbour line of velocity component d: zero outside the grid and on the wall
 * cells normal to d. */
static const ds_real *vel_nb(const grid *g, const ds_real *a, int64_t l, int d, int64_t s, const ds_real *zero) {
  int64_t m = line_nb(g, l, d, s);
  if (m < 0 || (wall_bits(g, m) >> d & 1)) return zero;
  return a + m * g->len;
}

static const ds_real *nb_line(const grid *g, const ds_real *a, int64_t l, int d, int64_t s, const ds_real *zero) {
  int64_t m = line_nb(g, l, d, s);
  return m < 0 ? zero : a + m * g->len;
}

void op_div_lines(const grid *g, double h, const ds_real *const v[3], const ds_real *extra, ds_real *div,
                  int64_t l0, int64_t l1, const ds_real *zero) {
  const ds_real coef = (ds_real)(-0.5 * h), h2 = (ds_real)(h * h);
  for (int64_t l = l0; l < l1; l++) {
    const ds_real *vm[2], *vp[2];
    for (int d = 0; d < g->nd - 1; d++) {
      vm[d] = vel_nb(g, v[d], l, d, -1, zero);
      vp[d] = vel_nb(g, v[d], l, d, +1, zero);
    }
    div_line(g, coef, h2, vm, vp, v[g->nd - 1] + l * g->len, extra ? extra + l * g->len : NULL, div + l * g->len);
  }
}

void op_gradsub_lines(const grid *g, double h, const ds_real *const v[3], const ds_real *p, ds_real *const out[3],
                      int acc, int64_t l0, int64_t l1, const ds_real *zero) {
  const ds_real inv2h = (ds_real)(0.5 / h);
  const int64_t n = g->len;
  for (int64_t l = l0; l < l1; l++) {
    const ds_real *pm[2], *pp[2], *vl[3];
    ds_real *ol[3];
    for (int d = 0; d < g->nd - 1; d++) {
      pm[d] = nb_line(g, p, l, d, -1, zero);
      pp[d] = nb_line(g, p, l, d, +1, zero);
    }
    for (int d = 0; d < g->nd; d++) {
      vl[d] = v[d] + l * n;
      ol[d] = out[d] ? out[d] + l * n : NULL;
    }
    gradsub_line(g, inv2h, vl, p + l * n, pm, pp, ol, acc, wall_bits(g, l));
  }
}

/* A p = D G p. Per axis: 0.25 (m+ + m-) p - 0.25 (m+ p[+2] + m- p[-2]), where m+-
 * says whether the +-1 neighbour carries a gradient term (exists, and at walls is
 * not a wall cell normal to that axis). */
static inline int lap_m(const grid *g, int64_t k, int64_t n) {
  return g->bc == BC_PERIODIC ? 1 : (k >= 1 && k <= n - 2);
}

double op_lap_diag(const grid *g, int64_t l, int64_t k) {
  double a = 0;
  for (int d = 0; d < g->nd - 1; d++)
    for (int s = -1; s <= 1; s += 2) {
      int64_t m = line_nb(g, l, d, s);
      a += m >= 0 && !(wall_bits(g, m) >> d & 1);
    }
  a += lap_m(g, k + 1, g->len) + lap_m(g, k - 1, g->len);
  return 0.25 * a;
}

/* The diagonal of A along one line (the Jacobi / CG preconditioner). */
void op_lap_diag_line(const grid *g, int64_t l, ds_real *out) {
  double a = 0;
  for (int d = 0; d < g->nd - 1; d++)
    for (int s = -1; s <= 1; s += 2) {
      int64_t m = line_nb(g, l, d, s);
      a += m >= 0 && !(wall_bits(g, m) >> d & 1);
    }
  for (int64_t k = 0; k < g->len; k++)
    out[k] = (ds_real)(0.25 * (a + lap_m(g, k + 1, g->len) + lap_m(g, k - 1, g->len)));
}

SMOKE_CLONES static void lap_lines(const grid *g, const ds_real *p, ds_real *out, int64_t l0, int64_t l1,
                                   const ds_real *zero) {
  const int64_t n = g->len;
  const int periodic = g->bc == BC_PERIODIC;
  for (int64_t l = l0; l < l1; l++) {
    const ds_real *c = p + l * n;
    ds_real *o = out + l * n;
    ds_real a = 0;
    const ds_real *far[4];
    int nf = 0;
    for (int d = 0; d < g->nd - 1; d++) {
      for (int s = -1; s <= 1; s += 2) {
        int64_t m = line_nb(g, l, d, s);
        if (m >= 0 && !(wall_bits(g, m) >> d & 1)) {
          a += 1;
          far[nf++] = nb_line(g, p, l, d, 2 * s, zero); /* exists: the +-1 neighbour is interior */
        }
      }
    }
    if (nf == 2 * (g->nd - 1)) {
      if (g->nd == 2) {
        const ds_real *f0 = far[0], *f1 = far[1];
        for (int64_t k = 2; k < n - 2; k++)
          o[k] = (ds_real)0.25 * ((a + 2) * c[k] - f0[k] - f1[k] - c[k + 2] - c[k - 2]);
      } else {
        const ds_real *f0 = far[0], *f1 = far[1], *f2 = far[2], *f3 = far[3];
        for (int64_t k = 2; k < n - 2; k++)
          o[k] = (ds_real)0.25 * ((a + 2) * c[k] - f0[k] - f1[k] - f2[k] - f3[k] - c[k + 2] - c[k - 2]);
      }
    } else {
      for (int64_t k = 2; k < n - 2; k++) {
        ds_real s = 0;
        for (int f = 0; f < nf; f++) s += far[f][k];
        o[k] = (ds_real)0.25 * ((a + 2) * c[k] - s - c[k + 2] - c[k - 2]);
      }
    }
    for (int64_t k = 0; k < n; k++) {
      if (k >= 2 && k < n - 2) continue;
      ds_real s = 0, ak = a;
      for (int f = 0; f < nf; f++) s += far[f][k];
      if (periodic) {
        ak += 2;
        s += c[wrap_index(k + 2, n)] + c[wrap_index(k - 2, n)];
      } else {
        if (lap_m(g, k + 1, n)) { ak += 1; s += c[k + 2]; }
        if (lap_m(g, k - 1, n)) { ak += 1; s += c[k - 2]; }
      }
      o[k] = (ds_real)0.25 * (ak * c[k] - s);
    }
  }
}

/* Exported entry points (a clone attribute on an exported function is not
 * honoured here; the static implementations carry it). */
void op_lap_lines(const grid *g, const ds_real *p, ds_real *out, int64_t l0, int64_t l1, const ds_real *zero) {
  lap_lines(g, p, out, l0, l1, zero);
}
void jacobi_line(const grid *g, ds_real *out, const ds_real *div, const ds_real *c, const ds_real *const *nb,
                 ds_real inv) {
  jacobi_line_(g, out, div, c, nb, inv);
}

void op_jacobi_lines(const grid *g, const ds_real *div, const ds_real *p, ds_real *out, int64_t l0, int64_t l1) {
  const int64_t n = g->len;
  const ds_real inv = (ds_real)(1.0 / (2 * g->nd));
  for (int64_t l = l0; l < l1; l++) {
    const ds_real *c = p + l * n, *nb[4];
    for (int d = 0; d < g->nd - 1; d++) {
      for (int s = 0; s < 2; s++) {
        int64_t m = line_nb(g, l, d, s ? 1 : -1);
        nb[2 * d + s] = p + m * n; /* periodic: always a line */
      }
    }
    jacobi_line(g, out + l * n, div + l * n, c, nb, inv);
  }
}

/* The null space of A = D G: fields whose central differences vanish where G
 * acts. Periodic: constants on each parity class (i mod 2 on an even axis; an
 * odd axis wraps the classes together). Walls: G acts on interior cells only,
 * so p[i+1] = p[i-1] there: constants on every parity class. */
void op_null_project(const grid *g, ds_real *x) {
  int s[3] = {1, 1, 1};
  for (int d = 0; d < g->nd; d++) s[d] = (g->bc == BC_WALL || g->n[d] % 2 == 0) ? 2 : 1;
  double sum[8] = {0};
  int64_t cnt[8] = {0};
  const int64_t n0 = g->n[0], n1 = g->n[1], n2 = g->n[2];
  for (int pass = 0; pass < 2; pass++) {
    int64_t idx = 0;
    for (int64_t i = 0; i < n0; i++)
      for (int64_t j = 0; j < n1; j++)
        for (int64_t k = 0; k < n2; k++, idx++) {
          int cls = (int)((i % s[0]) * 4 + (j % s[1]) * 2 + (k % s[2]));
          if (pass == 0) {
            sum[cls] += x[idx];
            cnt[cls]++;
          } else {
            x[idx] -= (ds_real)sum[cls];
          }
        }
    if (pass == 0)
      for (int c = 0; c < 8; c++) sum[c] = cnt[c] ? sum[c] / (double)cnt[c] : 0;
  }
}

/* Exported line helpers for the tiled 2D projection. */
void smoke_div_line(const grid *g, double h, const ds_real *const *vm, const ds_real *const *vp, const ds_real *w,
                    const ds_real *extra, ds_real *o) {
  div_line(g, (ds_real)(-0.5 * h), (ds_real)(h * h), vm, vp, w, extra, o);
}
void smoke_gradsub_line(const grid *g, double h, const ds_real *const *v, const ds_real *pc, const ds_real *const *pm,
                        const ds_real *const *pp, ds_real *const *out, int acc) {
  gradsub_line(g, (ds_real)(0.5 / h), v, pc, pm, pp, out, acc, 0); /* periodic only */
}
