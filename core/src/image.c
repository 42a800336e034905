/* PNG read/write through libpng's simplified API (no setjmp). Animations
 * (GIF, MP4) are in video.c, plots and text in plot.c. */
#include "internal.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ds_tensor *ds_png_read(ds_ctx *ctx, const char *path) {
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&img, path)) {
    ds_fail(ctx, DS_ERR_IO, "png_read: cannot read '%s': %s", path, img.message);
    return NULL;
  }
  int channels = (img.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
  if (img.format & PNG_FORMAT_FLAG_ALPHA) channels++;
  img.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 2 ? PNG_FORMAT_GA : channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
  size_t bytes = PNG_IMAGE_SIZE(img);
  unsigned char *buf = malloc(bytes);
  if (!buf) {
    png_image_free(&img);
    ds_fail(ctx, DS_ERR_NOMEM, "png_read: out of memory for '%s'", path);
    return NULL;
  }
  if (!png_image_finish_read(&img, NULL, buf, 0, NULL)) {
    free(buf);
    ds_fail(ctx, DS_ERR_IO, "png_read: cannot decode '%s': %s", path, img.message);
    return NULL;
  }
  int64_t shape[3] = {img.height, img.width, channels};
  ds_tensor *t = ds_tensor_empty(ctx, DS_REAL, 3, shape);
  if (t) {
    ds_real *p = t->ptr;
    for (int64_t i = 0; i < t->count; i++) p[i] = (ds_real)(buf[i] / 255.0);
  }
  free(buf);
  return t;
}

unsigned char ds_to_byte(double v) {
  if (!(v > 0)) return 0; /* NaN -> 0 */
  if (v >= 1) return 255;
  return (unsigned char)(v * 255.0 + 0.5);
}

int ds_png_write(ds_ctx *ctx, const char *path, const ds_tensor *t) {
  if (t->dtype != DS_REAL || t->ndim < 2 || t->ndim > 3 || (t->ndim == 3 && (t->dims[2] < 1 || t->dims[2] > 4)))
    return ds_fail(ctx, DS_ERR_ARG, "png_write: image must be a real tensor {h, w} or {h, w, c} with c in 1..4");
  int c = t->ndim == 3 ? (int)t->dims[2] : 1;
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = (png_uint_32)t->dims[1];
  img.height = (png_uint_32)t->dims[0];
  img.format = c == 1 ? PNG_FORMAT_GRAY : c == 2 ? PNG_FORMAT_GA : c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
  unsigned char *buf = malloc((size_t)t->count);
  if (!buf) return ds_fail(ctx, DS_ERR_NOMEM, "png_write: out of memory");
  const ds_real *p = ds_host_view(t, 1, "png_write"); /* off the CPU: a host copy */
  if (!p) {
    free(buf);
    return DS_ERR_NOMEM;
  }
  for (int64_t i = 0; i < t->count; i++) buf[i] = ds_to_byte(p[i]);
  ds_host_done(t, (void *)p);
  int ok = png_image_write_to_file(&img, path, 0, buf, 0, NULL);
  free(buf);
  if (!ok) return ds_fail(ctx, DS_ERR_IO, "png_write: cannot write '%s': %s", path, img.message);
  return DS_OK;
}
