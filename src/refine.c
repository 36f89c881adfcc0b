/* Encoder-side latent refinement: gradient descent on y through g_s (refine.h).
 *
 * Encoder only, so plain float with BLAS and libm: no decoder recomputes any of this.  g_s
 * is run forward on a tile of soft-rounded latents, keeping each transposed conv's output
 * u; the squared error against the image is then pulled back through the layers:
 *   transposed conv (stride 2): out[2j + k - 2] += W[k]^T in[j]; its input gradient is
 *     g_in[j] = sum_k W[k] g_out[2j + k - 2], a stride-2 gather and one sgemm per row;
 *   inverse GSDN a = u * s + mean, s = sqrt(beta + gamma u^2), mean = mbeta + mgamma u:
 *     g_u = g_a * s + u * ((g_a * u / s) gamma) + g_a mgamma  (row vectors).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "parallel.h"
#include "refine.h"

#define TILE 24          /* latents per side of the part of y a tile updates */
#define HALO 4           /* latents around it: a pixel depends on latents within 1.9 of it */
#define MARGIN 32        /* pixels at a halo's outer edge that miss latents beyond the halo */
#define SPAN (TILE + 2 * HALO)
#define TAPS 25          /* 5x5 kernels */
/* temperature: TAU_START, decaying by exp(-TAU_DECAY) over the run, at least TAU_MIN */
#define TAU_START 0.5f
#define TAU_DECAY 4.8f
#define TAU_MIN 0.05f
#define BETA1 0.9f
#define BETA2 0.999f
#define EPSILON 1e-8f

typedef struct {
    int cin, cout;
    float *w;            /* cin x (TAPS * cout): [ci][tap][co], times the rate scale */
    float *b;            /* cout, times the rate scale */
} Deconv;

typedef struct {
    Deconv dc[4];
    const GricGsdn *gsdn[3];
    const float *inv_gain;
    const uint8_t *rgb;
    size_t stride;
    int width, height, h, w, M;
    const float *y;
    const float *mix;    /* NULL, or each value's mixture (GricRefineRate) */
    float bits_weight;   /* the bits' gradient against the squared error's: 3 / lambda */
    float *grad;         /* HWC like y: gradient of the inner latents of every tile */
    int tiles_x, tiles, chunks;
    int iteration;       /* keys the rounding noise: every tile draws the same for a latent */
    float tau;           /* the soft rounding's temperature at this iteration */
    struct Scratch *scratch;
    int failed;
} Refiner;

/* One thread's buffers for a tile of at most SPAN x SPAN latents. */
typedef struct Scratch {
    float *lat;          /* tile latents, HWC */
    float *u[3];         /* transposed convs 0-2's outputs (level l: side SPAN << (l + 1)) */
    float *big;          /* activations a_l; gradients at levels 2 and 0 */
    float *small;        /* gradients at level 1 and at the latents */
    float *x;            /* pixels, then their gradient */
    float *row;          /* one row's im2col or scatter products */
    float *tmp;          /* inverse GSDN on one row: 3 x width x channels */
} Scratch;

static int deconv_init(Deconv *d, const GricConv *c, const float *scale)
{
    d->cin = c->cin;
    d->cout = c->cout;
    d->w = malloc((size_t)c->cin * TAPS * c->cout * sizeof(float));
    d->b = malloc((size_t)c->cout * sizeof(float));
    if (!d->w || !d->b)
        return -1;
    for (int co = 0; co < c->cout; co++)
        d->b[co] = scale ? c->b[co] * scale[co] : c->b[co];
    for (int ci = 0; ci < c->cin; ci++)     /* PyTorch layout (cin, cout, 5, 5) */
        for (int t = 0; t < TAPS; t++)
            for (int co = 0; co < c->cout; co++) {
                const float v = c->w[((size_t)ci * c->cout + co) * TAPS + t];
                d->w[((size_t)ci * TAPS + t) * c->cout + co] = scale ? v * scale[co] : v;
            }
    return 0;
}

/* Stochastic Gumbel annealing (Yang et al. 2020): the latent y in g_s's input is
 * floor(y) + p, p the Gumbel-softmax weight of ceil(y) against floor(y) with logits
 * -atanh(distance) / tau.  Rounding's straight-through gradient says nothing about
 * moving to the other integer; this one does, and as tau anneals p becomes 0 or 1.
 * The noise is a hash of (iteration, latent), so tiles agree on their halos and an
 * encode does not depend on the thread count.  Returns the soft value, and dp/dy. */
static float soft_round(float y, float tau, uint64_t key, float *slope)
{
    uint64_t z = key + 0x9e3779b97f4a7c15ull, noise[2];
    for (int k = 0; k < 2; k++) {   /* splitmix64 */
        z += 0x9e3779b97f4a7c15ull;
        uint64_t v = z;
        v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ull;
        v = (v ^ (v >> 27)) * 0x94d049bb133111ebull;
        noise[k] = v ^ (v >> 31);
    }
    const float f = floorf(y), eps = 1e-5f;
    float r = y - f;
    r = r < eps ? eps : r > 1.0f - eps ? 1.0f - eps : r;
    float gumbel[2];
    for (int k = 0; k < 2; k++) {   /* uniform in (0, 1) from the top 24 bits */
        const float u = ((float)(noise[k] >> 40) + 0.5f) * (1.0f / 16777216.0f);
        gumbel[k] = -logf(-logf(u));
    }
    /* logit(ceil) - logit(floor) */
    const float d = (atanhf(r) - atanhf(1.0f - r)) / tau + gumbel[1] - gumbel[0];
    const float p = 1.0f / (1.0f + expf(-d));
    *slope = p * (1.0f - p) / tau * (1.0f / (1.0f - r * r) + 1.0f / (1.0f - (1.0f - r) * (1.0f - r)));
    return f + p;
}

/* Each component's mass is taken on the side of its mean where PHI is far from 1, so it
 * keeps its precision in the tails. */
float gric_refine_bits_slope(const float *mix, float v)
{
    double mass = 0, slope = 0;
    for (int k = 0; k < 3; k++) {
        const double w = mix[k], mu = mix[3 + k], sigma = mix[6 + k];
        if (w <= 0)
            continue;
        double a = (v - 0.5 - mu) / sigma, b = (v + 0.5 - mu) / sigma;
        const double da = exp(-0.5 * a * a), db = exp(-0.5 * b * b);
        if (a > 0) {   /* PHI(b) - PHI(a) = PHI(-a) - PHI(-b) */
            const double t = -a;
            a = -b;
            b = t;
        }
        mass += w * 0.5 * (erfc(-b * M_SQRT1_2) - erfc(-a * M_SQRT1_2));
        slope += w * (db - da) * 0.3989422804014327 / sigma;
    }
    return mass > 1e-9 ? (float)(-slope / (mass * M_LN2)) : 0.0f;
}

static uint64_t noise_key(const Refiner *r, int i, int j, int c)
{
    return ((uint64_t)r->iteration << 40) ^ (((uint64_t)i * r->w + j) * r->M + c);
}

/* in (h, w, cin) -> out (2h, 2w, cout) */
static void deconv_forward(const Deconv *d, const float *in, int h, int w, float *out, float *row)
{
    const int oh = 2 * h, ow = 2 * w, K = TAPS * d->cout;
    for (size_t i = 0; i < (size_t)oh * ow; i++)
        memcpy(out + i * d->cout, d->b, d->cout * sizeof(float));
    for (int j = 0; j < h; j++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, w, K, d->cin, 1.0f,
                    in + (size_t)j * w * d->cin, d->cin, d->w, K, 0.0f, row, K);
        for (int t = 0; t < TAPS; t++) {
            const int oy = 2 * j + t / 5 - 2;
            if (oy < 0 || oy >= oh)
                continue;
            for (int x = 0; x < w; x++) {
                const int ox = 2 * x + t % 5 - 2;
                if (ox < 0 || ox >= ow)
                    continue;
                float *o = out + ((size_t)oy * ow + ox) * d->cout;
                const float *p = row + (size_t)x * K + (size_t)t * d->cout;
                for (int c = 0; c < d->cout; c++)
                    o[c] += p[c];
            }
        }
    }
}

/* g_out (2h, 2w, cout) -> g_in (h, w, cin) */
static void deconv_backward(const Deconv *d, const float *g_out, int h, int w, float *g_in,
                            float *row)
{
    const int oh = 2 * h, ow = 2 * w, K = TAPS * d->cout;
    for (int j = 0; j < h; j++) {
        for (int x = 0; x < w; x++)
            for (int t = 0; t < TAPS; t++) {
                const int oy = 2 * j + t / 5 - 2, ox = 2 * x + t % 5 - 2;
                float *dst = row + (size_t)x * K + (size_t)t * d->cout;
                if (oy >= 0 && oy < oh && ox >= 0 && ox < ow)
                    memcpy(dst, g_out + ((size_t)oy * ow + ox) * d->cout, d->cout * sizeof(float));
                else
                    memset(dst, 0, d->cout * sizeof(float));
            }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, w, d->cin, K, 1.0f, row, K, d->w, K,
                    0.0f, g_in + (size_t)j * w * d->cin, d->cin);
    }
}

/* s = sqrt(beta + gamma u^2) for n positions */
static void gsdn_norm(const GricGsdn *g, const float *u, int n, float *s, float *sq)
{
    const size_t len = (size_t)n * g->ch;
    for (size_t i = 0; i < len; i++)
        sq[i] = u[i] * u[i];
    for (int i = 0; i < n; i++)
        memcpy(s + (size_t)i * g->ch, g->beta, g->ch * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, g->ch, g->ch, 1.0f, sq, g->ch,
                g->gamma, g->ch, 1.0f, s, g->ch);
    for (size_t i = 0; i < len; i++)
        s[i] = sqrtf(s[i]);
}

/* a = u * s + mbeta + mgamma u, n positions at a time */
static void inverse_gsdn_forward(const GricGsdn *g, const float *u, size_t positions, int n,
                                 float *a, float *tmp)
{
    const int ch = g->ch;
    float *s = tmp, *sq = tmp + (size_t)n * ch;
    for (size_t p0 = 0; p0 < positions; p0 += n) {
        const int m = positions - p0 < (size_t)n ? (int)(positions - p0) : n;
        const float *ur = u + p0 * ch;
        float *ar = a + p0 * ch;
        gsdn_norm(g, ur, m, s, sq);
        for (int i = 0; i < m; i++)
            memcpy(ar + (size_t)i * ch, g->mbeta, ch * sizeof(float));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, ch, ch, 1.0f, ur, ch, g->mgamma,
                    ch, 1.0f, ar, ch);
        for (size_t i = 0; i < (size_t)m * ch; i++)
            ar[i] += ur[i] * s[i];
    }
}

/* g (gradient at a) -> gradient at u, in place */
static void inverse_gsdn_backward(const GricGsdn *g, const float *u, size_t positions, int n,
                                  float *grad, float *tmp)
{
    const int ch = g->ch;
    float *s = tmp, *t = tmp + (size_t)n * ch, *acc = tmp + (size_t)2 * n * ch;
    for (size_t p0 = 0; p0 < positions; p0 += n) {
        const int m = positions - p0 < (size_t)n ? (int)(positions - p0) : n;
        const size_t len = (size_t)m * ch;
        const float *ur = u + p0 * ch;
        float *gr = grad + p0 * ch;
        gsdn_norm(g, ur, m, s, t);
        for (size_t i = 0; i < len; i++)
            t[i] = gr[i] * ur[i] / s[i];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, ch, ch, 1.0f, t, ch, g->gamma,
                    ch, 0.0f, acc, ch);
        for (size_t i = 0; i < len; i++)
            acc[i] = acc[i] * ur[i] + gr[i] * s[i];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, ch, ch, 1.0f, gr, ch,
                    g->mgamma, ch, 1.0f, acc, ch);
        memcpy(gr, acc, len * sizeof(float));
    }
}

static void scratch_free(Scratch *s)
{
    free(s->lat);
    for (int l = 0; l < 3; l++)
        free(s->u[l]);
    free(s->big);
    free(s->small);
    free(s->x);
    free(s->row);
    free(s->tmp);
}

static int scratch_init(Scratch *s, const Refiner *r)
{
    const size_t N = (size_t)r->dc[0].cout, side = SPAN;
    size_t row = 0;
    memset(s, 0, sizeof(*s));
    s->lat = malloc(side * side * r->M * sizeof(float));
    for (int l = 0; l < 3; l++)
        s->u[l] = malloc((side << (l + 1)) * (side << (l + 1)) * N * sizeof(float));
    s->big = malloc((side << 3) * (side << 3) * N * sizeof(float));
    s->small = malloc((side << 2) * (side << 2) * (N > (size_t)r->M ? N : (size_t)r->M) *
                      sizeof(float));
    s->x = malloc((side << 4) * (side << 4) * 3 * sizeof(float));
    for (int l = 0; l < 4; l++) {   /* a row of layer l's input: side << l positions */
        const size_t need = (side << l) * TAPS * (size_t)r->dc[l].cout;
        row = need > row ? need : row;
    }
    s->row = malloc(row * sizeof(float));
    s->tmp = malloc(3 * (side << 3) * N * sizeof(float));
    int ok = s->lat && s->big && s->small && s->x && s->row && s->tmp;
    for (int l = 0; l < 3; l++)
        ok = ok && s->u[l];
    if (!ok)
        scratch_free(s);
    return ok ? 0 : -1;
}

/* Gradient of the squared error over the pixels this tile computes exactly, at the latents
 * [a0, a0 + TILE) x [b0, b0 + TILE), written to r->grad. */
static void refine_tile(Refiner *r, Scratch *s, int tile)
{
    const int a0 = tile / r->tiles_x * TILE, b0 = tile % r->tiles_x * TILE;
    const int a1 = a0 + TILE < r->h ? a0 + TILE : r->h, b1 = b0 + TILE < r->w ? b0 + TILE : r->w;
    const int r0 = a0 > HALO ? a0 - HALO : 0, c0 = b0 > HALO ? b0 - HALO : 0;
    const int r1 = a1 + HALO < r->h ? a1 + HALO : r->h, c1 = b1 + HALO < r->w ? b1 + HALO : r->w;
    const int th = r1 - r0, tw = c1 - c0, M = r->M;
    for (int i = 0; i < th; i++)
        for (int j = 0; j < tw; j++) {
            const float *src = r->y + ((size_t)(r0 + i) * r->w + c0 + j) * M;
            float *dst = s->lat + ((size_t)i * tw + j) * M;
            float slope;
            for (int c = 0; c < M; c++)
                dst[c] = soft_round(src[c], r->tau, noise_key(r, r0 + i, c0 + j, c), &slope) *
                         r->inv_gain[c];
        }
    /* forward: u_l = deconv_l(a_{l-1}), a_l = inverse GSDN(u_l) */
    const float *in = s->lat;
    for (int l = 0; l < 3; l++) {
        const int hl = th << l, wl = tw << l;
        deconv_forward(&r->dc[l], in, hl, wl, s->u[l], s->row);
        inverse_gsdn_forward(r->gsdn[l], s->u[l], (size_t)4 * hl * wl, 2 * wl, s->big, s->tmp);
        in = s->big;  /* a_{l-1} is spent once u_l is computed */
    }
    deconv_forward(&r->dc[3], in, th << 3, tw << 3, s->x, s->row);
    /* d/dx of the squared error in 8-bit units, over the exact, visible pixels */
    const int ph = th << 4, pw = tw << 4;
    const int y0 = r0 > 0 ? MARGIN : 0, x0 = c0 > 0 ? MARGIN : 0;
    const int y1 = r1 < r->h ? ph - MARGIN : ph, x1 = c1 < r->w ? pw - MARGIN : pw;
    for (int py = 0; py < ph; py++)
        for (int px = 0; px < pw; px++) {
            float *g = s->x + ((size_t)py * pw + px) * 3;
            const int iy = (r0 << 4) + py, ix = (c0 << 4) + px;
            if (py < y0 || py >= y1 || px < x0 || px >= x1 || iy >= r->height || ix >= r->width) {
                g[0] = g[1] = g[2] = 0.0f;
                continue;
            }
            const uint8_t *t = r->rgb + (size_t)iy * r->stride + (size_t)ix * 3;
            for (int c = 0; c < 3; c++)
                g[c] = 2.0f * 255.0f * (255.0f * g[c] - t[c]);
        }
    /* backward */
    float *g = s->x;
    for (int l = 3; l >= 0; l--) {
        const int hl = th << l, wl = tw << l;
        float *g_in = l == 3 ? s->big : l == 2 ? s->small : l == 1 ? s->big : s->small;
        deconv_backward(&r->dc[l], g, hl, wl, g_in, s->row);
        if (l > 0)
            inverse_gsdn_backward(r->gsdn[l - 1], s->u[l - 1], (size_t)hl * wl, wl, g_in, s->tmp);
        g = g_in;
    }
    for (int i = a0; i < a1; i++)
        for (int j = b0; j < b1; j++) {
            const float *src = g + ((size_t)(i - r0) * tw + j - c0) * M;
            const float *yv = r->y + ((size_t)i * r->w + j) * M;
            float *dst = r->grad + ((size_t)i * r->w + j) * M;
            const float *mix = r->mix ? r->mix + ((size_t)i * r->w + j) * M * GRIC_REFINE_MIX : NULL;
            for (int c = 0; c < M; c++) {
                float slope;
                const float v = soft_round(yv[c], r->tau, noise_key(r, i, j, c), &slope);
                float g = src[c] * r->inv_gain[c];
                if (mix)
                    g += r->bits_weight * gric_refine_bits_slope(mix + (size_t)c * GRIC_REFINE_MIX, v);
                dst[c] = g * slope;
            }
        }
}

static void refine_chunk(void *arg, int chunk, int chunks)
{
    Refiner *r = arg;
    for (int t = chunk; t < r->tiles; t += chunks)
        refine_tile(r, &r->scratch[chunk], t);
}

int gric_refine_latents(const GricTransform *g_s, const float *inv_gain, const uint8_t *rgb,
                        size_t stride, int width, int height, float *y, int h, int w,
                        int iterations, float step_size, const GricRefineRate *rate,
                        int threads)
{
    if (iterations <= 0)
        return 0;
    for (int l = 0; l < 4; l++)
        if (g_s->conv[l].k != 5 || g_s->conv[l].stride != 2 || !g_s->conv[l].transposed)
            return -1;
    Refiner r = {.inv_gain = inv_gain, .rgb = rgb, .stride = stride, .width = width,
                 .height = height, .h = h, .w = w, .M = g_s->conv[0].cin, .y = y,
                 .mix = rate ? rate->mix : NULL, .bits_weight = rate ? 3.0f / rate->lambda : 0};
    r.tiles_x = (w + TILE - 1) / TILE;
    r.tiles = r.tiles_x * ((h + TILE - 1) / TILE);
    r.chunks = threads < 1 ? 1 : threads > r.tiles ? r.tiles : threads;
    const size_t n = (size_t)h * w * r.M;
    float *m = calloc(n, sizeof(float)), *v = calloc(n, sizeof(float));
    r.grad = malloc(n * sizeof(float));
    r.scratch = calloc(r.chunks, sizeof(Scratch));
    int status = m && v && r.grad && r.scratch ? 0 : -1;
    for (int l = 0; !status && l < 4; l++) {
        status = deconv_init(&r.dc[l], &g_s->conv[l], l < 3 ? g_s->scale[l] : NULL);
        if (l < 3)
            r.gsdn[l] = &g_s->gsdn[l];
    }
    int ready = 0;
    for (; !status && ready < r.chunks; ready++)
        status = scratch_init(&r.scratch[ready], &r);
    GricPool *pool = status ? NULL : gric_pool_new(r.chunks);
    openblas_set_num_threads(1);
    float bias1 = 1.0f, bias2 = 1.0f;

    for (int it = 0; !status && it < iterations; it++) {
        r.iteration = it;
        r.tau = TAU_START * expf(-TAU_DECAY * it / iterations);
        r.tau = r.tau > TAU_MIN ? r.tau : TAU_MIN;
        gric_pool_run(pool, refine_chunk, &r, r.chunks);
        bias1 *= BETA1;
        bias2 *= BETA2;
        const float step = step_size / (1.0f - bias1), root = 1.0f / sqrtf(1.0f - bias2);
        for (size_t i = 0; i < n; i++) {
            m[i] = BETA1 * m[i] + (1.0f - BETA1) * r.grad[i];
            v[i] = BETA2 * v[i] + (1.0f - BETA2) * r.grad[i] * r.grad[i];
            y[i] -= step * m[i] / (sqrtf(v[i]) * root + EPSILON);
        }
    }
    gric_pool_free(pool);
    for (int i = 0; i < ready; i++)
        scratch_free(&r.scratch[i]);
    for (int l = 0; l < 4; l++) {
        free(r.dc[l].w);
        free(r.dc[l].b);
    }
    free(r.scratch);
    free(r.grad);
    free(m);
    free(v);
    return status;
}
