/* The render plugin: differentiable renderers. It only registers the kernels;
 * each lives in its own file:
 *   refract.c, refract.h   render.refract: the view down through a water surface
 *   volume.c, volume.h     render.volume: emission-only ray marching through a density grid
 *   volume_scene.c         render.torus: the volume scene's procedural target density */
#include "refract.h"

int render_register_volume(const ds_host_api *host, ds_registrar *reg); /* volume.c */
int render_register_torus(const ds_host_api *host, ds_registrar *reg);  /* volume_scene.c */

int ds_plugin_init(const ds_host_api *host, ds_registrar *reg) {
  int rc = ds_plugin_begin(host, reg, "render");
  if (rc) return rc;
  if ((rc = render_register_refract(host, reg))) return rc;
  if ((rc = render_register_volume(host, reg))) return rc;
  return render_register_torus(host, reg);
}
