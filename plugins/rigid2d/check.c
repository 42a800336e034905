/* rigid2d: argument checks shared by the kernels. Value checks read tensor
 * data, so they run at the start of a forward (on the data's device), never in
 * a kernel's host-side check. Every message names the kernel (host->error adds
 * it), the argument and, for arrays, the element. */
#include "rigid2d.h"

int r2_check_positive(const ds_call *c, int slot, const char *what) {
  const ds_tensor *t = c->args[slot];
  const R *p = ds_rdata(t);
  for (int64_t k = 0; k < t->count; k++)
    if (!(p[k] > 0) || !isfinite(p[k]))
      return c->host->error(c, "argument '%s' (#%d): %s %lld (0-based) is %g; it must be positive and finite",
                            ds_arg_desc_of(c, slot)->name, slot + 1, what, (long long)k, (double)p[k]);
  return DS_OK;
}

int r2_check_range(const ds_call *c, int slot, double lo, double hi) {
  const double v = (double)ds_rdata(c->args[slot])[0];
  if (!(v >= lo && v <= hi))
    return c->host->error(c, "argument '%s' (#%d) must be in [%g, %g], got %g", ds_arg_desc_of(c, slot)->name,
                          slot + 1, lo, hi, v);
  return DS_OK;
}

int r2_check_steps(const ds_call *c, double v, const char *name, int64_t *T) {
  if (!(v >= 0 && v <= 1e9 && v == (double)(int64_t)v))
    return c->host->error(c, "param '%s' must be an integer in [0, 1e9], got %g", name, v);
  *T = (int64_t)v;
  return DS_OK;
}
