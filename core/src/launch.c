/* Kernel launches: validate everything a script can get wrong, run the kernel,
 * record it on the active tape, and in anomaly mode check its outputs. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static const char *device_label(int device) {
  static const char *const names[DS_DEVICE_COUNT] = {"cpu", "cuda", "mock"};
  return device >= 0 && device < DS_DEVICE_COUNT ? names[device] : "unknown";
}

/* What one pass over a launch's arguments learns besides their validity. */
typedef struct launch_scan {
  int device;                   /* the device every tensor sits on */
  int grad;                     /* an input that requires grad: the launch is differentiable */
  int nodiff_rg;                /* first non-differentiated slot that requires grad (not a guess), or -1 */
  unsigned char out[DS_MAX_ARGS]; /* 1 for output / accumulator slots */
} launch_scan;

/* Checks counts, dtypes, dims, devices and aliasing in one pass (the launch
 * overhead from Lua is mostly this and the wrapper: keep it to one loop). */
static int validate(ds_ctx *ctx, const ds_kernel *k, ds_tensor *const *args, int nargs, const double *params,
                    int nparams, launch_scan *scan) {
  const ds_kernel_desc *d = &k->desc;
  int fixed = k->nslots - k->nlists;
  if (k->nlists ? nargs < fixed || nargs > DS_MAX_ARGS || (nargs - fixed) % k->nlists : nargs != k->nslots) {
    if (k->nlists)
      return ds_fail(ctx, DS_ERR_ARG,
                     "%s: expected %d tensor arguments then %d list%s of one length ('%s'%s), got %d tensors", k->name,
                     fixed, k->nlists, k->nlists > 1 ? "s" : "", d->args[fixed].name, k->nlists > 1 ? ", ..." : "",
                     nargs);
    return ds_fail(ctx, DS_ERR_ARG, "%s: expected %d tensor arguments, got %d", k->name, k->nslots, nargs);
  }
  if (nparams != k->nparams)
    return ds_fail(ctx, DS_ERR_ARG, "%s: expected %d params, got %d", k->name, k->nparams, nparams);
  if (nparams > 0 && !params) return ds_fail(ctx, DS_ERR_ARG, "%s: params missing", k->name);
  if (nargs > 0 && !args) return ds_fail(ctx, DS_ERR_ARG, "%s: arguments missing", k->name);
  int device = -1, nout = 0;
  int len = ds_list_len(k, nargs);
  scan->grad = 0;
  scan->nodiff_rg = -1;
  for (int i = 0; i < nargs; i++) {
    const ds_arg_desc *a = &d->args[i < fixed ? i : fixed + (i - fixed) / (len > 0 ? len : 1)];
    const ds_tensor *t = args[i];
    if (!t) return ds_fail(ctx, DS_ERR_ARG, "%s: argument '%s' (#%d) is nil", k->name, a->name, i + 1);
    if (t->ctx != ctx)
      return ds_fail(ctx, DS_ERR_ARG, "%s: argument '%s' (#%d) belongs to another context", k->name, a->name, i + 1);
    if (t->dtype != a->dtype)
      return ds_fail(ctx, DS_ERR_ARG, "%s: argument '%s' (#%d) has dtype %s, expected %s", k->name, a->name, i + 1,
                     ds_dtype_name(t->dtype), ds_dtype_name(a->dtype));
    if (a->ndim >= 0 && t->ndim != a->ndim) {
      char s[96];
      ds_shape_str(t, s, sizeof s);
      return ds_fail(ctx, DS_ERR_ARG, "%s: argument '%s' (#%d) has %d dims %s, expected %d", k->name, a->name, i + 1,
                     t->ndim, s, a->ndim);
    }
    if (device < 0) device = t->device;
    if (t->device != device)
      return ds_fail(ctx, DS_ERR_ARG, "%s: argument '%s' (#%d) is on device %s, argument #1 on %s", k->name,
                     a->name, i + 1, device_label(t->device), device_label(device));
    int out = a->role == DS_OUT || a->role == DS_ACC;
    scan->out[i] = (unsigned char)out;
    nout += out;
    if (t->flags & DS_FLAG_REQUIRES_GRAD) {
      if (a->role == DS_IN) scan->grad = 1;
      if (a->role == DS_NODIFF && !(a->flags & DS_GUESS) && scan->nodiff_rg < 0) scan->nodiff_rg = i;
    }
  }
  /* an output passed twice, or also as an input, would be read while written */
  for (int i = 0; nout && i < nargs; i++) {
    if (!scan->out[i]) continue;
    for (int j = 0; j < nargs; j++)
      if (j != i && args[j] == args[i])
        return ds_fail(ctx, DS_ERR_ARG, "%s: output '%s' (#%d) is also passed as argument '%s' (#%d)", k->name,
                       ds_slot_of(k, nargs, i)->name, i + 1, ds_slot_of(k, nargs, j)->name, j + 1);
  }
  if (device < 0) device = DS_CPU;
  if (device >= DS_DEVICE_COUNT || !d->forward[device])
    return ds_fail(ctx, DS_ERR_ARG, "%s: has no implementation for device '%s' (its tensors are there)", k->name,
                   device_label(device));
  for (int i = 0; i < nparams; i++) {
    if (params[i] != params[i] || params[i] - params[i] != 0.0)
      return ds_fail(ctx, DS_ERR_ARG, "%s: param '%s' is not finite", k->name, d->params[i]);
  }
  scan->device = device;
  return DS_OK;
}

ds_call ds_make_call(ds_ctx *ctx, const ds_kernel *k, ds_tensor *const *args, int nargs, const double *params,
                     int nparams, int device) {
  ds_call c = {&ctx->host, ctx, k->name, k->desc.args, args, nargs, nparams, params, k->nslots,
               ds_list_len(k, nargs), k->nlists, ctx->plugins[k->plugin].state, device, k};
  return c;
}

static int check_anomaly(ds_ctx *ctx, const ds_kernel *k, ds_tensor *const *args, int nargs, int adjoint) {
  for (int i = 0; i < nargs; i++) {
    int role = ds_slot_of(k, nargs, i)->role;
    const ds_tensor *t = NULL;
    if (!adjoint && (role == DS_OUT || role == DS_ACC)) t = args[i];
    if (adjoint && role == DS_IN) t = args[i]->grad_;
    if (!t) continue;
    /* both calls go through the device interface: outputs may live off the CPU */
    int bad = ds_tensor_has_nonfinite(t);
    if (bad) {
      double v = ds_tensor_get(t, bad - 1);
      return ds_fail(ctx, DS_ERR_ANOMALY, "anomaly: kernel %s %s produced %s in %s'%s' at element %d", k->name,
                     adjoint ? "adjoint" : "forward", v != v ? "NaN" : "Inf", adjoint ? "the gradient of " : "",
                     ds_slot_of(k, nargs, i)->name, bad - 1);
    }
  }
  return DS_OK;
}

/* Folds the (id, version) of every pre-existing tensor a launch reads into the
 * open checkpoint frames, so a recomputation can prove it saw the same data. */
static void watch(ds_ctx *ctx, const ds_kernel *k, ds_tensor *const *args, int nargs) {
  for (int w = 0; w < ctx->nwatch; w++) {
    uint64_t h = ctx->watch_hash[w];
    for (int i = 0; i < nargs; i++) {
      int role = ds_slot_of(k, nargs, i)->role;
      if ((role == DS_IN || role == DS_NODIFF) && args[i]->id <= ctx->watch_limit[w]) {
        h = (h ^ args[i]->id) * 0x100000001b3ull;
        h = (h ^ args[i]->ver) * 0x100000001b3ull;
      }
    }
    ctx->watch_hash[w] = h;
  }
}

int ds_watch_push(ds_ctx *ctx) {
  if (ctx->nwatch >= 8) return ds_fail(ctx, DS_ERR_STATE, "checkpoint: segments nested deeper than 8");
  ctx->watch_limit[ctx->nwatch] = ctx->next_id;
  ctx->watch_hash[ctx->nwatch] = 0xcbf29ce484222325ull;
  ctx->nwatch++;
  return DS_OK;
}

uint64_t ds_watch_pop(ds_ctx *ctx) { return ctx->nwatch > 0 ? ctx->watch_hash[--ctx->nwatch] : 0; }

int ds_launch(ds_ctx *ctx, const ds_kernel *k, ds_tensor *const *args, int nargs, const double *params,
              int nparams) {
  if (!ctx) return DS_ERR_ARG;
  if (!k) return ds_fail(ctx, DS_ERR_ARG, "launch: kernel is nil");
  ctx->error[0] = 0;
  launch_scan scan;
  int rc = validate(ctx, k, args, nargs, params, nparams, &scan);
  if (rc) return rc;
  int device = scan.device;
  ds_call c = ds_make_call(ctx, k, args, nargs, params, nparams, device);
  if (ctx->nwatch) watch(ctx, k, args, nargs);
  if (k->desc.check && (rc = k->desc.check(&c)) != DS_OK) {
    ds_scratch_reset(ctx);
    return rc;
  }
  /* Does a gradient flow through this launch? A tensor that requires grad in a
   * slot the kernel cannot differentiate is an error, never a silent zero. */
  ds_tape *tape = ctx->paused ? NULL : ctx->active;
  int grad = scan.grad, i = scan.nodiff_rg;
  if (i >= 0 && (tape || ctx->nwatch))
    return ds_fail(ctx, DS_ERR_ARG,
                   "%s: argument '%s' (#%d) requires grad, but the kernel does not differentiate it; detach it "
                   "or pass it where a gradient is computed",
                   k->name, ds_slot_of(k, nargs, i)->name, i + 1);
  if (grad && tape && !k->desc.adjoint[device])
    return ds_fail(ctx, DS_ERR_ARG, "%s: not differentiable on device '%s', but an input requires a gradient on "
                   "the recording tape", k->name, device_label(device));
  rc = k->desc.forward[device](&c);
  ds_scratch_reset(ctx);
  if (rc != DS_OK) {
    if (!ctx->error[0]) ds_fail(ctx, rc, "%s: forward failed with status %d", k->name, rc);
    return rc;
  }
  int mark = grad && (tape || ctx->nwatch);
  for (i = 0; i < nargs; i++) {
    if (scan.out[i]) {
      args[i]->ver++;
      if (mark) args[i]->flags |= DS_FLAG_REQUIRES_GRAD;
    }
  }
  if (ctx->anomaly && (rc = check_anomaly(ctx, k, args, nargs, 0))) return rc;
  if (grad && tape) return ds_tape_record_launch(tape, k, args, nargs, params, nparams);
  return DS_OK;
}

/* The adjoint of one launch. Every output gets a grad (zero if none flowed);
 * inputs that require grad get one to accumulate into; the rest see NULL. */
int ds_run_adjoint(ds_ctx *ctx, const ds_kernel *k, ds_tensor *const *args, int nargs, const double *params,
                   int nparams) {
  int device = nargs > 0 ? args[0]->device : DS_CPU;
  for (int i = 0; i < nargs; i++) {
    int role = ds_slot_of(k, nargs, i)->role;
    if (role == DS_OUT || role == DS_ACC || (role == DS_IN && (args[i]->flags & DS_FLAG_REQUIRES_GRAD))) {
      if (!ds_tensor_ensure_grad(args[i])) return ds_fail(ctx, DS_ERR_NOMEM, "%s adjoint: out of memory", k->name);
    }
  }
  ds_call c = ds_make_call(ctx, k, args, nargs, params, nparams, device);
  int rc = k->desc.adjoint[device](&c);
  ds_scratch_reset(ctx);
  if (rc != DS_OK) {
    if (!ctx->error[0]) ds_fail(ctx, rc, "%s: adjoint failed with status %d", k->name, rc);
    return rc;
  }
  if (ctx->anomaly) return check_anomaly(ctx, k, args, nargs, 1);
  return DS_OK;
}

int ds_launch_adjoint(ds_ctx *ctx, const ds_kernel *k, ds_tensor *const *args, int nargs, const double *params,
                      int nparams) {
  if (!k) return ds_fail(ctx, DS_ERR_ARG, "launch_adjoint: kernel is nil");
  launch_scan scan;
  int rc = validate(ctx, k, args, nargs, params, nparams, &scan);
  if (rc) return rc;
  int device = scan.device;
  if (!k->desc.adjoint[device])
    return ds_fail(ctx, DS_ERR_ARG, "%s: has no adjoint on device '%s'", k->name, device_label(device));
  return ds_run_adjoint(ctx, k, args, nargs, params, nparams);
}
