/* The tape: a flat log of launches (and checkpoint segments) replayed in reverse.
 *
 * Records are compact: a kernel pointer and offsets into three growable arenas
 * (tensor pointers, their versions at record time, params). Every recorded
 * tensor is retained until the tape is cleared. Backward checks that each
 * tensor an adjoint reads still has the version it had when it was recorded,
 * and refuses to run otherwise: a wrong gradient is never returned silently. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct record {
  const ds_kernel *kernel; /* NULL for a checkpoint segment */
  int32_t nargs, nparams;  /* segments: nargs = inputs + outputs, nparams = inputs */
  int64_t arg_off, param_off;
  int64_t segment_id;
} record;

struct ds_tape {
  ds_ctx *ctx;
  record *recs;
  int64_t nrecs, caprecs;
  ds_tensor **tens;
  uint64_t *vers;
  int64_t ntens, captens, capvers;
  double *params;
  int64_t nparams, capparams;
  int recording;
  int64_t cursor;   /* next record backward will visit; -1 when done */
  int64_t at_segment;
};

static int grow(void **p, int64_t *cap, int64_t need, size_t elem) {
  if (need <= *cap) return 0;
  int64_t c = *cap ? *cap : 256;
  while (c < need) c *= 2;
  void *q = realloc(*p, (size_t)c * elem);
  if (!q) return -1;
  *p = q;
  *cap = c;
  return 0;
}

ds_tape *ds_tape_new(ds_ctx *ctx) {
  ds_tape *t = calloc(1, sizeof *t);
  if (!t) {
    ds_fail(ctx, DS_ERR_NOMEM, "tape: out of memory");
    return NULL;
  }
  t->ctx = ctx;
  ds_ctx_ref(ctx);
  t->cursor = -1;
  t->at_segment = -1;
  return t;
}

int ds_tape_clear(ds_tape *t) {
  for (int64_t i = 0; i < t->ntens; i++) ds_tensor_release(t->tens[i]);
  t->ntens = t->nrecs = t->nparams = 0;
  t->cursor = -1;
  t->at_segment = -1;
  return DS_OK;
}

void ds_tape_free(ds_tape *t) {
  if (!t) return;
  if (t->ctx->active == t) t->ctx->active = NULL;
  ds_tape_clear(t);
  free(t->recs);
  free(t->tens);
  free(t->vers);
  free(t->params);
  ds_ctx *ctx = t->ctx;
  free(t);
  ds_ctx_unref(ctx);
}

int ds_tape_begin(ds_tape *t) {
  if (t->ctx->active && t->ctx->active != t)
    return ds_fail(t->ctx, DS_ERR_STATE, "tape:record: another tape is already recording");
  if (t->recording) return ds_fail(t->ctx, DS_ERR_STATE, "tape:record: this tape is already recording");
  ds_tape_clear(t);
  t->recording = 1;
  t->ctx->active = t;
  return DS_OK;
}

int ds_tape_end(ds_tape *t) {
  t->recording = 0;
  if (t->ctx->active == t) t->ctx->active = NULL;
  return DS_OK;
}

int64_t ds_tape_size(const ds_tape *t) { return t->nrecs; }
int ds_tape_recording(const ds_tape *t) { return t->recording; }
ds_tape *ds_active_tape(ds_ctx *ctx) { return ctx->paused ? NULL : ctx->active; }
int ds_pause_recording(ds_ctx *ctx) { return ++ctx->paused; }
int ds_resume_recording(ds_ctx *ctx) { return ctx->paused > 0 ? --ctx->paused : 0; }

static int push(ds_tape *t, const ds_kernel *k, ds_tensor *const *args, int nargs, const double *params,
                int nparams, int64_t seg) {
  if (grow((void **)&t->recs, &t->caprecs, t->nrecs + 1, sizeof *t->recs) ||
      grow((void **)&t->tens, &t->captens, t->ntens + nargs, sizeof *t->tens) ||
      grow((void **)&t->vers, &t->capvers, t->ntens + nargs, sizeof *t->vers) ||
      grow((void **)&t->params, &t->capparams, t->nparams + nparams, sizeof *t->params))
    return ds_fail(t->ctx, DS_ERR_NOMEM, "tape: out of memory recording %s", k ? k->name : "a segment");
  record *r = &t->recs[t->nrecs++];
  r->kernel = k;
  r->nargs = nargs;
  r->nparams = nparams;
  r->arg_off = t->ntens;
  r->param_off = t->nparams;
  r->segment_id = seg;
  for (int i = 0; i < nargs; i++) {
    ds_tensor_retain(args[i]);
    t->tens[t->ntens] = args[i];
    t->vers[t->ntens++] = args[i]->ver;
  }
  if (nparams) memcpy(t->params + t->nparams, params, (size_t)nparams * sizeof *params);
  t->nparams += nparams;
  return DS_OK;
}

int ds_tape_record_launch(ds_tape *t, const ds_kernel *k, ds_tensor *const *args, int nargs, const double *params,
                          int nparams) {
  return push(t, k, args, nargs, params, nparams, -1);
}

int64_t ds_tape_add_segment(ds_tape *t, int64_t segment_id, ds_tensor *const *inputs, int ninputs,
                            ds_tensor *const *outputs, int noutputs) {
  ds_tensor *all[2 * DS_MAX_ARGS];
  if (ninputs < 0 || noutputs < 1 || ninputs > DS_MAX_ARGS || noutputs > DS_MAX_ARGS) {
    ds_fail(t->ctx, DS_ERR_ARG, "checkpoint: %d inputs and %d outputs (1..%d outputs, 0..%d inputs allowed)",
            ninputs, noutputs, DS_MAX_ARGS, DS_MAX_ARGS);
    return -1;
  }
  for (int i = 0; i < ninputs; i++) all[i] = inputs[i];
  for (int i = 0; i < noutputs; i++) all[ninputs + i] = outputs[i];
  if (push(t, NULL, all, ninputs + noutputs, NULL, 0, segment_id)) return -1;
  t->recs[t->nrecs - 1].nparams = ninputs;
  return t->nrecs - 1;
}

/* Role of argument i of record r: segments have inputs then outputs. */
static int role_of(const record *r, int i) {
  if (!r->kernel) return i < r->nparams ? DS_IN : DS_OUT;
  return ds_slot_of(r->kernel, r->nargs, i)->role;
}

static const char *arg_name(const record *r, int i) {
  if (r->kernel) return ds_slot_of(r->kernel, r->nargs, i)->name;
  return i < r->nparams ? "segment input" : "segment output";
}

static int keeps_grad(const ds_tensor *x) { return (x->flags & (DS_FLAG_LEAF | DS_FLAG_RETAIN_GRAD)) != 0; }

/* Frees the grads of everything this tape produced, except leaves and tensors
 * the user asked to keep: a backward pass starts from zero and leaves no
 * intermediate gradients behind. */
static void drop_output_grads(ds_tape *t) {
  for (int64_t r = 0; r < t->nrecs; r++) {
    const record *rec = &t->recs[r];
    for (int i = 0; i < rec->nargs; i++) {
      ds_tensor *x = t->tens[rec->arg_off + i];
      int role = role_of(rec, i);
      if ((role == DS_OUT || role == DS_ACC) && !keeps_grad(x)) ds_tensor_drop_grad(x);
    }
  }
}

static int check_versions(ds_tape *t, int64_t r) {
  const record *rec = &t->recs[r];
  for (int i = 0; i < rec->nargs; i++) {
    int role = role_of(rec, i);
    if (role == DS_ACC || (!rec->kernel && role == DS_OUT)) continue;
    const ds_tensor *x = t->tens[rec->arg_off + i];
    uint64_t want = t->vers[rec->arg_off + i];
    if (x->ver != want) {
      return ds_fail(t->ctx, DS_ERR_VERSION,
                     "backward: %s '%s' (#%d) of %s (tape record %lld) was overwritten after it was recorded "
                     "(version %llu, recorded at %llu); its gradient would be wrong. Write to a new tensor instead",
                     role == DS_OUT ? "output" : "input", arg_name(rec, i), i + 1,
                     rec->kernel ? rec->kernel->name : "a checkpoint segment", (long long)r,
                     (unsigned long long)x->ver, (unsigned long long)want);
    }
  }
  return DS_OK;
}

static int any_output_grad(ds_tape *t, const record *rec) {
  for (int i = 0; i < rec->nargs; i++) {
    int role = role_of(rec, i);
    if ((role == DS_OUT || role == DS_ACC) && t->tens[rec->arg_off + i]->grad_) return 1;
  }
  return 0;
}

int ds_tape_backward_continue(ds_tape *t, int64_t *segment_id) {
  ds_ctx *ctx = t->ctx;
  if (t->at_segment >= 0) {
    /* The caller has back-propagated through the segment: its outputs are done. */
    const record *rec = &t->recs[t->at_segment];
    for (int i = rec->nparams; i < rec->nargs; i++) {
      ds_tensor *x = t->tens[rec->arg_off + i];
      if (!keeps_grad(x)) ds_tensor_drop_grad(x);
    }
    t->at_segment = -1;
  }
  while (t->cursor >= 0) {
    int64_t r = t->cursor--;
    const record *rec = &t->recs[r];
    int rc = check_versions(t, r);
    if (rc) {
      t->cursor = -1;
      return rc;
    }
    if (!any_output_grad(t, rec)) continue;
    if (!rec->kernel) {
      t->at_segment = r;
      if (segment_id) *segment_id = rec->segment_id;
      return DS_SEGMENT;
    }
    rc = ds_run_adjoint(ctx, rec->kernel, t->tens + rec->arg_off, rec->nargs, t->params + rec->param_off,
                        rec->nparams);
    if (rc) {
      t->cursor = -1;
      return rc;
    }
    /* Every consumer of these outputs came later and has run: free their grads. */
    for (int i = 0; i < rec->nargs; i++) {
      ds_tensor *x = t->tens[rec->arg_off + i];
      if (role_of(rec, i) == DS_OUT && !keeps_grad(x)) ds_tensor_drop_grad(x);
    }
  }
  drop_output_grads(t);
  return DS_OK;
}

/* Whether some record of this tape wrote `x` (as an output or a segment output). */
static int produced(const ds_tape *t, const ds_tensor *x) {
  for (int64_t r = t->nrecs - 1; r >= 0; r--) {
    const record *rec = &t->recs[r];
    for (int i = 0; i < rec->nargs; i++) {
      if (t->tens[rec->arg_off + i] != x) continue;
      int role = role_of(rec, i);
      if (role == DS_OUT || role == DS_ACC) return 1;
    }
  }
  return 0;
}

static int start(ds_tape *t) {
  if (t->recording) return ds_fail(t->ctx, DS_ERR_STATE, "tape:backward: the tape is still recording");
  t->cursor = t->nrecs - 1;
  t->at_segment = -1;
  return DS_OK;
}

int ds_tape_backward(ds_tape *t, ds_tensor *loss, int64_t *segment_id) {
  int rc = start(t);
  if (rc) return rc;
  if (!loss) return ds_fail(t->ctx, DS_ERR_ARG, "tape:backward: loss is nil");
  if (loss->count != 1)
    return ds_fail(t->ctx, DS_ERR_ARG, "tape:backward: loss must have one element, it has %lld",
                   (long long)loss->count);
  if (!(loss->flags & DS_FLAG_REQUIRES_GRAD))
    return ds_fail(t->ctx, DS_ERR_ARG,
                   "tape:backward: the loss does not depend on any tensor that requires grad on this tape");
  if (!produced(t, loss))
    return ds_fail(t->ctx, DS_ERR_ARG,
                   "tape:backward: the loss was not computed on this tape (record it with this tape's record, "
                   "or call backward on the tape that recorded it)");
  drop_output_grads(t);
  ds_tensor *g = ds_tensor_ensure_grad(loss);
  if (!g) return ds_fail(t->ctx, DS_ERR_NOMEM, "tape:backward: out of memory");
  ds_tensor_fill(g, 1.0);
  return ds_tape_backward_continue(t, segment_id);
}

int ds_tape_backward_seeded(ds_tape *t, int64_t *segment_id) {
  int rc = start(t);
  return rc ? rc : ds_tape_backward_continue(t, segment_id);
}

int ds_tape_segment_io(ds_tape *t, int64_t r, ds_tensor **inputs, int *ninputs, ds_tensor **outputs, int *noutputs) {
  if (r < 0 || r >= t->nrecs || t->recs[r].kernel)
    return ds_fail(t->ctx, DS_ERR_ARG, "tape: record %lld is not a checkpoint segment", (long long)r);
  const record *rec = &t->recs[r];
  *ninputs = rec->nparams;
  *noutputs = rec->nargs - rec->nparams;
  for (int i = 0; i < *ninputs; i++) inputs[i] = t->tens[rec->arg_off + i];
  for (int i = 0; i < *noutputs; i++) outputs[i] = t->tens[rec->arg_off + rec->nparams + i];
  return DS_OK;
}

int64_t ds_tape_current_segment(const ds_tape *t) { return t->at_segment; }

const char *ds_tape_kernel_name(const ds_tape *t, int64_t i) {
  if (i < 0 || i >= t->nrecs || !t->recs[i].kernel) return NULL;
  return t->recs[i].kernel->name;
}
