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
    GricTables tables;
    const int32_t *z_cdf, *z_len, *z_offset;
    int z_cdf_width;
    double recon_shift;                     /* MODEL.md §1, Reconstruction; 0 in older files */
    float **owned;                          /* converted float arrays, freed on close */
    int n_owned;
};

/* Interpolated per-channel gains for a quality (MODEL.md §1, "Variable rate"). */
void gric_model_gains(const GricModel *m, int quality, float *gain, float *inv_gain);

#endif
