/* The encoder computes the entropy model a latent row at a time, the decoder
 * one position at a time: they must still give every coded value the same
 * mixture, bit for bit, at any size and thread count.  Compares the two
 * directions' mixtures (all fields) on photo latents, and the decoded y_hat.
 * The encoder with rate-distortion optimised quantisation goes one position
 * at a time too, choosing values as it goes: the decoder must follow it, and
 * its choices must save bits.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "entropy_model.h"
#include "test_util.h"

typedef struct {
    GricMixture *mix;   /* encoder's, (T, M) */
    int *ref;           /* encoder's reference per position */
    int M, decoding, differ, ref_differ;
} Record;

/* Field by field, bitwise (memcmp of the whole struct would see its padding). */
static int same_mixture(const GricMixture *a, const GricMixture *b)
{
    return !memcmp(a->w, b->w, sizeof(a->w)) && !memcmp(a->mu, b->mu, sizeof(a->mu)) &&
           !memcmp(a->sigma, b->sigma, sizeof(a->sigma)) && a->lo == b->lo && a->hi == b->hi &&
           !memcmp(&a->f_lo, &b->f_lo, sizeof(double)) && !memcmp(&a->d, &b->d, sizeof(double)) &&
           a->uniform == b->uniform;
}

static void observe(void *user, const GricLatentCoder *lc, int t, int c, const GricMixture *mix)
{
    Record *r = user;
    GricMixture *slot = &r->mix[(size_t)t * r->M + c];
    if (!r->decoding) {
        *slot = *mix;
        if (c == 0)
            r->ref[t] = lc->ref_index;
        return;
    }
    r->differ += !same_mixture(slot, mix);
    if (c == 0)
        r->ref_differ += r->ref[t] != lc->ref_index;
}

/* Gained latents y (HWC), their rounding and z_hat of a w x h photo at
 * `quality`, through the real transforms. */
static void latents(const GricModel *m, const GricTensor *photo, uint32_t w, uint32_t h, int quality,
                    GricGeometry *g, float **y_hwc, int32_t **y_hat, int32_t **z_hat)
{
    gric_geometry(w, h, g);
    size_t n = (size_t)g->h * g->w, M = (size_t)m->M;
    uint8_t *rgb = test_photo_image(photo, w, h);
    float *y = malloc(n * M * sizeof(float));
    *y_hwc = malloc(n * M * sizeof(float));
    GricRate rate;
    *y_hat = malloc(n * M * sizeof(int32_t));
    *z_hat = malloc((size_t)g->hz * g->wz * m->N * sizeof(int32_t));
    CHECK(y && *y_hwc && !gric_rate_init(&rate, m) && *y_hat && *z_hat, "out of memory");
    gric_rate_set(&rate, m, quality);
    CHECK(gric_analysis(&rate.g_a, rgb, 3 * (size_t)w, (int)w, (int)h, g->padded_w, g->padded_h, y,
                        1) == 0, "analysis");
    for (size_t c = 0; c < M; c++)
        for (size_t p = 0; p < n; p++) {
            (*y_hwc)[p * M + c] = y[c * n + p] * rate.gain[c];
            (*y_hat)[p * M + c] = gric_quantise((*y_hwc)[p * M + c]);
        }
    CHECK(gric_hyper_analysis(m, *y_hwc, g->h, g->w, *z_hat) == 0, "hyper analysis");
    free(rgb);
    free(y);
    gric_rate_free(&rate);
}

/* The RDO encoder into enc: y_hat (round(y) on entry) gets its choices.  A
 * plain encode first gives the bits to beat; every change must be to the
 * other neighbour of y. */
static void check_rdo(GricLatentCoder *lc, GricRansEncoder *enc, const float *y, int32_t *y_hat,
                      int T, unsigned slope)
{
    size_t n = (size_t)T * lc->model->M;
    int32_t *rounded = malloc(n * sizeof(int32_t));
    CHECK(rounded, "out of memory");
    memcpy(rounded, y_hat, n * sizeof(int32_t));
    void (*observe)(void *, const GricLatentCoder *, int, int, const GricMixture *) = lc->observe;
    lc->observe = NULL;
    GricRansEncoder plain;
    gric_rans_enc_init(&plain);
    CHECK(gric_latents_encode(lc, y_hat, &plain) == GRIC_OK, "encode");
    double plain_bits = lc->bits;
    gric_rans_enc_free(&plain);
    lc->observe = observe;
    CHECK(gric_latent_coder_reset(lc, lc->h, lc->w) == 0, "reset");   /* keeps lc->hyper */
    CHECK(gric_latents_encode_rdo(lc, y, y_hat, slope, enc) == GRIC_OK, "rdo encode");
    size_t changed = 0, wrong = 0;
    for (size_t i = 0; i < n; i++) {
        changed += y_hat[i] != rounded[i];
        double e = (double)y[i] - y_hat[i];
        wrong += y_hat[i] != rounded[i] && (y_hat[i] - rounded[i] != 1 - 2 * (y[i] < rounded[i]) ||
                                            e < -1 || e > 1);
    }
    printf("rdo slope %u: %zu of %zu values moved, %.1f bits instead of %.1f\n", slope, changed, n,
           lc->bits, plain_bits);
    EXPECT(changed > 0 && wrong == 0, "%zu values moved, %zu not to the other neighbour", changed,
           wrong);
    EXPECT(lc->bits < plain_bits, "rate-distortion optimisation saved no bits");
    free(rounded);
}

/* Encoded with rdo_slope (0: the row-at-a-time encoder), then decoded. */
static void check(const GricModel *m, const GricTensor *photo, uint32_t w, uint32_t h, int quality,
                  int threads, unsigned rdo_slope)
{
    GricGeometry g;
    float *y;
    int32_t *y_hat, *z_hat;
    latents(m, photo, w, h, quality, &g, &y, &y_hat, &z_hat);
    size_t T = (size_t)g.h * g.w, M = (size_t)m->M;
    Record r = {malloc(T * M * sizeof(GricMixture)), malloc(T * sizeof(int)), (int)M, 0, 0, 0};
    int32_t *decoded = malloc(T * M * sizeof(int32_t));
    float *y_rec = malloc(T * M * sizeof(float));
    CHECK(r.mix && r.ref && decoded && y_rec, "out of memory");

    GricLatentCoder lc;
    CHECK(gric_latent_coder_init(&lc, m) == 0, "latent coder");
    gric_latent_coder_set_threads(&lc, threads);
    lc.observe = observe;
    lc.observe_user = &r;
    CHECK(gric_latent_coder_reset(&lc, g.h, g.w) == 0 && gric_hyper_synthesis(&lc, z_hat, g.hz, g.wz) == 0,
          "hyper synthesis");
    GricRansEncoder enc;
    gric_rans_enc_init(&enc);
    if (rdo_slope)
        check_rdo(&lc, &enc, y, y_hat, g.h * g.w, rdo_slope);
    else
        CHECK(gric_latents_encode(&lc, y_hat, &enc) == GRIC_OK, "encode");
    uint8_t *stream;
    size_t len;
    CHECK(gric_rans_enc_finish(&enc, &stream, &len) == 0, "rans finish");

    /* the same coder object decodes: buffers carried over from encoding must not leak in */
    r.decoding = 1;
    gric_latent_coder_set_threads(&lc, 1);
    CHECK(gric_latent_coder_reset(&lc, g.h, g.w) == 0 && gric_hyper_synthesis(&lc, z_hat, g.hz, g.wz) == 0,
          "hyper synthesis");
    GricRansDecoder dec;
    CHECK(gric_rans_dec_init(&dec, stream, len) == 0, "rans init");
    GricStatus st = gric_latents_decode(&lc, &dec, m->recon_shift, decoded, y_rec);
    printf("%4ux%-4u latents %2dx%-2d q%-3d %d thread(s) rdo %-2u: %zu bytes, %d of %zu mixtures "
           "differ, %d references differ\n", w, h, g.w, g.h, quality, threads, rdo_slope, len,
           r.differ, T * M, r.ref_differ);
    EXPECT(st == GRIC_OK && gric_rans_dec_finished(&dec), "decoding failed");
    EXPECT(r.differ == 0 && r.ref_differ == 0, "encoder and decoder disagree");
    EXPECT(!memcmp(decoded, y_hat, T * M * sizeof(int32_t)), "decoded y_hat differs");
    /* what the synthesis gets: each value moved towards its bin's mean under
     * the mixture both directions agree on */
    size_t moved = 0, wrong_rec = 0;
    for (size_t i = 0; i < T * M; i++) {
        float want = (float)gric_mixture_reconstruct(&r.mix[i], &m->tables, y_hat[i], m->recon_shift);
        wrong_rec += memcmp(&want, &y_rec[i], sizeof(float)) != 0 ||
                     fabsf(y_rec[i] - (float)y_hat[i]) > 0.5f * (float)m->recon_shift;
        moved += y_rec[i] != (float)y_hat[i];
    }
    EXPECT(wrong_rec == 0, "%zu reconstructed latents differ", wrong_rec);
    EXPECT(m->recon_shift == 0 || moved * 2 > T * M, "only %zu of %zu latents reconstructed off y_hat",
           moved, T * M);

    gric_latent_coder_free(&lc);
    gric_rans_enc_free(&enc);
    free(stream);
    free(r.mix);
    free(r.ref);
    free(decoded);
    free(y_rec);
    free(y);
    free(y_hat);
    free(z_hat);
}

/* Squared error of the coded values' reconstructions against y. */
typedef struct {
    const float *y;
    const int32_t *v;
    int M;
    double error;
} ReconError;

static void add_recon_error(void *user, const GricLatentCoder *lc, int t, int c, const GricMixture *mix)
{
    ReconError *r = user;
    size_t i = (size_t)t * r->M + c;
    double e = r->y[i] - gric_mixture_reconstruct(mix, &lc->model->tables, r->v[i],
                                                  lc->model->recon_shift);
    r->error += e * e;
}

/* A larger slope prices error higher: the error of what the decoder will
 * synthesise shrinks and the bits grow.  (With reconstructions off y_hat,
 * a large slope also moves values: to the neighbour reconstructed nearer y.) */
static void check_rdo_slopes(const GricModel *m, const GricTensor *photo)
{
    GricGeometry g;
    float *y;
    int32_t *rounded, *z_hat;
    latents(m, photo, 330, 200, 60, &g, &y, &rounded, &z_hat);
    size_t n = (size_t)g.h * g.w * m->M;
    int32_t *v = malloc(n * sizeof(int32_t));
    CHECK(v, "out of memory");
    GricLatentCoder lc;
    CHECK(gric_latent_coder_init(&lc, m) == 0, "latent coder");
    const unsigned slopes[] = {5, 20, 200};
    double error[3], bits[3];
    for (int i = 0; i < 3; i++) {
        memcpy(v, rounded, n * sizeof(int32_t));
        CHECK(gric_latent_coder_reset(&lc, g.h, g.w) == 0 &&
              gric_hyper_synthesis(&lc, z_hat, g.hz, g.wz) == 0, "hyper synthesis");
        ReconError r = {y, v, m->M, 0};
        lc.observe = add_recon_error;
        lc.observe_user = &r;
        GricRansEncoder enc;
        gric_rans_enc_init(&enc);
        CHECK(gric_latents_encode_rdo(&lc, y, v, slopes[i], &enc) == GRIC_OK, "rdo encode");
        gric_rans_enc_free(&enc);
        size_t moved = 0;
        for (size_t j = 0; j < n; j++)
            moved += v[j] != rounded[j];
        error[i] = r.error;
        bits[i] = lc.bits;
        printf("rdo slope %3u: %zu values moved, squared error %.1f, %.1f bits\n", slopes[i],
               moved, error[i], bits[i]);
    }
    EXPECT(error[0] > error[1] && error[1] > error[2], "error does not fall with the slope");
    EXPECT(bits[0] < bits[1] && bits[1] < bits[2], "bits do not grow with the slope");
    gric_latent_coder_free(&lc);
    free(v);
    free(y);
    free(rounded);
    free(z_hat);
}

int main(void)
{
    TestFile vec;
    const GricTensor *photo;
    GricModel *m = test_open_model(&vec, &photo);
    /* the narrowest grid (4 wide), rows of a few groups of sites and of many, 1-3 threads */
    check(m, photo, 16, 40, 50, 1, 0);
    check(m, photo, 70, 64, 0, 1, 0);
    check(m, photo, 330, 200, 80, 1, 0);
    check(m, photo, 330, 200, 80, 2, 0);
    check(m, photo, 600, 90, 100, 3, 0);
    check(m, photo, 70, 64, 30, 1, GRIC_RDO_SLOPE_DEFAULT);
    check(m, photo, 330, 200, 90, 2, 5);
    check_rdo_slopes(m, photo);
    test_file_close(&vec);
    gric_model_close(m);
    if (test_failures)
        return 1;
    printf("directions OK\n");
    return 0;
}
