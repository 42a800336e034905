/* A chunk's 3 x 3 node blocks, moved between the 2D grid and the lane-major
 * arrays of the vector passes: read (G2P, its adjoint, pass F) and added into
 * (P2G, the G2P adjoint's velocity-read grads); and the particles' values moved
 * between the state arrays and the lanes (any particles, or a full chunk of
 * consecutive ones: the index-order passes' loads, stores and grad adds).
 *
 * Why: each particle of a chunk touches the 3 rows of 3 nodes its
 * stencil covers, 3 ch contiguous reals per row. Value by value that is 9 ch
 * scalar loads and inserts (or loads, adds and stores) per particle; row by row
 * it is one vector load (or add) per row and particle, and an 8 x 8 transpose
 * per stencil row and 8 particles of the chunk. Each real is moved, or gets its one add in the
 * same order (particle after particle), either way, so the results do not
 * depend on which path runs: the AVX2 one (f32, picked at run time) or the
 * portable one. */
#include "passes.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(DS_REAL_F64) && !defined(DS_NO_CLONES)
#include <immintrin.h>
#define NODES8_AVX2 1
#endif

static void gather_plain(const R *grid, int64_t ny, int ch, const int32_t *base, R *out) {
  const int w = 3 * ch;
  for (int l = 0; l < LANES; l++)
    for (int a = 0; a < 3; a++) {
      const R *g = grid + ((int64_t)base[l] + a * ny) * ch;
      for (int j = 0; j < w; j++) out[(a * w + j) * LANES + l] = g[j];
    }
}

#ifdef NODES8_AVX2
/* r[k] = row k of an 8 x 8 matrix; afterwards r[k] = its column k. */
__attribute__((target("avx2"))) static inline void transpose8(__m256 *r) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; i++) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; i++) {
    u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int i = 0; i < 4; i++) {
    r[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
    r[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
  }
}

/* The moves below are written once over a channel count (or width) that each
 * caller fixes: the always-inline bodies get specialised per constant. */
#define NODES8_BODY __attribute__((target("avx2"), always_inline)) static inline
NODES8_BODY void gather_avx2_ch(const R *grid, int64_t ny, const int ch, const int32_t *base, R *out) {
  const int w = 3 * ch;
  /* a row of 3 nodes: 6 reals (ch 2; masked, so nothing past the grid is read)
   * or 9 (ch 3: the first 8 in the vector, the ninth one by one) */
  const __m256i m6 = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
  for (int h = 0; h < LANES; h += 8)
    for (int a = 0; a < 3; a++) {
      __m256 r[8];
      const R *g[8];
      for (int l = 0; l < 8; l++) {
        g[l] = grid + ((int64_t)base[h + l] + a * ny) * ch;
        r[l] = ch == 2 ? _mm256_maskload_ps(g[l], m6) : _mm256_loadu_ps(g[l]);
      }
      transpose8(r);
      for (int j = 0; j < w && j < 8; j++) _mm256_storeu_ps(out + (a * w + j) * LANES + h, r[j]);
      if (w == 9)
        for (int l = 0; l < 8; l++) out[(a * w + 8) * LANES + h + l] = g[l][8];
    }
}
__attribute__((target("avx2"))) static void gather_avx2(const R *grid, int64_t ny, int ch, const int32_t *base,
                                                        R *out) {
  if (ch == 3) gather_avx2_ch(grid, ny, 3, base, out);
  else gather_avx2_ch(grid, ny, 2, base, out);
}
#endif

/* Lanes with the same base node (consecutive in bin order: a cell's particles)
 * are summed first, in lane order, and each run's sum is added once: fewer
 * read-modify-writes of the same grid row, each waiting for the store before
 * it. The AVX2 path sums the same way, so both give the same bits. */
static void scatter_plain(R *grid, int64_t ny, int ch, const int32_t *base, int L, const R *out) {
  const int w = 3 * ch;
  for (int l0 = 0; l0 < L;) {
    int l1 = l0 + 1;
    while (l1 < L && base[l1] == base[l0]) l1++;
    for (int a = 0; a < 3; a++) {
      R *g = grid + ((int64_t)base[l0] + a * ny) * ch;
      const R *o = out + a * w * LANES;
      for (int j = 0; j < w; j++) {
        R acc = o[LANES * j + l0];
        for (int l = l0 + 1; l < l1; l++) acc += o[LANES * j + l];
        g[j] += acc;
      }
    }
    l0 = l1;
  }
}

#ifdef NODES8_AVX2
NODES8_BODY void scatter_avx2_ch(R *grid, int64_t ny, const int ch, const int32_t *base, int L, const R *out) {
  const int w = 3 * ch;
  const __m256i m6 = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
  __m256 r[3][LANES];
  for (int h = 0; h < L; h += 8)
    for (int a = 0; a < 3; a++) {
      for (int j = 0; j < 8; j++)
        r[a][h + j] = j < w ? _mm256_loadu_ps(out + (a * w + j) * LANES + h) : _mm256_setzero_ps();
      transpose8(r[a] + h);
    }
  for (int l0 = 0; l0 < L;) {
    __m256 acc[3] = {r[0][l0], r[1][l0], r[2][l0]};
    R acc8[3] = {0, 0, 0};
    if (ch == 3)
      for (int a = 0; a < 3; a++) acc8[a] = out[(a * w + 8) * LANES + l0];
    int l1 = l0 + 1;
    for (; l1 < L && base[l1] == base[l0]; l1++)
      for (int a = 0; a < 3; a++) {
        acc[a] = _mm256_add_ps(acc[a], r[a][l1]);
        if (ch == 3) acc8[a] += out[(a * w + 8) * LANES + l1];
      }
    for (int a = 0; a < 3; a++) {
      R *g = grid + ((int64_t)base[l0] + a * ny) * ch;
      if (ch == 3) {
        _mm256_storeu_ps(g, _mm256_add_ps(_mm256_loadu_ps(g), acc[a]));
        g[8] += acc8[a];
      } else {
        _mm256_maskstore_ps(g, m6, _mm256_add_ps(_mm256_maskload_ps(g, m6), acc[a]));
      }
    }
    l0 = l1;
  }
}
__attribute__((target("avx2"))) static void scatter_avx2(R *grid, int64_t ny, int ch, const int32_t *base, int L,
                                                         const R *out) {
  if (ch == 3) scatter_avx2_ch(grid, ny, 3, base, L, out);
  else scatter_avx2_ch(grid, ny, 2, base, L, out);
}
#endif

void nodes_scatter8(R *grid, int64_t ny, int ch, const int32_t *base, int L, const R *out) {
#ifdef NODES8_AVX2
  if (__builtin_cpu_supports("avx2")) {
    scatter_avx2(grid, ny, ch, base, L, out);
    return;
  }
#endif
  scatter_plain(grid, ny, ch, base, L, out);
}

static void lanes_plain(const R *src, int w, const int64_t *P, R *out) {
  for (int c = 0; c < w; c++)
    for (int l = 0; l < LANES; l++) out[c * LANES + l] = src[w * P[l] + c];
}

#ifdef NODES8_AVX2
NODES8_BODY void lanes_avx2_w(const R *src, const int w, const int64_t *P, R *out) {
  /* r[i] = particle i's values | particle i + 4's, then a 4 x 4 transpose per half */
  __m256 r[4];
  for (int i = 0; i < 4; i++) {
    const __m128 lo = w == 4 ? _mm_loadu_ps(src + 4 * P[i]) : _mm_castpd_ps(_mm_load_sd((const double *)(const void *)(src + 2 * P[i])));
    const __m128 hi = w == 4 ? _mm_loadu_ps(src + 4 * P[i + 4])
                             : _mm_castpd_ps(_mm_load_sd((const double *)(const void *)(src + 2 * P[i + 4])));
    r[i] = _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
  }
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t2 = _mm256_unpacklo_ps(r[2], r[3]);
  _mm256_storeu_ps(out, _mm256_shuffle_ps(t0, t2, 0x44));
  _mm256_storeu_ps(out + LANES, _mm256_shuffle_ps(t0, t2, 0xEE));
  if (w == 4) {
    const __m256 t1 = _mm256_unpackhi_ps(r[0], r[1]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    _mm256_storeu_ps(out + 2 * LANES, _mm256_shuffle_ps(t1, t3, 0x44));
    _mm256_storeu_ps(out + 3 * LANES, _mm256_shuffle_ps(t1, t3, 0xEE));
  }
}
/* a chunk's LANES particles, 8 at a time */
__attribute__((target("avx2"))) static void lanes_avx2(const R *src, int w, const int64_t *P, R *out) {
  if (w == 4) {
    for (int h = 0; h < LANES; h += 8) lanes_avx2_w(src, 4, P + h, out + h);
  } else {
    for (int h = 0; h < LANES; h += 8) lanes_avx2_w(src, 2, P + h, out + h);
  }
}
#endif

/* ---- consecutive particles: a full chunk k0 .. k0 + LANES - 1 (index order) ---- */
static void seq_plain(R *dst, int w, const R *v, int add) {
  for (int l = 0; l < LANES; l++)
    for (int c = 0; c < w; c++) dst[w * l + c] = add ? dst[w * l + c] + v[c * LANES + l] : v[c * LANES + l];
}
static void seq_load_plain(const R *src, int w, R *out) {
  for (int c = 0; c < w; c++)
    for (int l = 0; l < LANES; l++) out[c * LANES + l] = src[w * l + c];
}

#ifdef NODES8_AVX2
/* lane-major {w, LANES} -> particle-major, 8 particles at a time: the 4 x 4 (or
 * 2 x 2) transposes of lanes_avx2_w run backwards, then 128-bit halves paired */
NODES8_BODY void seq_avx2_w(R *dst, const int w, const R *v, const int add) {
  for (int h = 0; h < LANES; h += 8) {
    __m256 o[4];
    if (w == 4) {
      const __m256 c0 = _mm256_loadu_ps(v + h), c1 = _mm256_loadu_ps(v + LANES + h);
      const __m256 c2 = _mm256_loadu_ps(v + 2 * LANES + h), c3 = _mm256_loadu_ps(v + 3 * LANES + h);
      const __m256 t0 = _mm256_unpacklo_ps(c0, c1), t1 = _mm256_unpackhi_ps(c0, c1);
      const __m256 t2 = _mm256_unpacklo_ps(c2, c3), t3 = _mm256_unpackhi_ps(c2, c3);
      /* r_i = particle i | particle i + 4 */
      const __m256 r0 = _mm256_shuffle_ps(t0, t2, 0x44), r1 = _mm256_shuffle_ps(t0, t2, 0xEE);
      const __m256 r2 = _mm256_shuffle_ps(t1, t3, 0x44), r3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      o[0] = _mm256_permute2f128_ps(r0, r1, 0x20), o[1] = _mm256_permute2f128_ps(r2, r3, 0x20);
      o[2] = _mm256_permute2f128_ps(r0, r1, 0x31), o[3] = _mm256_permute2f128_ps(r2, r3, 0x31);
    } else {
      const __m256 c0 = _mm256_loadu_ps(v + h), c1 = _mm256_loadu_ps(v + LANES + h);
      const __m256 lo = _mm256_unpacklo_ps(c0, c1), hi = _mm256_unpackhi_ps(c0, c1);
      o[0] = _mm256_permute2f128_ps(lo, hi, 0x20), o[1] = _mm256_permute2f128_ps(lo, hi, 0x31);
    }
    R *d = dst + w * h;
    for (int k = 0; k < w; k++) {
      const __m256 x = add ? _mm256_add_ps(_mm256_loadu_ps(d + 8 * k), o[k]) : o[k];
      _mm256_storeu_ps(d + 8 * k, x);
    }
  }
}
__attribute__((target("avx2"))) static void seq_avx2(R *dst, int w, const R *v, int add) {
  if (w == 4) {
    if (add) seq_avx2_w(dst, 4, v, 1);
    else seq_avx2_w(dst, 4, v, 0);
  } else {
    if (add) seq_avx2_w(dst, 2, v, 1);
    else seq_avx2_w(dst, 2, v, 0);
  }
}
/* particle-major -> lane-major {w, LANES}: 8 particles from 4 (2) vector loads */
NODES8_BODY void seq_load_avx2_w(const R *src, const int w, R *out) {
  for (int h = 0; h < LANES; h += 8) {
    const R *s = src + w * h;
    if (w == 4) {
      /* r_i = particle i | particle i + 4, then lanes_avx2_w's 4 x 4 transpose */
      const __m256 a0 = _mm256_loadu_ps(s), a1 = _mm256_loadu_ps(s + 8);
      const __m256 a2 = _mm256_loadu_ps(s + 16), a3 = _mm256_loadu_ps(s + 24);
      __m256 r[4] = {_mm256_permute2f128_ps(a0, a2, 0x20), _mm256_permute2f128_ps(a0, a2, 0x31),
                     _mm256_permute2f128_ps(a1, a3, 0x20), _mm256_permute2f128_ps(a1, a3, 0x31)};
      const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t2 = _mm256_unpacklo_ps(r[2], r[3]);
      const __m256 t1 = _mm256_unpackhi_ps(r[0], r[1]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
      _mm256_storeu_ps(out + h, _mm256_shuffle_ps(t0, t2, 0x44));
      _mm256_storeu_ps(out + LANES + h, _mm256_shuffle_ps(t0, t2, 0xEE));
      _mm256_storeu_ps(out + 2 * LANES + h, _mm256_shuffle_ps(t1, t3, 0x44));
      _mm256_storeu_ps(out + 3 * LANES + h, _mm256_shuffle_ps(t1, t3, 0xEE));
    } else {
      /* x0 y0 .. x3 y3 | x4 y4 .. x7 y7: evens and odds, then the 64-bit blocks in order */
      const __m256 a0 = _mm256_loadu_ps(s), a1 = _mm256_loadu_ps(s + 8);
      const __m256 x = _mm256_shuffle_ps(a0, a1, 0x88), y = _mm256_shuffle_ps(a0, a1, 0xDD);
      _mm256_storeu_ps(out + h, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(x), 0xD8)));
      _mm256_storeu_ps(out + LANES + h, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(y), 0xD8)));
    }
  }
}
__attribute__((target("avx2"))) static void seq_load_avx2(const R *src, int w, R *out) {
  if (w == 4) seq_load_avx2_w(src, 4, out);
  else seq_load_avx2_w(src, 2, out);
}
#endif

void lanes_store_seq(R *dst, int w, int64_t k0, const R *v, int add) {
  if (!dst) return;
#ifdef NODES8_AVX2
  if (__builtin_cpu_supports("avx2")) {
    seq_avx2(dst + w * k0, w, v, add);
    return;
  }
#endif
  seq_plain(dst + w * k0, w, v, add);
}

void lanes_load_seq(const R *src, int w, int64_t k0, R *out) {
#ifdef NODES8_AVX2
  if (__builtin_cpu_supports("avx2")) {
    seq_load_avx2(src + w * k0, w, out);
    return;
  }
#endif
  seq_load_plain(src + w * k0, w, out);
}

void lanes_load(const R *src, int w, const int64_t *P, R *out) {
#ifdef NODES8_AVX2
  if (__builtin_cpu_supports("avx2")) {
    lanes_avx2(src, w, P, out);
    return;
  }
#endif
  lanes_plain(src, w, P, out);
}

void nodes_gather8(const R *grid, int64_t ny, int ch, const int32_t *base, R *out) {
#ifdef NODES8_AVX2
  if (__builtin_cpu_supports("avx2")) {
    gather_avx2(grid, ny, ch, base, out);
    return;
  }
#endif
  gather_plain(grid, ny, ch, base, out);
}
