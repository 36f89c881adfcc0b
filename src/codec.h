/* Pieces shared by the encoder and the decoder.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GRIC_CODEC_H
#define GRIC_CODEC_H

#include "model.h"

/* Latent grid of an image: padded to GRIC_PAD, y is 1/16 and z 1/64 of it. */
typedef struct {
    int padded_w, padded_h;
    int h, w;      /* y grid */
    int hz, wz;    /* z grid */
} GricGeometry;

void gric_geometry(uint32_t width, uint32_t height, GricGeometry *g);
/* 0 = one thread per online core. */
int gric_resolve_threads(int threads);

/* y, z -> y_hat, z_hat: round half to even, clamp to +-GRIC_Y_LIMIT (no libm). */
int32_t gric_quantise(float x);

#endif
