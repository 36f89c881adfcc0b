/* Encoder-side latent refinement (docs/MODEL.md §1, "Latent refinement").
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GRIC_REFINE_H
#define GRIC_REFINE_H

#include <stddef.h>
#include <stdint.h>

#include "nn.h"

/* Moves y (HWC, h x w x M, already times the gains) by `iterations` Adam steps of
   `step_size` quantisation bins down the gradient of the squared error between the
   image and g_s(soft_round(y) * inv_gain), the
   rounding relaxed by stochastic Gumbel annealing: g_a is an approximate inverse of g_s,
   and its error, not only quantisation, limits the reconstruction.  Only the
   encoder runs this; any y decodes.  g_s carries the quality's rate scales.  Works in
   tiles of latents with a halo that covers g_s's receptive field, so memory stays
   bounded (about 70 MB per thread) and the gradient is exact.
   With `rate`, the loss is lambda * (squared error) / 3 + bits, the bits of each soft
   value under the mixture the entropy model gave its start round(y).
   Returns 0, or -1 if memory ran out (y is then unchanged or partly refined). */
typedef struct {
    const float *mix;    /* per value, HWC: the mixture's weights, means and sigmas (3 each) */
    float lambda;        /* the quality's trade-off (GricRate.lambda) */
} GricRefineRate;
#define GRIC_REFINE_MIX 9   /* floats per value in GricRefineRate.mix */
int gric_refine_latents(const GricTransform *g_s, const float *inv_gain, const uint8_t *rgb,
                        size_t stride, int width, int height, float *y, int h, int w,
                        int iterations, float step_size, const GricRefineRate *rate,
                        int threads);
/* d/dv of -log2 P, P the mass of a mixture (GRIC_REFINE_MIX floats) on [v - 1/2, v + 1/2];
   0 where P is below 1e-9, the model's floor, as the training loss's clamp. */
float gric_refine_bits_slope(const float *mix, float v);

#endif
