/* The encoder computes the entropy model a latent row at a time, the decoder
 * one position at a time: they must still give every coded value the same
 * mixture, bit for bit, at any size and thread count.  Compares the two
 * directions' mixtures (all fields) on photo latents, and the decoded y_hat.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
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

/* Latents and hyper of a w x h photo at `quality`, through the real transforms. */
static void latents(const GricModel *m, const GricTensor *photo, uint32_t w, uint32_t h, int quality,
                    GricGeometry *g, int32_t **y_hat, int32_t **z_hat)
{
    gric_geometry(w, h, g);
    size_t n = (size_t)g->h * g->w, M = (size_t)m->M;
    uint8_t *rgb = test_photo_image(photo, w, h);
    float *y = malloc(n * M * sizeof(float)), *y_hwc = malloc(n * M * sizeof(float));
    float *gain = malloc(M * sizeof(float)), *inv_gain = malloc(M * sizeof(float));
    *y_hat = malloc(n * M * sizeof(int32_t));
    *z_hat = malloc((size_t)g->hz * g->wz * m->N * sizeof(int32_t));
    CHECK(y && y_hwc && gain && inv_gain && *y_hat && *z_hat, "out of memory");
    CHECK(gric_analysis(&m->g_a, rgb, 3 * (size_t)w, (int)w, (int)h, g->padded_w, g->padded_h, y, 1) == 0,
          "analysis");
    gric_model_gains(m, quality, gain, inv_gain);
    for (size_t c = 0; c < M; c++)
        for (size_t p = 0; p < n; p++) {
            y_hwc[p * M + c] = y[c * n + p] * gain[c];
            (*y_hat)[p * M + c] = gric_quantise(y_hwc[p * M + c]);
        }
    CHECK(gric_hyper_analysis(m, y_hwc, g->h, g->w, *z_hat) == 0, "hyper analysis");
    free(rgb);
    free(y);
    free(y_hwc);
    free(gain);
    free(inv_gain);
}

static void check(const GricModel *m, const GricTensor *photo, uint32_t w, uint32_t h, int quality,
                  int threads)
{
    GricGeometry g;
    int32_t *y_hat, *z_hat;
    latents(m, photo, w, h, quality, &g, &y_hat, &z_hat);
    size_t T = (size_t)g.h * g.w, M = (size_t)m->M;
    Record r = {malloc(T * M * sizeof(GricMixture)), malloc(T * sizeof(int)), (int)M, 0, 0, 0};
    int32_t *decoded = malloc(T * M * sizeof(int32_t));
    CHECK(r.mix && r.ref && decoded, "out of memory");

    GricLatentCoder lc;
    CHECK(gric_latent_coder_init(&lc, m) == 0, "latent coder");
    gric_latent_coder_set_threads(&lc, threads);
    lc.observe = observe;
    lc.observe_user = &r;
    CHECK(gric_latent_coder_reset(&lc, g.h, g.w) == 0 && gric_hyper_synthesis(&lc, z_hat, g.hz, g.wz) == 0,
          "hyper synthesis");
    GricRansEncoder enc;
    gric_rans_enc_init(&enc);
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
    GricStatus st = gric_latents_decode(&lc, &dec, decoded);
    printf("%4ux%-4u latents %2dx%-2d q%-3d %d thread(s): %zu bytes, %d of %zu mixtures differ, "
           "%d references differ\n", w, h, g.w, g.h, quality, threads, len, r.differ, T * M,
           r.ref_differ);
    EXPECT(st == GRIC_OK && gric_rans_dec_finished(&dec), "decoding failed");
    EXPECT(r.differ == 0 && r.ref_differ == 0, "encoder and decoder disagree");
    EXPECT(!memcmp(decoded, y_hat, T * M * sizeof(int32_t)), "decoded y_hat differs");

    gric_latent_coder_free(&lc);
    gric_rans_enc_free(&enc);
    free(stream);
    free(r.mix);
    free(r.ref);
    free(decoded);
    free(y_hat);
    free(z_hat);
}

int main(void)
{
    GricError err = {0};
    GricModel *m = gric_model_open(getenv("GRIC_MODEL"), &err);
    CHECK(m, "model: %s", err.message);
    TestFile vec;
    CHECK(test_file_open(&vec, getenv("GRIC_PARITY")) == 0, "cannot read parity vectors");
    const GricTensor *photo = gric_container_find(&vec.c, "image");
    CHECK(photo && photo->dtype == GRIC_DT_U8 && photo->ndim == 3 && photo->dims[2] == 3,
          "parity vectors lack the image");
    /* the narrowest grid (4 wide), rows of a few groups of sites and of many, 1-3 threads */
    check(m, photo, 16, 40, 50, 1);
    check(m, photo, 70, 64, 0, 1);
    check(m, photo, 330, 200, 80, 1);
    check(m, photo, 330, 200, 80, 2);
    check(m, photo, 600, 90, 100, 3);
    test_file_close(&vec);
    gric_model_close(m);
    if (test_failures)
        return 1;
    printf("directions OK\n");
    return 0;
}
