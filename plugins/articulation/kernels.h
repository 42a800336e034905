/* articulation: the machinery the kernel files share (kernels.c, implicit.c):
 * argument checks, per-element sizes, and the dual-number adjoint driver. */
#ifndef ARTICULATION_KERNELS_H
#define ARTICULATION_KERNELS_H
#include <string.h>

#include "art.h"
#include "dyn_dual.h"
#include "rev.h"

/* what the per-element sizes of ins and outs are */
/* D_WIDE: room for any of the step adjoint's tape inputs and outputs (art_ks_step_ws) */
enum { D_NQ, D_NV, D_NU, D_NL3, D_NL9, D_NVNV, D_6, D_NL18, D_NL6, D_WIDE };
typedef struct kspec {
  int kind, nin, nout;
  int in[4], out[2];
} kspec;

typedef struct dir { dn *x; R *g; } dir;

/* One block's dual buffers. */
typedef struct dual_ws {
  dn *p[P_COUNT];
  dn *in[4], *out[2];
  dir *dirs;
  R *rtmp;    /* 4 nv + 2 nq reals for step_vjp */
  void *work; /* dual evaluation work (also big enough for a real or a reverse one) */
  void *awork; /* the analytic step adjoint's links and adjoints (dyn_adjoint.inc) */
  R *abuf;     /* and its vectors (step_adjoint.c) */
  rtape *tape; /* this block's reverse-mode tape (NULL: dual directions) */
  int pconst[P_COUNT]; /* reverse mode: p[k] holds parameter k as constants (no gradient): marked once per element */
} dual_ws;

typedef struct adj_job {
  const ds_call *c;
  const kspec *ks;
  const kspec *wks;               /* the workspace's layout when it differs from ks (NULL: ks) */
  const art_topo *t;
  double dt;
  int64_t B, T;
  int64_t pcount[P_COUNT], pdirs; /* parameter sizes; entries with a gradient */
  int pact[P_COUNT];              /* parameter k has a gradient */
  char *ws;                       /* per batch element: dual buffers */
  size_t wsize;
  R *pgrad;                       /* per batch element: pdirs parameter gradients */
  R *adj;                         /* rollout: per batch element, 2 (nq + nv) adjoint state */
  rtape *tapes;                   /* per block (art_tapes); NULL: contract by dual directions */
  int analytic;                   /* plain steps by the analytic adjoint (step_adjoint.c) */
} adj_job;

/* Batch elements per parallel block: 1 up to 64 copies, then 64 blocks. Work
 * memory is per block (reused by the copies of a block); results and the
 * per-copy gradient buffers never depend on it. */
/* The rollouts' reverse sweeps (rollout, nn_rollout, implicit_rollout) share
 * these: the incoming gradient of stored state `row` (q then qd; zero where none
 * flowed) and, at the end, the start state's adjoint added into q0's and qd0's
 * gradients (NULL: not requested) for batch copy b. */
static inline void art_state_grad(R *aq, R *aqd, const R *gqs, const R *gqds, int64_t row, int64_t nq, int64_t nv) {
  for (int64_t e = 0; e < nq; e++) aq[e] = gqs ? gqs[row * nq + e] : 0;
  for (int64_t e = 0; e < nv; e++) aqd[e] = gqds ? gqds[row * nv + e] : 0;
}
static inline void art_add_start_grad(R *g0, R *gd0, int64_t b, const R *aq, const R *aqd, int64_t nq, int64_t nv) {
  if (g0)
    for (int64_t e = 0; e < nq; e++) g0[b * nq + e] += aq[e];
  if (gd0)
    for (int64_t e = 0; e < nv; e++) gd0[b * nv + e] += aqd[e];
}

static inline int64_t art_grain(int64_t B) { return B <= 64 ? 1 : (B + 63) / 64; }
static inline int64_t art_blocks(int64_t B) { return (B + art_grain(B) - 1) / art_grain(B); }

/* The per-context state: one reverse-mode tape per parallel block, kept
 * between calls so that steady state allocates nothing. */
enum { ART_MAX_BLOCKS = 64 };
typedef struct art_state {
  rtape tapes[ART_MAX_BLOCKS];
} art_state;
void art_state_destroy(void *state);
/* The call's tapes, ready to record (NULL when dual is set: the dual-number
 * path, kept as the reference the tests compare with). */
rtape *art_tapes(const ds_call *c, int dual);
/* After the blocks ran: an error when a tape could not grow. */
int art_tapes_check(const ds_call *c, const rtape *tapes, int64_t B);
/* Sets w->tape to block b0's tape (when the job records). */
void ws_tape(const adj_job *j, dual_ws *w, int64_t b0);

/* param 'dual' picks the step adjoint: ART_ADJ_TAPE (the whole residual on the
 * reverse-mode tape), ART_ADJ_DUAL (dual-number directions) or ART_ADJ_ANALYTIC
 * (the hand-written reverse of the dynamics, step_adjoint.c) */
enum { ART_ADJ_TAPE = 0, ART_ADJ_DUAL = 1, ART_ADJ_ANALYTIC = 2 };
static inline int art_check_dual(const ds_call *c, double dual) {
  if (dual != 0 && dual != 1 && dual != 2)
    return c->host->error(c, "param 'dual' must be 0 (reverse-mode tape), 1 (dual numbers) or 2 (analytic adjoint), got %g", dual);
  return DS_OK;
}

int64_t dimsize(const art_topo *t, int d);
int check_common(const ds_call *c, const kspec *ks, int rollout);
int check_data(const ds_call *c, const kspec *ks, art_topo *t, int rollout);
size_t al64(size_t n);
void ws_layout(const adj_job *j, char *base, dual_ws *w);
size_t ws_bytes(const adj_job *j);
void load(dn *d, const R *v, int64_t n);
/* Adds to gin[k] (and to the parameter gradients pg, when given) the output
 * gradients gout contracted with the Jacobian of the evaluation at ins: by one
 * recorded evaluation and a reverse sweep when w->tape is set, else by the
 * outputs' tangents over dual directions, NL at a time. */
void contract(const adj_job *j, dual_ws *w, const kspec *ks, const R *const *ins, R *const *gin, const R *const *gout,
              R *pg);
/* contract's reverse-mode half (contract_rev.c) */
void contract_rev(const adj_job *j, dual_ws *w, const kspec *ks, const R *const *ins, R *const *gin,
                  const R *const *gout, R *pg);
/* The workspace layout of jobs that call step_vjp. */
extern const kspec art_ks_step_ws;
/* The adjoint of one semi-implicit step (q, qd, u) -> (q', qd'): adds to gq, gqd,
 * gu (each may be NULL) and pg the gradients from gqo, gqdo (may be NULL).
 * qdd = A^-1 (tau - C + J^T f) is differentiated through its residual: one
 * real ABA solve lambda = A^-1 qddbar, then -lambda^T dR/dx recorded on the
 * tape (or by dual directions) for q, qd and the parameters; the controls'
 * part is analytic (art_act_du_r: gear x gain x the slopes of the control and
 * force clamps). With j->analytic, step_vjp_analytic instead. qdn: the step's
 * end velocity as the forward stored it (NULL: not at hand). */
void step_vjp(const adj_job *j, dual_ws *w, const R *q, const R *qd, const R *u, const R *qdn, const R *gqo,
              const R *gqdo, R *gq, R *gqd, R *gu, R *pg);
/* The same by the hand-written reverse of the dynamics (step_adjoint.c);
 * with qdn it takes qdd = (qdn - qd) / dt instead of an ABA. */
void step_vjp_analytic(const adj_job *j, dual_ws *w, const R *q, const R *qd, const R *u, const R *qdn, const R *gqo,
                       const R *gqdo, R *gq, R *gqd, R *gu, R *pg);
/* the reals step_vjp_analytic needs in dual_ws.abuf */
size_t art_abuf_bytes(const art_topo *t);
#endif
