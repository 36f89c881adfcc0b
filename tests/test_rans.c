/* rANS coder: exact round trips, size close to the entropy, and safe
 * termination on garbage and truncated streams.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rans.h"
#include "test_util.h"

#define MAX_SYMS 1024

/* A random table of k symbols summing to 65536, every frequency >= 1.
 * skew > 0 gives geometric-like weights, 0 near-uniform ones. */
static void random_table(uint32_t *cdf, int k, double skew)
{
    double w[MAX_SYMS], sum = 0;
    for (int i = 0; i < k; i++) {
        w[i] = exp(-skew * i) * (0.9 + 0.2 * (test_rand() / 4294967296.0));
        sum += w[i];
    }
    uint32_t spare = 65536 - k;
    cdf[0] = 0;
    for (int i = 0; i < k; i++)
        cdf[i + 1] = cdf[i] + 1 + (uint32_t)(w[i] / sum * spare);
    cdf[k] = 65536;   /* rounding leftovers go to the last symbol */
}

/* Symbol whose interval holds slot (binary search, as a codec does). */
static int find_symbol(const uint32_t *cdf, int k, uint32_t slot)
{
    int a = 0, b = k;
    while (b - a > 1) {
        int mid = (a + b) / 2;
        if (cdf[mid] <= slot)
            a = mid;
        else
            b = mid;
    }
    return a;
}

/* Symbols >= 0 index the table, -1/-2 are bypass bits 0/1. */
static void round_trip(GricRansEncoder *enc, int k, double skew, int n, double bypass_rate,
                       double *enc_ns, double *dec_ns)
{
    uint32_t cdf[MAX_SYMS + 1];
    random_table(cdf, k, skew);
    int *syms = malloc(n * sizeof(*syms));
    if (!syms) {
        EXPECT(0, "out of memory");
        return;
    }
    double ideal = 0;
    for (int i = 0; i < n; i++) {
        if (test_rand() < bypass_rate * 4294967296.0) {
            syms[i] = -1 - (int)(test_rand() & 1);
            ideal += 1;
        } else {
            syms[i] = find_symbol(cdf, k, test_rand() & 0xffff);
            ideal += 16 - log2(cdf[syms[i] + 1] - cdf[syms[i]]);
        }
    }
    double t0 = test_now();
    int err = 0;
    for (int i = 0; i < n; i++)
        err |= syms[i] < 0 ? gric_rans_enc_put_bit(enc, -1 - syms[i])
                           : gric_rans_enc_put(enc, cdf[syms[i]], cdf[syms[i] + 1] - cdf[syms[i]]);
    uint8_t *buf;
    size_t len;
    err |= gric_rans_enc_finish(enc, &buf, &len);
    double t1 = test_now();
    EXPECT(!err, "encoder out of memory");
    if (err) {
        free(syms);
        return;
    }
    *enc_ns += (t1 - t0) * 1e9;

    GricRansDecoder dec;
    EXPECT(gric_rans_dec_init(&dec, buf, len) == 0, "dec_init rejected a valid stream");
    int bad = -1;
    t0 = test_now();
    for (int i = 0; i < n; i++) {
        int s;
        if (syms[i] < 0) {
            s = -1 - gric_rans_dec_get_bit(&dec);
        } else {
            s = find_symbol(cdf, k, gric_rans_dec_peek(&dec));
            gric_rans_dec_advance(&dec, cdf[s], cdf[s + 1] - cdf[s]);
        }
        if (s != syms[i] && bad < 0)
            bad = i;
    }
    t1 = test_now();
    *dec_ns += (t1 - t0) * 1e9;
    EXPECT(bad < 0, "k=%d skew=%g: symbol %d decoded wrong", k, skew, bad);
    EXPECT(gric_rans_dec_finished(&dec), "k=%d skew=%g: stream not consumed exactly", k, skew);
    double limit = ideal / 8 * 1.005 + 8;
    EXPECT(len <= limit, "k=%d skew=%g n=%d: %zu bytes, ideal %.1f", k, skew, n, len, ideal / 8);

    /* Every proper prefix must be detected (overrun or not finished). */
    for (int trial = 0; trial < 20 && len > 0; trial++) {
        size_t cut = test_rand() % len;
        uint8_t *part = malloc(cut ? cut : 1);   /* exact size: valgrind sees overreads */
        if (!part)
            break;
        memcpy(part, buf, cut);
        if (gric_rans_dec_init(&dec, part, cut) == 0) {
            for (int i = 0; i < n; i++) {
                if (syms[i] < 0) {
                    gric_rans_dec_get_bit(&dec);
                } else {
                    int s = find_symbol(cdf, k, gric_rans_dec_peek(&dec));
                    gric_rans_dec_advance(&dec, cdf[s], cdf[s + 1] - cdf[s]);
                }
            }
            EXPECT(!gric_rans_dec_finished(&dec) && dec.overrun > 0,
                  "stream cut to %zu of %zu bytes not detected", cut, len);
        }
        free(part);
    }
    free(buf);
    free(syms);
}

static void garbage(void)
{
    uint32_t cdf[MAX_SYMS + 1];
    for (int trial = 0; trial < 300; trial++) {
        size_t len = test_rand() % 2000;
        uint8_t *buf = malloc(len ? len : 1);
        if (!buf)
            return;
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)test_rand();
        if (trial % 3 == 0 && len >= 4)
            buf[3] = 0x01;   /* a plausible initial state */
        int k = 2 + test_rand() % 500;
        random_table(cdf, k, (test_rand() & 1) ? 0.05 : 0);
        GricRansDecoder dec;
        if (gric_rans_dec_init(&dec, buf, len) == 0) {
            for (int i = 0; i < 3000; i++) {
                if (i % 7 == 0) {
                    gric_rans_dec_get_bit(&dec);
                } else {
                    int s = find_symbol(cdf, k, gric_rans_dec_peek(&dec));
                    gric_rans_dec_advance(&dec, cdf[s], cdf[s + 1] - cdf[s]);
                }
                EXPECT(dec.p <= dec.end && dec.p >= buf + 4, "decoder pointer left the buffer");
            }
        } else {
            EXPECT(len < 4 || buf[3] >= 0x80 || buf[3] == 0, "dec_init rejected state %02x",
                  buf[3]);
        }
        free(buf);
    }
}

int main(void)
{
    GricRansEncoder enc;
    gric_rans_enc_init(&enc);
    double enc_ns = 0, dec_ns = 0;
    long total = 0;
    static const double skews[] = {0, 0.001, 0.05, 0.5, 3};
    for (int r = 0; r < 40; r++) {
        int k = 2 + test_rand() % (MAX_SYMS - 1);
        double skew = skews[r % 5];
        int n = 1000 + test_rand() % 100000;
        round_trip(&enc, k, skew, n, (r & 1) ? 0.1 : 0, &enc_ns, &dec_ns);
        total += n;
    }
    /* A single symbol, and an empty stream. */
    round_trip(&enc, 2, 0, 1, 0, &enc_ns, &dec_ns);
    uint8_t *buf;
    size_t len;
    EXPECT(gric_rans_enc_finish(&enc, &buf, &len) == 0 && len == 4, "empty stream");
    if (len == 4) {
        GricRansDecoder dec;
        EXPECT(gric_rans_dec_init(&dec, buf, len) == 0 && gric_rans_dec_finished(&dec),
              "empty stream does not decode");
    }
    free(buf);
    garbage();
    gric_rans_enc_free(&enc);
    printf("rans: %ld symbols, %.1f ns/symbol encode, %.1f ns/symbol decode (incl. search)\n",
           total, enc_ns / total, dec_ns / total);
    if (test_failures)
        printf("%d test_failures\n", test_failures);
    return test_failures != 0;
}
