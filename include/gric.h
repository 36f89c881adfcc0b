/* gric: learned image codec (Global Reference entropy model).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A GricModel is loaded once and shared read-only by any number of encoders
 * and decoders, in any threads; it must outlive them.  Encoders and
 * decoders are not thread-safe themselves: use one per thread.
 */
#ifndef GRIC_H
#define GRIC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GRIC_VERSION_MAJOR 0
#define GRIC_VERSION_MINOR 1
#define GRIC_VERSION_PATCH 0

/* Largest accepted width or height, in pixels. */
#define GRIC_MAX_DIMENSION 16384
/* Bytes of a frame header (see docs/FORMAT.md). */
#define GRIC_HEADER_SIZE 36

typedef enum {
    GRIC_OK = 0,
    GRIC_ERR_NOMEM,          /* allocation failed */
    GRIC_ERR_IO,             /* a file could not be read */
    GRIC_ERR_INVALID_ARG,    /* caller passed an unusable argument */
    GRIC_ERR_BAD_MODEL,      /* weight file missing, damaged or inconsistent */
    GRIC_ERR_NOT_GRIC,       /* data does not start with a gric frame */
    GRIC_ERR_TRUNCATED,      /* data ends before the frame does */
    GRIC_ERR_CORRUPT,        /* checksum or payload inconsistent */
    GRIC_ERR_MODEL_MISMATCH, /* frame was made with another model */
    GRIC_ERR_UNSUPPORTED,    /* version or colour format not supported */
    GRIC_ERR_TOO_LARGE       /* dimensions beyond GRIC_MAX_DIMENSION */
} GricStatus;

/* Filled by every call that can fail: a status and a readable message. */
typedef struct {
    GricStatus status;
    char message[256];
} GricError;

typedef struct GricModel GricModel;
typedef struct GricEncoder GricEncoder;
typedef struct GricDecoder GricDecoder;

typedef struct {
    uint32_t width, height;
    uint32_t quality;       /* 0..100 */
    uint64_t model_id;
    size_t frame_size;      /* bytes of the whole frame, header included */
} GricFrameInfo;

const char *gric_version_string(void);
const char *gric_status_string(GricStatus status);

/* Path of the installed default weight file (GRIC_MODEL env var overrides). */
const char *gric_default_model_path(void);

/* Load a weight file (memory-mapped).  NULL on failure, err filled. */
GricModel *gric_model_open(const char *path, GricError *err);
/* Same, from a caller-owned buffer that must outlive the model. */
GricModel *gric_model_open_memory(const void *data, size_t size, GricError *err);
void gric_model_close(GricModel *model);
uint64_t gric_model_id(const GricModel *model);

GricEncoder *gric_encoder_new(const GricModel *model, GricError *err);
void gric_encoder_free(GricEncoder *enc);
/* Worker threads for encoding (1 = no extra threads, 0 = one per core). */
void gric_encoder_set_threads(GricEncoder *enc, int threads);
/* Rate-distortion optimised quantisation: the encoder may round a latent to
 * its other integer neighbour where the bits that saves are worth more than
 * the error it adds.  slope is the price of a unit of squared latent error,
 * in nats: GRIC_RDO_SLOPE_DEFAULT unless set, 0 = plain rounding, which
 * encodes about 15% faster (the entropy model then runs a latent row at a
 * time) for about 2% more bits at equal PSNR.  Frames that latent
 * refinement moves (below) are coded without it.  Any slope decodes with
 * every decoder. */
#define GRIC_RDO_SLOPE_DEFAULT 20
void gric_encoder_set_rdo_slope(GricEncoder *enc, unsigned slope);
/* Latent refinement: at qualities from GRIC_REFINE_MIN_QUALITY up the encoder
 * takes gradient steps that move the latents towards fewer bits and a better
 * reconstruction (the analysis transform is only an approximate inverse of
 * the synthesis): `steps` at quality 100 (GRIC_REFINE_DEFAULT unless set, at
 * most GRIC_REFINE_MAX; 0 = off), steps * max(quality - 20, 32) / 80 below,
 * rounded.
 * Each step costs about three synthesis transforms, plus one entropy-model
 * pass per frame.  Refined frames skip RDO (the steps priced the bits
 * already).  Every setting decodes with every decoder. */
#define GRIC_REFINE_DEFAULT 20
#define GRIC_REFINE_MAX 100
#define GRIC_REFINE_MIN_QUALITY 25
void gric_encoder_set_refine(GricEncoder *enc, unsigned steps);
/* Encode one packed RGB8 image (stride bytes per row) into a frame.
 * On success *out holds a malloc'ed frame of *out_size bytes (free with
 * gric_free).  Returns GRIC_OK or an error status. */
GricStatus gric_encode(GricEncoder *enc, const uint8_t *rgb, uint32_t width, uint32_t height,
                       size_t stride, int quality, uint8_t **out, size_t *out_size,
                       GricError *err);
/* Estimated bits of the last encoded frame according to the model. */
double gric_encoder_estimated_bits(const GricEncoder *enc);

GricDecoder *gric_decoder_new(const GricModel *model, GricError *err);
void gric_decoder_free(GricDecoder *dec);
void gric_decoder_set_threads(GricDecoder *dec, int threads);
/* Refuse (GRIC_ERR_TOO_LARGE) frames of more than max_pixels pixels before
 * allocating anything for them; 0 = no limit but GRIC_MAX_DIMENSION.
 * Decoding needs about 25 bytes per pixel, so applications that decode
 * untrusted input should set this (like dav1d's frame_size_limit). */
void gric_decoder_set_max_pixels(GricDecoder *dec, uint64_t max_pixels);
/* Parse and validate a frame header (no decoding).  size may be just
 * GRIC_HEADER_SIZE; frame_size then tells how many bytes the frame needs. */
GricStatus gric_frame_info(const uint8_t *data, size_t size, GricFrameInfo *info,
                           GricError *err);
/* Decode one frame into packed RGB8 (info.width x info.height, stride bytes
 * per row, caller-allocated). */
GricStatus gric_decode(GricDecoder *dec, const uint8_t *data, size_t size, uint8_t *rgb,
                       size_t stride, GricError *err);

void gric_free(void *ptr);

#ifdef __cplusplus
}
#endif
#endif
