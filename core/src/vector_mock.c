/* The optimizers' vector kernels on the mock device: translate each device
 * pointer to its host address and run the CPU kernel, so mock results equal
 * the CPU's bitwise by construction. */
#include "internal.h"

#define H(p) ds_mock_host_ptr(p)

static void axpy(ds_real *y, double a, const ds_real *x, int64_t n) { ds_vec_cpu.axpy(H(y), a, H(x), n); }
static void scal(ds_real *y, double a, int64_t n) { ds_vec_cpu.scal(H(y), a, n); }
static void clamp(ds_real *y, double lo, double hi, int64_t n) { ds_vec_cpu.clamp(H(y), lo, hi, n); }
static double dot(const ds_real *a, const ds_real *b, int64_t n) { return ds_vec_cpu.dot(H(a), H(b), n); }
static void adam(ds_real *p, const ds_real *g, ds_real *m, ds_real *v, int64_t n, const double c[6]) {
  ds_vec_cpu.adam(H(p), H(g), H(m), H(v), n, c);
}

const ds_vec_ops ds_vec_mock = {axpy, scal, clamp, dot, adam};
