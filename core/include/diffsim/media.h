/* diffsim media: plots (PLplot, cairo devices), animations (giflib, FFmpeg)
 * and text drawn into images. FFI-clean like core.h: enums, plain pointers,
 * no structs by value; every function returns a status (DS_OK or a ds_status)
 * and sets ds_last_error. Images are real tensors on the CPU with values in
 * [0, 1]: {h, w} grey or {h, w, 3} RGB. lua/diffsim/cdef.lua mirrors this file. */
#ifndef DIFFSIM_MEDIA_H
#define DIFFSIM_MEDIA_H
#include "diffsim/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ds_plot_flags {
  DS_PLOT_XLOG = 1, /* log10 x axis, labelled as powers of ten */
  DS_PLOT_YLOG = 2,
  DS_PLOT_GRID = 4, /* light grid lines at the major ticks */
  /* where the legend goes inside the plot (default: top right) */
  DS_PLOT_LEGEND_BOTTOM = 8,
  DS_PLOT_LEGEND_LEFT = 16,
  DS_PLOT_LEGEND_MIDDLE = 32 /* vertically centred */
} ds_plot_flags;

typedef enum ds_colormap {
  DS_CMAP_VIRIDIS = 0,   /* sequential, for values >= 0 (density, smoke) */
  DS_CMAP_DIVERGING = 1, /* blue - white - red, for signed fields centred on 0 */
  DS_CMAP_GREY = 2
} ds_colormap;

/* Line plot to `path` in `format` ("png" or "svg"), width x height pixels.
 * Series k holds the points (x[i], y[i]) for offsets[k] <= i < offsets[k+1]; a
 * non-finite point (or one <= 0 on a log axis) breaks its line. labels[k] names
 * series k in the legend (labels NULL, or labels[k] NULL or "": no entry).
 * title, xlabel, ylabel may be NULL. flags: ds_plot_flags. */
int ds_plot_lines(ds_ctx *ctx, const char *path, const char *format, int width, int height, const char *title,
                  const char *xlabel, const char *ylabel, int flags, int nseries, const int64_t *offsets,
                  const double *x, const double *y, const char *const *labels);

/* Image plot of a 2D field {h, w} (row 0 at the top): colours span [lo, hi]
 * (lo < hi) in `colormap` (ds_colormap); values outside take the end colours.
 * A colour bar is drawn unless bar_label is NULL ("" draws it unlabelled).
 * title, xlabel, ylabel may be NULL. */
int ds_plot_field(ds_ctx *ctx, const char *path, const char *format, int width, int height, const ds_tensor *field,
                  double lo, double hi, int colormap, const char *title, const char *xlabel, const char *ylabel,
                  const char *bar_label);

/* Draws `text` into the CPU image {h, w} (grey) or {h, w, 3} in place: its
 * top-left corner at pixel (x, y), `size` pixels high, colour (r, g, b) in
 * [0, 1] (its luminance on a grey image), on a translucent dark band so that
 * it reads on any background. */
int ds_image_text(ds_ctx *ctx, ds_tensor *img, const char *text, double x, double y, double size, double r, double g,
                  double b);

/* MP4 (H.264 through libx264 where libavcodec has it, else MPEG-4 part 2) from
 * frames {n, h, w} (grey) or {n, h, w, 3}, values in [0, 1], at `fps` frames a
 * second. Odd sizes are padded by one edge row/column (4:2:0 needs even sizes). */
int ds_mp4_write(ds_ctx *ctx, const char *path, const ds_tensor *frames, int fps);
/* The encoder ds_mp4_write uses ("libx264", "mpeg4"), or "" when none. */
const char *ds_mp4_codec(void);

#ifdef __cplusplus
}
#endif
#endif
