/* Global reference search (docs/MODEL.md §3), exact integer arithmetic.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GRIC_REFERENCE_H
#define GRIC_REFERENCE_H

#include <stdint.h>

#define GRIC_SEARCH_ROWS 64   /* candidates lie at most this many rows above */
#define GRIC_SIM_STEPS 256    /* similarity quantisation */

/* Decoded latents are kept on a grid padded with one zero row on top and
 * one zero column on each side, so every causal neighbour has an index.
 * The pixel Gram products G(p, q) = <y_p, y_q> are cached for the most
 * recent padded pixels only (a ring), which is all the search needs. */
typedef struct {
    int h, w, m;          /* latent grid and channels */
    int pw;               /* padded width, w + 2 */
    int ring_rows;        /* Gram rows kept */
    int span;             /* q-distance each Gram row covers */
    int16_t *y;           /* padded latents, (h + 1) * pw * m */
    int32_t *gram;        /* ring_rows * span */
    int32_t *zero_row;    /* Gram row of a padding pixel */
    int64_t *norm;        /* |n_t|^2 per position */
    size_t cap_y, cap_gram, cap_norm;  /* allocation sizes, reused frame to frame */
} GricRefSearch;

/* Prepare for a new frame of h x w positions with m channels; reuses memory. 0 or -1. */
int gric_ref_reset(GricRefSearch *r, int h, int w, int m);
void gric_ref_free(GricRefSearch *r);
/* Best reference for position t (all positions < t recorded): returns its
 * position or -1, and the similarity numerator k (S = k / 256). */
int gric_ref_search(GricRefSearch *r, int t, int *sim_k);
/* Record the decoded latents of position t (m values, |v| <= 1023), then
 * fill its Gram row: columns [j0, j1) of gric_ref_gram_width (callers may
 * split the columns between threads). */
void gric_ref_store(GricRefSearch *r, int t, const int32_t *values);
int gric_ref_gram_width(const GricRefSearch *r);
void gric_ref_gram(GricRefSearch *r, int t, int j0, int j1);

#endif
