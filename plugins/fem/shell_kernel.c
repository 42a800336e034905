/* fem.shell_hinges: the hinges (interior edges) of a cloth's triangle mesh,
 * and the refusal of a mesh that is not an oriented 2-manifold (shell.h).
 * The hinge count is known only after the walk, so the output has room for
 * the most a mesh can have (3 m / 2) and `count` says how many rows are real;
 * fem.lua keeps those. Topology only: no adjoint. */
#include <diffsim/plugin.h>

#include "shell.h"

#define HINGE_ARGS(A) \
  A(tri, DS_NODIFF, DS_I32, 2, 0) A(hinges, DS_OUT, DS_I32, 2, 0) A(count, DS_OUT, DS_I32, 1, 0)
#define HINGE_PARAMS(P) P(nvert)
DS_DECLARE_ARGS(hinge, HINGE_ARGS)
DS_DECLARE_PARAMS(hinge, HINGE_PARAMS)

static int hinge_check(const ds_call *c) {
  const hinge_argv *a = DS_ARGV(c, hinge);
  const double nv = DS_PARAMS(c, hinge)->nvert;
  int rc = ds_expect_shape(c, DS_SLOT(hinge, tri), 2, -1, 3, 0, 0);
  if (!rc) rc = ds_expect_shape(c, DS_SLOT(hinge, hinges), 2, 3 * a->tri->dims[0] / 2, 4, 0, 0);
  if (!rc) rc = ds_expect_shape(c, DS_SLOT(hinge, count), 1, 1, 0, 0, 0);
  if (rc) return rc;
  if (!(nv >= 3) || nv != (double)(int32_t)nv)
    return c->host->error(c, "param 'nvert' must be an integer >= 3, got %g", nv);
  return DS_OK;
}

static int hinge_forward(const ds_call *c) {
  const hinge_argv *a = DS_ARGV(c, hinge);
  char err[320];
  const int64_t nh = fem_shell_hinges(ds_idata(a->tri), a->tri->dims[0], (int64_t)DS_PARAMS(c, hinge)->nvert,
                                      ds_idata(a->hinges), err, (int)sizeof err);
  if (nh < 0) return c->host->error(c, "argument 'tri': %s", err);
  ds_idata(a->count)[0] = (int32_t)nh;
  return DS_OK;
}

const ds_kernel_desc fem_shell_hinges_kernel = {"shell_hinges", hinge_args, hinge_param_names, hinge_check,
                                                {[DS_CPU] = hinge_forward}, {0}};
