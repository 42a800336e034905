/* springs.topology: the CSR adjacency of a spring list, built once per system.
 * The stepping kernels gather forces per node through it (no scatter, no atomics),
 * which is what makes them bitwise deterministic for any thread count.
 * Layout (i32): n, ns, ns pairs (a, b), n + 1 row pointers, then 2 ns entries:
 * s for the a end of spring s, -(s + 1) for the b end (springs_phys.h, topo_from). */
#include "springs.h"

#define TOPOLOGY_ARGS(A) A(springs, DS_NODIFF, DS_I32, 2, 0) A(topo, DS_OUT, DS_I32, 1, 0)
#define TOPOLOGY_PARAMS(P) P(n)
DS_DECLARE_ARGS(topology, TOPOLOGY_ARGS)
DS_DECLARE_PARAMS(topology, TOPOLOGY_PARAMS)

static int topology_check(const ds_call *c) {
  const topology_argv *a = DS_ARGV(c, topology);
  const ds_tensor *sp = a->springs;
  if (sp->ndim != 2 || sp->dims[1] != 2)
    return c->host->error(c, "argument 'springs' (#1) must have shape {ns, 2} (mass index pairs, 0-based)");
  double nd = DS_PARAMS(c, topology)->n;
  if (!(nd >= 1) || nd != (double)(int64_t)nd || nd > 1e9)
    return c->host->error(c, "param 'n' (the number of masses) must be a positive integer, got %g", nd);
  int64_t n = (int64_t)nd, ns = sp->dims[0];
  if (ns > 0x3fffffff) return c->host->error(c, "argument 'springs' (#1): too many springs (%lld)", (long long)ns);
  int rc = ds_expect_shape(c, DS_SLOT(topology, topo), 1, topo_len(n, ns), -1, -1, -1);
  if (rc) return rc;
  const int32_t *p = ds_idata(sp);
  for (int64_t s = 0; s < ns; s++) {
    for (int e = 0; e < 2; e++)
      if (p[2 * s + e] < 0 || p[2 * s + e] >= n)
        return c->host->error(c, "argument 'springs' (#1): spring %lld references mass %d, but there are only %lld masses",
                              (long long)s + 1, p[2 * s + e] + 1, (long long)n);
    if (p[2 * s] == p[2 * s + 1])
      return c->host->error(c, "argument 'springs' (#1): spring %lld connects mass %d to itself", (long long)s + 1,
                            p[2 * s] + 1);
  }
  return DS_OK;
}

static int topology_forward(const ds_call *c) {
  const topology_argv *a = DS_ARGV(c, topology);
  const int32_t *p = ds_idata(a->springs);
  int32_t *t = ds_idata(a->topo);
  int64_t n = (int64_t)DS_PARAMS(c, topology)->n, ns = a->springs->dims[0];
  t[0] = (int32_t)n;
  t[1] = (int32_t)ns;
  memcpy(t + 2, p, (size_t)(2 * ns) * sizeof(int32_t));
  int32_t *ptr = t + 2 + 2 * ns, *adj = ptr + n + 1;
  memset(ptr, 0, (size_t)(n + 1) * sizeof(int32_t));
  for (int64_t s = 0; s < 2 * ns; s++) ptr[p[s] + 1]++;
  for (int64_t i = 0; i < n; i++) ptr[i + 1] += ptr[i];
  /* fill in spring order, so each node's list is sorted: a fixed summation order */
  int32_t *fill = c->host->alloc((size_t)(n + 1) * sizeof(int32_t));
  if (!fill) return c->host->error(c, "out of memory");
  memcpy(fill, ptr, (size_t)n * sizeof(int32_t));
  for (int64_t s = 0; s < ns; s++) {
    adj[fill[p[2 * s]]++] = (int32_t)s;
    adj[fill[p[2 * s + 1]]++] = (int32_t)(-s - 1);
  }
  c->host->free(fill);
  return DS_OK;
}

const ds_kernel_desc springs_topology_kernel = {"topology", topology_args, topology_param_names, topology_check,
                                                {[DS_CPU] = topology_forward}, {NULL}};
