/* Probability model of the coding path (docs/MODEL.md §4): table-driven
 * EXP and PHI, the three-component Gaussian mixture of y, the tables of z
 * and the escape code, all bit-exact (no libm).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GRIC_MIXTURE_H
#define GRIC_MIXTURE_H

#include <stdint.h>

#include "rans.h"

/* tab.exp (2561 entries) and tab.phi (8193 entries), Q40. */
typedef struct {
    const int64_t *exp_tab;
    const int64_t *phi_tab;
} GricTables;

double gric_exp(const GricTables *t, double x);   /* EXP of MODEL.md */
double gric_phi(const GricTables *t, double x);   /* PHI of MODEL.md */
/* A component's sigma: EXP of the clamped log sigma (MODEL.md §4). */
double gric_mixture_sigma(const GricTables *t, float log_sigma);
/* Likelihood of integer v under N(mu, sigma) (P1 of MODEL.md, no clamp). */
double gric_gaussian_likelihood(const GricTables *t, int v, double mu, double sigma);

/* One channel's mixture at one position, ready to code y values. */
typedef struct {
    double w[3], mu[3], sigma[3];
    int lo, hi;        /* symbol range; other values are escaped */
    double f_lo, d;    /* F(lo - 0.5) and D = F(hi + 0.5) - F(lo - 0.5) */
    int uniform;       /* D <= 1e-12: equal frequencies over [lo, hi] */
} GricMixture;

/* pi/mu/log_sigma: the three components' raw stack outputs for the channel;
 * conf = S * U_ref (0 without reference). */
void gric_mixture_init(GricMixture *m, const GricTables *t, const float pi[3], const float mu[3],
                       const float log_sigma[3], double conf);
/* Cumulative count C(v), v in [lo, hi + 1]. */
uint32_t gric_mixture_cum(const GricMixture *m, const GricTables *t, int v);
/* v in [-1023, 1023].  0, or -1 when out of memory. */
int gric_mixture_encode(const GricMixture *m, const GricTables *t, GricRansEncoder *e, int v);
/* 0, or -1 when the stream holds no valid value. */
int gric_mixture_decode(const GricMixture *m, const GricTables *t, GricRansDecoder *d, int *v);
/* What the decoder synthesises for a decoded v: v moved `shift` of the way to
 * the mean of y within [v - 1/2, v + 1/2] under the mixture (v itself where
 * the bin holds under 1e-6 of the mass).  Bit-exact like the rest. */
double gric_mixture_reconstruct(const GricMixture *m, const GricTables *t, int v, double shift);
/* Exact cost of coding v, in bits, escape included (uses libm). */
double gric_mixture_bits(const GricMixture *m, const GricTables *t, int v);

/* z: cdf has len + 1 entries (cdf[0] = 0, cdf[len] = 65536); symbol i < len - 1
 * is the value offset + i, symbol len - 1 the escape.  Encoding trusts the
 * table; decoding rejects (-1) any symbol the table does not define. */
int gric_table_encode(const int32_t *cdf, int len, int offset, GricRansEncoder *e, int v);
int gric_table_decode(const int32_t *cdf, int len, int offset, GricRansDecoder *d, int *v);
double gric_table_bits(const int32_t *cdf, int len, int offset, int v);

#endif
