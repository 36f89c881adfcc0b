/* Parity of the C library with the PyTorch reference: every stage of the
 * model on the exported test vectors (data/parity.bin), by NMSE, and the
 * reference search exactly.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "entropy_model.h"
#include "test_util.h"

typedef struct {
    const GricContainer *vec;
    const float *weights, *mu, *sigma;
    int M, h, w;
    double err_w, err_mu, err_sigma, ref_w, ref_mu, ref_sigma;
    int ref_mismatch, sim_mismatch, positions;
    const int32_t *ref_index;
    const float *similarity;
    const int32_t *y_hat;       /* HWC */
    const GricTables *tables;
    double ideal_bits;          /* -log2 of the mixture probability, as PyTorch counts */
    double recon_shift;
    float *y_rec;               /* CHW, the decoder's reconstruction of y_hat */
} MixtureCheck;

/* (1, 3, M, h, w) layout of the reference tensors */
static size_t at(const MixtureCheck *mc, int k, int c, int t)
{
    return ((size_t)k * mc->M + c) * mc->h * mc->w + t;
}

static void observe(void *user, const GricLatentCoder *lc, int t, int c, const GricMixture *mix)
{
    MixtureCheck *mc = user;
    for (int k = 0; k < 3; k++) {
        size_t i = at(mc, k, c, t);
        double dw = mix->w[k] - mc->weights[i], dm = mix->mu[k] - mc->mu[i];
        double ds = mix->sigma[k] - mc->sigma[i];
        mc->err_w += dw * dw;
        mc->err_mu += dm * dm;
        mc->err_sigma += ds * ds;
        mc->ref_w += (double)mc->weights[i] * mc->weights[i];
        mc->ref_mu += (double)mc->mu[i] * mc->mu[i];
        mc->ref_sigma += (double)mc->sigma[i] * mc->sigma[i];
    }
    double p = 0;
    for (int k = 0; k < 3; k++)
        p += mix->w[k] * gric_gaussian_likelihood(mc->tables, mc->y_hat[(size_t)t * mc->M + c],
                                                   mix->mu[k], mix->sigma[k]);
    mc->ideal_bits -= log2(p > 1e-9 ? p : 1e-9);
    mc->y_rec[(size_t)c * mc->h * mc->w + t] = (float)gric_mixture_reconstruct(
        mix, mc->tables, mc->y_hat[(size_t)t * mc->M + c], mc->recon_shift);
    if (c == 0) {
        mc->positions++;
        mc->ref_mismatch += lc->ref_index != mc->ref_index[t];
        mc->sim_mismatch += fabs(lc->sim_k / 256.0 - mc->similarity[t]) > 1e-9;
    }
}

int main(void)
{
    TestFile vec;
    const GricTensor *image;
    GricModel *m = test_open_model(&vec, &image);
    uint64_t id = (uint64_t)gric_container_meta(&vec.c, "model_id_lo", 0) |
                  (uint64_t)gric_container_meta(&vec.c, "model_id_hi", 0) << 32;
    CHECK(id == gric_model_id(m), "parity vectors are for another model: re-run export.py");
    int quality = (int)gric_container_meta(&vec.c, "quality", -1);
    uint32_t H = image->dims[0], W = image->dims[1];
    GricGeometry g;
    gric_geometry(W, H, &g);
    int M = m->M;
    size_t n = (size_t)g.h * g.w;

    /* analysis transform and gain */
    float *y = malloc(n * M * sizeof(float)), *y_hwc = malloc(n * M * sizeof(float));
    GricRate rate;
    CHECK(y && y_hwc && !gric_rate_init(&rate, m), "out of memory");
    gric_rate_set(&rate, m, quality);
    CHECK(gric_analysis(&rate.g_a, image->data, 3 * (size_t)W, (int)W, (int)H, g.padded_w,
                        g.padded_h, y, 2) == 0, "analysis failed");
    for (int c = 0; c < M; c++)
        for (size_t p = 0; p < n; p++) {
            y[c * n + p] *= rate.gain[c];
            y_hwc[p * M + c] = y[c * n + p];
        }
    double e = nmse(y, test_tensor_f32(&vec, "y", n * M), n * M);
    printf("y NMSE %.3g\n", e);
    CHECK(e < 1e-6, "analysis transform differs from the reference");

    /* hyper analysis: z_hat equal except on rounding ties of float noise */
    size_t nz = (size_t)g.hz * g.wz * m->N;
    int32_t *z_hat = malloc(nz * sizeof(int32_t));
    CHECK(z_hat && gric_hyper_analysis(m, y_hwc, g.h, g.w, z_hat) == 0, "hyper analysis failed");
    const float *z_ref = test_tensor_f32(&vec, "z_hat", nz);
    size_t z_diff = 0;
    for (size_t i = 0; i < nz; i++)
        z_diff += z_hat[i] != (int32_t)z_ref[i];
    printf("z_hat mismatches %zu of %zu\n", z_diff, nz);
    CHECK(z_diff * 100 <= nz, "hyper analysis differs from the reference");

    /* hyper synthesis from the reference z_hat */
    for (size_t i = 0; i < nz; i++)
        z_hat[i] = (int32_t)z_ref[i];
    GricLatentCoder lc;
    CHECK(gric_latent_coder_init(&lc, m) == 0 && gric_latent_coder_reset(&lc, g.h, g.w) == 0,
          "latent coder");
    CHECK(gric_hyper_synthesis(&lc, z_hat, g.hz, g.wz) == 0, "hyper synthesis failed");
    const float *hyper_ref = test_tensor_f32(&vec, "hyper", n * 2 * M);
    float *hyper_chw = malloc(n * 2 * M * sizeof(float));
    CHECK(hyper_chw, "out of memory");
    for (size_t p = 0; p < n; p++)
        for (int c = 0; c < 2 * M; c++)
            hyper_chw[c * n + p] = lc.hyper[p * 2 * M + c];
    e = nmse(hyper_chw, hyper_ref, n * 2 * M);
    printf("hyper NMSE %.3g\n", e);
    CHECK(e < 1e-6, "hyper synthesis differs from the reference");

    /* entropy model on the reference y_hat: search exact, mixture by NMSE */
    const float *y_hat_ref = test_tensor_f32(&vec, "y_hat", n * M);
    int32_t *y_hat = malloc(n * M * sizeof(int32_t));
    CHECK(y_hat, "out of memory");
    for (int c = 0; c < M; c++)
        for (size_t p = 0; p < n; p++)
            y_hat[p * M + c] = (int32_t)y_hat_ref[c * n + p];
    MixtureCheck mc = {&vec.c, test_tensor_f32(&vec, "weights", 3 * n * M),
                       test_tensor_f32(&vec, "mu", 3 * n * M), test_tensor_f32(&vec, "sigma", 3 * n * M),
                       M, g.h, g.w, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                       (const int32_t *)gric_container_find(&vec.c, "ref_index")->data,
                       test_tensor_f32(&vec, "similarity", n), y_hat, &m->tables, 0,
                       m->recon_shift, malloc(n * M * sizeof(float))};
    CHECK(mc.y_rec, "out of memory");
    lc.observe = observe;
    lc.observe_user = &mc;
    GricRansEncoder enc;
    gric_rans_enc_init(&enc);
    CHECK(gric_latents_encode(&lc, y_hat, &enc) == GRIC_OK, "latent encoding failed");
    printf("positions %d, reference mismatches %d, similarity mismatches %d\n", mc.positions,
           mc.ref_mismatch, mc.sim_mismatch);
    printf("mixture NMSE: weights %.3g mu %.3g sigma %.3g\n", mc.err_w / mc.ref_w,
           mc.err_mu / mc.ref_mu, mc.err_sigma / mc.ref_sigma);
    CHECK(mc.ref_mismatch == 0 && mc.sim_mismatch == 0, "reference search differs");
    CHECK(mc.err_w / mc.ref_w < 1e-5 && mc.err_mu / mc.ref_mu < 1e-6 &&
          mc.err_sigma / mc.ref_sigma < 1e-6, "mixture parameters differ");

    /* rate: the same probabilities as PyTorch (tables vs erf), z through
     * its quantised tables; the coded size differs where PyTorch's 1e-9
     * floor meets escape coding, so it is reported, not compared */
    double z_bits = 0;
    GricRansEncoder zenc;
    gric_rans_enc_init(&zenc);
    CHECK(gric_z_encode(m, z_hat, g.hz, g.wz, &zenc, &z_bits) == GRIC_OK, "z encoding failed");
    double bits = z_bits + mc.ideal_bits, ref_bits = test_tensor_f32(&vec, "bits", 1)[0];
    printf("bits: C %.1f (z %.1f, coded y %.1f), reference %.1f (%.3f%%)\n", bits, z_bits,
           lc.bits, ref_bits, 100 * (bits - ref_bits) / ref_bits);
    CHECK(fabs(bits - ref_bits) < 0.005 * ref_bits + 16, "rate estimate differs");
    /* z's tables must hold all but a negligible tail: escapes cost bits */
    double z_ref_bits = test_tensor_f32(&vec, "z_bits", 1)[0];
    printf("z bits: C %.1f, reference %.1f\n", z_bits, z_ref_bits);
    CHECK(fabs(z_bits - z_ref_bits) < 0.01 * z_ref_bits + 8, "z tables cost more than the density");

    /* the decoder's reconstruction of y_hat (table PHI and EXP against erf) */
    e = nmse(mc.y_rec, test_tensor_f32(&vec, "y_rec", n * M), n * M);
    printf("reconstruction NMSE %.3g (shift %.3f)\n", e, m->recon_shift);
    CHECK(e < 1e-9, "reconstruction differs from the reference");

    /* synthesis of the reconstruction */
    for (int c = 0; c < M; c++)
        for (size_t p = 0; p < n; p++)
            y[c * n + p] = mc.y_rec[c * n + p] * rate.inv_gain[c];
    uint8_t *rgb = malloc((size_t)W * H * 3);
    CHECK(rgb && gric_synthesis(&rate.g_s, y, g.h, g.w, rgb, 3 * (size_t)W, (int)W, (int)H, 2) == 0,
          "synthesis failed");
    const float *x_hat = test_tensor_f32(&vec, "x_hat", (size_t)3 * W * H);
    int worst = 0;
    for (uint32_t c = 0; c < 3; c++)
        for (size_t p = 0; p < (size_t)W * H; p++) {
            int ref = (int)floor(255.0 * x_hat[c * W * H + p] + 0.5);
            int d = abs(ref - rgb[p * 3 + c]);
            worst = d > worst ? d : worst;
        }
    printf("synthesis: worst pixel difference %d\n", worst);
    CHECK(worst <= 1, "synthesis transform differs from the reference");

    gric_rans_enc_free(&enc);
    gric_rans_enc_free(&zenc);
    gric_latent_coder_free(&lc);
    free(y);
    free(y_hwc);
    gric_rate_free(&rate);
    free(z_hat);
    free(hyper_chw);
    free(y_hat);
    free(mc.y_rec);
    free(rgb);
    test_file_close(&vec);
    gric_model_close(m);
    printf("parity OK\n");
    return 0;
}
