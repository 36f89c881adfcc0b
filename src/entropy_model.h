/* The autoregressive Global Reference entropy model over y_hat
 * (docs/MODEL.md §2–4), shared by encoder and decoder so both compute the
 * same probabilities by construction.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GRIC_ENTROPY_MODEL_H
#define GRIC_ENTROPY_MODEL_H

#include "model.h"
#include "parallel.h"
#include "rans.h"
#include "reference.h"

typedef struct GricLatentCoder {
    const GricModel *model;
    int h, w;
    GricRefSearch ref;
    GricPool *pool;      /* NULL: single-threaded */
    float *y_hat;        /* HWC (h, w, M) as floats, the convs' input */
    float *hyper;        /* HWC (h, w, 2M): h_s(z_hat) */
    float *ctx_rows;     /* decoder: (w, 2M) context partial sums from the two rows above */
    /* Work slots, one per position of a latent row (the decoder uses slot 0 only): */
    float *features;     /* [ctx, ref, hyper], 6M per slot */
    float *hidden[3][2]; /* stack activations, H per slot */
    float *params[3];    /* stack outputs, 3M per slot */
    int *site_y, *site_x, *iota, *zeros;  /* conv site coordinates, w each */
    int *row_ref, *row_sim;               /* encoder: each slot's reference and similarity */
    float *slot_buf;
    int *slot_ints;
    double *u;           /* U per position */
    size_t cap_y_hat, cap_hyper, cap_ctx_rows, cap_u, cap_slot_buf, cap_slot_ints;
    double bits;         /* model's estimate for the last frame */
    int ref_index, sim_k;  /* reference of the position being coded (-1: none) */
    /* Optional: called for every coded value in both directions (tests
     * compare the mixtures with PyTorch's, and the encoder's with the
     * decoder's). */
    void (*observe)(void *user, const struct GricLatentCoder *lc, int t, int c,
                    const GricMixture *mix);
    void *observe_user;
} GricLatentCoder;

int gric_latent_coder_init(GricLatentCoder *lc, const GricModel *m);
void gric_latent_coder_free(GricLatentCoder *lc);
/* Threads for the per-position work (1 = none); results do not depend on it. */
void gric_latent_coder_set_threads(GricLatentCoder *lc, int threads);
/* Start a frame of h x w positions; buffers grow as needed and are reused. 0 or -1.
   A second reset at the same h x w keeps lc->hyper, so a frame coded twice (the
   encoder's refinement prices it once before the real pass) needs h_s only once. */
int gric_latent_coder_reset(GricLatentCoder *lc, int h, int w);
/* hyper: h_s(z_hat), HWC (h, w, 2M), computed by the caller into lc->hyper. */

/* Encode y_hat (HWC int32, h*w*M values) into enc.  GRIC_OK or GRIC_ERR_NOMEM. */
GricStatus gric_latents_encode(GricLatentCoder *lc, const int32_t *y_hat, GricRansEncoder *enc);
/* Same, one position at a time, choosing each value: y_hat holds round(y)
 * and gets the coded values.  y: the gained latents (HWC float); slope: the
 * price of a unit of squared error in y, in nats (MODEL.md §1,
 * "Rate-distortion optimised quantisation"). */
GricStatus gric_latents_encode_rdo(GricLatentCoder *lc, const float *y, int32_t *y_hat,
                                   double slope, GricRansEncoder *enc);
/* Decode y_hat (HWC int32) from dec, and y_rec (HWC float), what the
 * synthesis gets (gric_mixture_reconstruct with shift: the model's, or 0 for
 * refined frames).  GRIC_OK or GRIC_ERR_CORRUPT. */
GricStatus gric_latents_decode(GricLatentCoder *lc, GricRansDecoder *dec, double shift,
                               int32_t *y_hat, float *y_rec);

/* z_hat (CHW, N x hz x wz) with the per-channel tables. */
GricStatus gric_z_encode(const GricModel *m, const int32_t *z_hat, int hz, int wz,
                         GricRansEncoder *enc, double *bits);
GricStatus gric_z_decode(const GricModel *m, GricRansDecoder *dec, int hz, int wz, int32_t *z_hat);

/* z_hat = round(h_a(y)): y HWC float (h, w, M) -> z_hat CHW (N, h/4, w/4).  0 or -1 (memory). */
int gric_hyper_analysis(const GricModel *m, const float *y, int h, int w, int32_t *z_hat);
/* h_s(z_hat) into lc->hyper (bit-exact kernels).  z_hat CHW int32.  0 or -1 (memory). */
int gric_hyper_synthesis(GricLatentCoder *lc, const int32_t *z_hat, int hz, int wz);

#endif
