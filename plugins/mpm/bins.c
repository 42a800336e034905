/* The particle -> node transfer without float atomics: particles are binned by
 * the cell of their stencil's base node (a stable counting sort, so each bin
 * lists its particles in index order). The 2D passes then add blocks of cell
 * rows straight into the grid in two phases of non-touching blocks (passes.c);
 * the 3D ones sum each cell's particles into a patch and every node adds the
 * patches that reach it (passes3.c). Either way each sum runs in one fixed
 * order whatever the thread count, so the grid is bitwise identical for any
 * number of threads. */
#include <string.h>

#include "mpm.h"

void bins_sort(int64_t n, int64_t ncell, const int32_t *cell, int32_t *start, int32_t *order) {
  /* Serial: O(n) integer work plus O(cells) over the occupied range [lo, hi]
   * only (a scene fills a small part of the grid); outside it the bins are
   * empty: start = 0 below, n above. */
  int32_t lo = (int32_t)ncell, hi = -1;
  for (int64_t p = 0; p < n; p++) {
    lo = cell[p] < lo ? cell[p] : lo;
    hi = cell[p] > hi ? cell[p] : hi;
  }
  if (hi < 0) {
    memset(start, 0, (size_t)(ncell + 1) * sizeof *start);
    return;
  }
  memset(start, 0, (size_t)(hi + 2) * sizeof *start);
  for (int64_t p = 0; p < n; p++) start[cell[p] + 1]++;
  for (int64_t c = lo; c <= hi; c++) start[c + 1] += start[c];
  /* place with start[c] as the cursor, then shift back */
  for (int64_t p = 0; p < n; p++) order[start[cell[p]]++] = (int32_t)p;
  for (int64_t c = hi + 1; c > lo; c--) start[c] = start[c - 1];
  start[lo] = 0;
  for (int64_t c = hi + 2; c <= ncell; c++) start[c] = (int32_t)n;
}

/* The bins, and per node row the column span that the stencils of the particles
 * reach: node (i, j) gets patches from cell rows i-2..i and columns j-2..j, so
 * its span is [min lo, max hi + 2] over those cell rows' occupied columns. The
 * scenes fill a small part of the grid (the 6400-particle block: 40 of 120
 * columns), and the node passes skip the rest. */
void bins_build(sim *s) {
  bins_sort(s->n, s->ncell, s->cell, s->start, s->order);
  const int64_t nx = s->nx, ny = s->ny;
  int32_t *sp = s->span;
  /* occupied column range per cell row: the bins list particles by cell, so a
   * row's first and last particles sit in its first and last occupied cells */
  for (int64_t i = 0; i < nx; i++) {
    const int32_t a = s->start[i * ny], b = s->start[(i + 1) * ny];
    sp[2 * i] = a == b ? (int32_t)ny : (int32_t)(s->cell[s->order[a]] - i * ny);
    sp[2 * i + 1] = a == b ? -1 : (int32_t)(s->cell[s->order[b - 1]] - i * ny);
  }
  /* node rows: rows i-2..i of cells; in place from the top row down */
  for (int64_t i = nx - 1; i >= 0; i--) {
    int32_t lo = sp[2 * i], hi = sp[2 * i + 1];
    for (int64_t a = 1; a <= 2 && i - a >= 0; a++) {
      if (sp[2 * (i - a)] < lo) lo = sp[2 * (i - a)];
      if (sp[2 * (i - a) + 1] > hi) hi = sp[2 * (i - a) + 1];
    }
    sp[2 * i] = lo, sp[2 * i + 1] = hi < 0 ? -1 : (hi + 2 < ny ? hi + 2 : (int32_t)ny - 1);
  }
  /* where each row's span starts in a packed copy of the spans (the kept grid),
   * and each cell row's first bin */
  s->rowoff[0] = 0;
  for (int64_t i = 0; i < nx; i++)
    s->rowoff[i + 1] = s->rowoff[i] + (sp[2 * i] <= sp[2 * i + 1] ? sp[2 * i + 1] - sp[2 * i] + 1 : 0);
  for (int64_t i = 0; i <= nx; i++) s->rowstart[i] = s->start[i * ny];
}

/* Node-row passes, balanced: parallel_for hands each thread a contiguous range
 * of block indices, and the particles usually fill a narrow band of rows, so a
 * contiguous split leaves one thread all the work. Position i runs row 2i for
 * the first half of the positions and row 2(i - half) + 1 for the second: with
 * two threads, one takes the even rows and the other the odd ones. Each row is
 * still computed whole by one call, so results do not depend on the split. */
typedef struct rows_job {
  ds_range_fn fn;
  void *user;
  int64_t n;
} rows_job;

static void rows_run(int64_t lo, int64_t hi, void *u) {
  const rows_job *j = u;
  const int64_t half = (j->n + 1) / 2;
  for (int64_t i = lo; i < hi; i++) {
    const int64_t r = i < half ? 2 * i : 2 * (i - half) + 1;
    j->fn(r, r + 1, j->user);
  }
}

void rows_for(ds_ctx *ctx, const ds_host_api *host, int64_t nrows, ds_range_fn fn, void *user) {
  rows_job j = {fn, user, nrows};
  host->parallel_for(ctx, nrows, 1, rows_run, &j);
}
