/* articulation: the dual-number evaluation (dyn_dual.c) used by the adjoints. */
#ifndef ARTICULATION_DYN_DUAL_H
#define ARTICULATION_DYN_DUAL_H
#include "dual.h"
size_t art_work_d(const art_topo *t);
void art_eval_d(int kind, const art_topo *t, const dn *const *p, const dn *const *in, dn *const *out, double dt,
                void *work);
#endif
