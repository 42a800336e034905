/* The plugin loader: a good plugin loads by name; every broken one is refused
 * with a clear message and leaves the registry exactly as it was. */
#include <diffsim/core.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static const char *prec(void) { return ds_real_size() == 8 ? "f64" : "f32"; }

static int load_broken(ds_ctx *ctx, const char *name) {
  char path[1024];
  const char *dir = getenv("DIFFSIM_TEST_PLUGIN_DIR");
  snprintf(path, sizeof path, "%s/libds_%s_%s.so", dir ? dir : ".", name, prec());
  return ds_plugin_load(ctx, path);
}

int main(void) {
  ds_ctx *ctx = ds_ctx_new(1);
  int before = ds_kernel_count(ctx);
  CHECK(before > 20); /* the core ops */

  CHECK(ds_plugin_load(ctx, "example") == DS_OK);
  CHECK(ds_kernel_find(ctx, "example.step") != NULL);
  int with_example = ds_kernel_count(ctx);
  CHECK(with_example == before + 1);
  CHECK(ds_plugin_load(ctx, "example") == DS_OK); /* loading twice is a no-op */
  CHECK(ds_kernel_count(ctx) == with_example);

  CHECK(ds_plugin_load(ctx, "no_such_plugin") == DS_ERR_NOT_FOUND);
  CHECK_CONTAINS(ds_last_error(ctx), "plugin 'no_such_plugin' not found");
  CHECK_CONTAINS(ds_last_error(ctx), "DIFFSIM_PLUGIN_PATH");

  CHECK(load_broken(ctx, "no_init") == DS_ERR_PLUGIN);
  CHECK_CONTAINS(ds_last_error(ctx), "no ds_plugin_init");

  CHECK(load_broken(ctx, "bad_abi") == DS_ERR_PLUGIN);
  CHECK_CONTAINS(ds_last_error(ctx), "ABI version");

  CHECK(load_broken(ctx, "bad_real") == DS_ERR_PLUGIN);
  CHECK_CONTAINS(ds_last_error(ctx), "sizeof(real)");

  CHECK(load_broken(ctx, "fail_late") == DS_ERR_PLUGIN);
  CHECK_CONTAINS(ds_last_error(ctx), "init failed");
  CHECK(ds_kernel_find(ctx, "fail_late.first") == NULL); /* rolled back */
  CHECK(ds_kernel_find(ctx, "fail_late.second") == NULL);

  CHECK(load_broken(ctx, "no_begin") == DS_ERR_PLUGIN);
  CHECK(ds_kernel_find(ctx, "no_begin.sneaky") == NULL);

  CHECK(load_broken(ctx, "dup_kernel") == DS_ERR_PLUGIN);
  CHECK_CONTAINS(ds_last_error(ctx), "already has a cpu implementation");
  CHECK(ds_kernel_find(ctx, "dup_kernel.twice") == NULL);

  CHECK(load_broken(ctx, "bad_merge") == DS_ERR_PLUGIN);
  CHECK_CONTAINS(ds_last_error(ctx), "kernel bad_merge.op: registered again with different arguments");
  CHECK(ds_kernel_find(ctx, "bad_merge.op") == NULL);

  /* the other precision's build of a good plugin is refused by its size check */
  char other[1024];
  const char *pdir = getenv("DIFFSIM_PLUGIN_PATH");
  snprintf(other, sizeof other, "%s/libds_example_%s.so", pdir ? pdir : ".", ds_real_size() == 8 ? "f32" : "f64");
  ds_ctx *ctx2 = ds_ctx_new(1);
  CHECK(ds_plugin_load(ctx2, other) == DS_ERR_PLUGIN);
  CHECK_CONTAINS(ds_last_error(ctx2), "sizeof(real)");
  ds_ctx_free(ctx2);

  CHECK(ds_kernel_count(ctx) == with_example); /* every failure left the registry as it was */

  /* CPU and mock implementations registered separately merge into one kernel */
  CHECK(load_broken(ctx, "two_devices") == DS_OK);
  const ds_kernel *bump = ds_kernel_find(ctx, "two_devices.bump");
  CHECK(bump != NULL);
  CHECK(ds_kernel_has_device(bump, DS_CPU, 0) && ds_kernel_has_device(bump, DS_CPU, 1));
  CHECK(ds_kernel_has_device(bump, DS_MOCK, 0) && !ds_kernel_has_device(bump, DS_MOCK, 1));
  CHECK(!ds_kernel_has_device(bump, DS_CUDA, 0));
  CHECK(ds_kernel_nargs(bump) == 2 && ds_kernel_nparams(bump) == 1);
  CHECK(strcmp(ds_kernel_param_name(bump, 0), "scale") == 0);
  CHECK(ds_kernel_count(ctx) == with_example + 3);
  CHECK(ds_kernel_find(ctx, "example.nope") == NULL);
  CHECK_CONTAINS(ds_last_error(ctx), "unknown kernel 'example.nope'");
  ds_ctx_free(ctx);
  TEST_DONE();
}
