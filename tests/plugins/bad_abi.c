/* Broken on purpose: claims an ABI version the host does not speak. */
#include <diffsim/plugin.h>

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  return host->begin(reg, "bad_abi", DS_ABI_VERSION + 1, (int)sizeof(ds_real), (int)sizeof(ds_tensor),
                     (int)sizeof(ds_kernel_desc));
}
