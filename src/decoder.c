/* Decoder: frame validation, z and y decoding, synthesis.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "bitstream.h"
#include "buffer.h"
#include "codec.h"
#include "entropy_model.h"
#include "error.h"

struct GricDecoder {
    const GricModel *model;
    int threads;
    uint64_t max_pixels;   /* 0: no limit */
    GricLatentCoder lc;
    int32_t *y_hat, *z_hat;
    float *y_rec;        /* HWC, the reconstructed latents */
    float *y_scaled;     /* CHW, y_rec * inv_gain */
    size_t cap_y_hat, cap_z_hat, cap_y_rec, cap_y_scaled;
    GricRate rate;
};

GricDecoder *gric_decoder_new(const GricModel *model, GricError *err)
{
    if (!model)
        return gric_fail(err, GRIC_ERR_INVALID_ARG, "no model"), NULL;
    GricDecoder *d = calloc(1, sizeof(*d));
    if (!d || gric_latent_coder_init(&d->lc, model)) {
        free(d);
        return gric_fail(err, GRIC_ERR_NOMEM, "out of memory creating a decoder"), NULL;
    }
    d->model = model;
    d->threads = 1;
    if (gric_rate_init(&d->rate, model)) {
        gric_decoder_free(d);
        return gric_fail(err, GRIC_ERR_NOMEM, "out of memory creating a decoder"), NULL;
    }
    return d;
}

void gric_decoder_free(GricDecoder *d)
{
    if (!d)
        return;
    gric_latent_coder_free(&d->lc);
    free(d->y_hat);
    free(d->y_rec);
    free(d->z_hat);
    free(d->y_scaled);
    gric_rate_free(&d->rate);
    free(d);
}

void gric_decoder_set_max_pixels(GricDecoder *d, uint64_t max_pixels)
{
    d->max_pixels = max_pixels;
}

void gric_decoder_set_threads(GricDecoder *d, int threads)
{
    d->threads = gric_resolve_threads(threads);
    gric_latent_coder_set_threads(&d->lc, d->threads);
}

/* Slice the payload into its rANS streams and decode z then y. */
static GricStatus decode_latents(GricDecoder *d, const uint8_t *payload, const GricFrameHeader *hdr,
                                 const GricGeometry *g, GricError *err)
{
    GricRansDecoder rz, ry;
    if (gric_rans_dec_init(&rz, payload, hdr->z_len) ||
        gric_rans_dec_init(&ry, payload + hdr->z_len, hdr->y_len))
        return gric_fail(err, GRIC_ERR_CORRUPT, "gric frame payload is too short");
    if (gric_z_decode(d->model, &rz, g->hz, g->wz, d->z_hat) || !gric_rans_dec_finished(&rz))
        return gric_fail(err, GRIC_ERR_CORRUPT, "gric frame: hyperprior data is corrupt");
    if (gric_hyper_synthesis(&d->lc, d->z_hat, g->hz, g->wz))
        return gric_fail(err, GRIC_ERR_NOMEM, "out of memory decoding");
    double shift = hdr->flags & GRIC_FLAG_UNSHIFTED ? 0 : d->model->recon_shift;
    if (gric_latents_decode(&d->lc, &ry, shift, d->y_hat, d->y_rec) || !gric_rans_dec_finished(&ry))
        return gric_fail(err, GRIC_ERR_CORRUPT, "gric frame: latent data is corrupt");
    return GRIC_OK;
}

GricStatus gric_decode(GricDecoder *d, const uint8_t *data, size_t size, uint8_t *rgb,
                       size_t stride, GricError *err)
{
    if (!d || !data || !rgb)
        return gric_fail(err, GRIC_ERR_INVALID_ARG, "invalid arguments to gric_decode");
    GricFrameHeader hdr;
    GricStatus st = gric_frame_parse_header(data, size, &hdr, err);
    if (st)
        return st;
    if (stride < 3 * (size_t)hdr.info.width)
        return gric_fail(err, GRIC_ERR_INVALID_ARG, "output stride too small for width %u",
                         hdr.info.width);
    if (hdr.info.model_id != gric_model_id(d->model))
        return gric_fail(err, GRIC_ERR_MODEL_MISMATCH,
                         "frame was encoded with model %016llx, this decoder has %016llx",
                         (unsigned long long)hdr.info.model_id,
                         (unsigned long long)gric_model_id(d->model));
    if ((st = gric_frame_check_payload(data, size, &hdr, err)))
        return st;
    uint64_t pixels = (uint64_t)hdr.info.width * hdr.info.height;
    if (d->max_pixels && pixels > d->max_pixels)
        return gric_fail(err, GRIC_ERR_TOO_LARGE, "frame of %ux%u exceeds the limit of %llu pixels",
                         hdr.info.width, hdr.info.height, (unsigned long long)d->max_pixels);
    const GricModel *m = d->model;
    GricGeometry g;
    gric_geometry(hdr.info.width, hdr.info.height, &g);
    size_t n = (size_t)g.h * g.w, M = (size_t)m->M;
    if (gric_reserve((void **)&d->y_hat, &d->cap_y_hat, n * M * sizeof(int32_t)) ||
        gric_reserve((void **)&d->z_hat, &d->cap_z_hat, (size_t)g.hz * g.wz * m->N * sizeof(int32_t)) ||
        gric_reserve((void **)&d->y_rec, &d->cap_y_rec, n * M * sizeof(float)) ||
        gric_reserve((void **)&d->y_scaled, &d->cap_y_scaled, n * M * sizeof(float)) ||
        gric_latent_coder_reset(&d->lc, g.h, g.w))
        return gric_fail(err, GRIC_ERR_NOMEM, "out of memory decoding %ux%u", hdr.info.width,
                         hdr.info.height);
    if ((st = decode_latents(d, data + GRIC_HEADER_SIZE, &hdr, &g, err)))
        return st;
    gric_rate_set(&d->rate, m, (int)hdr.info.quality);
    for (size_t c = 0; c < M; c++)
        for (size_t p = 0; p < n; p++)
            d->y_scaled[c * n + p] = d->y_rec[p * M + c] * d->rate.inv_gain[c];
    if (gric_synthesis(&d->rate.g_s, d->y_scaled, g.h, g.w, rgb, stride, (int)hdr.info.width,
                       (int)hdr.info.height, d->threads))
        return gric_fail(err, GRIC_ERR_NOMEM, "out of memory in the synthesis transform");
    return GRIC_OK;
}
