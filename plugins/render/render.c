/* The render plugin: differentiable renderers. It only registers the kernels;
 * each lives in its own file:
 *   refract.c, refract.h   render.refract: the view down through a water surface */
#include "refract.h"

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "render");
  if (rc) return rc;
  return render_register_refract(host, reg);
}
