/* Animations: GIF through giflib (its encoder and its median-cut quantizer)
 * and MP4 through FFmpeg's libraries (libavformat mux, libavcodec encode,
 * libswscale RGB -> YUV 4:2:0). Frames are real tensors {n, h, w} (grey) or
 * {n, h, w, 3}, values in [0, 1]. */
#include "internal.h"
#include "diffsim/media.h"

#include <gif_lib.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checks the frames tensor shared by both writers; sets *rgb. */
static int check_frames(ds_ctx *ctx, const char *fn, const ds_tensor *t, int *rgb, int64_t max_side) {
  if (!t || t->dtype != DS_REAL || !(t->ndim == 3 || (t->ndim == 4 && t->dims[3] == 3)))
    return ds_fail(ctx, DS_ERR_ARG, "%s: frames must be a real tensor {n, h, w} or {n, h, w, 3}", fn);
  if (t->dims[0] < 1 || t->dims[1] < 1 || t->dims[2] < 1) return ds_fail(ctx, DS_ERR_ARG, "%s: no frames", fn);
  if (t->dims[1] > max_side || t->dims[2] > max_side)
    return ds_fail(ctx, DS_ERR_ARG, "%s: frames of %lld x %lld are larger than %lld pixels a side", fn,
                   (long long)t->dims[1], (long long)t->dims[2], (long long)max_side);
  *rgb = t->ndim == 4;
  return DS_OK;
}

/* ---- GIF ---------------------------------------------------------------- */

static int gif_fail(ds_ctx *ctx, GifFileType *gf, const char *path, int err) {
  int e2;
  if (gf) EGifCloseFile(gf, &e2); /* frees gf even when closing fails */
  const char *why = GifErrorString(err);
  return ds_fail(ctx, DS_ERR_IO, "gif_write: cannot write '%s': %s", path, why ? why : "giflib error");
}

int ds_gif_write(ds_ctx *ctx, const char *path, const ds_tensor *t, int delay_cs) {
  int rgb, rc = check_frames(ctx, "gif_write", t, &rgb, 65535);
  if (rc) return rc;
  if (delay_cs < 0 || delay_cs > 65535) return ds_fail(ctx, DS_ERR_ARG, "gif_write: delay %d outside 0..65535", delay_cs);
  int64_t nf = t->dims[0], h = t->dims[1], w = t->dims[2], np = h * w;
  const ds_real *p = ds_host_view(t, 1, "gif_write"); /* off the CPU: a host copy */
  if (!p) return DS_ERR_NOMEM;
  unsigned char *idx = malloc((size_t)np), *rgbbuf = rgb ? malloc((size_t)np * 3) : NULL;
  ColorMapObject *grey = NULL;
  if (!idx || (rgb && !rgbbuf)) goto nomem;
  if (!rgb) { /* grey frames: one global 256-level ramp, exact */
    grey = GifMakeMapObject(256, NULL);
    if (!grey) goto nomem;
    for (int i = 0; i < 256; i++) grey->Colors[i].Red = grey->Colors[i].Green = grey->Colors[i].Blue = (GifByteType)i;
  }
  int err = 0;
  GifFileType *gf = EGifOpenFileName(path, false, &err);
  if (!gf) {
    rc = gif_fail(ctx, NULL, path, err);
    goto done;
  }
  EGifSetGifVersion(gf, true); /* GIF89a: delays and the loop extension */
  if (EGifPutScreenDesc(gf, (int)w, (int)h, 8, 0, grey) == GIF_ERROR) {
    rc = gif_fail(ctx, gf, path, gf->Error);
    goto done;
  }
  /* loop forever (the NETSCAPE2.0 application extension every viewer reads) */
  static const unsigned char loop[3] = {1, 0, 0};
  if (EGifPutExtensionLeader(gf, APPLICATION_EXT_FUNC_CODE) == GIF_ERROR ||
      EGifPutExtensionBlock(gf, 11, "NETSCAPE2.0") == GIF_ERROR || EGifPutExtensionBlock(gf, 3, loop) == GIF_ERROR ||
      EGifPutExtensionTrailer(gf) == GIF_ERROR) {
    rc = gif_fail(ctx, gf, path, gf->Error);
    goto done;
  }
  for (int64_t k = 0; k < nf; k++) {
    GraphicsControlBlock gcb = {DISPOSE_DO_NOT, false, delay_cs, NO_TRANSPARENT_COLOR};
    GifByteType ext[4];
    size_t len = EGifGCBToExtension(&gcb, ext);
    if (EGifPutExtension(gf, GRAPHICS_EXT_FUNC_CODE, (int)len, ext) == GIF_ERROR) {
      rc = gif_fail(ctx, gf, path, gf->Error);
      goto done;
    }
    ColorMapObject *local = NULL;
    if (rgb) {
      /* a palette per frame from giflib's median-cut quantizer: colours
       * follow the frame, and greys stay grey (equal channels average equal) */
      const ds_real *q = p + k * np * 3;
      for (int64_t i = 0; i < np; i++) {
        rgbbuf[i] = ds_to_byte(q[3 * i]);
        rgbbuf[np + i] = ds_to_byte(q[3 * i + 1]);
        rgbbuf[2 * np + i] = ds_to_byte(q[3 * i + 2]);
      }
      local = GifMakeMapObject(256, NULL);
      int size = 256;
      if (!local) {
        EGifCloseFile(gf, &err);
        goto nomem;
      }
      if (GifQuantizeBuffer((unsigned)w, (unsigned)h, &size, rgbbuf, rgbbuf + np, rgbbuf + 2 * np, idx,
                            local->Colors) == GIF_ERROR) {
        GifFreeMapObject(local);
        EGifCloseFile(gf, &err);
        goto nomem;
      }
    } else {
      const ds_real *q = p + k * np;
      for (int64_t i = 0; i < np; i++) idx[i] = ds_to_byte(q[i]);
    }
    int bad = EGifPutImageDesc(gf, 0, 0, (int)w, (int)h, false, local) == GIF_ERROR;
    for (int64_t r = 0; !bad && r < h; r++) bad = EGifPutLine(gf, idx + r * w, (int)w) == GIF_ERROR;
    if (local) GifFreeMapObject(local);
    if (bad) {
      rc = gif_fail(ctx, gf, path, gf->Error);
      goto done;
    }
  }
  if (EGifCloseFile(gf, &err) == GIF_ERROR) rc = ds_fail(ctx, DS_ERR_IO, "gif_write: error writing '%s': %s", path,
                                                         GifErrorString(err));
  goto done;
nomem:
  rc = ds_fail(ctx, DS_ERR_NOMEM, "gif_write: out of memory");
done:
  if (grey) GifFreeMapObject(grey);
  free(idx);
  free(rgbbuf);
  ds_host_done(t, (void *)p);
  return rc;
}

/* ---- MP4 ---------------------------------------------------------------- */

/* H.264 (libx264) when this libavcodec has it: small files every player
 * opens; else MPEG-4 part 2, which FFmpeg always builds. */
static const AVCodec *mp4_encoder(void) {
  const AVCodec *c = avcodec_find_encoder_by_name("libx264");
  if (!c) c = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
  return c;
}

const char *ds_mp4_codec(void) {
  const AVCodec *c = mp4_encoder();
  return c ? c->name : "";
}

static int av_fail(ds_ctx *ctx, const char *what, const char *path, int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(err, buf, sizeof buf);
  return ds_fail(ctx, DS_ERR_IO, "mp4_write: %s '%s': %s", what, path, buf);
}

/* Sends one frame (NULL: flush) and writes every packet the encoder returns. */
static int encode(AVCodecContext *cc, AVFrame *fr, AVPacket *pkt, AVFormatContext *fmt, AVStream *st) {
  int r = avcodec_send_frame(cc, fr);
  if (r < 0) return r;
  for (;;) {
    r = avcodec_receive_packet(cc, pkt);
    if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return 0;
    if (r < 0) return r;
    av_packet_rescale_ts(pkt, cc->time_base, st->time_base);
    pkt->stream_index = st->index;
    r = av_interleaved_write_frame(fmt, pkt); /* takes the packet's data */
    if (r < 0) return r;
  }
}

int ds_mp4_write(ds_ctx *ctx, const char *path, const ds_tensor *t, int fps) {
  int rgb, rc = check_frames(ctx, "mp4_write", t, &rgb, 8192);
  if (rc) return rc;
  if (fps < 1 || fps > 240) return ds_fail(ctx, DS_ERR_ARG, "mp4_write: fps %d outside 1..240", fps);
  const AVCodec *codec = mp4_encoder();
  if (!codec) return ds_fail(ctx, DS_ERR_IO, "mp4_write: this FFmpeg has neither an H.264 nor an MPEG-4 encoder");
  int64_t nf = t->dims[0], h = t->dims[1], w = t->dims[2];
  /* 4:2:0 chroma needs even sizes: pad by repeating the last row / column */
  int W = (int)(w + (w & 1)), H = (int)(h + (h & 1));
  if (W < 16) W = 16; /* encoders refuse tiny frames; the pad repeats the edge */
  if (H < 16) H = 16;
  av_log_set_level(AV_LOG_ERROR); /* x264 reports its settings at INFO level */
  const ds_real *p = ds_host_view(t, 1, "mp4_write");
  if (!p) return DS_ERR_NOMEM;
  AVFormatContext *fmt = NULL;
  AVCodecContext *cc = NULL;
  AVFrame *fr = NULL;
  AVPacket *pkt = NULL;
  struct SwsContext *sws = NULL;
  unsigned char *buf = malloc((size_t)W * (size_t)H * 3);
  int r, opened = 0;
  if (!buf) {
    rc = ds_fail(ctx, DS_ERR_NOMEM, "mp4_write: out of memory");
    goto done;
  }
  r = avformat_alloc_output_context2(&fmt, NULL, "mp4", path);
  if (r < 0 || !fmt) {
    rc = av_fail(ctx, "cannot set up", path, r);
    goto done;
  }
  AVStream *st = avformat_new_stream(fmt, NULL);
  cc = avcodec_alloc_context3(codec);
  fr = av_frame_alloc();
  pkt = av_packet_alloc();
  if (!st || !cc || !fr || !pkt) {
    rc = ds_fail(ctx, DS_ERR_NOMEM, "mp4_write: out of memory");
    goto done;
  }
  cc->width = W;
  cc->height = H;
  cc->time_base = (AVRational){1, fps};
  cc->framerate = (AVRational){fps, 1};
  cc->pix_fmt = AV_PIX_FMT_YUV420P;
  cc->gop_size = 2 * fps;
  cc->thread_count = 1; /* one thread: byte-identical files run to run, and no oversubscription */
  cc->color_range = AVCOL_RANGE_MPEG;
  cc->colorspace = AVCOL_SPC_SMPTE170M; /* what swscale's default RGB -> YUV matrix is */
  if (fmt->oformat->flags & AVFMT_GLOBALHEADER) cc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (!strcmp(codec->name, "libx264")) {
    av_opt_set(cc->priv_data, "preset", "medium", 0);
    av_opt_set(cc->priv_data, "crf", "18", 0); /* visually lossless for flat simulation colours */
  } else {
    cc->flags |= AV_CODEC_FLAG_QSCALE;
    cc->global_quality = FF_QP2LAMBDA * 3;
  }
  r = avcodec_open2(cc, codec, NULL);
  if (r < 0) {
    rc = av_fail(ctx, "cannot open the encoder for", path, r);
    goto done;
  }
  r = avcodec_parameters_from_context(st->codecpar, cc);
  st->time_base = cc->time_base;
  if (r >= 0) r = avio_open(&fmt->pb, path, AVIO_FLAG_WRITE);
  if (r < 0) {
    rc = av_fail(ctx, "cannot write", path, r);
    goto done;
  }
  opened = 1;
  r = avformat_write_header(fmt, NULL);
  if (r < 0) {
    rc = av_fail(ctx, "cannot write the header of", path, r);
    goto done;
  }
  fr->format = cc->pix_fmt;
  fr->width = W;
  fr->height = H;
  r = av_frame_get_buffer(fr, 0);
  sws = sws_getContext(W, H, AV_PIX_FMT_RGB24, W, H, AV_PIX_FMT_YUV420P, SWS_BICUBIC, NULL, NULL, NULL);
  if (r < 0 || !sws) {
    rc = ds_fail(ctx, DS_ERR_NOMEM, "mp4_write: out of memory");
    goto done;
  }
  int c = rgb ? 3 : 1;
  for (int64_t k = 0; k < nf; k++) {
    const ds_real *q = p + k * h * w * c;
    for (int y = 0; y < H; y++) {
      int64_t sy = y < h ? y : h - 1;
      for (int x = 0; x < W; x++) {
        int64_t sx = x < w ? x : w - 1;
        const ds_real *s = q + (sy * w + sx) * c;
        unsigned char *d = buf + ((size_t)y * W + x) * 3;
        d[0] = ds_to_byte(s[0]);
        d[1] = ds_to_byte(s[c > 1 ? 1 : 0]);
        d[2] = ds_to_byte(s[c > 1 ? 2 : 0]);
      }
    }
    r = av_frame_make_writable(fr);
    if (r < 0) break;
    const uint8_t *src[1] = {buf};
    int stride[1] = {3 * W};
    sws_scale(sws, src, stride, 0, H, fr->data, fr->linesize);
    fr->pts = k;
    r = encode(cc, fr, pkt, fmt, st);
    if (r < 0) break;
  }
  if (r >= 0) r = encode(cc, NULL, pkt, fmt, st);
  if (r >= 0) r = av_write_trailer(fmt);
  if (r < 0) rc = av_fail(ctx, "error encoding", path, r);
done:
  if (opened) avio_closep(&fmt->pb);
  sws_freeContext(sws);
  av_packet_free(&pkt);
  av_frame_free(&fr);
  avcodec_free_context(&cc);
  avformat_free_context(fmt);
  free(buf);
  ds_host_done(t, (void *)p);
  return rc;
}
