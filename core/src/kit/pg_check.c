/* Validation for the particle <-> grid transfers: the grid description, and
 * every position (a stencil outside the grid would write outside the array).
 * Positions are scanned in parallel; the first offending particle is found per
 * fixed chunk and the smallest index is reported, whatever the thread count. */
#include "pg_stencil.h"

#include <stdio.h>

int ds_kit_grid_check(ds_ctx *ctx, const char *who, const ds_kit_grid *g) {
  if (!g) return ds_fail(ctx, DS_ERR_ARG, "%s: grid description is NULL", who);
  if (g->dim != 2 && g->dim != 3) return ds_fail(ctx, DS_ERR_ARG, "%s: grid dim must be 2 or 3, got %d", who, g->dim);
  if (g->channels < 1) return ds_fail(ctx, DS_ERR_ARG, "%s: grid channels must be >= 1, got %d", who, g->channels);
  if (g->bounds != DS_KIT_BOUNDS_ERROR && g->bounds != DS_KIT_BOUNDS_CLAMP)
    return ds_fail(ctx, DS_ERR_ARG, "%s: grid bounds must be 0 (error) or 1 (clamp), got %d", who, g->bounds);
  for (int d = 0; d < g->dim; d++)
    if (g->n[d] < 3 || g->n[d] > (1 << 24))
      return ds_fail(ctx, DS_ERR_ARG, "%s: grid axis %d has %lld nodes; the 3-node stencil needs 3 to 2^24", who, d,
                     (long long)g->n[d]);
  if (!(g->dx > 0) || !isfinite(g->dx)) return ds_fail(ctx, DS_ERR_ARG, "%s: grid dx must be positive and finite, got %g", who, g->dx);
  for (int d = 0; d < g->dim; d++)
    if (!isfinite(g->origin[d])) return ds_fail(ctx, DS_ERR_ARG, "%s: grid origin[%d] is not finite", who, d);
  return DS_OK;
}

enum { CHUNK = 8192 };

typedef struct scan_job {
  pg_geom G;
  const ds_real *x;
  int64_t np;
  int64_t *first_bad; /* per chunk: first bad particle, or -1 */
} scan_job;

static void scan_chunks(int64_t c0, int64_t c1, void *u) {
  const scan_job *j = u;
  const int D = j->G.dim;
  for (int64_t ch = c0; ch < c1; ch++) {
    int64_t lo = ch * CHUNK, hi = lo + CHUNK < j->np ? lo + CHUNK : j->np, bad = -1;
    for (int64_t p = lo; p < hi && bad < 0; p++)
      for (int d = 0; d < D; d++) {
        int64_t b;
        if (pg_axis(&j->G, d, j->x[p * D + d], &b, NULL, NULL)) {
          bad = p;
          break;
        }
      }
    j->first_bad[ch] = bad;
  }
}

/* The message for particle p, naming the axis and the allowed world range. */
static int report(ds_ctx *ctx, const char *who, const char *xname, const ds_kit_grid *g, const ds_real *x, int64_t p) {
  pg_geom G = pg_geom_of(g);
  const int D = g->dim;
  int axis = 0;
  for (int d = 0; d < D; d++) {
    int64_t b;
    if (pg_axis(&G, d, x[p * D + d], &b, NULL, NULL)) {
      axis = d;
      break;
    }
  }
  char pos[128];
  if (D == 2)
    snprintf(pos, sizeof pos, "(%g, %g)", (double)x[p * 2], (double)x[p * 2 + 1]);
  else
    snprintf(pos, sizeof pos, "(%g, %g, %g)", (double)x[p * 3], (double)x[p * 3 + 1], (double)x[p * 3 + 2]);
  double lo = g->origin[axis] + 0.5 * g->dx, hi = g->origin[axis] + ((double)g->n[axis] - 1.5) * g->dx;
  return ds_fail(ctx, DS_ERR_ARG,
                 "%s: argument %s: particle %lld (0-based) at %s is outside the grid on axis %d: its 3-node "
                 "stencil needs %g <= x < %g there (or use the clamp bounds mode)",
                 who, xname, (long long)p, pos, axis, lo, hi);
}

int ds_kit_pos_check(ds_ctx *ctx, const char *who, const char *xname, const ds_kit_grid *g, const ds_real *x,
                     int64_t np) {
  int rc = ds_kit_grid_check(ctx, who, g);
  if (rc) return rc;
  if (np < 0 || np > 0x7fffffff) return ds_fail(ctx, DS_ERR_ARG, "%s: particle count %lld is out of range", who, (long long)np);
  if (np == 0) return DS_OK;
  if (!x) return ds_fail(ctx, DS_ERR_ARG, "%s: argument %s is NULL", who, xname);
  int64_t nch = (np + CHUNK - 1) / CHUNK;
  int64_t stack[256];
  int64_t *bad = nch <= 256 ? stack : ds_aligned_alloc((size_t)nch * sizeof(int64_t));
  if (!bad) return ds_fail(ctx, DS_ERR_NOMEM, "%s: out of memory", who);
  scan_job j = {pg_geom_of(g), x, np, bad};
  ds_parallel_for(ctx, nch, 1, scan_chunks, &j);
  int64_t first = -1;
  for (int64_t c = 0; c < nch && first < 0; c++) first = bad[c];
  if (bad != stack) ds_aligned_free(bad);
  return first < 0 ? DS_OK : report(ctx, who, xname, g, x, first);
}

/* Public single-particle stencil; see kit.h for the layout. */
int ds_kit_stencil(const ds_kit_grid *g, const ds_real *xp, int64_t base[3], ds_real w[27], ds_real dw[81]) {
  if (ds_kit_grid_check(NULL, "kit.stencil", g) || !xp || !base || !w) return DS_ERR_ARG;
  pg_geom G = pg_geom_of(g);
  const int D = g->dim;
  ds_real wa[3][3], da[3][3];
  for (int d = 0; d < D; d++)
    if (pg_axis(&G, d, xp[d], &base[d], wa[d], da[d])) return DS_ERR_ARG;
  if (D == 2) {
    base[2] = 0;
    for (int a = 0; a < 3; a++)
      for (int b = 0; b < 3; b++) {
        int s = a * 3 + b;
        w[s] = wa[0][a] * wa[1][b];
        if (dw) {
          dw[s * 2] = da[0][a] * wa[1][b];
          dw[s * 2 + 1] = wa[0][a] * da[1][b];
        }
      }
    return DS_OK;
  }
  for (int a = 0; a < 3; a++)
    for (int b = 0; b < 3; b++)
      for (int c = 0; c < 3; c++) {
        int s = (a * 3 + b) * 3 + c;
        w[s] = wa[0][a] * wa[1][b] * wa[2][c];
        if (dw) {
          dw[s * 3] = da[0][a] * wa[1][b] * wa[2][c];
          dw[s * 3 + 1] = wa[0][a] * da[1][b] * wa[2][c];
          dw[s * 3 + 2] = wa[0][a] * wa[1][b] * da[2][c];
        }
      }
  return DS_OK;
}
