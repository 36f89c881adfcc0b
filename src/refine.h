/* Encoder-side latent refinement (docs/MODEL.md §5, "Latent refinement").
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GRIC_REFINE_H
#define GRIC_REFINE_H

#include <stddef.h>
#include <stdint.h>

#include "nn.h"

/* Moves y (HWC, h x w x M, already times the gains) by `iterations` Adam steps down the
   gradient of the squared error between the image and g_s(round(y) * inv_gain), the
   rounding passed straight through: g_a is an approximate inverse of g_s, and at high
   rates its error, not quantisation, is what limits the reconstruction.  Only the
   encoder runs this; any y decodes.  g_s carries the quality's rate scales.  Works in
   tiles of latents with a halo that covers g_s's receptive field, so memory stays
   bounded (about 70 MB per thread) and the gradient is exact.
   Returns 0, or -1 if memory ran out (y is then unchanged or partly refined). */
int gric_refine_latents(const GricTransform *g_s, const float *inv_gain, const uint8_t *rgb,
                        size_t stride, int width, int height, float *y, int h, int w,
                        int iterations, int threads);

#endif
