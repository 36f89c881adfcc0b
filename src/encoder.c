/* Encoder: analysis, hyperprior, autoregressive latent coding, framing.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "bitstream.h"
#include "buffer.h"
#include "codec.h"
#include "entropy_model.h"
#include "error.h"
#include "refine.h"

struct GricEncoder {
    const GricModel *model;
    int threads;
    unsigned rdo_slope;  /* 0: plain rounding */
    unsigned refine;     /* latent refinement steps at quality 100 */
    GricLatentCoder lc;
    GricRansEncoder rans_z, rans_y;
    float *y;            /* CHW analysis output, then scaled by the gain */
    float *y_hwc;        /* same, HWC, h_a's input */
    int32_t *y_hat;      /* HWC */
    int32_t *z_hat;      /* CHW */
    float *mix;          /* refinement: each value's mixture at round(y) (GricRefineRate) */
    size_t cap_y, cap_y_hwc, cap_y_hat, cap_z_hat, cap_mix;
    GricRate rate;
    double bits;
};

GricEncoder *gric_encoder_new(const GricModel *model, GricError *err)
{
    if (!model)
        return gric_fail(err, GRIC_ERR_INVALID_ARG, "no model"), NULL;
    GricEncoder *e = calloc(1, sizeof(*e));
    if (!e || gric_latent_coder_init(&e->lc, model)) {
        free(e);
        return gric_fail(err, GRIC_ERR_NOMEM, "out of memory creating an encoder"), NULL;
    }
    e->model = model;
    e->threads = 1;
    e->rdo_slope = GRIC_RDO_SLOPE_DEFAULT;
    e->refine = GRIC_REFINE_DEFAULT;
    if (gric_rate_init(&e->rate, model)) {
        gric_encoder_free(e);
        return gric_fail(err, GRIC_ERR_NOMEM, "out of memory creating an encoder"), NULL;
    }
    gric_rans_enc_init(&e->rans_z);
    gric_rans_enc_init(&e->rans_y);
    return e;
}

void gric_encoder_free(GricEncoder *e)
{
    if (!e)
        return;
    gric_latent_coder_free(&e->lc);
    gric_rans_enc_free(&e->rans_z);
    gric_rans_enc_free(&e->rans_y);
    free(e->y);
    free(e->y_hwc);
    free(e->y_hat);
    free(e->z_hat);
    free(e->mix);
    gric_rate_free(&e->rate);
    free(e);
}

void gric_encoder_set_threads(GricEncoder *e, int threads)
{
    e->threads = gric_resolve_threads(threads);
    gric_latent_coder_set_threads(&e->lc, e->threads);
}

void gric_encoder_set_rdo_slope(GricEncoder *e, unsigned slope)
{
    e->rdo_slope = slope;
}

void gric_encoder_set_refine(GricEncoder *e, unsigned steps)
{
    e->refine = steps < GRIC_REFINE_MAX ? steps : GRIC_REFINE_MAX;
}

double gric_encoder_estimated_bits(const GricEncoder *e)
{
    return e->bits;
}

/* Keeps each coded value's mixture for the refinement's rate term. */
static void keep_mixture(void *user, const GricLatentCoder *lc, int t, int c, const GricMixture *mix)
{
    float *dst = (float *)user + ((size_t)t * lc->model->M + c) * GRIC_REFINE_MIX;
    for (int k = 0; k < 3; k++) {
        dst[k] = (float)mix->w[k];
        dst[3 + k] = (float)mix->mu[k];
        dst[6 + k] = (float)mix->sigma[k];
    }
}

/* Latent refinement of e->y_hwc: the entropy model codes round(y) once into a scratch
   stream to give every value its mixture, then the steps run; the latent coder is left
   reset for the real pass, with h_s(z_hat) in place. */
static GricStatus refine(GricEncoder *e, const uint8_t *rgb, size_t stride, uint32_t width,
                         uint32_t height, const GricGeometry *g, int steps, float step_size)
{
    const size_t values = (size_t)g->h * g->w * e->model->M;
    if (gric_reserve((void **)&e->mix, &e->cap_mix, values * GRIC_REFINE_MIX * sizeof(float)))
        return GRIC_ERR_NOMEM;
    for (size_t i = 0; i < values; i++)
        e->y_hat[i] = gric_quantise(e->y_hwc[i]);
    GricRansEncoder scratch;
    gric_rans_enc_init(&scratch);
    e->lc.observe = keep_mixture;
    e->lc.observe_user = e->mix;
    GricStatus st = gric_latents_encode(&e->lc, e->y_hat, &scratch);
    e->lc.observe = NULL;
    e->lc.observe_user = NULL;
    gric_rans_enc_free(&scratch);
    const GricRefineRate rate = {e->mix, e->rate.lambda};
    if (st == GRIC_OK &&
        gric_refine_latents(&e->rate.g_s, e->rate.inv_gain, rgb, stride, (int)width, (int)height,
                            e->y_hwc, g->h, g->w, steps, step_size, &rate, e->threads))
        st = GRIC_ERR_NOMEM;
    if (st == GRIC_OK && gric_latent_coder_reset(&e->lc, g->h, g->w))
        st = GRIC_ERR_NOMEM;
    return st;
}

/* Refinement steps at a quality for S (e->refine) at q100: none below
   GRIC_REFINE_MIN_QUALITY; fewer lower down, where more of them did worse, but at least
   2/5 of S: from q25 to q52 the measured optimum (MODEL.md §1). */
static int refine_steps(unsigned S, int quality)
{
    if (quality < GRIC_REFINE_MIN_QUALITY)
        return 0;
    return ((int)S * (quality > 52 ? quality - 20 : 32) + 40) / 80;
}

/* Adam's step in quantisation bins: small low down, where bits are dear, and larger
   at the top, where the curve is flat and PSNR is worth them (MODEL.md §1). */
static float refine_step_size(int quality)
{
    if (quality <= 30)
        return 0.01f;
    if (quality <= 60)
        return 0.01f + (float)(quality - 30) * (0.01f / 30);
    return 0.02f + (float)(quality - 60) * 0.0015f;
}

GricStatus gric_encode(GricEncoder *e, const uint8_t *rgb, uint32_t width, uint32_t height,
                       size_t stride, int quality, uint8_t **out, size_t *out_size, GricError *err)
{
    if (!e || !rgb || !out || !out_size || !width || !height || stride < 3 * (size_t)width ||
        quality < 0 || quality > 100)
        return gric_fail(err, GRIC_ERR_INVALID_ARG, "invalid arguments to gric_encode");
    if (width > GRIC_MAX_DIMENSION || height > GRIC_MAX_DIMENSION)
        return gric_fail(err, GRIC_ERR_TOO_LARGE, "image %ux%u is larger than %d", width, height,
                         GRIC_MAX_DIMENSION);
    const GricModel *m = e->model;
    GricGeometry g;
    gric_geometry(width, height, &g);
    e->rans_z.n = e->rans_y.n = 0; /* drop symbols a failed frame left behind */
    size_t n = (size_t)g.h * g.w, M = (size_t)m->M, nz = (size_t)g.hz * g.wz;
    if (gric_reserve((void **)&e->y, &e->cap_y, n * M * sizeof(float)) ||
        gric_reserve((void **)&e->y_hwc, &e->cap_y_hwc, n * M * sizeof(float)) ||
        gric_reserve((void **)&e->y_hat, &e->cap_y_hat, n * M * sizeof(int32_t)) ||
        gric_reserve((void **)&e->z_hat, &e->cap_z_hat, nz * m->N * sizeof(int32_t)) ||
        gric_latent_coder_reset(&e->lc, g.h, g.w))
        return gric_fail(err, GRIC_ERR_NOMEM, "out of memory encoding %ux%u", width, height);
    gric_rate_set(&e->rate, m, quality);
    if (gric_analysis(&e->rate.g_a, rgb, stride, (int)width, (int)height, g.padded_w, g.padded_h,
                      e->y, e->threads))
        return gric_fail(err, GRIC_ERR_NOMEM, "out of memory in the analysis transform");
    for (size_t c = 0; c < M; c++)
        for (size_t p = 0; p < n; p++)
            e->y_hwc[p * M + c] = e->y[c * n + p] * e->rate.gain[c];
    /* z comes from the unrefined latents: the refinement's bits are counted under the
       hyperprior that will be coded (MODEL.md §1, "Latent refinement") */
    if (gric_hyper_analysis(m, e->y_hwc, g.h, g.w, e->z_hat) ||
        gric_hyper_synthesis(&e->lc, e->z_hat, g.hz, g.wz))
        return gric_fail(err, GRIC_ERR_NOMEM, "out of memory in the hyperprior");
    const int steps = refine_steps(e->refine, quality), refined = steps > 0;
    GricStatus st = refined ? refine(e, rgb, stride, width, height, &g, steps,
                                     refine_step_size(quality))
                            : GRIC_OK;
    if (st != GRIC_OK)
        return gric_fail(err, st, "out of memory refining the latents");
    for (size_t i = 0; i < n * M; i++)
        e->y_hat[i] = gric_quantise(e->y_hwc[i]);
    double z_bits = 0;
    st = gric_z_encode(m, e->z_hat, g.hz, g.wz, &e->rans_z, &z_bits);
    if (st == GRIC_OK)
        /* refinement priced the bits already; RDO on top would count them twice */
        st = e->rdo_slope > 0 && !refined
                 ? gric_latents_encode_rdo(&e->lc, e->y_hwc, e->y_hat, e->rdo_slope, &e->rans_y)
                 : gric_latents_encode(&e->lc, e->y_hat, &e->rans_y);
    uint8_t *zs = NULL, *ys = NULL;
    size_t z_len = 0, y_len = 0;
    if (st == GRIC_OK && (gric_rans_enc_finish(&e->rans_z, &zs, &z_len) ||
                          gric_rans_enc_finish(&e->rans_y, &ys, &y_len)))
        st = GRIC_ERR_NOMEM;
    if (st != GRIC_OK) {
        free(zs);
        free(ys);
        return gric_fail(err, st, "out of memory encoding %ux%u", width, height);
    }
    e->bits = z_bits + e->lc.bits;
    GricFrameHeader hdr = {{width, height, (uint32_t)quality, gric_model_id(m), 0},
                           (uint32_t)z_len, (uint32_t)y_len, refined ? GRIC_FLAG_UNSHIFTED : 0};
    st = z_len > UINT32_MAX / 2 || y_len > UINT32_MAX / 2
             ? gric_fail(err, GRIC_ERR_TOO_LARGE, "payload too large")
             : gric_frame_write(&hdr, zs, ys, out, out_size, err);
    free(zs);
    free(ys);
    return st;
}

void gric_free(void *ptr)
{
    free(ptr);
}
