/* Checks the exact kernels and the BLAS transforms against naive references.
 * `test_kernels --bench` also times g_a / g_s at the shipped size.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"
#include "test_util.h"

/* Uniform in [lo, hi). */
static float frand(float lo, float hi)
{
    return lo + (hi - lo) * (float)((test_rand() >> 8) / 16777216.0);
}

static float *rand_array(size_t n, float lo, float hi)
{
    float *a = malloc(n * sizeof(float));
    if (!a) {
        printf("out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < n; i++)
        a[i] = frand(lo, hi);
    return a;
}

/* ---- (a), (b): exact kernels ---- */

typedef struct {
    const char *name;
    int k, stride, transposed, cin, cout, h, w;
    const uint8_t *mask;
    int bias;
} ExactCase;

static const uint8_t mask_a[25] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0};
static const uint8_t mask_b[9] = {1, 1, 1, 1, 1, 0, 0, 0, 0};

/* PyTorch semantics in double, HWC; transposed convs as a scatter (an independent
 * formulation from the kernel's gather).  abs_sum gets sum |bias| + sum |w * x|. */
static void exact_reference(const ExactCase *e, const float *w, const float *b, const float *in,
                            int oh, int ow, double *out, double *abs_sum)
{
    const int k = e->k, p = k / 2, s = e->stride, cin = e->cin, cout = e->cout;
    for (int i = 0; i < oh * ow; i++)
        for (int co = 0; co < cout; co++) {
            out[i * cout + co] = b ? b[co] : 0.0;
            abs_sum[i * cout + co] = b ? fabs(b[co]) : 0.0;
        }
    for (int iy = 0; iy < e->h; iy++)
        for (int ix = 0; ix < e->w; ix++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    int ky = e->transposed ? oy - iy * s + p : iy - oy * s + p;
                    int kx = e->transposed ? ox - ix * s + p : ix - ox * s + p;
                    if (ky < 0 || ky >= k || kx < 0 || kx >= k || (e->mask && !e->mask[ky * k + kx]))
                        continue;
                    for (int ci = 0; ci < cin; ci++)
                        for (int co = 0; co < cout; co++) {
                            int wi = e->transposed ? ci * cout + co : co * cin + ci;
                            double t = (double)w[(wi * k + ky) * k + kx] * in[(iy * e->w + ix) * cin + ci];
                            out[(oy * ow + ox) * cout + co] += t;
                            abs_sum[(oy * ow + ox) * cout + co] += fabs(t);
                        }
                }
}

static void test_exact(const ExactCase *e)
{
    const int k = e->k, cin = e->cin, cout = e->cout;
    float *w = rand_array((size_t)cin * cout * k * k, -1, 1);
    float *b = rand_array(cout, -1, 1);
    float *in = rand_array((size_t)e->h * e->w * cin, -2, 2);
    GricExactConv c;
    if (gric_exact_conv_init(&c, w, e->bias ? b : NULL, cin, cout, k, e->stride, e->transposed, e->mask)) {
        EXPECT(0, "%s: init failed", e->name);
        return;
    }
    int oh, ow;
    gric_exact_conv_out_size(&c, e->h, e->w, &oh, &ow);
    int eh = e->transposed ? e->h * e->stride : (e->h + 2 * (k / 2) - k) / e->stride + 1;
    int ew = e->transposed ? e->w * e->stride : (e->w + 2 * (k / 2) - k) / e->stride + 1;
    EXPECT(oh == eh && ow == ew, "%s: out size %dx%d, expected %dx%d", e->name, oh, ow, eh, ew);
    size_t n = (size_t)oh * ow * cout;
    float *out = malloc(n * sizeof(float)), *acc = malloc(cout * sizeof(float));
    double *ref = malloc(n * sizeof(double)), *abs_sum = malloc(n * sizeof(double));
    if (!out || !acc || !ref || !abs_sum) {
        printf("out of memory\n");
        exit(2);
    }
    gric_exact_conv(&c, in, e->h, e->w, out);
    exact_reference(e, w, e->bias ? b : NULL, in, oh, ow, ref, abs_sum);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double err = fabs(out[i] - ref[i]) / (abs_sum[i] + 1e-30);
        worst = err > worst ? err : worst;
    }
    EXPECT(worst < 1e-6, "%s: relative error %g", e->name, worst);

    /* Row-split accumulation must reproduce the whole-plane result bit for bit. */
    int split_bad = 0;
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++)
            for (int a = 0; a <= k; a++) {
                if (e->bias)
                    memcpy(acc, b, cout * sizeof(float));
                else
                    memset(acc, 0, cout * sizeof(float));
                gric_exact_conv_at(&c, in, e->h, e->w, oy, ox, 0, a, acc);
                gric_exact_conv_at(&c, in, e->h, e->w, oy, ox, a, k, acc);
                split_bad += memcmp(acc, out + ((size_t)oy * ow + ox) * cout, cout * sizeof(float)) != 0;
            }
    EXPECT(!split_bad, "%s: %d split sums differ from the whole plane", e->name, split_bad);

    /* Batched sites in random order and number, reading rows wider than cin (as the
     * encoder's 1x1 stacks do), match gric_exact_conv_at one position at a time. */
    enum { MAX_SITES = 11 };
    const int stride_in = cin + 3;
    float *wide = malloc((size_t)e->h * e->w * stride_in * sizeof(float));
    float *batch = malloc((size_t)MAX_SITES * (cout + 1) * sizeof(float));
    CHECK(wide && batch, "out of memory");
    for (int p = 0; p < e->h * e->w; p++)
        for (int ci = 0; ci < stride_in; ci++)
            wide[(size_t)p * stride_in + ci] = ci < cin ? in[(size_t)p * cin + ci] : 1e30f;
    int sites_bad = 0;
    for (int trial = 0; trial < 20; trial++) {
        int n = 1 + (int)(test_rand() % MAX_SITES), sy[MAX_SITES], sx[MAX_SITES];
        for (int i = 0; i < n; i++) {
            sy[i] = (int)(test_rand() % oh);
            sx[i] = (int)(test_rand() % ow);
            for (int co = 0; co < cout; co++)
                batch[(size_t)i * (cout + 1) + co] = e->bias ? b[co] : 0.0f;
        }
        gric_exact_conv_sites(&c, wide, stride_in, e->h, e->w, sy, sx, n, 0, k, batch, cout + 1);
        for (int i = 0; i < n; i++)
            sites_bad += memcmp(batch + (size_t)i * (cout + 1), out + ((size_t)sy[i] * ow + sx[i]) * cout,
                                cout * sizeof(float)) != 0;
    }
    EXPECT(!sites_bad, "%s: %d batched sites differ from single positions", e->name, sites_bad);
    free(wide);
    free(batch);
    printf("%-22s %2dx%-2d -> %2dx%-2d  max rel err %.2g\n", e->name, e->h, e->w, oh, ow, worst);
    gric_exact_conv_free(&c);
    free(w);
    free(b);
    free(in);
    free(out);
    free(acc);
    free(ref);
    free(abs_sum);
}

/* ---- (c), (d): transforms ---- */

typedef struct {
    GricTransform t;
    float *owned[32];
    int n_owned;
} Model;

static const float *model_array(Model *m, size_t n, float lo, float hi)
{
    return m->owned[m->n_owned++] = rand_array(n, lo, hi);
}

static void model_init(Model *m, int N, int M, int synth)
{
    const int chans[5] = {synth ? M : 3, N, N, N, synth ? 3 : M};
    memset(m, 0, sizeof(*m));
    for (int l = 0; l < 4; l++) {
        GricConv *c = &m->t.conv[l];
        const float a = (synth && l == 3 ? 0.3f : 1.5f) / sqrtf(chans[l] * (synth ? 6.25f : 25.0f));
        *c = (GricConv){chans[l], chans[l + 1], 5, 2, synth, NULL, NULL};
        c->w = model_array(m, (size_t)chans[l] * chans[l + 1] * 25, -a, a);
        /* Centre the synthesised pixels so rounding and clamping both occur. */
        c->b = synth && l == 3 ? model_array(m, 3, 0.45f, 0.55f) : model_array(m, chans[l + 1], -0.1f, 0.1f);
        if (l < 3) {
            GricGsdn *g = &m->t.gsdn[l];
            g->ch = N;
            g->beta = model_array(m, N, 0.5f, 1.5f);
            g->gamma = model_array(m, (size_t)N * N, 0.0f, 0.1f);
            g->mbeta = model_array(m, N, -0.1f, 0.1f);
            g->mgamma = model_array(m, (size_t)N * N, -0.05f, 0.05f);
            m->t.scale[l] = model_array(m, N, 0.5f, 2.0f);
        }
    }
}

static void model_free(Model *m)
{
    for (int i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
}

/* Untiled CHW conv / transposed conv in plain loops (double accumulation). */
static float *conv_ref(const GricConv *c, const float *in, int h, int w, int *oh, int *ow)
{
    const int k = c->k, p = k / 2, s = c->stride;
    *oh = c->transposed ? h * s : (h - 1) / s + 1;
    *ow = c->transposed ? w * s : (w - 1) / s + 1;
    const size_t plane = (size_t)*oh * *ow;
    double *acc = calloc(plane * c->cout, sizeof(double));
    float *out = malloc(plane * c->cout * sizeof(float));
    if (!acc || !out) {
        printf("out of memory\n");
        exit(2);
    }
    for (int ci = 0; ci < c->cin; ci++)
        for (int co = 0; co < c->cout; co++)
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    size_t wi = c->transposed ? (size_t)ci * c->cout + co : (size_t)co * c->cin + ci;
                    double wv = c->w[(wi * k + ky) * k + kx];
                    for (int y = 0; y < (c->transposed ? h : *oh); y++)
                        for (int x = 0; x < (c->transposed ? w : *ow); x++) {
                            int iy = c->transposed ? y : y * s - p + ky;
                            int ix = c->transposed ? x : x * s - p + kx;
                            int oy = c->transposed ? y * s - p + ky : y;
                            int ox = c->transposed ? x * s - p + kx : x;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w || oy < 0 || oy >= *oh ||
                                ox < 0 || ox >= *ow)
                                continue;
                            acc[co * plane + (size_t)oy * *ow + ox] += wv * in[(ci * (size_t)h + iy) * w + ix];
                        }
                }
    for (int co = 0; co < c->cout; co++)
        for (size_t i = 0; i < plane; i++)
            out[co * plane + i] = (float)(acc[co * plane + i] + c->b[co]);
    free(acc);
    return out;
}

static void gsdn_ref(const GricGsdn *g, int inverse, float *x, size_t plane)
{
    const int ch = g->ch;
    float *v = malloc(ch * sizeof(float));
    if (!v) {
        printf("out of memory\n");
        exit(2);
    }
    for (size_t p = 0; p < plane; p++) {
        for (int i = 0; i < ch; i++)
            v[i] = x[i * plane + p];
        for (int i = 0; i < ch; i++) {
            double norm = g->beta[i], mean = g->mbeta[i];
            for (int j = 0; j < ch; j++) {
                norm += (double)g->gamma[i * ch + j] * v[j] * v[j];
                mean += (double)g->mgamma[i * ch + j] * v[j];
            }
            x[i * plane + p] = (float)(inverse ? v[i] * sqrt(norm) + mean : (v[i] - mean) / sqrt(norm));
        }
    }
    free(v);
}

/* Runs the four layers on x (CHW), freeing it; returns the result. */
static float *transform_ref(const GricTransform *t, float *x, int *h, int *w)
{
    for (int l = 0; l < 4; l++) {
        int oh, ow;
        float *y = conv_ref(&t->conv[l], x, *h, *w, &oh, &ow);
        free(x);
        x = y;
        *h = oh;
        *w = ow;
        if (l < 3) {
            const size_t plane = (size_t)oh * ow;
            for (int c = 0; c < t->conv[l].cout; c++)
                for (size_t i = 0; i < plane; i++)
                    x[c * plane + i] *= t->scale[l][c];
            gsdn_ref(&t->gsdn[l], t->conv[l].transposed, x, plane);
        }
    }
    return x;
}

static void test_analysis(const Model *m, int width, int height)
{
    const int pw = (width + 15) / 16 * 16, ph = (height + 15) / 16 * 16, M = m->t.conv[3].cout;
    const size_t stride = (size_t)width * 3 + 5;
    uint8_t *rgb = malloc(stride * height);
    float *x = malloc((size_t)3 * pw * ph * sizeof(float));
    const size_t ny = (size_t)M * (ph / 16) * (pw / 16);
    float *y[3] = {malloc(ny * sizeof(float)), malloc(ny * sizeof(float)), malloc(ny * sizeof(float))};
    if (!rgb || !x || !y[0] || !y[1] || !y[2]) {
        printf("out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < stride * height; i++)
        rgb[i] = (uint8_t)frand(0, 256);
    for (int c = 0; c < 3; c++)
        for (int r = 0; r < ph; r++)
            for (int col = 0; col < pw; col++) {
                int sr = r < height ? r : height - 1, sc = col < width ? col : width - 1;
                x[((size_t)c * ph + r) * pw + col] = rgb[sr * stride + sc * 3 + c] / 255.0f;
            }
    int h = ph, w = pw;
    float *ref = transform_ref(&m->t, x, &h, &w);
    static const int threads[3] = {1, 2, 5};
    for (int i = 0; i < 3; i++) {
        int rc = gric_analysis(&m->t, rgb, stride, width, height, pw, ph, y[i], threads[i]);
        EXPECT(rc == 0, "analysis %dx%d threads %d returned %d", width, height, threads[i], rc);
        double err = 0, energy = 0;
        for (size_t j = 0; j < ny; j++) {
            err += ((double)y[i][j] - ref[j]) * ((double)y[i][j] - ref[j]);
            energy += (double)ref[j] * ref[j];
        }
        EXPECT(err / energy < 1e-10, "analysis %dx%d threads %d: NMSE %g", width, height, threads[i],
              err / energy);
        EXPECT(!memcmp(y[i], y[0], ny * sizeof(float)), "analysis %dx%d: threads %d differs from 1",
              width, height, threads[i]);
        printf("analysis  %3dx%-3d threads %d  NMSE %.2g\n", width, height, threads[i], err / energy);
    }
    free(rgb);
    free(ref);
    for (int i = 0; i < 3; i++)
        free(y[i]);
}

static void test_synthesis(const Model *m, int lh, int lw, int width, int height)
{
    const int M = m->t.conv[0].cin;
    const size_t stride = (size_t)width * 3 + 3;
    float *lat = rand_array((size_t)M * lh * lw, -2, 2);
    float *x = malloc((size_t)M * lh * lw * sizeof(float));
    uint8_t *rgb[3] = {malloc(stride * height), malloc(stride * height), malloc(stride * height)};
    if (!x || !rgb[0] || !rgb[1] || !rgb[2]) {
        printf("out of memory\n");
        exit(2);
    }
    memcpy(x, lat, (size_t)M * lh * lw * sizeof(float));
    int h = lh, w = lw;
    float *ref = transform_ref(&m->t, x, &h, &w);
    static const int threads[3] = {1, 2, 5};
    for (int i = 0; i < 3; i++) {
        memset(rgb[i], 0xA5, stride * height);
        int rc = gric_synthesis(&m->t, lat, lh, lw, rgb[i], stride, width, height, threads[i]);
        EXPECT(rc == 0, "synthesis %dx%d threads %d returned %d", width, height, threads[i], rc);
        int worst = 0, off = 0, clamped = 0;
        for (int r = 0; r < height; r++)
            for (int c = 0; c < width * 3; c++) {
                double v = 255.0 * ref[(size_t)(c % 3) * h * w + (size_t)r * w + c / 3];
                int want = v < 0 ? 0 : v > 255 ? 255 : (int)lround(v);
                int d = abs(rgb[i][r * stride + c] - want);
                worst = d > worst ? d : worst;
                off += d != 0;
                clamped += want == 0 || want == 255;
            }
        int pad_ok = 1;  /* bytes past width*3 in each row must be untouched */
        for (int r = 0; r < height; r++)
            pad_ok &= rgb[i][r * stride + stride - 1] == 0xA5;
        EXPECT(worst <= 1, "synthesis %dx%d threads %d: byte off by %d", width, height, threads[i], worst);
        EXPECT(pad_ok, "synthesis %dx%d threads %d wrote past the row", width, height, threads[i]);
        EXPECT(!memcmp(rgb[i], rgb[0], stride * height), "synthesis %dx%d: threads %d differs from 1",
              width, height, threads[i]);
        printf("synthesis %3dx%-3d threads %d  %d bytes off by 1, %d clamped\n", width, height,
               threads[i], off, clamped);
    }
    free(lat);
    free(ref);
    for (int i = 0; i < 3; i++)
        free(rgb[i]);
}

/* Multiply-adds x2 of one transform at its input size h x w. */
static double transform_flops(const GricTransform *t, int h, int w)
{
    double flops = 0;
    for (int l = 0; l < 4; l++) {
        const GricConv *c = &t->conv[l];
        if (!c->transposed) {
            h /= c->stride;
            w /= c->stride;
        }
        flops += 2.0 * h * w * c->cin * c->cout * c->k * c->k;
        if (c->transposed) {
            h *= c->stride;
            w *= c->stride;
        }
        if (l < 3)
            flops += 4.0 * h * w * t->gsdn[l].ch * t->gsdn[l].ch;
    }
    return flops;
}

static void bench(int threads)
{
    const int W = 768, H = 512, N = 96, M = 160;
    Model a, s;
    model_init(&a, N, M, 0);
    model_init(&s, N, M, 1);
    uint8_t *rgb = malloc((size_t)W * H * 3);
    float *y = malloc((size_t)M * (H / 16) * (W / 16) * sizeof(float));
    if (!rgb || !y) {
        printf("out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < (size_t)W * H * 3; i++)
        rgb[i] = (uint8_t)frand(0, 256);
    for (int rep = 0; rep < 2; rep++) {
        double t0 = test_now();
        int rc = gric_analysis(&a.t, rgb, (size_t)W * 3, W, H, W, H, y, threads);
        double t1 = test_now();
        rc |= gric_synthesis(&s.t, y, H / 16, W / 16, rgb, (size_t)W * 3, W, H, threads);
        double t2 = test_now();
        EXPECT(rc == 0, "bench failed");
        printf("bench %dx%d N=%d M=%d threads %d: analysis %.3f s (%.1f GFLOP/s), synthesis %.3f s "
               "(%.1f GFLOP/s)\n", W, H, N, M, threads, t1 - t0,
               transform_flops(&a.t, H, W) / (t1 - t0) * 1e-9, t2 - t1,
               transform_flops(&s.t, H / 16, W / 16) / (t2 - t1) * 1e-9);
    }
    free(rgb);
    free(y);
    model_free(&a);
    model_free(&s);
}

int main(int argc, char **argv)
{
    static const ExactCase cases[] = {
        {"dense 1x1", 1, 1, 0, 37, 19, 3, 4, NULL, 1},
        {"conv 3x3 s1", 3, 1, 0, 13, 22, 7, 6, NULL, 1},
        {"conv 5x5 s1 no bias", 5, 1, 0, 9, 8, 6, 7, NULL, 0},
        {"conv 3x3 s1 odd", 3, 1, 0, 6, 5, 5, 5, NULL, 1},
        {"conv 5x5 s2", 5, 2, 0, 10, 12, 9, 8, NULL, 1},
        {"conv 3x3 s2", 3, 2, 0, 7, 9, 7, 6, NULL, 1},
        {"deconv 5x5 s2", 5, 2, 1, 11, 8, 5, 4, NULL, 1},
        {"deconv 3x3 s2", 3, 2, 1, 8, 6, 3, 5, NULL, 1},
        {"masked A 5x5", 5, 1, 0, 12, 24, 6, 7, mask_a, 1},
        {"masked B 3x3", 3, 1, 0, 12, 24, 5, 6, mask_b, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        test_exact(&cases[i]);

    float x[4] = {-1.0f, 2.0f, -0.0f, 0.5f};
    gric_leaky_relu(x, 4);
    EXPECT(x[0] == -0.2f && x[1] == 2.0f && x[2] == 0.0f && x[3] == 0.5f, "leaky relu");

    Model a, s;
    model_init(&a, 8, 12, 0);
    model_init(&s, 8, 12, 1);
    test_analysis(&a, 70, 45);
    test_analysis(&a, 130, 200);
    test_synthesis(&s, 3, 5, 70, 45);
    test_synthesis(&s, 13, 9, 130, 200);
    model_free(&a);
    model_free(&s);

    if (argc > 1 && !strcmp(argv[1], "--bench")) {
        bench(1);
        bench(2);
    }
    if (test_failures)
        printf("%d check(s) failed\n", test_failures);
    else
        printf("all kernel checks passed\n");
    return test_failures != 0;
}
