/* The kit (core/src/kit) through its function table, as a plugin would use it:
 * reductions and transfers bitwise identical for 1, 2, 3, 7 threads; p2g/g2p an
 * exact adjoint pair; partition of unity; weight gradients and the MLP backward
 * against central differences (tight in f64); clear errors for bad input. */
#include <diffsim/core.h>
#include <diffsim/kit.h>
#include <math.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "check.h"

#ifdef DS_REAL_F64
static const double TOL = 1e-12, FD_TOL = 1e-7;
#else
static const double TOL = 2e-5, FD_TOL = 0; /* FD checks run in f64 only */
#endif

static const int THREADS[4] = {1, 2, 3, 7};
static uint64_t rng = 88172645463325252ull;
static double urand(void) { /* xorshift64: the same stream everywhere */
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}
static void fill(ds_real *a, int64_t n, double lo, double hi) {
  for (int64_t i = 0; i < n; i++) a[i] = (ds_real)(lo + (hi - lo) * urand());
}
static double dotd(const ds_real *a, const ds_real *b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

static void test_reduce(ds_ctx *ctx, const ds_kit_api *K) {
  int64_t n = 1000003; /* many blocks and a ragged tail */
  ds_real *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
  fill(a, n, -1, 1);
  fill(b, n, -1, 1);
  double s[4], d[4];
  for (int t = 0; t < 4; t++) {
    ds_set_threads(ctx, THREADS[t]);
    s[t] = K->sum(ctx, a, n);
    d[t] = K->dot(ctx, a, b, n);
  }
  for (int t = 1; t < 4; t++) {
    CHECK(memcmp(&s[t], &s[0], sizeof(double)) == 0);
    CHECK(memcmp(&d[t], &d[0], sizeof(double)) == 0);
  }
  long double ref = 0;
  for (int64_t i = 0; i < n; i++) ref += a[i];
  CHECK(fabs((double)(s[0] - ref)) < 1e-9);
  CHECK(fabs(d[0] - dotd(a, b, n)) < 1e-9);
  CHECK(K->sum(ctx, a, 0) == 0);
  CHECK(isnan(K->dot(ctx, a, NULL, 5)));
  CHECK_CONTAINS(ds_last_error(ctx), "kit.dot");
  free(a);
  free(b);
}

static ds_kit_grid grid_of(int dim, int C, int64_t n, double dx) {
  ds_kit_grid g;
  memset(&g, 0, sizeof g);
  g.dim = dim;
  g.channels = C;
  g.n[0] = n;
  g.n[1] = n + 1; /* non-square: catches swapped axes */
  g.n[2] = dim == 3 ? n + 2 : 1;
  g.dx = dx;
  g.origin[0] = -0.25;
  g.origin[1] = 0.5;
  g.origin[2] = 1.0;
  return g;
}
static int64_t nodes(const ds_kit_grid *g) { return g->n[0] * g->n[1] * (g->dim == 3 ? g->n[2] : 1); }

/* positions strictly inside the valid range [0.5, n - 1.5) in grid units */
static void positions(const ds_kit_grid *g, ds_real *x, int64_t np) {
  for (int64_t p = 0; p < np; p++)
    for (int d = 0; d < g->dim; d++)
      x[p * g->dim + d] = (ds_real)(g->origin[d] + g->dx * (0.51 + (g->n[d] - 2.02) * urand()));
}

static void test_transfer(ds_ctx *ctx, const ds_kit_api *K, int dim) {
  const int C = 3;
  ds_kit_grid g = grid_of(dim, C, dim == 2 ? 40 : 14, 0.1);
  int64_t np = 20000, nn = nodes(&g) * C;
  ds_real *x = malloc(np * dim * sizeof *x), *v = malloc(np * C * sizeof *v);
  ds_real *grid[4], *pv = malloc(np * C * sizeof *pv), *gb = malloc(nn * sizeof *gb);
  positions(&g, x, np);
  fill(v, np * C, -1, 1);
  fill(gb, nn, -1, 1);
  void *work = malloc((size_t)K->p2g_work_bytes(&g, np));
  for (int t = 0; t < 4; t++) {
    ds_set_threads(ctx, THREADS[t]);
    grid[t] = calloc(nn, sizeof(ds_real));
    CHECK(K->p2g(ctx, &g, x, v, np, grid[t], t % 2 ? work : NULL) == DS_OK);
    if (t) CHECK(memcmp(grid[t], grid[0], nn * sizeof(ds_real)) == 0);
  }
  /* adjoint pair: <p2g(v), b> = <v, g2p(b)> */
  CHECK(K->g2p(ctx, &g, x, gb, np, pv, 0) == DS_OK);
  double lhs = dotd(grid[0], gb, nn), rhs = dotd(v, pv, np * C);
  CHECK(fabs(lhs - rhs) <= TOL * (fabs(lhs) + 1) * 10);
  /* g2p and g2p_dx are bitwise identical across thread counts too */
  ds_real *pv2 = malloc(np * C * sizeof *pv2), *gx1 = calloc(np * dim, sizeof *gx1), *gx2 = calloc(np * dim, sizeof *gx2);
  ds_set_threads(ctx, 1);
  K->g2p_dx(ctx, &g, x, gb, v, np, gx1);
  ds_set_threads(ctx, 7);
  K->g2p(ctx, &g, x, gb, np, pv2, 0);
  K->g2p_dx(ctx, &g, x, gb, v, np, gx2);
  CHECK(memcmp(pv, pv2, np * C * sizeof *pv) == 0);
  CHECK(memcmp(gx1, gx2, np * dim * sizeof *gx1) == 0);
  /* mass conservation: channel 0 of ones sums to np */
  for (int64_t p = 0; p < np; p++) v[p * C] = 1;
  memset(grid[0], 0, nn * sizeof(ds_real));
  K->p2g(ctx, &g, x, v, np, grid[0], work);
  double mass = 0;
  for (int64_t i = 0; i < nodes(&g); i++) mass += grid[0][i * C];
  CHECK(fabs(mass - np) < TOL * np * 10);
  for (int t = 0; t < 4; t++) free(grid[t]);
  free(x), free(v), free(pv), free(pv2), free(gb), free(gx1), free(gx2), free(work);
}

/* Partition of unity and d(weights)/dx by central differences. */
static void test_stencil(const ds_kit_api *K, int dim) {
  ds_kit_grid g = grid_of(dim, 1, 12, 0.3);
  int S = dim == 2 ? 9 : 27;
  for (int rep = 0; rep < 50; rep++) {
    ds_real xp[3], w[27], dw[81];
    int64_t base[3];
    positions(&g, xp, 1);
    CHECK(K->stencil(&g, xp, base, w, dw) == DS_OK);
    double sum = 0, dsum[3] = {0, 0, 0};
    for (int s = 0; s < S; s++) {
      sum += w[s];
      CHECK(w[s] >= 0);
      for (int d = 0; d < dim; d++) dsum[d] += dw[s * dim + d];
    }
    CHECK(fabs(sum - 1) < TOL * 10);
    for (int d = 0; d < dim; d++) CHECK(fabs(dsum[d]) < TOL * 100); /* d/dx of a constant 1 */
    if (FD_TOL > 0)
      for (int d = 0; d < dim; d++) {
        ds_real xa[3], xb[3], wa[27], wb[27];
        int64_t ba[3], bb[3];
        double h = 1e-6;
        memcpy(xa, xp, sizeof xa), memcpy(xb, xp, sizeof xb);
        xa[d] += (ds_real)h, xb[d] -= (ds_real)h;
        K->stencil(&g, xa, ba, wa, NULL);
        K->stencil(&g, xb, bb, wb, NULL);
        if (ba[d] != base[d] || bb[d] != base[d]) continue; /* straddles a knot: skip */
        for (int s = 0; s < S; s++) CHECK(fabs((wa[s] - wb[s]) / (2 * h) - dw[s * dim + d]) < FD_TOL);
      }
  }
}

/* g2p_dx is the x-gradient of <g2p(x, grid), pv> (f64 central differences). */
static void test_dx_fd(ds_ctx *ctx, const ds_kit_api *K, int dim, int bounds) {
  if (FD_TOL == 0) return;
  const int C = 2;
  ds_kit_grid g = grid_of(dim, C, 9, 0.2);
  g.bounds = bounds;
  int64_t np = 40, nn = nodes(&g) * C;
  ds_real x[40 * 3], pv[40 * 2], out[40 * 2], gx[40 * 3] = {0};
  ds_real *grid = malloc(nn * sizeof *grid);
  fill(grid, nn, -1, 1);
  positions(&g, x, np);
  fill(pv, np * C, -1, 1);
  if (bounds) x[0] = (ds_real)(g.origin[0] - 3 * g.dx), x[dim + 1] = (ds_real)(g.origin[1] + 50 * g.dx);
  CHECK(K->g2p_dx(ctx, &g, x, grid, pv, np, gx) == DS_OK);
  for (int64_t p = 0; p < np; p++)
    for (int d = 0; d < dim; d++) {
      ds_real keep = x[p * dim + d];
      double h = 1e-6, f[2];
      for (int k = 0; k < 2; k++) {
        x[p * dim + d] = keep + (ds_real)(k ? -h : h);
        K->g2p(ctx, &g, x, grid, np, out, 0);
        f[k] = dotd(out, pv, np * C);
      }
      x[p * dim + d] = keep;
      CHECK(fabs((f[0] - f[1]) / (2 * h) - gx[p * dim + d]) < 1e-6);
    }
  if (bounds) CHECK(gx[0] == 0 && gx[dim + 1] == 0); /* clamped axes carry no gradient */
  free(grid);
}

static void test_errors(ds_ctx *ctx, const ds_kit_api *K) {
  ds_kit_grid g = grid_of(2, 1, 8, 1.0);
  ds_real x[6] = {2, 2, 3, 3, 2, 40}, v[3] = {1, 1, 1}, grid[8 * 9] = {0}, out[3];
  CHECK(K->p2g(ctx, &g, x, v, 3, grid, NULL) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "kit.p2g: argument 'x': particle 2 (0-based) at (2, 40) is outside the grid on axis 1");
  CHECK(K->g2p(ctx, &g, x, grid, 3, out, 0) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "kit.g2p");
  x[5] = NAN;
  CHECK(K->pg_check(ctx, &g, x, 3) == DS_ERR_ARG);
  g.bounds = DS_KIT_BOUNDS_CLAMP;
  CHECK(K->pg_check(ctx, &g, x, 3) == DS_ERR_ARG); /* NaN stays an error when clamping */
  x[5] = 40;
  CHECK(K->p2g(ctx, &g, x, v, 3, grid, NULL) == DS_OK);
  double mass = 0;
  for (int i = 0; i < 8 * 9; i++) mass += grid[i];
  CHECK(fabs(mass - 3) < 1e-5);
  g.dim = 4;
  CHECK(K->pg_check(ctx, &g, x, 3) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "grid dim must be 2 or 3");
  g.dim = 2, g.n[0] = 2;
  CHECK(K->p2g(ctx, &g, x, v, 3, grid, NULL) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "axis 0 has 2 nodes");
  CHECK(K->p2g_work_bytes(&g, 3) < 0);
}

/* MLP: query errors, single sample vs batch, FD of the backward, determinism. */
static void test_mlp(ds_ctx *ctx, const ds_kit_api *K) {
  int32_t sizes[4] = {5, 7, 6, 3}, acts[3];
  ds_kit_mlp net = {3, sizes, acts};
  ds_kit_mlp_sizes sz;
  acts[0] = 1, acts[1] = 9, acts[2] = 0;
  CHECK(K->mlp_query(ctx, &net, 1, &sz) == DS_ERR_ARG);
  CHECK_CONTAINS(ds_last_error(ctx), "kit.mlp_query: argument 'net': layer 2 has activation 9, which is not supported");
  CHECK(K->act_from_name("gelu") == -1 && K->act_from_name("none") == DS_KIT_ACT_IDENTITY);
  CHECK(strcmp(K->act_name(DS_KIT_ACT_SIGMOID), "sigmoid") == 0 && K->act_name(7) == NULL);
  for (int a = 0; a < DS_KIT_ACT_COUNT; a++) {
    acts[0] = a, acts[1] = (a + 1) % DS_KIT_ACT_COUNT, acts[2] = (a + 2) % DS_KIT_ACT_COUNT;
    CHECK(K->mlp_query(ctx, &net, 70, &sz) == DS_OK);
    CHECK(sz.weights == 5 * 7 + 7 + 7 * 6 + 6 + 6 * 3 + 3);
    const int64_t B = 70, nw = sz.weights;
    ds_real *w = malloc(nw * sizeof *w), *x = malloc(B * 5 * sizeof *x), *y = malloc(B * 3 * sizeof *y);
    ds_real *save = malloc(B * sz.save * sizeof *save), *gy = malloc(B * 3 * sizeof *gy);
    ds_real *work = malloc(sz.batch_work * sizeof *work), *scratch = malloc(sz.scratch * sizeof *scratch);
    ds_real *gw[2], *gx[2], y1[3];
    fill(w, nw, -0.8, 0.8), fill(x, B * 5, -1, 1), fill(gy, B * 3, -1, 1);
    for (int t = 0; t < 2; t++) {
      ds_set_threads(ctx, t ? 3 : 1);
      gw[t] = calloc(nw, sizeof(ds_real)), gx[t] = calloc(B * 5, sizeof(ds_real));
      CHECK(K->mlp_forward_batch(ctx, &net, w, x, B, y, save) == DS_OK);
      CHECK(K->mlp_backward_batch(ctx, &net, w, x, save, gy, B, gx[t], gw[t], work) == DS_OK);
    }
    CHECK(memcmp(gw[0], gw[1], nw * sizeof(ds_real)) == 0);
    CHECK(memcmp(gx[0], gx[1], B * 5 * sizeof(ds_real)) == 0);
    K->mlp_forward(&net, w, x + 4 * 5, y1, save); /* sample 4 alone */
    CHECK(memcmp(y1, y + 4 * 3, sizeof y1) == 0);
    if (FD_TOL > 0) {
      /* sample 0: L = <y, gy0>; d/dx and d/dw by central differences */
      ds_real gx0[5] = {0}, *gw0 = calloc(nw, sizeof(ds_real));
      K->mlp_forward(&net, w, x, y1, save);
      K->mlp_backward(&net, w, x, save, gy, gx0, gw0, scratch);
      double h = 1e-6;
      for (int64_t k = 0; k < nw + 5; k++) {
        ds_real *p = k < nw ? w + k : x + (k - nw), keep = *p;
        double f[2];
        for (int s = 0; s < 2; s++) {
          *p = keep + (ds_real)(s ? -h : h);
          K->mlp_forward(&net, w, x, y1, save);
          f[s] = dotd(y1, gy, 3);
        }
        *p = keep;
        double ana = k < nw ? gw0[k] : gx0[k - nw];
        CHECK(fabs((f[0] - f[1]) / (2 * h) - ana) < 1e-7);
      }
      free(gw0);
    }
    for (int t = 0; t < 2; t++) free(gw[t]), free(gx[t]);
    free(w), free(x), free(y), free(save), free(gy), free(work), free(scratch);
  }
}

/* mlp_backward_inject: gradients arriving at the hidden activations. L = <y, gy>
 * + <[a_1, a_2], gh>; d/dx and d/dw by central differences (f64), for every
 * activation in every layer. With ghidden = NULL it is mlp_backward, bit for bit;
 * and without a sin layer it never reads z (the z slots may hold anything). */
static void test_mlp_inject(ds_ctx *ctx, const ds_kit_api *K) {
  CHECK(offsetof(ds_kit_api, mlp_backward_inject) < K->size);
  int32_t sizes[4] = {5, 7, 6, 3}, acts[3];
  ds_kit_mlp net = {3, sizes, acts};
  ds_kit_mlp_sizes sz;
  for (int a = 0; a < DS_KIT_ACT_COUNT; a++) {
    acts[0] = a, acts[1] = (a + 2) % DS_KIT_ACT_COUNT, acts[2] = (a + 4) % DS_KIT_ACT_COUNT;
    CHECK(K->mlp_query(ctx, &net, 1, &sz) == DS_OK);
    const int64_t nw = sz.weights, nh = 7 + 6;
    ds_real *w = malloc(nw * sizeof *w), *save = malloc(sz.save * sizeof *save), *save2 = malloc(sz.save * sizeof *save2);
    ds_real *scratch = malloc(sz.scratch * sizeof *scratch), *gw = calloc(nw, sizeof *gw), *gw1 = calloc(nw, sizeof *gw1);
    ds_real *gw2 = calloc(nw, sizeof *gw2), x[5], y[3], gy[3], gh[13], gx[5] = {0}, gx1[5] = {0}, gx2[5] = {0};
    fill(w, nw, -0.8, 0.8), fill(x, 5, -1, 1), fill(gy, 3, -1, 1), fill(gh, nh, -1, 1);
    K->mlp_forward(&net, w, x, y, save);
    K->mlp_backward_inject(&net, w, x, save, gy, gh, gx, gw, scratch);
    /* NULL injection = mlp_backward */
    K->mlp_backward_inject(&net, w, x, save, gy, NULL, gx1, gw1, scratch);
    K->mlp_backward(&net, w, x, save, gy, gx2, gw2, scratch);
    CHECK(memcmp(gx1, gx2, sizeof gx1) == 0 && memcmp(gw1, gw2, nw * sizeof(ds_real)) == 0);
    /* z is read for sin only: garbage in the z slots changes nothing otherwise */
    int sin_net = acts[0] == DS_KIT_ACT_SIN || acts[1] == DS_KIT_ACT_SIN || acts[2] == DS_KIT_ACT_SIN;
    if (!sin_net) {
      memcpy(save2, save, sz.save * sizeof(ds_real));
      for (int64_t off = 0, l = 1; l <= 3; off += 2 * sizes[l], l++)
        for (int o = 0; o < sizes[l]; o++) save2[off + o] = (ds_real)1e30;
      memset(gx2, 0, sizeof gx2), memset(gw2, 0, nw * sizeof(ds_real));
      K->mlp_backward_inject(&net, w, x, save2, gy, gh, gx2, gw2, scratch);
      CHECK(memcmp(gx, gx2, sizeof gx) == 0 && memcmp(gw, gw2, nw * sizeof(ds_real)) == 0);
    }
    if (FD_TOL > 0) {
      double h = 1e-6, worst = 0;
      for (int64_t k = 0; k < nw + 5; k++) {
        ds_real *p = k < nw ? w + k : x + (k - nw), keep = *p;
        double f[2];
        for (int s = 0; s < 2; s++) {
          *p = keep + (ds_real)(s ? -h : h);
          K->mlp_forward(&net, w, x, y, save2);
          /* a_1 at save[7..14), a_2 at save[2*7 + 6 ..) */
          f[s] = dotd(y, gy, 3) + dotd(save2 + 7, gh, 7) + dotd(save2 + 14 + 6, gh + 7, 6);
        }
        *p = keep;
        double ana = k < nw ? gw[k] : gx[k - nw], err = fabs((f[0] - f[1]) / (2 * h) - ana);
        worst = err > worst ? err : worst;
      }
      CHECK(worst < 1e-7);
      printf("# kit.mlp_backward_inject acts %s/%s/%s: max |FD - adjoint| = %.2e\n", K->act_name(acts[0]),
             K->act_name(acts[1]), K->act_name(acts[2]), worst);
    }
    free(w), free(save), free(save2), free(scratch), free(gw), free(gw1), free(gw2);
  }
}

int main(void) {
  ds_ctx *ctx = ds_ctx_new(2);
  const ds_kit_api *K = ds_kit_api_get();
  CHECK(K->version == DS_KIT_VERSION && K->size == sizeof(ds_kit_api));
  test_reduce(ctx, K);
  for (int dim = 2; dim <= 3; dim++) {
    test_transfer(ctx, K, dim);
    test_stencil(K, dim);
    test_dx_fd(ctx, K, dim, DS_KIT_BOUNDS_ERROR);
    test_dx_fd(ctx, K, dim, DS_KIT_BOUNDS_CLAMP);
  }
  test_errors(ctx, K);
  test_mlp(ctx, K);
  test_mlp_inject(ctx, K);
  ds_ctx_free(ctx);
  TEST_DONE();
}
