/* articulation: the analytic adjoint of one plain semi-implicit step (the
 * default; model.adjoint = "analytic").
 *
 * The step is qdd = A^-1 (tau - C + J^T fext), v = qd + dt qdd, q' = q (+) dt v,
 * with A = M + arm. Its vector-Jacobian product, as step_vjp's tape path:
 * lambda = A^-1 (dt v̄) and x̄ = -(dR/dx)^T lambda for the residual
 * R = RNEA(q, qd, qdd) - tau at fixed qdd. Here the residual's reverse is the
 * hand-written one of dyn_adjoint.inc, and A^-1 reuses the factorisation of
 * the ABA that recomputed qdd. Only the small irregular pieces stay on the
 * reverse-mode tape (contract): the joint forces with their damping (ART_JF:
 * q, qd, ctrl and their parameters) and, when a contact force acts in this
 * step, the contact forces as functions of the link frames and velocities
 * (ART_CONT). Steps split at the time of impact take step_vjp's general path. */
#include "kernels.h"

size_t art_abuf_bytes(const art_topo *t) { return (size_t)(8 * t->nv + 42 * t->nl + 8) * sizeof(R); }

static const kspec ks_jf = {ART_JF, 3, 2, {D_NQ, D_NV, D_NU}, {D_NV, D_NV}};
static const kspec ks_cont = {ART_CONT, 1, 1, {D_NL18}, {D_NL6}};
static const kspec ks_integ = {ART_INTEG, 2, 1, {D_NQ, D_NV}, {D_NQ}};

static int has_quaternions(const art_topo *t) {
  for (int i = 0; i < t->nl; i++) {
    const int type = t->link[LINK_W * i + 1];
    if (type == J_SPHERICAL || type == J_FREE) return 1;
  }
  return 0;
}

void step_vjp_analytic(const adj_job *j, dual_ws *w, const R *q, const R *qd, const R *u, const R *qdn, const R *gqo,
                       const R *gqdo, R *gq, R *gqd, R *gu, R *pg) {
  const art_topo *t = j->t;
  const int nv = t->nv, nl = t->nl;
  const R dt = (R)j->dt;
  const R *p[P_COUNT];
  for (int k = 0; k < P_COUNT; k++) p[k] = ds_rdata(j->c->args[3 + k]);
  R *qdd = w->abuf, *v = qdd + nv, *gv = v + nv, *lam = gv + nv, *armb = lam + nv, *taub = armb + nv, *bdb = taub + nv;
  R *fextb = bdb + nv, *links = fextb + 6 * nl, *linkb = links + 18 * nl;
  const int touch = art_adj_forward(t, p, q, qd, u, qdn, dt, w->awork, qdd);
  for (int k = 0; k < nv; k++) v[k] = qd[k] + dt * qdd[k];
  /* q' = q (+) dt v: its adjoint into gq and gv */
  for (int k = 0; k < nv; k++) gv[k] = gqdo ? gqdo[k] : 0;
  if (gqo) {
    if (has_quaternions(t)) { /* the quaternion exponential on the tape */
      const R *ins[2] = {q, v}, *gout[1] = {gqo};
      R *gin[2] = {gq, gv};
      contract(j, w, &ks_integ, ins, gin, gout, NULL);
    } else
      for (int i = 0; i < nl; i++) { /* q' = q + dt v per hinge and slider */
        const int type = t->link[LINK_W * i + 1], qa = t->link[LINK_W * i + 2], va = t->link[LINK_W * i + 3];
        if (type != J_REVOLUTE && type != J_PRISMATIC) continue;
        if (gq) gq[qa] += gqo[qa];
        gv[va] += dt * gqo[qa];
      }
  }
  if (gqd)
    for (int k = 0; k < nv; k++) gqd[k] += gv[k];
  if (!gq && !gqd && !gu && !pg) return;
  /* v = qd + dt qdd: lambda = A^-1 (dt v̄); the residual's adjoint is -lambda */
  for (int k = 0; k < nv; k++) gv[k] *= dt;
  art_adj_solve(t, w->awork, gv, lam);
  for (int k = 0; k < nv; k++) lam[k] = -lam[k];
  R *pk[P_COUNT] = {0};
  if (pg) {
    int64_t o = 0;
    for (int k = 0; k < P_COUNT; k++)
      if (j->pact[k]) pk[k] = pg + o, o += j->pcount[k];
  }
  art_adj_rnea(t, w->awork, lam, art_adj_geo(pk), touch ? fextb : NULL, armb, touch ? links : NULL);
  /* R = ... + arm qdd - tau, arm = armature + dt bd */
  if (pk[P_ARMATURE])
    for (int k = 0; k < nv; k++) pk[P_ARMATURE][k] += armb[k];
  for (int k = 0; k < nv; k++) taub[k] = -lam[k], bdb[k] = dt * armb[k];
  {
    const R *ins[3] = {q, qd, u}, *gout[2] = {taub, bdb};
    R *gin[3] = {gq, gqd, gu};
    contract(j, w, &ks_jf, ins, gin, gout, pg);
  }
  if (touch) {
    for (int k = 0; k < 18 * nl; k++) linkb[k] = 0;
    const R *ins[1] = {links}, *gout[1] = {fextb};
    R *gin[1] = {linkb};
    contract(j, w, &ks_cont, ins, gin, gout, pg);
  }
  art_adj_kin(t, p, w->awork, q, qd, touch ? linkb : NULL, gq, gqd, pk);
}
