/* Host-side checks shared by the smoke kernels: shapes and params only, never
 * tensor data. Each names the kernel (host->error prefixes it) and the
 * argument or param, so a script learns what it passed wrong instead of
 * crashing. */
#include <stdio.h>

#include "smoke.h"

const char *smoke_arg_label(const ds_call *c, int i, char *buf, size_t n) {
  const ds_arg_desc *a = ds_arg_desc_of(c, i);
  const int first = c->nslots - c->nlists;
  if ((a->flags & DS_LIST) && i >= first && c->list_len > 0)
    snprintf(buf, n, "'%s[%d]' (#%d)", a->name, (i - first) % c->list_len + 1, i + 1);
  else
    snprintf(buf, n, "'%s' (#%d)", a->name, i + 1);
  return buf;
}

int smoke_check_grid(const ds_call *c, int nd, int min_cells) {
  const ds_tensor *t0 = c->args[0];
  char lab[64];
  if (nd > 0) {
    if (t0->ndim != nd)
      return c->host->error(c, "argument %s must be a %dD grid, got %d dims", smoke_arg_label(c, 0, lab, sizeof lab),
                            nd, t0->ndim);
    for (int d = 0; d < nd; d++)
      if (t0->dims[d] < min_cells)
        return c->host->error(c, "argument %s: grid axis %d has %lld cells; the stencils need at least %d",
                              smoke_arg_label(c, 0, lab, sizeof lab), d + 1, (long long)t0->dims[d], min_cells);
  }
  for (int i = 1; i < c->nargs; i++) {
    const ds_arg_desc *a = ds_arg_desc_of(c, i);
    if (a->dtype != DS_REAL || a->ndim == 0) continue; /* 0-dim coefficients are not grids */
    const ds_tensor *t = c->args[i];
    int ok = t->ndim == t0->ndim;
    for (int d = 0; ok && d < t0->ndim; d++) ok = t->dims[d] == t0->dims[d];
    if (ok) continue;
    if (!(a->flags & DS_LIST)) { /* the usual message, for fixed slots */
      int rc = ds_expect_shape(c, i, t0->ndim, t0->dims[0], t0->ndim > 1 ? t0->dims[1] : -1,
                               t0->ndim > 2 ? t0->dims[2] : -1, t0->ndim > 3 ? t0->dims[3] : -1);
      if (rc) return rc;
    }
    char got[96], want[96];
    int gn = 0, wn = 0;
    for (int d = 0; d < t->ndim && gn < 80; d++) gn += snprintf(got + gn, sizeof got - gn, d ? ",%lld" : "%lld", (long long)t->dims[d]);
    for (int d = 0; d < t0->ndim && wn < 80; d++) wn += snprintf(want + wn, sizeof want - wn, d ? ",%lld" : "%lld", (long long)t0->dims[d]);
    got[gn] = 0, want[wn] = 0;
    return c->host->error(c, "argument %s has shape {%s}, expected {%s}", smoke_arg_label(c, i, lab, sizeof lab), got,
                          want);
  }
  return DS_OK;
}

int smoke_check_list(const ds_call *c) {
  const ds_arg_desc *a = &c->arg_desc[c->nslots - c->nlists];
  if (c->list_len != 2 && c->list_len != 3)
    return c->host->error(c, "argument '%s' (the velocity list) needs 2 or 3 components, got %d", a->name,
                          c->list_len);
  return DS_OK;
}

int smoke_check_bc(const ds_call *c, double bc) {
  if (bc != BC_PERIODIC && bc != BC_WALL)
    return c->host->error(c, "param 'bc' must be 0 (periodic) or 1 (walls), got %g", bc);
  return DS_OK;
}

int smoke_check_h(const ds_call *c, double h) {
  if (!(h > 0)) return c->host->error(c, "param 'h' (cell size) must be positive, got %g", h);
  return DS_OK;
}

int smoke_check_int(const ds_call *c, const char *name, double v, double lo, double hi) {
  if (v != floor(v) || v < lo || v > hi)
    return c->host->error(c, "param '%s' must be an integer in [%g, %g], got %g", name, lo, hi, v);
  return DS_OK;
}
