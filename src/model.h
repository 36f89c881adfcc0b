/* The loaded model: every layer of docs/MODEL.md §1, ready to run.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GRIC_MODEL_H
#define GRIC_MODEL_H

#include "mixture.h"
#include "nn.h"
#include "weights.h"

#define GRIC_Y_LIMIT 1023   /* |y_hat|, |z_hat| bound (MODEL.md §1) */
#define GRIC_PAD 64         /* images are padded to this multiple */

struct GricModel {
    const uint8_t *buf;     /* the weight file bytes */
    size_t size;
    int mapped;             /* buf came from mmap and is ours to unmap */
    GricContainer file;
    int N, M, H, K;
    GricTransform g_a, g_s;                 /* BLAS path */
    GricExactConv h_a[3], h_s[3];           /* h_a is encoder-only but cheap enough here */
    GricExactConv context, reference;
    GricExactConv stack[3][3];              /* [local, ref, hyper][layer] */
    const float *gain, *inv_gain;           /* (K, M) */
    const float *scale_a, *scale_s;         /* (K, 3, N): the transforms' rate scales */
    const float *lambdas;                   /* (K): each rate point's training trade-off */
    GricTables tables;
    const int32_t *z_cdf, *z_len, *z_offset;
    int z_cdf_width;
    double recon_shift;                     /* MODEL.md §1, Reconstruction; 0 in older files */
    float **owned;                          /* converted float arrays, freed on close */
    int n_owned;
};

/* What a quality selects (MODEL.md §1, "Variable rate"): the latent gains, and g_a / g_s
   with the model's layers and that quality's rate scales. */
typedef struct {
    float *gain, *inv_gain;     /* M */
    float *scale;               /* [g_a, g_s][layer 0..2][N] */
    float lambda;               /* the trade-off: loss = lambda * 255^2 * MSE + bpp */
    GricTransform g_a, g_s;
} GricRate;

/* 0, or -1 if memory ran out (r is then safe to free). */
int gric_rate_init(GricRate *r, const GricModel *m);
void gric_rate_set(GricRate *r, const GricModel *m, int quality);
/* Safe on a zeroed or failed-init struct. */
void gric_rate_free(GricRate *r);

#endif
