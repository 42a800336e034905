/* Whole-grid passes of the line stencils (operators.c) on the context's
 * threads, shared by the Jacobi and CG projections: divergence, Jacobi sweeps,
 * gradient subtraction, the Laplacian, and the scalings between them. Blocks of
 * lines depend only on the grid, so results do not depend on the thread count. */
#include "smoke.h"

static void pass_fn(int64_t l0, int64_t l1, void *u) {
  const pass *P = u;
  const grid *g = P->g;
  switch (P->op) {
    case P_DIV: op_div_lines(g, P->h, P->v, P->extra, P->out, l0, l1, P->zero); break;
    case P_JAC: op_jacobi_lines(g, P->src, P->p, P->out, l0, l1); break;
    case P_GRADSUB: op_gradsub_lines(g, P->h, P->v, P->p, P->outs, P->acc, l0, l1, P->zero); break;
    case P_LAP: op_lap_lines(g, P->p, P->out, l0, l1, P->zero); break;
    case P_SCALE:
      for (int64_t i = l0 * g->len; i < l1 * g->len; i++) P->out[i] = P->src[i] * P->scale;
      break;
    case P_MUL:
      for (int64_t i = l0 * g->len; i < l1 * g->len; i++) P->out[i] = P->src[i] * P->dinv[i];
      break;
    case P_JACW: /* a Jacobi sweep of the consistent operator: p + diag(A)^-1 (b - A p) */
      op_lap_lines(g, P->p, P->out, l0, l1, P->zero);
      for (int64_t i = l0 * g->len; i < l1 * g->len; i++) P->out[i] = P->p[i] + (P->src[i] - P->out[i]) * P->dinv[i];
      break;
  }
}

int64_t smoke_line_grain(const grid *g) {
  int64_t gr = 16384 / g->len;
  return gr < 1 ? 1 : gr;
}

void smoke_run_pass(const ds_call *c, const grid *g, pass *P) {
  P->g = g;
  c->host->parallel_for(c->ctx, g->lines, smoke_line_grain(g), pass_fn, P);
}

ds_real *smoke_zero_line(const ds_call *c, const grid *g) {
  ds_real *z = c->host->scratch(c, (size_t)g->len * sizeof(ds_real));
  if (z) memset(z, 0, (size_t)g->len * sizeof(ds_real));
  return z;
}

ds_real *smoke_lap_dinv(const ds_call *c, const grid *g) {
  ds_real *dinv = c->host->scratch(c, (size_t)g->cells * sizeof(ds_real));
  if (!dinv) return NULL;
  for (int64_t l = 0; l < g->lines; l++) op_lap_diag_line(g, l, dinv + l * g->len);
  for (int64_t i = 0; i < g->cells; i++) dinv[i] = 1 / dinv[i];
  return dinv;
}
