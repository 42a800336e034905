// A thin C face on MuJoCo for LuaJIT's FFI: the peer engine the articulation
// plugin is checked and timed against (tests/lua/articulation_mujoco_spec.lua,
// scripts/bench/articulation.lua). Plain functions on plain double arrays, no
// MuJoCo struct crosses the FFI. Built only when MuJoCo is found (CMakeLists).
// Not part of diffsim's physics: nothing here is differentiated by the tape.
#include <math.h>
#include <mujoco/mujoco.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dsmj {
  mjModel *m;
  mjData *d;
} dsmj;

static dsmj *wrap(mjModel *m, char *err, int errlen) {
  if (!m) return NULL;
  dsmj *s = calloc(1, sizeof *s);
  if (!s) {
    mj_deleteModel(m);
    snprintf(err, (size_t)errlen, "out of memory");
    return NULL;
  }
  s->m = m;
  s->d = mj_makeData(m);
  mj_forward(s->m, s->d);
  return s;
}

const char *dsmj_version(void) { return mj_versionString(); }

dsmj *dsmj_load_file(const char *path, char *err, int errlen) {
  err[0] = 0;
  return wrap(mj_loadXML(path, NULL, err, errlen), err, errlen);
}

// MJCF text through MuJoCo's virtual file system (no temporary file).
dsmj *dsmj_load_string(const char *xml, char *err, int errlen) {
  err[0] = 0;
  mjVFS *vfs = malloc(sizeof *vfs);  // ~2 MB: never on the stack
  if (!vfs) {
    snprintf(err, (size_t)errlen, "out of memory");
    return NULL;
  }
  mj_defaultVFS(vfs);
  int n = (int)strlen(xml);
  if (mj_makeEmptyFileVFS(vfs, "model.xml", n) != 0) {
    snprintf(err, (size_t)errlen, "MuJoCo VFS refused the model text");
    free(vfs);
    return NULL;
  }
  memcpy(vfs->filedata[0], xml, (size_t)n);
  mjModel *m = mj_loadXML("model.xml", vfs, err, errlen);
  mj_deleteVFS(vfs);
  free(vfs);
  return wrap(m, err, errlen);
}

void dsmj_free(dsmj *s) {
  if (!s) return;
  mj_deleteData(s->d);
  mj_deleteModel(s->m);
  free(s);
}

// Sizes: nq nv nu nbody njnt ngeom, in that order.
void dsmj_sizes(const dsmj *s, int *out) {
  out[0] = s->m->nq;
  out[1] = s->m->nv;
  out[2] = s->m->nu;
  out[3] = s->m->nbody;
  out[4] = s->m->njnt;
  out[5] = s->m->ngeom;
}

// One compiled model or data field by name, copied as doubles; returns the
// count written (at most cap), or -1 for a name this shim does not know.
int dsmj_field(const dsmj *s, const char *name, double *out, int cap) {
  const mjModel *m = s->m;
  const mjData *d = s->d;
  const mjtNum *src = NULL;
  const int *isrc = NULL;
  const mjtByte *bsrc = NULL;
  int n = 0;
#define F(nm, arr, cnt) else if (!strcmp(name, nm)) { src = (arr); n = (cnt); }
#define I(nm, arr, cnt) else if (!strcmp(name, nm)) { isrc = (arr); n = (cnt); }
  if (0) {}
  F("body_mass", m->body_mass, m->nbody)
  F("body_inertia", m->body_inertia, 3 * m->nbody)
  F("body_ipos", m->body_ipos, 3 * m->nbody)
  F("body_iquat", m->body_iquat, 4 * m->nbody)
  F("body_pos", m->body_pos, 3 * m->nbody)
  F("body_quat", m->body_quat, 4 * m->nbody)
  F("body_subtreemass", m->body_subtreemass, m->nbody)
  I("body_parentid", m->body_parentid, m->nbody)
  I("jnt_type", m->jnt_type, m->njnt)
  I("jnt_bodyid", m->jnt_bodyid, m->njnt)
  I("jnt_qposadr", m->jnt_qposadr, m->njnt)
  I("jnt_dofadr", m->jnt_dofadr, m->njnt)
  F("jnt_axis", m->jnt_axis, 3 * m->njnt)
  F("jnt_pos", m->jnt_pos, 3 * m->njnt)
  F("jnt_range", m->jnt_range, 2 * m->njnt)
  F("dof_damping", m->dof_damping, m->nv)
  F("dof_armature", m->dof_armature, m->nv)
  F("qpos0", m->qpos0, m->nq)
  I("geom_type", m->geom_type, m->ngeom)
  I("geom_bodyid", m->geom_bodyid, m->ngeom)
  F("geom_size", m->geom_size, 3 * m->ngeom)
  F("geom_pos", m->geom_pos, 3 * m->ngeom)
  F("geom_quat", m->geom_quat, 4 * m->ngeom)
  F("geom_friction", m->geom_friction, 3 * m->ngeom)
  F("actuator_gear", m->actuator_gear, 6 * m->nu)
  F("actuator_ctrlrange", m->actuator_ctrlrange, 2 * m->nu)
  F("actuator_forcerange", m->actuator_forcerange, 2 * m->nu)
  F("actuator_gainprm", m->actuator_gainprm, mjNGAIN * m->nu)
  F("actuator_biasprm", m->actuator_biasprm, mjNBIAS * m->nu)
  I("actuator_trnid", m->actuator_trnid, 2 * m->nu)
  F("opt_timestep", &m->opt.timestep, 1)
  F("opt_gravity", m->opt.gravity, 3)
  F("xpos", d->xpos, 3 * m->nbody)
  F("xquat", d->xquat, 4 * m->nbody)
  F("qacc", d->qacc, m->nv)
  F("qfrc_bias", d->qfrc_bias, m->nv)
  else if (!strcmp(name, "jnt_limited")) { bsrc = m->jnt_limited; n = m->njnt; }
  else if (!strcmp(name, "opt_integrator")) {
    if (cap >= 1) out[0] = m->opt.integrator;
    return 1;
  }
  else return -1;
#undef F
#undef I
  if (n > cap) n = cap;
  for (int i = 0; i < n; i++)
    out[i] = src ? src[i] : isrc ? (double)isrc[i] : (double)bsrc[i];
  return n;
}

// Changes the timestep or the integrator (0 Euler, 1 RK4, 2 implicit).
void dsmj_set_option(dsmj *s, double timestep, int integrator) {
  if (timestep > 0) s->m->opt.timestep = timestep;
  if (integrator >= 0) s->m->opt.integrator = integrator;
}

void dsmj_reset(dsmj *s) {
  mj_resetData(s->m, s->d);
  mj_forward(s->m, s->d);
}

// qpos (nq), qvel (nv), either may be NULL to keep; time reset to 0.
void dsmj_set_state(dsmj *s, const double *qpos, const double *qvel) {
  if (qpos) memcpy(s->d->qpos, qpos, sizeof(double) * (size_t)s->m->nq);
  if (qvel) memcpy(s->d->qvel, qvel, sizeof(double) * (size_t)s->m->nv);
  s->d->time = 0;
  mj_forward(s->m, s->d);
}

void dsmj_set_ctrl(dsmj *s, const double *ctrl) {
  memcpy(s->d->ctrl, ctrl, sizeof(double) * (size_t)s->m->nu);
}

void dsmj_step(dsmj *s, int n) {
  for (int i = 0; i < n; i++) mj_step(s->m, s->d);
}

void dsmj_get_state(const dsmj *s, double *qpos, double *qvel, double *time) {
  if (qpos) memcpy(qpos, s->d->qpos, sizeof(double) * (size_t)s->m->nq);
  if (qvel) memcpy(qvel, s->d->qvel, sizeof(double) * (size_t)s->m->nv);
  if (time) *time = s->d->time;
}

// n steps from the current state; ctrl: n x nu (NULL: keep d->ctrl);
// qpos_out n x nq and qvel_out n x nv (either NULL) get the state after each step.
void dsmj_rollout(dsmj *s, int n, const double *ctrl, double *qpos_out, double *qvel_out) {
  const mjModel *m = s->m;
  mjData *d = s->d;
  for (int t = 0; t < n; t++) {
    if (ctrl) memcpy(d->ctrl, ctrl + (size_t)t * m->nu, sizeof(double) * (size_t)m->nu);
    mj_step(m, d);
    if (qpos_out) memcpy(qpos_out + (size_t)t * m->nq, d->qpos, sizeof(double) * (size_t)m->nq);
    if (qvel_out) memcpy(qvel_out + (size_t)t * m->nv, d->qvel, sizeof(double) * (size_t)m->nv);
  }
}

// The rollout's final quantity J = wq . qpos_T + wv . qvel_T from (qpos0, qvel0)
// under ctrl (n x nu, may be NULL with nu = 0).
static double rollout_loss(dsmj *s, const double *qpos0, const double *qvel0, const double *ctrl, int n,
                           const double *wq, const double *wv) {
  const mjModel *m = s->m;
  mjData *d = s->d;
  mj_resetData(m, d);
  memcpy(d->qpos, qpos0, sizeof(double) * (size_t)m->nq);
  memcpy(d->qvel, qvel0, sizeof(double) * (size_t)m->nv);
  dsmj_rollout(s, n, m->nu ? ctrl : NULL, NULL, NULL);
  double J = 0;
  for (int i = 0; i < m->nq; i++) J += wq[i] * d->qpos[i];
  for (int i = 0; i < m->nv; i++) J += wv[i] * d->qvel[i];
  return J;
}

// Central finite differences of the final quantity above through whole
// rollouts: dJ/dqpos0 in the tangent space (nv; mj_integratePos moves along a
// free or ball joint's rotation), dJ/dqvel0 (nv), dJ/dctrl (n x nu). 2 (2 nv +
// n nu) rollouts: what "finite differences through the peer" costs. Returns J.
double dsmj_fd_rollout(dsmj *s, const double *qpos0, const double *qvel0, const double *ctrl, int n,
                       const double *wq, const double *wv, double eps,
                       double *g_qpos, double *g_qvel, double *g_ctrl) {
  const mjModel *m = s->m;
  int nq = m->nq, nv = m->nv, nu = m->nu;
  double *q = malloc(sizeof(double) * (size_t)nq), *v = malloc(sizeof(double) * (size_t)nv);
  double *dv = calloc((size_t)nv, sizeof(double));
  double *u = NULL;
  if (nu && n) {
    u = malloc(sizeof(double) * (size_t)n * (size_t)nu);
    if (u) memcpy(u, ctrl, sizeof(double) * (size_t)n * (size_t)nu);
  }
  if (!q || !v || !dv || (nu && n && !u)) {  // out of memory: NaN, never a crash
    free(q), free(v), free(dv), free(u);
    return NAN;
  }
  double J = rollout_loss(s, qpos0, qvel0, u, n, wq, wv);
  for (int i = 0; i < nv && g_qpos; i++) {
    double f[2];
    for (int k = 0; k < 2; k++) {
      memcpy(q, qpos0, sizeof(double) * (size_t)nq);
      dv[i] = k ? -eps : eps;
      mj_integratePos(m, q, dv, 1.0);
      dv[i] = 0;
      f[k] = rollout_loss(s, q, qvel0, u, n, wq, wv);
    }
    g_qpos[i] = (f[0] - f[1]) / (2 * eps);
  }
  for (int i = 0; i < nv && g_qvel; i++) {
    double f[2];
    for (int k = 0; k < 2; k++) {
      memcpy(v, qvel0, sizeof(double) * (size_t)nv);
      v[i] += k ? -eps : eps;
      f[k] = rollout_loss(s, qpos0, v, u, n, wq, wv);
    }
    g_qvel[i] = (f[0] - f[1]) / (2 * eps);
  }
  for (int i = 0; i < n * nu && g_ctrl; i++) {
    double f[2], u0 = u[i];
    for (int k = 0; k < 2; k++) {
      u[i] = u0 + (k ? -eps : eps);
      f[k] = rollout_loss(s, qpos0, qvel0, u, n, wq, wv);
    }
    u[i] = u0;
    g_ctrl[i] = (f[0] - f[1]) / (2 * eps);
  }
  free(q);
  free(v);
  free(dv);
  free(u);
  return J;
}

// The same gradient from MuJoCo's own per-step derivatives: mjd_transitionFD
// (centred) gives each step's A = dx'/dx and B = dx'/du (x = position tangent,
// velocity), and a reverse sweep chains them (g_x <- A^T g_x, g_u = B^T g_x).
// n (2 (2 nv) + 2 nu + 1) step evaluations: MuJoCo's cheapest FD gradient of a
// rollout. Returns J.
double dsmj_fd_transition(dsmj *s, const double *qpos0, const double *qvel0, const double *ctrl, int n,
                          const double *wq, const double *wv, double eps,
                          double *g_qpos, double *g_qvel, double *g_ctrl) {
  const mjModel *m = s->m;
  mjData *d = s->d;
  int nq = m->nq, nv = m->nv, nu = m->nu, nx = 2 * nv + m->na;
  double *A = malloc(sizeof(double) * (size_t)n * (size_t)nx * (size_t)nx);
  double *B = nu ? malloc(sizeof(double) * (size_t)n * (size_t)nx * (size_t)nu) : NULL;
  double *g = calloc((size_t)nx, sizeof(double)), *h = calloc((size_t)nx, sizeof(double));
  double *q = malloc(sizeof(double) * (size_t)nq), *dv = calloc((size_t)nv, sizeof(double));
  if (!A || (nu && !B) || !g || !h || !q || !dv) {  // out of memory: NaN, never a crash
    free(A), free(B), free(g), free(h), free(q), free(dv);
    return NAN;
  }
  mj_resetData(m, d);
  memcpy(d->qpos, qpos0, sizeof(double) * (size_t)nq);
  memcpy(d->qvel, qvel0, sizeof(double) * (size_t)nv);
  for (int t = 0; t < n; t++) {
    if (nu) memcpy(d->ctrl, ctrl + (size_t)t * nu, sizeof(double) * (size_t)nu);
    mjd_transitionFD(m, d, eps, 1, A + (size_t)t * nx * nx, B ? B + (size_t)t * nx * nu : NULL, NULL, NULL);
    mj_step(m, d);
  }
  double J = 0;
  for (int i = 0; i < nq; i++) J += wq[i] * d->qpos[i];
  for (int i = 0; i < nv; i++) J += wv[i] * d->qvel[i];
  // dJ/d(final position tangent): J is linear in qpos, so a centred difference
  // along each tangent direction is exact up to the quaternion's curvature.
  for (int i = 0; i < nv; i++) {
    double f[2];
    for (int k = 0; k < 2; k++) {
      memcpy(q, d->qpos, sizeof(double) * (size_t)nq);
      dv[i] = k ? -eps : eps;
      mj_integratePos(m, q, dv, 1.0);
      dv[i] = 0;
      f[k] = 0;
      for (int j = 0; j < nq; j++) f[k] += wq[j] * q[j];
    }
    g[i] = (f[0] - f[1]) / (2 * eps);
    g[nv + i] = wv[i];
  }
  for (int t = n - 1; t >= 0; t--) {
    const double *At = A + (size_t)t * nx * nx;
    if (g_ctrl && nu) {
      const double *Bt = B + (size_t)t * nx * nu;
      for (int j = 0; j < nu; j++) {
        double acc = 0;
        for (int i = 0; i < nx; i++) acc += Bt[(size_t)i * nu + j] * g[i];
        g_ctrl[(size_t)t * nu + j] = acc;
      }
    }
    for (int j = 0; j < nx; j++) {
      double acc = 0;
      for (int i = 0; i < nx; i++) acc += At[(size_t)i * nx + j] * g[i];
      h[j] = acc;
    }
    memcpy(g, h, sizeof(double) * (size_t)nx);
  }
  if (g_qpos) memcpy(g_qpos, g, sizeof(double) * (size_t)nv);
  if (g_qvel) memcpy(g_qvel, g + nv, sizeof(double) * (size_t)nv);
  free(A);
  free(B);
  free(g);
  free(h);
  free(q);
  free(dv);
  return J;
}
