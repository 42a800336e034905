/* wave.drops: adds Gaussian drops to a field,
 *   field[i, j] += sum_d a_d exp(-((i - r_d)^2 + (j - q_d)^2) / (2 s_d^2)),
 * drops {n, 4} = (row r, column q, amplitude a, width s), in cells. Positions,
 * amplitudes and widths are all differentiable, so drops can be optimised. */
#include <math.h>

#include "wave.h"

typedef struct {
  const real *d;
  real *f, *gd;
  const real *g;
  double *part;  /* adjoint: per row, per drop, 4 partial sums */
  int64_t n, h, w;
} drops_job;

static void drops_rows(int64_t lo, int64_t hi, void *user) {
  const drops_job *J = user;
  for (int64_t i = lo; i < hi; i++) {
    real *f = J->f + i * J->w;
    for (int64_t k = 0; k < J->n; k++) {
      const real *d = J->d + 4 * k;
      real dr = (real)i - d[0], inv = 1 / (2 * d[3] * d[3]);
      real er = d[2] * exp(-dr * dr * inv);
      for (int64_t j = 0; j < J->w; j++) {
        real dq = (real)j - d[1];
        f[j] += er * exp(-dq * dq * inv);
      }
    }
  }
}

static void drops_adj_rows(int64_t lo, int64_t hi, void *user) {
  const drops_job *J = user;
  for (int64_t i = lo; i < hi; i++) {
    const real *g = J->g + i * J->w;
    for (int64_t k = 0; k < J->n; k++) {
      const real *d = J->d + 4 * k;
      real s = d[3], inv = 1 / (2 * s * s), dr = (real)i - d[0];
      real er = exp(-dr * dr * inv);
      double sg = 0, sgq = 0, sgq2 = 0; /* sum g e, sum g e dq, sum g e dq^2 over the row */
      for (int64_t j = 0; j < J->w; j++) {
        real dq = (real)j - d[1];
        double ge = (double)g[j] * exp(-dq * dq * inv);
        sg += ge;
        sgq += ge * dq;
        sgq2 += ge * dq * dq;
      }
      sg *= er;
      sgq *= er;
      sgq2 *= er;
      double a = d[2], s2 = (double)s * s, s3 = s2 * s;
      double *p = J->part + (i * J->n + k) * 4;
      p[0] = a * sg * dr / s2;                   /* d/dr */
      p[1] = a * sgq / s2;                       /* d/dq */
      p[2] = sg;                                 /* d/da */
      p[3] = a * (sg * dr * dr + sgq2) / s3;     /* d/ds */
    }
  }
}

#define DROPS_ARGS(A) A(drops, DS_IN, DS_REAL, 2, 0) A(field, DS_ACC, DS_REAL, 2, 0)
DS_DECLARE_ARGS(drops, DROPS_ARGS)

static int drops_check(const ds_call *c) {
  const drops_argv *a = DS_ARGV(c, drops);
  int rc = ds_expect_shape(c, DS_SLOT(drops, drops), 2, -1, 4, -1, -1);
  if (rc) return rc;
  if (a->field->dims[0] < 1 || a->field->dims[1] < 1) return c->host->error(c, "argument 'field' (#2) is empty");
  return DS_OK;
}

static int drops_forward(const ds_call *c) {
  const drops_argv *a = DS_ARGV(c, drops);
  /* widths are tensor data: checked here, where the data may be read, not in check */
  const real *d = ds_rdata(a->drops);
  for (int64_t k = 0; k < a->drops->dims[0]; k++)
    if (!(d[4 * k + 3] > 0))
      return c->host->error(c, "argument 'drops' (#1): drop %lld has width %g; widths (column 4) must be positive",
                            (long long)k + 1, (double)d[4 * k + 3]);
  drops_job J = {d, ds_rdata(a->field), NULL, NULL, NULL, a->drops->dims[0], a->field->dims[0], a->field->dims[1]};
  c->host->parallel_for(c->ctx, J.h, row_grain(J.w), drops_rows, &J);
  return DS_OK;
}

/* Per row and drop, four partial sums (drops_adj_rows), then over rows in order. */
static int drops_adjoint(const ds_call *c) {
  const drops_argv *a = DS_ARGV(c, drops);
  drops_job J = {ds_rdata(a->drops), NULL, ds_rgrad(a->drops), ds_rgrad(a->field), NULL,
                 a->drops->dims[0], a->field->dims[0], a->field->dims[1]};
  if (!J.gd || J.n == 0) return DS_OK;
  J.part = c->host->scratch(c, (size_t)(J.h * J.n * 4) * sizeof(double));
  if (!J.part) return c->host->error(c, "out of memory for the drop gradients");
  c->host->parallel_for(c->ctx, J.h, row_grain(J.w), drops_adj_rows, &J);
  for (int64_t k = 0; k < J.n; k++)
    for (int q = 0; q < 4; q++) {
      double s = 0;
      for (int64_t i = 0; i < J.h; i++) s += J.part[(i * J.n + k) * 4 + q];
      J.gd[4 * k + q] += (real)s;
    }
  return DS_OK;
}

int wave_register_drops(const ds_host_api *host, ds_registrar *reg) {
  const ds_kernel_desc d = {"drops", drops_args, NULL, drops_check, {drops_forward}, {drops_adjoint}};
  return host->register_kernel(reg, &d);
}
