/* Bilinear (2D) and trilinear (3D) interpolation and its adjoint, written once.
 *
 * A sample between the 2^nd cells around a back-traced point is a weighted sum
 * of f at those cells; its adjoint has two halves, each defined here and used by
 * every advection path (vectorised rows, scalar fallback, 2D, 3D):
 *   - the slopes d sample / d position (the velocity gradient is -g times them),
 *   - the scatter of g * weight into the 2^nd cells (the field gradient).
 *
 * The lower / upper cell along an axis are a / b (0 / 1 in corner names).
 *
 * The expressions keep one fixed association. The vectorised rows are built as
 * AVX2 / AVX-512 clones, where the compiler may fuse multiply-adds, and the
 * scalar fallback is not, so the two may differ in the last bit; each is
 * deterministic. Everything is static inline and always inlined: these sit
 * inside the loops that vectorise. */
#ifndef SMOKE_INTERP_H
#define SMOKE_INTERP_H

#include "smoke.h"

#define SMOKE_INLINE static inline __attribute__((always_inline))

/* The adjoint halves take the corner values (the caller loads them, with its
 * own index type): f00 (x a, y a), f01 (x a, y b), f10 (x b, y a), f11 (x b, y b);
 * in 3D c[4 x + 2 y + z]. */

/* f sampled between the cells i00 (x a, y a), i01, i10, i11 (x b, y b). The
 * loads sit inside the expression on purpose: the compiler fuses multiply-adds
 * in the order it meets them, and this order is the one every result so far was
 * computed with (loading first changes the last bit of some samples). */
SMOKE_INLINE ds_real bilerp_at(const ds_real *f, int64_t i00, int64_t i01, int64_t i10, int64_t i11, ds_real wx,
                               ds_real wy) {
  return (1 - wx) * ((1 - wy) * f[i00] + wy * f[i01]) + wx * ((1 - wy) * f[i10] + wy * f[i11]);
}

/* d sample / d x and d sample / d y at the same point. */
SMOKE_INLINE void bilerp_slopes(ds_real f00, ds_real f01, ds_real f10, ds_real f11, ds_real wx, ds_real wy,
                                ds_real *sx, ds_real *sy) {
  *sx = ((1 - wy) * f10 + wy * f11) - ((1 - wy) * f00 + wy * f01);
  *sy = (1 - wx) * (f01 - f00) + wx * (f11 - f10);
}

/* g times each corner's weight, w[2 x + y]: the transpose of bilerp (the caller
 * adds w[] into the field gradient at the corners). */
SMOKE_INLINE void bilerp_weights(ds_real wx, ds_real wy, ds_real g, ds_real w[4]) {
  ds_real gl = g * (1 - wx), gr = g * wx;
  w[0] = gl * (1 - wy);
  w[1] = gl * wy;
  w[2] = gr * (1 - wy);
  w[3] = gr * wy;
}

/* f sampled between eight cells: x/y corners at plane offsets o00 (x a, y a),
 * o01, o10, o11 (x b, y b), z cells za, zb. Loads inside, as in bilerp_at. */
SMOKE_INLINE ds_real trilerp_at(const ds_real *f, int64_t o00, int64_t o01, int64_t o10, int64_t o11, int64_t za,
                                int64_t zb, ds_real wx, ds_real wy, ds_real wz) {
  return (1 - wx) * ((1 - wy) * ((1 - wz) * f[o00 + za] + wz * f[o00 + zb]) +
                     wy * ((1 - wz) * f[o01 + za] + wz * f[o01 + zb])) +
         wx * ((1 - wy) * ((1 - wz) * f[o10 + za] + wz * f[o10 + zb]) +
               wy * ((1 - wz) * f[o11 + za] + wz * f[o11 + zb]));
}

/* d sample / d (x, y, z). */
SMOKE_INLINE void trilerp_slopes(const ds_real c[8], ds_real wx, ds_real wy, ds_real wz, ds_real *sx, ds_real *sy,
                                 ds_real *sz) {
  ds_real e00 = (1 - wz) * c[0] + wz * c[1], e01 = (1 - wz) * c[2] + wz * c[3];
  ds_real e10 = (1 - wz) * c[4] + wz * c[5], e11 = (1 - wz) * c[6] + wz * c[7];
  *sx = ((1 - wy) * e10 + wy * e11) - ((1 - wy) * e00 + wy * e01);
  *sy = (1 - wx) * (e01 - e00) + wx * (e11 - e10);
  *sz = (1 - wx) * ((1 - wy) * (c[1] - c[0]) + wy * (c[3] - c[2])) + wx * ((1 - wy) * (c[5] - c[4]) + wy * (c[7] - c[6]));
}

/* g times each corner's weight, w[4 x + 2 y + z]. */
SMOKE_INLINE void trilerp_weights(ds_real wx, ds_real wy, ds_real wz, ds_real g, ds_real w[8]) {
  ds_real g0 = g * (1 - wx), g1 = g * wx;
  ds_real g00 = g0 * (1 - wy), g01 = g0 * wy, g10 = g1 * (1 - wy), g11 = g1 * wy;
  w[0] = g00 * (1 - wz), w[1] = g00 * wz, w[2] = g01 * (1 - wz), w[3] = g01 * wz;
  w[4] = g10 * (1 - wz), w[5] = g10 * wz, w[6] = g11 * (1 - wz), w[7] = g11 * wz;
}

#endif
