/* Mixture and z-table coding: EXP/PHI accuracy, the properties of C(v),
 * the decoder's reconstruction,
 * exact round trips with escapes, bit estimates, and garbage decoding.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mixture.h"
#include "test_util.h"

#define EXP_LEN 2561
#define PHI_LEN 8193

static double uniform(double a, double b) { return a + (b - a) * (test_rand() / 4294967296.0); }

static double gauss(void)
{
    double u = (test_rand() + 1.0) / 4294967297.0, v = test_rand() / 4294967296.0;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* As tools/train/weightfile.py integer_tables(); llrint rounds half to even
 * like Python's round (exact ties do occur, e.g. tab.exp[2403]). */
static int64_t exp_tab[EXP_LEN], phi_tab[PHI_LEN];
static const GricTables tables = {exp_tab, phi_tab};

static void build_tables(void)
{
    for (int i = 0; i < EXP_LEN; i++)
        exp_tab[i] = llrint(exp(-32 + i / 64.0) * 0x1p40);
    for (int i = 0; i < PHI_LEN; i++)
        phi_tab[i] = llrint(0.5 * erfc((8 - i / 512.0) / sqrt(2)) * 0x1p40);
}

/* Linear interpolation on a grid of step h is off by at most h^2/8 times the
 * second derivative: exp (h = 1/64) 3.05e-5 relative; Phi (h = 1/512, |Phi''|
 * <= 0.242) 1.16e-7 absolute.  Rounding the Q40 entries adds 2^-41. */
static void test_exp_phi(void)
{
    double max_rel = 0, max_abs = 0;
    for (int i = 0; i < 400000; i++) {
        double x = uniform(-32, 8);
        double got = gric_exp(&tables, x), want = exp(x);
        double err = fabs(got - want);
        if (x > -10 && err / want > max_rel)   /* where the Q40 rounding is negligible */
            max_rel = err / want;
        EXPECT(err <= 3.06e-5 * want + 0x1p-40, "EXP(%.17g) = %.17g, exp = %.17g", x, got, want);
        x = uniform(-9, 9);
        got = gric_phi(&tables, x);
        want = 0.5 * erfc(-x / sqrt(2));
        err = fabs(got - want);
        if (err > max_abs)
            max_abs = err;
        EXPECT(err <= 1.17e-7, "PHI(%.17g) = %.17g, Phi = %.17g", x, got, want);
    }
    for (int i = 0; i < EXP_LEN; i++) {
        double x = -32 + i / 64.0;
        double err = fabs(gric_exp(&tables, x) - exp(x));
        EXPECT(err <= 0x1p-41 * 1.01 || err <= 1e-15 * exp(x), "EXP at knot %d off by %g", i, err);
    }
    for (int i = 0; i < PHI_LEN; i++) {
        double x = -8 + i / 512.0, want = 0.5 * erfc(-x / sqrt(2));
        double err = fabs(gric_phi(&tables, x) - (i == PHI_LEN - 1 ? 1.0 : i ? want : 0.0));
        EXPECT(err <= 0x1p-41 * 1.01, "PHI at knot %d off by %g", i, err);
    }
    EXPECT(gric_exp(&tables, -100) == gric_exp(&tables, -32) && gric_exp(&tables, 100) ==
          gric_exp(&tables, 8) && gric_exp(&tables, 0) == 1.0, "EXP clamping");
    EXPECT(gric_phi(&tables, -8) == 0 && gric_phi(&tables, 8) == 1 && gric_phi(&tables, 0) == 0.5,
          "PHI ends");
    EXPECT(gric_phi(&tables, NAN) == 0 && gric_exp(&tables, NAN) == gric_exp(&tables, -32),
          "NaN handling");
    double p = gric_gaussian_likelihood(&tables, 3, 2.7, 1.3);
    double want = 0.5 * (erfc(-(3.5 - 2.7) / 1.3 / sqrt(2)) - erfc(-(2.5 - 2.7) / 1.3 / sqrt(2)));
    EXPECT(fabs(p - want) < 3e-7, "gaussian likelihood %.10g, want %.10g", p, want);
    printf("EXP: max relative error %.3g (x > -10); PHI: max absolute error %.3g\n", max_rel,
           max_abs);
}

typedef struct {
    float pi[3], mu[3], ls[3];
    double conf;
} Params;

/* Mostly realistic parameters, with extremes mixed in. */
static void random_params(Params *p, int extreme)
{
    for (int k = 0; k < 3; k++) {
        p->pi[k] = extreme && test_rand() % 4 == 0 ? (float)uniform(-1e4, 1e4) : (float)uniform(-40, 10);
        p->mu[k] = extreme ? (float)uniform(-1200, 1200) : (float)(gauss() * 4);
        p->ls[k] = extreme ? (float)uniform(-4, 8) : (float)uniform(-2.3, 2.5);
    }
    if (extreme && test_rand() % 3 == 0)
        p->mu[test_rand() % 3] = (test_rand() & 1) ? 1023.4f : -1023.4f;
    int c = test_rand() % 4;
    p->conf = c == 0 ? 0.0 : c == 1 ? 1.0 : uniform(0, 1);
}

static void init(GricMixture *m, const Params *p)
{
    gric_mixture_init(m, &tables, p->pi, p->mu, p->ls, p->conf);
}

static void test_cum(void)
{
    static const float extremes[] = {-2.2072749f, 6.0f, -50.0f, 50.0f};   /* 0.11, 403 */
    int uniform = 0;
    for (int trial = 0; trial < 6000; trial++) {
        Params p;
        random_params(&p, trial % 2);
        if (trial % 5 == 0)
            for (int k = 0; k < 3; k++)
                p.ls[k] = extremes[test_rand() % 4];
        GricMixture m;
        init(&m, &p);
        EXPECT(m.lo >= -1023 && m.hi <= 1023 && m.lo <= m.hi, "range [%d, %d]", m.lo, m.hi);
        EXPECT(fabs(m.w[0] + m.w[1] + m.w[2] - 1) < 1e-12, "weights sum to %.17g",
              m.w[0] + m.w[1] + m.w[2]);
        for (int k = 0; k < 3; k++)
            EXPECT(m.sigma[k] >= 0.11 * (1 - 3e-5) && m.sigma[k] <= 403.43 * (1 + 3e-5),
                  "sigma %g", m.sigma[k]);
        uniform += m.uniform;
        EXPECT(gric_mixture_cum(&m, &tables, m.lo) == 0, "C(lo) != 0");
        EXPECT(gric_mixture_cum(&m, &tables, m.hi + 1) == 65535, "C(hi+1) != 65535");
        uint32_t prev = 0;
        for (int v = m.lo + 1; v <= m.hi + 1; v++) {
            uint32_t c = gric_mixture_cum(&m, &tables, v);
            if (c <= prev) {
                EXPECT(0, "C not increasing at v=%d (lo %d hi %d): %u after %u", v, m.lo, m.hi,
                      c, prev);
                break;
            }
            prev = c;
        }
    }
    EXPECT(uniform > 0, "no mixture with D <= 1e-12 tested");
    /* The fallback weights when every weight would be 0. */
    Params p = {{0, 40, 0}, {0, 0, 0}, {0, 0, 0}, 0.0};
    GricMixture m;
    init(&m, &p);
    EXPECT(m.w[0] == 0.5 && m.w[1] == 0 && m.w[2] == 0.5, "all-zero weights fallback");
}

/* The mean of y within a bin under the mixture, by the midpoint rule in libm
 * double precision: the table version (first order for wide components) must
 * agree to 1/200 of a bin, stay in its bin, and move by the asked fraction. */
static void test_reconstruct(void)
{
    double worst = 0;
    int tested = 0;
    for (int trial = 0; trial < 3000; trial++) {
        Params p;
        random_params(&p, trial % 2);
        GricMixture m;
        init(&m, &p);
        int v = (int)lrint(m.mu[test_rand() % 3] + uniform(-2, 2));
        double mass = 0, first = 0;
        enum { STEPS = 4000 };
        for (int i = 0; i < STEPS; i++) {
            double x = v - 0.5 + (i + 0.5) / STEPS, f = 0;
            for (int k = 0; k < 3; k++) {
                double z = (x - m.mu[k]) / m.sigma[k];
                f += m.w[k] * exp(-0.5 * z * z) / (m.sigma[k] * sqrt(2 * M_PI));
            }
            mass += f / STEPS;
            first += x * f / STEPS;
        }
        double full = gric_mixture_reconstruct(&m, &tables, v, 1.0);
        double half = gric_mixture_reconstruct(&m, &tables, v, 0.5);
        EXPECT(full >= v - 0.5 && full <= v + 0.5, "mean %.6f outside the bin of %d", full, v);
        EXPECT(fabs((half - v) - 0.5 * (full - v)) < 1e-12, "shift 0.5 is not half way");
        EXPECT(gric_mixture_reconstruct(&m, &tables, v, 0.0) == v, "shift 0 moved %d", v);
        if (mass < 1e-3)
            continue;   /* a nearly empty bin: the table's absolute error dominates */
        double d = fabs(full - first / mass);
        worst = d > worst ? d : worst;
        tested++;
    }
    printf("reconstruction: worst difference from libm %.3g over %d bins\n", worst, tested);
    EXPECT(tested > 1000 && worst < 5e-3, "reconstruction differs from the bin mean");
}

/* A value drawn from the mixture, or (1 in 20) anywhere in [-1023, 1023]. */
static int draw(const GricMixture *m)
{
    if (test_rand() % 20 == 0)
        return (int)(test_rand() % 2047) - 1023;
    double u = uniform(0, 1);
    int k = u < m->w[0] ? 0 : u < m->w[0] + m->w[1] ? 1 : 2;
    double x = round(m->mu[k] + m->sigma[k] * gauss());
    return x < -1023 ? -1023 : x > 1023 ? 1023 : (int)x;
}

static void test_round_trip(GricRansEncoder *enc, int n, int extreme)
{
    Params *ps = malloc(n * sizeof(*ps));
    int *vals = malloc(n * sizeof(*vals));
    if (!ps || !vals) {
        EXPECT(0, "out of memory");
        free(ps);
        free(vals);
        return;
    }
    double bits = 0;
    int err = 0, escapes = 0;
    for (int i = 0; i < n; i++) {
        random_params(&ps[i], extreme);
        GricMixture m;
        init(&m, &ps[i]);
        vals[i] = draw(&m);
        escapes += vals[i] < m.lo || vals[i] > m.hi;
        bits += gric_mixture_bits(&m, &tables, vals[i]);
    }
    double t0 = test_now();
    for (int i = 0; i < n; i++) {
        GricMixture m;
        init(&m, &ps[i]);
        err |= gric_mixture_encode(&m, &tables, enc, vals[i]);
    }
    uint8_t *buf;
    size_t len;
    err |= gric_rans_enc_finish(enc, &buf, &len);
    double t1 = test_now();
    EXPECT(!err, "encoder out of memory");
    if (!err) {
        GricRansDecoder dec;
        EXPECT(gric_rans_dec_init(&dec, buf, len) == 0, "dec_init rejected a valid stream");
        int bad = -1;
        double t2 = test_now();
        for (int i = 0; i < n; i++) {
            GricMixture m;
            init(&m, &ps[i]);
            int v;
            if ((gric_mixture_decode(&m, &tables, &dec, &v) || v != vals[i]) && bad < 0)
                bad = i;
        }
        double t3 = test_now();
        EXPECT(bad < 0, "value %d (%d) decoded wrong", bad, bad >= 0 ? vals[bad] : 0);
        EXPECT(gric_rans_dec_finished(&dec), "stream not consumed exactly");
        EXPECT(len * 8 <= bits * 1.005 + 64 && len * 8 >= bits * 0.995 - 64,
              "%zu bytes, estimate %.1f bytes", len, bits / 8);
        printf("mixture%s: %d values (%d escapes), %.3f bits/value, size/estimate %.5f, "
               "%.0f ns init+encode, %.0f ns init+decode per value\n",
               extreme ? " (extreme)" : "", n, escapes, bits / n, len * 8 / bits,
               (t1 - t0) * 1e9 / n, (t3 - t2) * 1e9 / n);
        free(buf);
    }
    free(ps);
    free(vals);
}

/* Values are drawn from a distribution close to the table, plus escapes. */
static void test_table(GricRansEncoder *enc)
{
    enum { LEN_MAX = 1023, CHANNELS = 40, PER = 3000 };
    static int32_t cdf[CHANNELS][LEN_MAX + 1];
    int len[CHANNELS], offset[CHANNELS];
    for (int c = 0; c < CHANNELS; c++) {
        len[c] = c == 0 ? 1 : c == 1 ? 2 : 2 + (int)(test_rand() % (LEN_MAX - 1));
        offset[c] = -(int)(test_rand() % (len[c] + 10));
        double scale = uniform(0.5, 30);
        int n = len[c] - 1;
        cdf[c][0] = 0;
        for (int i = 0; i < n; i++) {
            double x = (offset[c] + i) / scale;
            cdf[c][i + 1] = cdf[c][i] + 1 + (int)(exp(-x * x) * (65535.0 - len[c]) / (scale * 1.8));
        }
        EXPECT(cdf[c][n] < 65536, "test table overflows");
        cdf[c][len[c]] = 65536;
    }
    static int vals[CHANNELS][PER];
    double bits = 0;
    int err = 0;
    for (int c = 0; c < CHANNELS; c++)
        for (int i = 0; i < PER; i++) {
            int v;
            if (test_rand() % 10 == 0) {
                v = (int)(test_rand() % 2047) - 1023;
            } else {
                uint32_t s = test_rand() & 0xffff;   /* a value with the table's probability */
                int a = 0;
                while (a + 1 < len[c] && cdf[c][a + 1] <= (int32_t)s)
                    a++;
                v = a == len[c] - 1 ? offset[c] + len[c] - 1 + (int)(test_rand() % 5) : offset[c] + a;
            }
            vals[c][i] = v;
            bits += gric_table_bits(cdf[c], len[c], offset[c], v);
            err |= gric_table_encode(cdf[c], len[c], offset[c], enc, v);
        }
    uint8_t *buf;
    size_t size;
    err |= gric_rans_enc_finish(enc, &buf, &size);
    EXPECT(!err, "encoder out of memory");
    if (err)
        return;
    GricRansDecoder dec;
    EXPECT(gric_rans_dec_init(&dec, buf, size) == 0, "dec_init rejected a valid stream");
    int bad = 0;
    for (int c = 0; c < CHANNELS; c++)
        for (int i = 0; i < PER; i++) {
            int v;
            if ((gric_table_decode(cdf[c], len[c], offset[c], &dec, &v) || v != vals[c][i]) &&
                !bad++)
                EXPECT(0, "table channel %d value %d (%d) decoded wrong", c, i, vals[c][i]);
        }
    EXPECT(gric_rans_dec_finished(&dec), "table stream not consumed exactly");
    EXPECT(size * 8 <= bits * 1.005 + 64 && size * 8 >= bits * 0.995 - 64,
          "table: %zu bytes, estimate %.1f bytes", size, bits / 8);
    printf("z tables: %d values, size/estimate %.5f\n", CHANNELS * PER, size * 8 / bits);
    free(buf);
}

static void test_garbage(void)
{
    int32_t bad_cdf[6] = {0, 30000, 20000, 20000, 70000, 65536};   /* not monotone */
    int32_t cdf[4] = {0, 100, 65000, 65536};
    long values = 0, errors = 0;
    for (int trial = 0; trial < 400; trial++) {
        size_t len = 4 + test_rand() % 3000;
        uint8_t *buf = malloc(len);   /* exact size: valgrind sees overreads */
        if (!buf)
            return;
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)test_rand();
        buf[3] &= 0x7f;
        buf[3] |= 0x01;
        GricRansDecoder dec;
        EXPECT(gric_rans_dec_init(&dec, buf, len) == 0, "dec_init rejected a valid state");
        for (int i = 0; i < 2000; i++) {
            int v = 99999, r;
            if (i % 10 == 0) {
                r = gric_table_decode(trial % 2 ? bad_cdf : cdf, trial % 2 ? 5 : 3, -1, &dec, &v);
            } else {
                Params p;
                random_params(&p, trial % 2);
                GricMixture m;
                init(&m, &p);
                r = gric_mixture_decode(&m, &tables, &dec, &v);
            }
            EXPECT(r == -1 || (r == 0 && v >= -1023 && v <= 1023), "garbage decoded to %d", v);
            values += r == 0;
            errors += r != 0;
        }
        EXPECT(dec.p <= dec.end, "decoder pointer left the buffer");
        free(buf);
    }
    printf("garbage: %ld values, %ld rejections\n", values, errors);
}

int main(void)
{
    build_tables();
    test_exp_phi();
    test_cum();
    test_reconstruct();
    GricRansEncoder enc;
    gric_rans_enc_init(&enc);
    test_round_trip(&enc, 200000, 0);
    test_round_trip(&enc, 20000, 1);
    test_table(&enc);
    gric_rans_enc_free(&enc);
    test_garbage();
    if (test_failures)
        printf("%d test_failures\n", test_failures);
    return test_failures != 0;
}
