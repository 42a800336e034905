/* Broken on purpose: built with the other precision than the host (the f32
 * build claims 8-byte reals, the f64 build 4-byte reals). */
#include <diffsim/plugin.h>

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  return host->begin(reg, "bad_real", DS_ABI_VERSION, sizeof(ds_real) == 8 ? 4 : 8, (int)sizeof(ds_tensor),
                     (int)sizeof(ds_kernel_desc));
}
