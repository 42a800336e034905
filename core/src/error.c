/* Error messages, status codes and the log hook. Nothing here aborts. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

int ds_vfail(ds_ctx *ctx, int code, const char *prefix, const char *fmt, va_list ap) {
  if (!ctx) return code;
  int n = 0;
  if (prefix && *prefix) n = snprintf(ctx->error, DS_ERRMSG, "%s: ", prefix);
  if (n < 0 || n >= DS_ERRMSG) n = 0;
  vsnprintf(ctx->error + n, DS_ERRMSG - (size_t)n, fmt, ap);
  return code;
}

int ds_fail(ds_ctx *ctx, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ds_vfail(ctx, code, NULL, fmt, ap);
  va_end(ap);
  return code;
}

int ds_host_error(const ds_call *call, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ds_vfail(call->ctx, DS_ERR_ARG, call->kernel_name, fmt, ap);
  va_end(ap);
  return DS_ERR_ARG;
}

static void vlog(ds_ctx *ctx, int level, const char *fmt, va_list ap) {
  char msg[DS_ERRMSG];
  vsnprintf(msg, sizeof msg, fmt, ap);
  if (ctx && ctx->log_fn) {
    ctx->log_fn(ctx->log_user, level, msg);
  } else if (level >= DS_LOG_WARN) {
    fprintf(stderr, "diffsim: %s\n", msg);
  }
}

void ds_logf(ds_ctx *ctx, int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(ctx, level, fmt, ap);
  va_end(ap);
}

void ds_host_log(ds_ctx *ctx, int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(ctx, level, fmt, ap);
  va_end(ap);
}

const char *ds_last_error(const ds_ctx *ctx) { return ctx ? ctx->error : "no context"; }
void ds_clear_error(ds_ctx *ctx) {
  if (ctx) ctx->error[0] = 0;
}
void ds_set_log(ds_ctx *ctx, ds_log_fn fn, void *user) {
  ctx->log_fn = fn;
  ctx->log_user = user;
}
