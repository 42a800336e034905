/* Internal declarations of the smoke plugin (not part of any public API).
 *
 * Grids are dense row-major arrays: 2D {nx, ny}, index i*ny + j; 3D {nx, ny, nz},
 * index (i*ny + j)*nz + k. Velocity component d displaces index d, in cells per
 * step (the reference's convention: "the first index is the one displaced by vx").
 *
 * A "line" is every index but the last: 2D has nx lines of ny cells, 3D has nx*ny
 * lines of nz cells. Stencils run line by line so the inner loop is contiguous. */
#ifndef SMOKE_H
#define SMOKE_H

#include <diffsim/plugin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

enum { BC_PERIODIC = 0, BC_WALL = 1 };
enum { SMOKE_MIN_CELLS = 4 };  /* the projection's +-2 stencil needs 4 distinct cells per axis */

/* |v| beyond this many cells per step is treated as corrupt: it cannot be a
 * meaningful displacement and would overflow the integer cell index. */
#define SMOKE_VMAX 1.0e7

#ifdef DS_REAL_F64
#define floor_r floor
#else
#define floor_r floorf
#endif

/* Hot loops get AVX2 and AVX-512 clones picked at load time; the baseline build
 * stays portable (x86-64-v2). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__) && !defined(DS_NO_CLONES)
#define SMOKE_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define SMOKE_CLONES
#endif

typedef struct grid {
  int nd;          /* 2 or 3 */
  int bc;          /* BC_PERIODIC or BC_WALL */
  int64_t n[3];    /* sizes; n[2] = 1 in 2D */
  int64_t lines;   /* nx (2D) or nx*ny (3D) */
  int64_t len;     /* cells per line: ny (2D) or nz (3D) */
  int64_t cells;
} grid;

static inline grid grid_make(int nd, int bc, const ds_tensor *t) {
  grid g;
  g.nd = nd;
  g.bc = bc;
  g.n[0] = t->dims[0];
  g.n[1] = t->dims[1];
  g.n[2] = nd == 3 ? t->dims[2] : 1;
  g.len = g.n[nd - 1];
  g.lines = nd == 3 ? g.n[0] * g.n[1] : g.n[0];
  g.cells = g.lines * g.len;
  return g;
}

/* a mod n for any a (n > 0); fast when a is already in range. */
static inline int64_t wrap_index(int64_t a, int64_t n) {
  if ((uint64_t)a < (uint64_t)n) return a;
  a %= n;
  return a < 0 ? a + n : a;
}

/* Line index of the neighbour of line `l` at offset s along axis d (d < nd-1),
 * or -1 where it is a ghost outside a solid wall. */
static inline int64_t line_nb(const grid *g, int64_t l, int d, int64_t s) {
  if (g->nd == 2) {
    int64_t i = l + s;
    if (i < 0 || i >= g->n[0]) return g->bc == BC_PERIODIC ? wrap_index(i, g->n[0]) : -1;
    return i;
  }
  int64_t i = l / g->n[1], j = l - i * g->n[1];
  if (d == 0) {
    i += s;
    if (i < 0 || i >= g->n[0]) {
      if (g->bc != BC_PERIODIC) return -1;
      i = wrap_index(i, g->n[0]);
    }
  } else {
    j += s;
    if (j < 0 || j >= g->n[1]) {
      if (g->bc != BC_PERIODIC) return -1;
      j = wrap_index(j, g->n[1]);
    }
  }
  return i * g->n[1] + j;
}

/* ---- shared operators (operators.c) ------------------------------------------ */
/* div = -h/2 * sum_d (v_d[+1] - v_d[-1]) - h^2 * extra (extra may be NULL).
 * At walls, v_d reads as zero outside the grid and on the wall cells normal to d.
 * Lines [l0, l1). */
void op_div_lines(const grid *g, double h, const ds_real *const v[3], const ds_real *extra, ds_real *div,
                  int64_t l0, int64_t l1, const ds_real *zero_line);
/* out = (acc ? out : 0) + v - G p on lines [l0,l1); G p = (p[+1]-p[-1])/(2h), and at
 * walls the normal component is 0 on wall cells (so G = D^T / h^2 holds and the
 * projection is self-adjoint). */
void op_gradsub_lines(const grid *g, double h, const ds_real *const v[3], const ds_real *p, ds_real *const out[3],
                      int acc, int64_t l0, int64_t l1, const ds_real *zero_line);
/* A p = D G p (wide, +-2 stencil); op_lap_diag gives one diagonal entry. */
void op_lap_lines(const grid *g, const ds_real *p, ds_real *out, int64_t l0, int64_t l1, const ds_real *zero_line);
double op_lap_diag(const grid *g, int64_t line, int64_t k);
void op_lap_diag_line(const grid *g, int64_t line, ds_real *out);
/* One Jacobi sweep of the compact Laplacian (periodic grids: the reference's
 * solver) on lines [l0,l1): out = (div + sum of 2*nd neighbours) / (2*nd). */
void op_jacobi_lines(const grid *g, const ds_real *div, const ds_real *p, ds_real *out, int64_t l0, int64_t l1);
/* Removes the part of x in the null space of A (per-class means), so solutions
 * and adjoint right-hand sides are canonical. */
void op_null_project(const grid *g, ds_real *x);
/* One compact-Jacobi line update given resolved neighbour line pointers. */
void jacobi_line(const grid *g, ds_real *out, const ds_real *div, const ds_real *c, const ds_real *const *nb,
                 ds_real inv);

/* Single-line forms with neighbour lines already resolved (tiled projection). */
void smoke_div_line(const grid *g, double h, const ds_real *const *vm, const ds_real *const *vp, const ds_real *w,
                    const ds_real *extra, ds_real *o);
void smoke_gradsub_line(const grid *g, double h, const ds_real *const *v, const ds_real *pc, const ds_real *const *pm,
                        const ds_real *const *pp, ds_real *const *out, int acc);

unsigned smoke_wall_bits(const grid *g, int64_t l);

/* ---- per-context state (host->state_size) ---------------------------------- */
/* CG counters of this context, read by smoke.cg_stats: {fwd solves, fwd
 * iterations, adj solves, adj iterations, last fwd iterations, last adj
 * iterations, last relative residual, unconverged solves}. */
typedef struct smoke_state {
  double cg[8];
} smoke_state;

/* ---- checks shared by the kernels (checks.c) ------------------------------- */
/* Every real argument has the shape of argument #1; nd dims (-1: any), each >= min_cells. */
int smoke_check_grid(const ds_call *c, int nd, int min_cells);
/* The velocity list holds 2 or 3 components and the grid has that many dims. */
int smoke_check_list(const ds_call *c);
int smoke_check_bc(const ds_call *c, double bc);
int smoke_check_h(const ds_call *c, double h);
int smoke_check_int(const ds_call *c, const char *name, double v, double lo, double hi);
/* "'name' (#i)" or, for an entry of the list slot, "'name[k]' (#i)": for messages. */
const char *smoke_arg_label(const ds_call *c, int i, char *buf, size_t n);

/* ---- shared line passes (passes.c) ----------------------------------------- */
enum { P_DIV, P_JAC, P_GRADSUB, P_SCALE, P_LAP, P_JACW, P_MUL };
typedef struct pass {
  const grid *g;
  int op;
  double h;
  const ds_real *v[3];
  const ds_real *extra, *src, *p;
  ds_real *out, *outs[3];
  int acc;
  ds_real scale;
  const ds_real *zero, *dinv;
} pass;
/* Runs P->op over every line of g on the context's threads. */
void smoke_run_pass(const ds_call *c, const grid *g, pass *P);
/* Lines per parallel block: about 16k cells, so small grids run in one block. */
int64_t smoke_line_grain(const grid *g);
/* A zeroed line of scratch (the "outside the wall" neighbour), or NULL. */
ds_real *smoke_zero_line(const ds_call *c, const grid *g);
/* 1 / diag(A) of the consistent Laplacian, into scratch, or NULL. */
ds_real *smoke_lap_dinv(const ds_call *c, const grid *g);

/* ---- engines on explicit buffers (used by the kernels and the fused step) --- */
/* Advection: nf fields f advected by v into out. vel_arg: the flat index of the
 * first velocity argument, for messages naming a bad velocity. */
int smoke_advect_run(const ds_call *c, int nd, int bc, const ds_tensor *shape, int nf, const ds_real *const *f,
                     const ds_real *const *v, ds_real *const *out, int vel_arg);
/* Its adjoint: go (output grads), gf (field grads to scatter into, entries may
 * be NULL), gv (velocity grads, entries may be NULL). */
int smoke_advect_adj_run(const ds_call *c, int nd, int bc, const ds_tensor *shape, int nf, const ds_real *const *f,
                         const ds_real *const *v, const ds_real *const *go, ds_real *const *gf, ds_real *const *gv);
/* Jacobi projection: out = (acc ? out : 0) + in - G M (D in - h^2 extra);
 * pout (may be NULL) receives M (D in - h^2 extra). */
int smoke_jacobi_run(const ds_call *c, int nd, int bc, const ds_tensor *shape, int iters, double h,
                     const ds_real *const *in, const ds_real *extra, ds_real *const *out, int acc, ds_real *pout);

/* ---- registration, one function per file ------------------------------------ */
int smoke_register_advect(const ds_host_api *host, ds_registrar *reg);
int smoke_register_jacobi(const ds_host_api *host, ds_registrar *reg);
int smoke_register_jacobi_warm(const ds_host_api *host, ds_registrar *reg);
int smoke_register_cg(const ds_host_api *host, ds_registrar *reg);
int smoke_register_step(const ds_host_api *host, ds_registrar *reg);
int smoke_register_operators(const ds_host_api *host, ds_registrar *reg);
int smoke_register_forces(const ds_host_api *host, ds_registrar *reg);
int smoke_register_initial(const ds_host_api *host, ds_registrar *reg);

#endif
