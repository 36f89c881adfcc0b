/* Bit-exact convolutions of the coding path (docs/MODEL.md §4).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "nn.h"

int gric_exact_conv_init(GricExactConv *c, const float *w, const float *b, int cin, int cout,
                         int k, int stride, int transposed, const uint8_t *tap_mask)
{
    memset(c, 0, sizeof(*c));
    if (cin < 1 || cout < 1 || k < 1 || k > 5 || !(k & 1) || stride < 1)
        return -1;
    c->wt = malloc((size_t)k * k * cin * cout * sizeof(float));
    if (!c->wt)
        return -1;
    c->cin = cin;
    c->cout = cout;
    c->k = k;
    c->stride = stride;
    c->transposed = transposed;
    c->b = b;
    /* Repack to [tap][ci][cout] so the innermost loop walks output channels contiguously. */
    for (int t = 0; t < k * k; t++) {
        c->taps[t] = tap_mask ? tap_mask[t] != 0 : 1;
        for (int ci = 0; ci < cin; ci++)
            for (int co = 0; co < cout; co++) {
                size_t src = transposed ? (size_t)ci * cout + co : (size_t)co * cin + ci;
                c->wt[((size_t)t * cin + ci) * cout + co] = w[src * k * k + t];
            }
    }
    return 0;
}

void gric_exact_conv_free(GricExactConv *c)
{
    free(c->wt);
    c->wt = NULL;
}

void gric_exact_conv_out_size(const GricExactConv *c, int h, int w, int *oh, int *ow)
{
    if (c->transposed) {
        /* (h-1)*s - 2p + k + (s-1), which is s*h for odd k */
        *oh = h * c->stride;
        *ow = w * c->stride;
    } else {
        *oh = (h - 1) / c->stride + 1;
        *ow = (w - 1) / c->stride + 1;
    }
}

/* Input index feeding output o through kernel tap kk; 0 if there is none in [0, n). */
static int input_index(const GricExactConv *c, int o, int kk, int n, int *i)
{
    int v = c->transposed ? o + c->k / 2 - kk : o * c->stride - c->k / 2 + kk;
    if (c->transposed) {
        if (v < 0 || v % c->stride)
            return 0;
        v /= c->stride;
    }
    *i = v;
    return v >= 0 && v < n;
}

typedef float vec8 __attribute__((vector_size(32)));

/* acc[co] += sum over ci of wt[ci][co] * x[ci], ci ascending, for each co in [co0, co1)
 * independently.  GCC vector types, element-wise, so the width does not change any sum
 * (memcpy: unaligned loads and stores).  Four blocks of 8 outputs run at once: the sums are
 * chains of dependent adds, and one chain at a time would wait on the adder's latency. */
static inline __attribute__((always_inline)) void
accumulate(float *restrict acc, const float *restrict wt, const float *restrict x, int cin,
           int cout, int co0, int co1)
{
    int co = co0;
    for (; co + 32 <= co1; co += 32) {
        vec8 a[4], wv;
        memcpy(a, acc + co, sizeof(a));
        const float *w = wt + co;
        for (int ci = 0; ci < cin; ci++, w += cout) {
            const float xv = x[ci];
            for (int b = 0; b < 4; b++) {
                memcpy(&wv, w + 8 * b, sizeof(wv));
                a[b] = a[b] + wv * xv;
            }
        }
        memcpy(acc + co, a, sizeof(a));
    }
    for (; co + 8 <= co1; co += 8) {
        vec8 a, wv;
        memcpy(&a, acc + co, sizeof(a));
        const float *w = wt + co;
        for (int ci = 0; ci < cin; ci++, w += cout) {
            memcpy(&wv, w, sizeof(wv));
            a = a + wv * x[ci];
        }
        memcpy(acc + co, &a, sizeof(a));
    }
    for (; co < co1; co++) {
        float a = acc[co];
        for (int ci = 0; ci < cin; ci++)
            a = a + wt[(size_t)ci * cout + co] * x[ci];
        acc[co] = a;
    }
}

/* accumulate() for n <= SITES output positions at once: each weight vector
 * serves all of them, and their sums are independent chains.  Inlined with a
 * constant n so the loops over positions unroll. */
#define SITES 4

static inline __attribute__((always_inline)) void
accumulate_sites(float *const acc[SITES], const float *const x[SITES], const float *restrict wt,
                 int cin, int cout, const int n)
{
    int co = 0;
    for (; co + 8 <= cout; co += 8) {
        vec8 a[SITES], wv;
        for (int s = 0; s < n; s++)
            memcpy(&a[s], acc[s] + co, sizeof(vec8));
        const float *w = wt + co;
        for (int ci = 0; ci < cin; ci++, w += cout) {
            memcpy(&wv, w, sizeof(vec8));
            for (int s = 0; s < n; s++)
                a[s] = a[s] + wv * x[s][ci];
        }
        for (int s = 0; s < n; s++)
            memcpy(acc[s] + co, &a[s], sizeof(vec8));
    }
    for (int s = 0; s < n; s++)
        accumulate(acc[s], wt, x[s], cin, cout, co, cout);
}

/* Element-wise float operations give the same bits with any vector width.
 * (Static: clang does not export the dispatcher of a multi-versioned function.) */
__attribute__((target_clones("avx2", "default")))
static void conv_sites(const GricExactConv *c, const float *in, size_t in_stride, int h, int w,
                       const int *oy, const int *ox, int n, int ky0, int ky1, float *acc,
                       size_t acc_stride)
{
    const int k = c->k;
    for (int t = ky0 * k; t < ky1 * k; t++) {
        if (!c->taps[t])
            continue;
        const float *wt = c->wt + (size_t)t * c->cin * c->cout;
        float *accs[SITES];
        const float *xs[SITES];
        int g = 0;
        for (int i = 0; i < n; i++) {
            int iy, ix;
            if (!input_index(c, oy[i], t / k, h, &iy) || !input_index(c, ox[i], t % k, w, &ix))
                continue;
            accs[g] = acc + (size_t)i * acc_stride;
            xs[g] = in + ((size_t)iy * w + ix) * in_stride;
            if (++g == SITES) {
                accumulate_sites(accs, xs, wt, c->cin, c->cout, SITES);
                g = 0;
            }
        }
        if (g == 3)
            accumulate_sites(accs, xs, wt, c->cin, c->cout, 3);
        else if (g == 2)
            accumulate_sites(accs, xs, wt, c->cin, c->cout, 2);
        else if (g == 1)
            accumulate_sites(accs, xs, wt, c->cin, c->cout, 1);
    }
}

void gric_exact_conv_sites(const GricExactConv *c, const float *in, size_t in_stride, int h, int w,
                           const int *oy, const int *ox, int n, int ky0, int ky1, float *acc,
                           size_t acc_stride)
{
    conv_sites(c, in, in_stride, h, w, oy, ox, n, ky0, ky1, acc, acc_stride);
}

void gric_exact_conv_at(const GricExactConv *c, const float *in, int h, int w, int oy, int ox,
                        int ky0, int ky1, float *acc)
{
    gric_exact_conv_part(c, in, h, w, oy, ox, ky0, ky1, 0, c->cout, acc);
}

__attribute__((target_clones("avx2", "default")))
static void conv_part(const GricExactConv *c, const float *in, int h, int w, int oy, int ox,
                      int ky0, int ky1, int co0, int co1, float *acc)
{
    const int k = c->k;
    for (int ky = ky0; ky < ky1; ky++) {
        int iy, ix;
        if (!input_index(c, oy, ky, h, &iy))
            continue;
        for (int kx = 0; kx < k; kx++) {
            const int t = ky * k + kx;
            if (!c->taps[t] || !input_index(c, ox, kx, w, &ix))
                continue;
            accumulate(acc, c->wt + (size_t)t * c->cin * c->cout,
                       in + ((size_t)iy * w + ix) * c->cin, c->cin, c->cout, co0, co1);
        }
    }
}

void gric_exact_conv_part(const GricExactConv *c, const float *in, int h, int w, int oy, int ox,
                          int ky0, int ky1, int co0, int co1, float *acc)
{
    conv_part(c, in, h, w, oy, ox, ky0, ky1, co0, co1, acc);
}

void gric_exact_conv(const GricExactConv *c, const float *in, int h, int w, float *out)
{
    enum { RUN = 64 };   /* output positions per gric_exact_conv_sites call */
    int oh, ow, oy[RUN], ox[RUN];
    gric_exact_conv_out_size(c, h, w, &oh, &ow);
    for (int y = 0; y < oh; y++)
        for (int x0 = 0; x0 < ow; x0 += RUN) {
            int n = ow - x0 < RUN ? ow - x0 : RUN;
            float *acc = out + ((size_t)y * ow + x0) * c->cout;
            for (int i = 0; i < n; i++) {
                oy[i] = y;
                ox[i] = x0 + i;
                if (c->b)
                    memcpy(acc + (size_t)i * c->cout, c->b, (size_t)c->cout * sizeof(float));
                else
                    memset(acc + (size_t)i * c->cout, 0, (size_t)c->cout * sizeof(float));
            }
            gric_exact_conv_sites(c, in, c->cin, h, w, oy, ox, n, 0, c->k, acc, c->cout);
        }
}

void gric_leaky_relu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] < 0 ? 0.2f * x[i] : x[i];
}
