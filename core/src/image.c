/* PNG read/write through libpng's simplified API (no setjmp), and a small
 * animated-GIF writer (LZW, one global palette) for rollouts. */
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

static unsigned char to_byte(double v) {
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
  for (int64_t i = 0; i < t->count; i++) buf[i] = to_byte(p[i]);
  ds_host_done(t, (void *)p);
  int ok = png_image_write_to_file(&img, path, 0, buf, 0, NULL);
  free(buf);
  if (!ok) return ds_fail(ctx, DS_ERR_IO, "png_write: cannot write '%s': %s", path, img.message);
  return DS_OK;
}

/* ---- GIF -------------------------------------------------------------- */

typedef struct bits {
  FILE *f;
  unsigned char block[255];
  int nblock;
  uint32_t acc;
  int nacc;
} bits;

static void put_byte(bits *b, unsigned char v) {
  b->block[b->nblock++] = v;
  if (b->nblock == 255) {
    fputc(255, b->f);
    fwrite(b->block, 1, 255, b->f);
    b->nblock = 0;
  }
}

static void put_code(bits *b, int code, int width) {
  b->acc |= (uint32_t)code << b->nacc;
  b->nacc += width;
  while (b->nacc >= 8) {
    put_byte(b, b->acc & 0xff);
    b->acc >>= 8;
    b->nacc -= 8;
  }
}

/* LZW with 8-bit symbols; the dictionary is a (prefix code, byte) hash. */
static int lzw_frame(FILE *f, const unsigned char *px, int64_t n) {
  enum { HASH = 1 << 14 };
  int32_t *keys = malloc(HASH * sizeof *keys);
  int16_t *vals = malloc(HASH * sizeof *vals);
  if (!keys || !vals) {
    free(keys);
    free(vals);
    return -1;
  }
  bits b = {f, {0}, 0, 0, 0};
  const int clear = 256, eoi = 257;
  int width = 9, next = 258;
  fputc(8, f);
  for (int i = 0; i < HASH; i++) keys[i] = -1;
  put_code(&b, clear, width);
  int cur = px[0];
  for (int64_t i = 1; i < n; i++) {
    int k = px[i];
    int32_t key = (cur << 8) | k;
    uint32_t h = ((uint32_t)key * 2654435761u) >> 18;
    while (keys[h] != -1 && keys[h] != key) h = (h + 1) & (HASH - 1);
    if (keys[h] == key) {
      cur = vals[h];
      continue;
    }
    put_code(&b, cur, width);
    keys[h] = key;
    vals[h] = (int16_t)next;
    if (next >= (1 << width)) width++;
    if (++next == 4096) {
      put_code(&b, clear, width);
      for (int j = 0; j < HASH; j++) keys[j] = -1;
      width = 9;
      next = 258;
    }
    cur = k;
  }
  put_code(&b, cur, width);
  put_code(&b, eoi, width);
  if (b.nacc > 0) put_byte(&b, b.acc & 0xff);
  if (b.nblock) {
    fputc(b.nblock, f);
    fwrite(b.block, 1, (size_t)b.nblock, f);
  }
  fputc(0, f);
  free(keys);
  free(vals);
  return 0;
}

static void put16(FILE *f, int v) {
  fputc(v & 0xff, f);
  fputc((v >> 8) & 0xff, f);
}

int ds_gif_write(ds_ctx *ctx, const char *path, const ds_tensor *t, int delay_cs) {
  int rgb = t->ndim == 4;
  if (t->dtype != DS_REAL || (t->ndim != 3 && !(rgb && t->dims[3] == 3)) || t->dims[1] > 65535 || t->dims[2] > 65535)
    return ds_fail(ctx, DS_ERR_ARG, "gif_write: frames must be a real tensor {n, h, w} or {n, h, w, 3}");
  int64_t nf = t->dims[0], h = t->dims[1], w = t->dims[2];
  if (nf < 1 || h < 1 || w < 1) return ds_fail(ctx, DS_ERR_ARG, "gif_write: no frames");
  const ds_real *p = ds_host_view(t, 1, "gif_write"); /* off the CPU: a host copy */
  if (!p) return DS_ERR_NOMEM;
  FILE *f = fopen(path, "wb");
  if (!f) {
    ds_host_done(t, (void *)p);
    return ds_fail(ctx, DS_ERR_IO, "gif_write: cannot open '%s' for writing", path);
  }
  unsigned char *px = malloc((size_t)(h * w));
  if (!px) {
    ds_host_done(t, (void *)p);
    fclose(f);
    return ds_fail(ctx, DS_ERR_NOMEM, "gif_write: out of memory");
  }
  fwrite("GIF89a", 1, 6, f);
  put16(f, (int)w);
  put16(f, (int)h);
  fputc(0xF7, f); /* global palette of 256 entries */
  fputc(0, f);
  fputc(0, f);
  /* grey ramp, or a 6x6x6 colour cube (216 entries) for RGB frames: equal
   * levels on every channel keep greys grey */
  for (int i = 0; i < 256; i++) {
    int r = i, g = i, bl = i;
    if (rgb) {
      r = i < 216 ? (i / 36) * 51 : 0;
      g = i < 216 ? ((i / 6) % 6) * 51 : 0;
      bl = i < 216 ? (i % 6) * 51 : 0;
    }
    fputc(r, f);
    fputc(g, f);
    fputc(bl, f);
  }
  /* loop forever */
  fwrite("\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00", 1, 19, f);
  for (int64_t k = 0; k < nf; k++) {
    for (int64_t i = 0; i < h * w; i++) {
      if (rgb) {
        const ds_real *q = p + (k * h * w + i) * 3;
        int r = (to_byte(q[0]) + 25) / 51, g = (to_byte(q[1]) + 25) / 51, bl = (to_byte(q[2]) + 25) / 51;
        px[i] = (unsigned char)(r * 36 + g * 6 + bl);
      } else {
        px[i] = to_byte(p[k * h * w + i]);
      }
    }
    fwrite("\x21\xF9\x04\x04", 1, 4, f);
    put16(f, delay_cs);
    fputc(0, f);
    fputc(0, f);
    fputc(0x2C, f);
    put16(f, 0);
    put16(f, 0);
    put16(f, (int)w);
    put16(f, (int)h);
    fputc(0, f);
    if (lzw_frame(f, px, h * w)) {
      ds_host_done(t, (void *)p);
      free(px);
      fclose(f);
      return ds_fail(ctx, DS_ERR_NOMEM, "gif_write: out of memory");
    }
  }
  fputc(0x3B, f);
  ds_host_done(t, (void *)p);
  free(px);
  if (fclose(f)) return ds_fail(ctx, DS_ERR_IO, "gif_write: error writing '%s'", path);
  return DS_OK;
}
