/* The mpm plugin's node-block and particle-value moves (plugins/mpm/nodes8.c):
 * the AVX2 path, picked at run time, must give the portable path's bits, so a
 * substep's results do not depend on the machine's vector unit. Random grids,
 * chunks of every length 1..LANES, bases in runs (a cell's particles, as the
 * bins give them) and apart; scatter into a grid, gather node blocks, load
 * particle values, consecutive particles loaded, stored and added. The source is
 * compiled in (its functions are static). */
#include <stdlib.h>

#include "../../plugins/mpm/nodes8.c"
#include "check.h"

#ifdef NODES8_AVX2
static unsigned seed = 12345u;
static R urand(void) {
  seed = seed * 1664525u + 1013904223u;
  return (R)((seed >> 8) / 16777216.0 - 0.5);
}
static int irand(int n) {
  seed = seed * 1664525u + 1013904223u;
  return (int)((seed >> 8) % (unsigned)n);
}

enum { NX = 12, NY = 20 };

/* L bases, non-decreasing like a bin-ordered chunk: runs of one cell, steps of
 * one or more columns, now and then the next row; every stencil inside the grid. */
static void chunk_bases(int32_t *base, int L) {
  int i = irand(NX - 3), j = irand(NY - 3);
  for (int l = 0; l < LANES; l++) {
    if (l > 0 && l < L) {
      const int step = irand(4); /* 0, 0: a run; 1, 2: next cells (overlapping rows) */
      if (step >= 2) j += step - 1;
      if (j > NY - 3) j = 0, i = (i + 1) % (NX - 2);
    }
    base[l] = (int32_t)(i * NY + j);
  }
}

static int same_bits(const R *a, const R *b, int64_t n) { return memcmp(a, b, (size_t)n * sizeof(R)) == 0; }

static void check_scatter(int ch) {
  static R g1[NX * NY * 3], g2[NX * NY * 3], out[27 * LANES];
  for (int trial = 0; trial < 200; trial++) {
    const int L = 1 + trial % LANES;
    int32_t base[LANES];
    chunk_bases(base, L);
    for (int k = 0; k < NX * NY * ch; k++) g1[k] = g2[k] = urand();
    for (int k = 0; k < 9 * ch * LANES; k++) out[k] = urand();
    scatter_plain(g1, NY, ch, base, L, out);
    scatter_avx2(g2, NY, ch, base, L, out);
    CHECK(same_bits(g1, g2, NX * NY * ch));
  }
}

static void check_gather(int ch) {
  static R grid[NX * NY * 3 + 8], o1[27 * LANES], o2[27 * LANES];
  for (int trial = 0; trial < 100; trial++) {
    int32_t base[LANES];
    chunk_bases(base, LANES);
    for (int k = 0; k < NX * NY * ch; k++) grid[k] = urand();
    gather_plain(grid, NY, ch, base, o1);
    gather_avx2(grid, NY, ch, base, o2);
    CHECK(same_bits(o1, o2, 9 * ch * LANES));
  }
}

static void check_lanes(int w) {
  enum { N = 64 };
  static R src[N * 4], o1[4 * LANES], o2[4 * LANES];
  for (int k = 0; k < N * w; k++) src[k] = urand();
  for (int trial = 0; trial < 100; trial++) {
    int64_t P[LANES];
    for (int l = 0; l < LANES; l++) P[l] = irand(N);
    lanes_plain(src, w, P, o1);
    lanes_avx2(src, w, P, o2);
    CHECK(same_bits(o1, o2, w * LANES));
  }
}

/* consecutive particles: loads, stores and adds */
static void check_seq(int w) {
  static R src[LANES * 4], d1[LANES * 4], d2[LANES * 4], v[4 * LANES], o1[4 * LANES], o2[4 * LANES];
  for (int trial = 0; trial < 50; trial++) {
    for (int k = 0; k < LANES * w; k++) src[k] = urand(), d1[k] = d2[k] = urand();
    for (int k = 0; k < w * LANES; k++) v[k] = urand();
    seq_load_plain(src, w, o1);
    seq_load_avx2(src, w, o2);
    CHECK(same_bits(o1, o2, w * LANES));
    const int add = trial % 2;
    seq_plain(d1, w, v, add);
    seq_avx2(d2, w, v, add);
    CHECK(same_bits(d1, d2, LANES * w));
  }
}
#endif

int main(void) {
#ifdef NODES8_AVX2
  if (__builtin_cpu_supports("avx2")) {
    check_scatter(2), check_scatter(3);
    check_gather(2), check_gather(3);
    check_lanes(2), check_lanes(4);
    check_seq(2), check_seq(4);
  } else {
    printf("skipped: no AVX2 on this CPU\n");
  }
#else
  printf("skipped: no AVX2 path in this build (float64 or not x86-64 GCC)\n");
#endif
  TEST_DONE();
}
