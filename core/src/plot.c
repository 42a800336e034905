/* Plots and text through PLplot's C API and its cairo devices (pngcairo,
 * svgcairo, memcairo): no display is needed, and text is real type (pango)
 * rather than a hand-drawn font.
 *
 * PLplot keeps global state, and some of its errors end the process
 * (plexit): every call here makes its own stream (plmkstrm) and ends it
 * (plend1), checks what PLplot would exit on (an unwritable file, a bad size)
 * before handing over, and routes PLplot's recoverable complaints (plabort)
 * into ds_last_error instead of stderr. */
#include "internal.h"
#include "diffsim/media.h"

#include <math.h>
#include <plplot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char plot_msg[512]; /* the last plabort message of the current call */

static void on_abort(const char *msg) {
  snprintf(plot_msg, sizeof plot_msg, "%s", msg ? msg : "PLplot error");
}

/* The cairo device for a format name; NULL when unknown. */
static const char *device_of(const char *format) {
  if (!format) return NULL;
  if (!strcmp(format, "png")) return "pngcairo";
  if (!strcmp(format, "svg")) return "svgcairo";
  return NULL;
}

/* Checks what PLplot would otherwise exit or prompt on. */
static int check_out(ds_ctx *ctx, const char *fn, const char *path, const char *format, int width, int height) {
  if (!path || !*path) return ds_fail(ctx, DS_ERR_ARG, "%s: argument 'path' is empty", fn);
  if (!device_of(format))
    return ds_fail(ctx, DS_ERR_ARG, "%s: argument 'format' must be \"png\" or \"svg\", got \"%s\"", fn,
                   format ? format : "(null)");
  if (width < 16 || width > 8192 || height < 16 || height > 8192)
    return ds_fail(ctx, DS_ERR_ARG, "%s: the size %d x %d is outside 16..8192 pixels", fn, width, height);
  /* PLplot asks on stdin for another name when it cannot open the file */
  FILE *f = fopen(path, "ab");
  if (!f) return ds_fail(ctx, DS_ERR_IO, "%s: cannot write '%s'", fn, path);
  fclose(f);
  return DS_OK;
}

/* A new stream on `device`: white background, black ink, the series colours
 * (Tableau 10, which stay distinguishable for the common colour blindnesses). */
static PLINT begin(const char *device, const char *path, int width, int height) {
  static const int series[10][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
                                    {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  PLINT old, strm;
  plgstrm(&old);
  plmkstrm(&strm);
  plot_msg[0] = 0;
  plsabort(on_abort);
  plsdev(device);
  if (path) plsfnam(path);
  if (width > 0) plspage(0, 0, width, height, 0, 0);
  plscmap0n(16);
  plscolbg(255, 255, 255);
  plscol0(1, 0, 0, 0);
  plscol0(2, 220, 220, 220); /* grid */
  for (int i = 0; i < 10; i++) plscol0(3 + i, series[i][0], series[i][1], series[i][2]);
  plsetopt("drvopt", "text_anti_aliasing=2,graphics_anti_aliasing=3"); /* smooth lines and type */
  plinit();
  return old;
}

static int finish(ds_ctx *ctx, const char *fn, PLINT old) {
  plend1();
  plsstrm(old);
  if (plot_msg[0]) return ds_fail(ctx, DS_ERR_IO, "%s: PLplot: %s", fn, plot_msg);
  return DS_OK;
}

static int finite_on(double v, int logscale) { return isfinite(v) && (!logscale || v > 0); }

/* A "nice" padded range [lo, hi] for values in [a, b] (log10 space on log axes). */
static void pad_range(double *a, double *b, double frac) {
  if (!(*a <= *b)) *a = 0, *b = 1;
  if (*b - *a < 1e-12 * fmax(1, fabs(*a))) {
    double d = fmax(0.5, fabs(*a) * 0.1);
    *a -= d, *b += d;
    return;
  }
  double d = (*b - *a) * frac;
  *a -= d, *b += d;
}

int ds_plot_lines(ds_ctx *ctx, const char *path, const char *format, int width, int height, const char *title,
                  const char *xlabel, const char *ylabel, int flags, int nseries, const int64_t *offsets,
                  const double *x, const double *y, const char *const *labels) {
  const char *fn = "plot_lines";
  int rc = check_out(ctx, fn, path, format, width, height);
  if (rc) return rc;
  if (nseries < 1 || nseries > 64 || !offsets || !x || !y)
    return ds_fail(ctx, DS_ERR_ARG, "%s: need 1..64 series with offsets, x and y (got %d)", fn, nseries);
  for (int k = 0; k < nseries; k++)
    if (offsets[k] < 0 || offsets[k + 1] < offsets[k])
      return ds_fail(ctx, DS_ERR_ARG, "%s: offsets[%d..%d] do not increase", fn, k, k + 1);
  int xlog = (flags & DS_PLOT_XLOG) != 0, ylog = (flags & DS_PLOT_YLOG) != 0;
  /* PLplot's log axes take log10 of the data; the box labels them 10^n */
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (int64_t i = 0; i < offsets[nseries]; i++) {
    if (!finite_on(x[i], xlog) || !finite_on(y[i], ylog)) continue;
    double xv = xlog ? log10(x[i]) : x[i], yv = ylog ? log10(y[i]) : y[i];
    x0 = fmin(x0, xv), x1 = fmax(x1, xv), y0 = fmin(y0, yv), y1 = fmax(y1, yv);
  }
  pad_range(&x0, &x1, 0.0);
  pad_range(&y0, &y1, 0.05);
  int64_t most = 0;
  for (int k = 0; k < nseries; k++) most = offsets[k + 1] - offsets[k] > most ? offsets[k + 1] - offsets[k] : most;
  PLFLT *px = malloc(sizeof(PLFLT) * (size_t)(most + 1)), *py = malloc(sizeof(PLFLT) * (size_t)(most + 1));
  if (!px || !py) {
    free(px);
    free(py);
    return ds_fail(ctx, DS_ERR_NOMEM, "%s: out of memory", fn);
  }
  PLINT old = begin(device_of(format), path, width, height);
  pladv(0);
  plschr(0, 1.1);
  plvpor(0.12, 0.96, 0.13, 0.9);
  plwind(x0, x1, y0, y1);
  if (flags & DS_PLOT_GRID) {
    plcol0(2);
    plbox(xlog ? "gl" : "g", 0, 0, ylog ? "gl" : "g", 0, 0);
  }
  plcol0(1);
  plbox(xlog ? "bcnstl" : "bcnst", 0, 0, ylog ? "bcnstlv" : "bcnstv", 0, 0);
  pllab(xlabel ? xlabel : "", ylabel ? ylabel : "", title ? title : "");
  plwidth(2.0);
  for (int k = 0; k < nseries; k++) {
    plcol0(3 + k % 10);
    int64_t n = 0;
    for (int64_t i = offsets[k]; i <= offsets[k + 1]; i++) {
      int ok = i < offsets[k + 1] && finite_on(x[i], xlog) && finite_on(y[i], ylog);
      if (ok) {
        px[n] = xlog ? log10(x[i]) : x[i];
        py[n] = ylog ? log10(y[i]) : y[i];
        n++;
      }
      if (!ok || i == offsets[k + 1]) { /* a gap or the end: draw what was gathered */
        if (n == 1) plpoin(1, px, py, 1);
        if (n > 1) plline((PLINT)n, px, py);
        n = 0;
      }
    }
  }
  plwidth(1.0);
  /* the legend: only series with a name */
  int nl = 0;
  PLINT opt[64], tcol[64], lcol[64], lsty[64];
  PLFLT lwid[64];
  const char *text[64];
  for (int k = 0; labels && k < nseries; k++) {
    if (!labels[k] || !labels[k][0]) continue;
    opt[nl] = PL_LEGEND_LINE;
    tcol[nl] = 1;
    lcol[nl] = 3 + k % 10;
    lsty[nl] = 1;
    lwid[nl] = 2.0;
    text[nl] = labels[k];
    nl++;
  }
  if (nl > 0) {
    PLFLT lw, lh;
    PLINT pos = PL_POSITION_INSIDE | ((flags & DS_PLOT_LEGEND_LEFT) ? PL_POSITION_LEFT : PL_POSITION_RIGHT);
    if (!(flags & DS_PLOT_LEGEND_MIDDLE)) pos |= (flags & DS_PLOT_LEGEND_BOTTOM) ? PL_POSITION_BOTTOM : PL_POSITION_TOP;
    pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, pos,
             0.02, 0.02, 0.08, 0, 1, 1, 0, 0, nl, opt, 1.0, 0.9, 2.0, 0.0, tcol, (const char *const *)text, NULL,
             NULL, NULL, NULL, lcol, lsty, lwid, NULL, NULL, NULL, NULL);
  }
  free(px);
  free(py);
  return finish(ctx, fn, old);
}

/* Colour map 1 of the stream: control points in RGB. */
static void set_cmap(int cmap) {
  static const PLFLT viridis[5][4] = {{0, 0.267, 0.005, 0.329}, {0.25, 0.229, 0.322, 0.546},
                                      {0.5, 0.128, 0.567, 0.551}, {0.75, 0.369, 0.789, 0.383},
                                      {1, 0.993, 0.906, 0.144}};
  /* Moreland's cool-warm: white is zero, so a signed field's sign reads at a glance */
  static const PLFLT diverging[5][4] = {{0, 0.230, 0.299, 0.754}, {0.25, 0.552, 0.690, 0.996},
                                        {0.5, 0.970, 0.970, 0.970}, {0.75, 0.958, 0.604, 0.482},
                                        {1, 0.706, 0.016, 0.150}};
  static const PLFLT grey[2][4] = {{0, 0, 0, 0}, {1, 1, 1, 1}};
  const PLFLT(*m)[4] = cmap == DS_CMAP_DIVERGING ? diverging : cmap == DS_CMAP_GREY ? grey : viridis;
  int n = cmap == DS_CMAP_GREY ? 2 : 5;
  PLFLT pos[5], r[5], g[5], b[5];
  for (int i = 0; i < n; i++) pos[i] = m[i][0], r[i] = m[i][1], g[i] = m[i][2], b[i] = m[i][3];
  plscmap1n(256);
  plscmap1l(1, n, pos, r, g, b, NULL);
}

int ds_plot_field(ds_ctx *ctx, const char *path, const char *format, int width, int height, const ds_tensor *field,
                  double lo, double hi, int colormap, const char *title, const char *xlabel, const char *ylabel,
                  const char *bar_label) {
  const char *fn = "plot_field";
  int rc = check_out(ctx, fn, path, format, width, height);
  if (rc) return rc;
  if (!field || field->dtype != DS_REAL || field->ndim != 2 || field->dims[0] < 1 || field->dims[1] < 1)
    return ds_fail(ctx, DS_ERR_ARG, "%s: argument 'field' must be a real tensor {h, w}", fn);
  if (!(isfinite(lo) && isfinite(hi) && lo < hi))
    return ds_fail(ctx, DS_ERR_ARG, "%s: the range [%g, %g] must be finite with lo < hi", fn, lo, hi);
  if (colormap < DS_CMAP_VIRIDIS || colormap > DS_CMAP_GREY)
    return ds_fail(ctx, DS_ERR_ARG, "%s: unknown colormap %d", fn, colormap);
  int64_t h = field->dims[0], w = field->dims[1];
  const ds_real *p = ds_host_view(field, 1, fn);
  if (!p) return DS_ERR_NOMEM;
  /* PLplot's images are column-major from the bottom: idata[x][y] */
  PLFLT **cols = malloc(sizeof(PLFLT *) * (size_t)w);
  PLFLT *data = malloc(sizeof(PLFLT) * (size_t)(w * h));
  if (!cols || !data) {
    free(cols);
    free(data);
    ds_host_done(field, (void *)p);
    return ds_fail(ctx, DS_ERR_NOMEM, "%s: out of memory", fn);
  }
  for (int64_t j = 0; j < w; j++) {
    cols[j] = data + j * h;
    for (int64_t i = 0; i < h; i++) {
      double v = p[i * w + j];
      cols[j][h - 1 - i] = v != v ? lo : fmin(hi, fmax(lo, v)); /* clamped: out-of-range shows as the end colour */
    }
  }
  ds_host_done(field, (void *)p);
  PLINT old = begin(device_of(format), path, width, height);
  set_cmap(colormap);
  pladv(0);
  plschr(0, 1.0);
  plvpas(0.1, 0.76, 0.1, 0.88, (double)h / (double)w);
  plwind(0, (double)w, 0, (double)h);
  plimagefr((const PLFLT *const *)cols, (PLINT)w, (PLINT)h, 0, (double)w, 0, (double)h, lo, hi, lo, hi, NULL, NULL);
  plcol0(1);
  plbox("bcnst", 0, 0, "bcnstv", 0, 0);
  pllab(xlabel ? xlabel : "", ylabel ? ylabel : "", title ? title : "");
  if (!bar_label) {
    free(cols);
    free(data);
    return finish(ctx, fn, old);
  }
  PLFLT cw, ch;
  PLINT label_opt[1] = {PL_COLORBAR_LABEL_TOP};
  const char *label_text[1] = {bar_label ? bar_label : ""};
  const char *axis_opts[1] = {"bcvtm"};
  PLFLT ticks[1] = {0};
  PLINT sub_ticks[1] = {0};
  PLINT n_values[1] = {2};
  PLFLT range[2] = {lo, hi};
  const PLFLT *values[1] = {range};
  plcolorbar(&cw, &ch, PL_COLORBAR_GRADIENT, PL_POSITION_RIGHT | PL_POSITION_OUTSIDE | PL_POSITION_VIEWPORT, 0.03, 0,
             0.04, 1.0, 0, 1, 1, 0, 0, 0, 0, 1, label_opt, label_text, 1, axis_opts, ticks, sub_ticks, n_values,
             values);
  free(cols);
  free(data);
  return finish(ctx, fn, old);
}

int ds_image_text(ds_ctx *ctx, ds_tensor *img, const char *text, double x, double y, double size, double r, double g,
                  double b) {
  const char *fn = "image_text";
  if (!img || img->dtype != DS_REAL || !(img->ndim == 2 || (img->ndim == 3 && img->dims[2] == 3)) ||
      img->dims[0] < 1 || img->dims[1] < 1)
    return ds_fail(ctx, DS_ERR_ARG, "%s: argument 'img' must be a real tensor {h, w} or {h, w, 3}", fn);
  int grey = img->ndim == 2;
  if (grey) r = g = b = 0.299 * r + 0.587 * g + 0.114 * b; /* stays grey */
  if (img->device != DS_CPU) return ds_fail(ctx, DS_ERR_ARG, "%s: argument 'img' must be on the cpu", fn);
  if (!text) return ds_fail(ctx, DS_ERR_ARG, "%s: argument 'text' is NULL", fn);
  if (!(size >= 4 && size <= 1000) || !isfinite(x) || !isfinite(y))
    return ds_fail(ctx, DS_ERR_ARG, "%s: the position must be finite and 'size' in 4..1000 pixels", fn);
  int64_t h = img->dims[0], w = img->dims[1];
  if (h > 16384 || w > 16384) return ds_fail(ctx, DS_ERR_ARG, "%s: the image is larger than 16384 pixels", fn);
  if (!*text) return DS_OK;
  unsigned char *buf = malloc((size_t)(h * w * 3));
  if (!buf) return ds_fail(ctx, DS_ERR_NOMEM, "%s: out of memory", fn);
  ds_real *p = img->ptr;
  for (int64_t i = 0; i < h * w * 3; i++) buf[i] = ds_to_byte(p[grey ? i / 3 : i]);
  /* memcairo draws over the caller's pixels (it keeps what is there) */
  PLINT old, strm;
  plgstrm(&old);
  plmkstrm(&strm);
  plot_msg[0] = 0;
  plsabort(on_abort);
  plsdev("memcairo");
  plsmem((PLINT)w, (PLINT)h, buf);
  plscolbg(0, 0, 0);
  plsetopt("drvopt", "text_anti_aliasing=2,graphics_anti_aliasing=3");
  plinit();
  pladv(0);
  plvpor(0, 1, 0, 1);
  plwind(0, (double)w, 0, (double)h);
  /* the cairo devices run at 90 dpi: a character height in mm from pixels */
  double mm = size * 25.4 / 90.0;
  plschr(mm, 1.0);
  double pad = size * 0.25, tw = 0.56 * size * (double)strlen(text);
  PLFLT bx[4] = {x, x + tw + 2 * pad, x + tw + 2 * pad, x};
  PLFLT by[4] = {h - y, h - y, h - (y + size * 1.5), h - (y + size * 1.5)};
  plscol0a(2, 0, 0, 0, 0.55);
  plcol0(2);
  plfill(4, bx, by);
  plscol0(3, (PLINT)(fmin(1, fmax(0, r)) * 255 + 0.5), (PLINT)(fmin(1, fmax(0, g)) * 255 + 0.5),
          (PLINT)(fmin(1, fmax(0, b)) * 255 + 0.5));
  plcol0(3);
  plptex(x + pad, h - (y + size * 0.75), 1, 0, 0, text);
  plend1();
  plsstrm(old);
  /* a grey image keeps one channel: everything drawn was grey */
  for (int64_t i = 0; i < h * w * (grey ? 1 : 3); i++) p[i] = (ds_real)(buf[grey ? 3 * i : i] / 255.0);
  free(buf);
  ds_tensor_bump(img);
  if (plot_msg[0]) return ds_fail(ctx, DS_ERR_IO, "%s: PLplot: %s", fn, plot_msg);
  return DS_OK;
}
