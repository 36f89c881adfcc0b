/* Bit-exact probability model (docs/MODEL.md §4).  Every floating-point
 * operation here follows the order MODEL.md gives; the file must be compiled
 * with -ffp-contract=off and must not call libm (except in the *_bits
 * estimates, which are outside the coding path).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>

#include "mixture.h"

#define ESCAPE_START (GRIC_RANS_TOTAL - 1)   /* the escape symbol: frequency 1 */
#define Y_LIMIT 1023
#define MAX_ESCAPE_NB 11
#define LOG_SIGMA_MIN (-2.2072749f)           /* log(0.11) */
#define LOG_SIGMA_MAX 6.0f
#define WEIGHT_MIN 1e-6                       /* lighter components do not widen the range */
#define D_MIN 1e-12

/* Linear interpolation in a Q40 table at position u >= 0; last is the index
 * of the last interval. */
static inline double interpolate(const int64_t *tab, double u, int last)
{
    int i = (int)u;
    if (i > last)
        i = last;
    double f = u - i;
    return ((double)tab[i] + (double)(tab[i + 1] - tab[i]) * f) * 0x1p-40;
}

/* The comparisons are written so that a NaN takes the lower branch instead
 * of reaching the (undefined) conversion to int. */
static inline double table_exp(const GricTables *t, double x)
{
    x = x > -32.0 ? (x < 8.0 ? x : 8.0) : -32.0;
    return interpolate(t->exp_tab, (x + 32.0) * 64.0, 2559);
}

static inline double table_phi(const GricTables *t, double x)
{
    if (!(x > -8.0))
        return 0.0;
    if (x >= 8.0)
        return 1.0;
    return interpolate(t->phi_tab, (x + 8.0) * 512.0, 8191);
}

double gric_exp(const GricTables *t, double x) { return table_exp(t, x); }
double gric_phi(const GricTables *t, double x) { return table_phi(t, x); }

double gric_mixture_sigma(const GricTables *t, float log_sigma)
{
    float ls = log_sigma;
    ls = ls > LOG_SIGMA_MIN ? (ls < LOG_SIGMA_MAX ? ls : LOG_SIGMA_MAX) : LOG_SIGMA_MIN;
    return table_exp(t, (double)ls);
}

double gric_gaussian_likelihood(const GricTables *t, int v, double mu, double sigma)
{
    return table_phi(t, (v + 0.5 - mu) / sigma) - table_phi(t, (v - 0.5 - mu) / sigma);
}

/* The standard normal density, EXP(-x^2 / 2) / sqrt(2 pi); 0 past |x| = 8,
 * where EXP's table ends and PHI is flat. */
static inline double table_density(const GricTables *t, double x)
{
    if (!(x > -8.0 && x < 8.0))
        return 0.0;
    return table_exp(t, -0.5 * (x * x)) * 0.3989422804014327;
}

/* Components at least this wide take the first-order bin mean: the exact
 * one subtracts two nearly equal terms, and the tables' error would swamp it. */
#define RECON_WIDE_SIGMA 3.0

double gric_mixture_reconstruct(const GricMixture *m, const GricTables *t, int v, double shift)
{
    double mass = 0.0, moment = 0.0;   /* sum of w p, and of w p (mean - v) */
    for (int k = 0; k < 3; k++) {
        if (m->w[k] == 0.0)
            continue;
        double d = m->mu[k] - v, s = m->sigma[k];
        double a = (-0.5 - d) / s, b = (0.5 - d) / s;
        double p = table_phi(t, b) - table_phi(t, a);
        mass += m->w[k] * p;
        if (s < RECON_WIDE_SIGMA)
            moment += m->w[k] * (d * p + s * (table_density(t, a) - table_density(t, b)));
        else
            moment += m->w[k] * (p * (d / (12.0 * (s * s))));
    }
    if (!(mass > 1e-6))
        return v;
    double offset = moment / mass;
    offset = offset > -0.5 ? (offset < 0.5 ? offset : 0.5) : -0.5;
    return v + shift * offset;
}

/* floor and ceil clamped to [-Y_LIMIT, Y_LIMIT]; clamping first is the same
 * as clamping after since the bounds are integers, and keeps the int
 * conversion defined. */
static int floor_clamped(double x)
{
    if (!(x > -Y_LIMIT))
        return -Y_LIMIT;
    if (x >= Y_LIMIT)
        return Y_LIMIT;
    int i = (int)x;   /* truncates toward zero */
    return i > x ? i - 1 : i;
}

static int ceil_clamped(double x)
{
    if (!(x > -Y_LIMIT))
        return -Y_LIMIT;
    if (x >= Y_LIMIT)
        return Y_LIMIT;
    int i = (int)x;
    return i < x ? i + 1 : i;
}

/* F(b).  Skipping zero weights is exact: the term would add +0. */
static inline double mixture_cdf(const GricMixture *m, const GricTables *t, double b)
{
    double f = 0.0;
    for (int k = 0; k < 3; k++)
        if (m->w[k] != 0.0)
            f += m->w[k] * table_phi(t, (b - m->mu[k]) / m->sigma[k]);
    return f;
}

void gric_mixture_init(GricMixture *m, const GricTables *t, const float pi[3], const float mu[3],
                       const float log_sigma[3], double conf)
{
    /* the reference component counts for the maximum only when it can carry
     * weight, so the largest surviving e_k is EXP(0) and the sum never underflows */
    float pmax = pi[0] > pi[2] ? pi[0] : pi[2];
    if (conf > 0 && pi[1] > pmax)
        pmax = pi[1];
    double e[3];
    for (int k = 0; k < 3; k++) {
        m->sigma[k] = gric_mixture_sigma(t, log_sigma[k]);
        m->mu[k] = (double)mu[k];
        e[k] = table_exp(t, (double)(float)(pi[k] - pmax));
    }
    e[1] = e[1] * conf;
    double sum = e[0] + e[1] + e[2];
    if (sum > 0.0) {
        for (int k = 0; k < 3; k++)
            m->w[k] = e[k] / sum;
    } else {
        /* only reachable with non-finite parameters (a broken model) */
        m->w[0] = m->w[2] = 0.5;
        m->w[1] = 0.0;
    }

    m->lo = Y_LIMIT;
    m->hi = -Y_LIMIT;
    for (int k = 0; k < 3; k++) {
        if (m->w[k] > WEIGHT_MIN) {
            int lo = floor_clamped(m->mu[k] - 8.0 * m->sigma[k]);
            int hi = ceil_clamped(m->mu[k] + 8.0 * m->sigma[k]);
            if (lo < m->lo)
                m->lo = lo;
            if (hi > m->hi)
                m->hi = hi;
        }
    }
    m->f_lo = mixture_cdf(m, t, m->lo - 0.5);
    m->d = mixture_cdf(m, t, m->hi + 0.5) - m->f_lo;
    m->uniform = !(m->d > D_MIN);   /* also catches a NaN from non-finite mu */
}

static inline uint32_t cum(const GricMixture *m, const GricTables *t, int v)
{
    const uint32_t top = GRIC_RANS_TOTAL - 1;   /* T - E */
    uint32_t n = (uint32_t)(m->hi - m->lo + 1);
    if (v <= m->lo)
        return 0;
    if (v > m->hi)
        return top;
    if (m->uniform)
        return (uint32_t)(v - m->lo) * top / n;
    double r = (mixture_cdf(m, t, v - 0.5) - m->f_lo) / m->d * (double)(top - n);
    return (uint32_t)(int)r + (uint32_t)(v - m->lo);
}

uint32_t gric_mixture_cum(const GricMixture *m, const GricTables *t, int v)
{
    return cum(m, t, v);
}

/* Escape value of v outside [lo, hi] (hi may be lo - 1): side bit, then
 * Exp-Golomb order 0 of u = d + 1 (nb zeros, then the nb + 1 bits of u),
 * all bypass bits. */
static uint32_t escape_code(int lo, int hi, int v, int *nb)
{
    uint32_t u = (uint32_t)(v > hi ? v - hi - 1 : lo - 1 - v) + 1;
    int n = 0;
    while (u >> (n + 1))
        n++;
    *nb = n;
    return u;
}

static int escape_encode(GricRansEncoder *e, int lo, int hi, int v)
{
    int side = v > hi, nb;
    uint32_t u = escape_code(lo, hi, v, &nb);
    if (gric_rans_enc_put_bit(e, side))
        return -1;
    for (int i = 0; i < nb; i++)
        if (gric_rans_enc_put_bit(e, 0))
            return -1;
    for (int i = nb; i >= 0; i--)
        if (gric_rans_enc_put_bit(e, (u >> i) & 1))
            return -1;
    return 0;
}

static int escape_decode(GricRansDecoder *d, int lo, int hi, int *v)
{
    int side = gric_rans_dec_get_bit(d);
    int nb = 0;
    while (!gric_rans_dec_get_bit(d))
        if (++nb > MAX_ESCAPE_NB)
            return -1;
    int u = 1;
    for (int i = 0; i < nb; i++)
        u = u << 1 | gric_rans_dec_get_bit(d);
    int value = side ? hi + u : lo - u;   /* hi + 1 + (u - 1), lo - 1 - (u - 1) */
    if (value < -Y_LIMIT || value > Y_LIMIT)
        return -1;
    *v = value;
    return 0;
}

static double escape_bits(int lo, int hi, int v)
{
    int nb;
    escape_code(lo, hi, v, &nb);
    return 1 + 2 * nb + 1;
}

static double symbol_bits(uint32_t freq)
{
    return GRIC_RANS_PREC_BITS - log2((double)freq);
}

int gric_mixture_encode(const GricMixture *m, const GricTables *t, GricRansEncoder *e, int v)
{
    if (v < m->lo || v > m->hi) {
        if (gric_rans_enc_put(e, ESCAPE_START, 1))
            return -1;
        return escape_encode(e, m->lo, m->hi, v);
    }
    uint32_t c0 = cum(m, t, v), c1 = cum(m, t, v + 1);
    return gric_rans_enc_put(e, c0, c1 - c0);
}

int gric_mixture_decode(const GricMixture *m, const GricTables *t, GricRansDecoder *d, int *v)
{
    uint32_t s = gric_rans_dec_peek(d);
    if (s >= ESCAPE_START) {
        gric_rans_dec_advance(d, ESCAPE_START, 1);
        return escape_decode(d, m->lo, m->hi, v);
    }
    /* Invariant C(a) <= s < C(b); C is strictly increasing. */
    int a = m->lo, b = m->hi + 1;
    uint32_t ca = 0, cb = ESCAPE_START;
    while (b - a > 1) {
        int mid = a + (b - a) / 2;
        uint32_t c = cum(m, t, mid);
        if (c <= s) {
            a = mid;
            ca = c;
        } else {
            b = mid;
            cb = c;
        }
    }
    gric_rans_dec_advance(d, ca, cb - ca);
    *v = a;
    return 0;
}

double gric_mixture_bits(const GricMixture *m, const GricTables *t, int v)
{
    if (v < m->lo || v > m->hi)
        return symbol_bits(1) + escape_bits(m->lo, m->hi, v);
    return symbol_bits(cum(m, t, v + 1) - cum(m, t, v));
}

int gric_table_encode(const int32_t *cdf, int len, int offset, GricRansEncoder *e, int v)
{
    int hi = offset + len - 2;
    if (v < offset || v > hi) {
        if (gric_rans_enc_put(e, (uint32_t)cdf[len - 1], GRIC_RANS_TOTAL - (uint32_t)cdf[len - 1]))
            return -1;
        return escape_encode(e, offset, hi, v);
    }
    int i = v - offset;
    return gric_rans_enc_put(e, (uint32_t)cdf[i], (uint32_t)(cdf[i + 1] - cdf[i]));
}

int gric_table_decode(const int32_t *cdf, int len, int offset, GricRansDecoder *d, int *v)
{
    if (len < 1 || cdf[0] != 0 || cdf[len] != (int32_t)GRIC_RANS_TOTAL)
        return -1;
    /* Invariant cdf[a] <= s < cdf[b] holds whatever the table's order, so
     * the search always ends on a symbol of non-zero frequency. */
    int32_t s = (int32_t)gric_rans_dec_peek(d);
    int a = 0, b = len;
    while (b - a > 1) {
        int mid = a + (b - a) / 2;
        if (cdf[mid] <= s)
            a = mid;
        else
            b = mid;
    }
    if (cdf[a] < 0 || cdf[b] > (int32_t)GRIC_RANS_TOTAL)
        return -1;
    gric_rans_dec_advance(d, (uint32_t)cdf[a], (uint32_t)(cdf[b] - cdf[a]));
    if (a == len - 1)
        return escape_decode(d, offset, offset + len - 2, v);
    *v = offset + a;
    return 0;
}

double gric_table_bits(const int32_t *cdf, int len, int offset, int v)
{
    int hi = offset + len - 2;
    if (v < offset || v > hi)
        return symbol_bits(GRIC_RANS_TOTAL - (uint32_t)cdf[len - 1]) + escape_bits(offset, hi, v);
    return symbol_bits((uint32_t)(cdf[v - offset + 1] - cdf[v - offset]));
}
