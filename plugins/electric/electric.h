/* electric: what the plugin's files share (internal, not installed).
 *
 * A point charge at x in the plane, pushed by E fixed electrodes at p_i with
 * charges g_i by Coulomb's law, one semi-implicit Euler step of size dt:
 *
 *   r_i = x - p_i,   L_i = max(|r_i|, rmin),   F = sum_i K g_i r_i / L_i^3
 *   v'  = exp(-damping dt) v + dt F
 *   x'  = x + dt v'
 *
 * The clamp L >= rmin (0.1 in the reference) keeps the force finite when the
 * charge passes over an electrode; inside the clamp the force is linear in r.
 * The step's math lives here, once, so electric.step and the fused
 * electric.nn_rollout run the very same arithmetic (their results agree to the
 * bit, which a spec checks). */
#ifndef ELECTRIC_H
#define ELECTRIC_H

#include <math.h>
#include <string.h>

#include <diffsim/plugin.h>

typedef ds_real R;

/* The physical constants of one launch (K and damping are 0-dim tensors, read
 * in the forward: checks must not read tensor data). */
typedef struct elec_phys {
  R K, decay, dt, rmin; /* decay = exp(-damping dt) */
  const R *pos;         /* electrodes {E, 2} */
  int64_t E;
} elec_phys;

/* F = sum_i K g_i r_i / L_i^3 at x. */
static inline void elec_force(const elec_phys *p, const R *x, const R *g, R F[2]) {
  R fx = 0, fy = 0;
  for (int64_t i = 0; i < p->E; i++) {
    R rx = x[0] - p->pos[2 * i], ry = x[1] - p->pos[2 * i + 1];
    R L = sqrt(rx * rx + ry * ry);
    if (L < p->rmin) L = p->rmin;
    R s = p->K * g[i] / (L * L * L);
    fx += s * rx;
    fy += s * ry;
  }
  F[0] = fx;
  F[1] = fy;
}

/* One step: (x, v, g) -> (xo, vo). */
static inline void elec_step(const elec_phys *p, const R *x, const R *v, const R *g, R *xo, R *vo) {
  R F[2];
  elec_force(p, x, g, F);
  for (int d = 0; d < 2; d++) {
    vo[d] = p->decay * v[d] + p->dt * F[d];
    xo[d] = x[d] + p->dt * vo[d];
  }
}

/* Gradients a step sends back (each pointer may be NULL except gx, gv, gg). */
typedef struct elec_grads {
  R *gx, *gv; /* {2} each, accumulated */
  R *gg;      /* {E}, accumulated: the charges */
  R *gpos;    /* {E, 2} or NULL */
  double gK, gdecay; /* accumulated in double: summed over a rollout's steps */
} elec_grads;

/* The adjoint of elec_step: gxo, gvo = d loss / d (xo, vo). */
static inline void elec_step_adjoint(const elec_phys *p, const R *x, const R *v, const R *g, const R *gxo,
                                     const R *gvo, elec_grads *o) {
  /* G reaches v' directly and through x' = x + dt v' */
  R G[2] = {gvo[0] + p->dt * gxo[0], gvo[1] + p->dt * gxo[1]};
  R gF[2] = {p->dt * G[0], p->dt * G[1]};
  o->gdecay += (double)(G[0] * v[0] + G[1] * v[1]);
  o->gv[0] += p->decay * G[0];
  o->gv[1] += p->decay * G[1];
  o->gx[0] += gxo[0];
  o->gx[1] += gxo[1];
  for (int64_t i = 0; i < p->E; i++) {
    R rx = x[0] - p->pos[2 * i], ry = x[1] - p->pos[2 * i + 1];
    R n = sqrt(rx * rx + ry * ry);
    int clamped = !(n > p->rmin); /* the forward's max picks rmin on a tie */
    R L = clamped ? p->rmin : n;
    R inv3 = 1 / (L * L * L);
    R rg = rx * gF[0] + ry * gF[1];
    o->gg[i] += p->K * inv3 * rg;
    o->gK += (double)(g[i] * inv3 * rg);
    /* d(r / L^3)/dr = I / L^3 - 3 r r^T / L^5 outside the clamp, I / rmin^3 inside */
    R c = p->K * g[i] * inv3;
    R grx = c * gF[0], gry = c * gF[1];
    if (!clamped) {
      R q = 3 * c * rg / (L * L);
      grx -= q * rx;
      gry -= q * ry;
    }
    o->gx[0] += grx;
    o->gx[1] += gry;
    if (o->gpos) {
      o->gpos[2 * i] -= grx;
      o->gpos[2 * i + 1] -= gry;
    }
  }
}

/* Shared checks (step.c): the electrodes' shape, the params, and (forward
 * only, since they read data) the finiteness of the physics inputs. */
int elec_check_params(const ds_call *c, double dt, double rmin);
int elec_check_electrodes(const ds_call *c, int slot);
int elec_read_phys(const ds_call *c, const ds_tensor *pos, const ds_tensor *K, const ds_tensor *damping, double dt,
                   double rmin, elec_phys *out);
int elec_finite(const ds_call *c, int slot, const char *what);
/* Adds the 0-dim gradients of a launch (d decay -> d damping) */
void elec_finish_scalars(const elec_phys *p, const elec_grads *o, const ds_tensor *K, const ds_tensor *damping);

extern const ds_kernel_desc electric_step_kernel;
extern const ds_kernel_desc electric_nn_rollout_kernel;

#endif
