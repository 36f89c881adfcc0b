/* The analysis and synthesis transforms g_a / g_s on OpenBLAS (docs/MODEL.md §1).
 * Not part of the coding path: results only need to match the reference up to float rounding.
 *
 * Each transform is a pipeline of five stages: a source (image or latent rows, HWC floats)
 * and four conv layers.  A stage computes one output row at a time, pulling just the input
 * rows it needs from the previous stage, which keeps them in a ring of RING rows.  A conv
 * row is an im2col gather followed by one sgemm against weights packed [tap][cin][cout].
 * A transposed conv is split into stride x stride phases (output row/column parity), each an
 * ordinary gather over the taps of that parity, so no scatter-add is needed.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"

#define RING 5      /* a 5-tap stride-2 conv needs 5 consecutive input rows */
#define STAGES 5    /* source + 4 layers */

typedef struct {
    int ntaps;
    int dy[25], dx[25];     /* input offset of each tap (see conv_row) */
    float *w;               /* (ntaps * cin) x cout */
} Phase;

typedef struct {
    const GricConv *conv;
    const GricGsdn *gsdn;   /* NULL after the last conv */
    float *b;               /* bias, times the rate scale */
    int nphase;             /* phases per axis: 1 for a conv, stride for a transposed conv */
    Phase phase[4];         /* [row phase][column phase] */
} Layer;

typedef struct {
    const GricTransform *t;
    int synthesis;
    Layer layer[4];
    int dims[STAGES][3];    /* rows, width, channels of each stage's output */
    const uint8_t *rgb_in;  /* analysis source */
    const float *lat_in;    /* synthesis source */
    float *y_out;           /* analysis sink */
    uint8_t *rgb_out;       /* synthesis sink */
    size_t stride;
    int width, height;
} Job;

typedef struct {
    int h, w, ch;
    int next;               /* next row to compute; rows [next - RING, next) are in ring */
    float *ring;
} Stage;

typedef struct {
    const Job *job;
    Stage st[STAGES];
    float *col;             /* im2col rows */
    float *tmp;             /* GSDN scratch: squares, norm, mean */
} Pipeline;

static float *row_ptr(const Stage *s, int r)
{
    return s->ring + (size_t)(r % RING) * s->w * s->ch;
}

/* Range of input rows [*lo, *hi] (clipped to [0, hin)) that output row o of c reads. */
static void input_rows(const GricConv *c, int o, int hin, int *lo, int *hi)
{
    const int p = c->k / 2, s = c->stride;
    if (c->transposed) {
        *lo = o - p <= 0 ? 0 : (o - p + s - 1) / s;
        *hi = (o + p) / s;
    } else {
        *lo = o * s - p < 0 ? 0 : o * s - p;
        *hi = o * s + p;
    }
    if (*hi > hin - 1)
        *hi = hin - 1;
}

/* Pack one conv's weights per phase, each output channel's weights and bias times its
 * rate scale (scale may be NULL).  A conv has one phase with every tap: input index
 * o*s + (k - p).  A transposed conv's output o = s*j + phase reads input j + (phase + p - k)/s
 * through the taps k with (phase + p - k) divisible by s. */
static int init_layer(Layer *L, const GricConv *c, const GricGsdn *g, const float *scale)
{
    const int k = c->k, p = k / 2, s = c->stride;
    memset(L, 0, sizeof(*L));
    L->conv = c;
    L->gsdn = g;
    L->b = malloc((size_t)c->cout * sizeof(float));
    if (!L->b)
        return -1;
    for (int co = 0; co < c->cout; co++)
        L->b[co] = scale ? c->b[co] * scale[co] : c->b[co];
    L->nphase = c->transposed ? s : 1;
    for (int py = 0; py < L->nphase; py++)
        for (int px = 0; px < L->nphase; px++) {
            Phase *ph = &L->phase[py * L->nphase + px];
            int tap[25];
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    if (c->transposed && (((py + p - ky) % s + s) % s || ((px + p - kx) % s + s) % s))
                        continue;
                    ph->dy[ph->ntaps] = c->transposed ? (py + p - ky) / s : ky - p;
                    ph->dx[ph->ntaps] = c->transposed ? (px + p - kx) / s : kx - p;
                    tap[ph->ntaps++] = ky * k + kx;
                }
            ph->w = malloc((size_t)ph->ntaps * c->cin * c->cout * sizeof(float));
            if (!ph->w)
                return -1;
            for (int t = 0; t < ph->ntaps; t++)
                for (int ci = 0; ci < c->cin; ci++)
                    for (int co = 0; co < c->cout; co++) {
                        size_t src = c->transposed ? (size_t)ci * c->cout + co : (size_t)co * c->cin + ci;
                        const float w = c->w[src * k * k + tap[t]];
                        ph->w[((size_t)t * c->cin + ci) * c->cout + co] = scale ? w * scale[co] : w;
                    }
        }
    return 0;
}

/* Forward GSDN (y = (x - mean) / norm) or its inverse (x = y * norm + mean) on n positions. */
static void gsdn_row(const GricGsdn *g, int inverse, float *x, int n, float *tmp)
{
    const int ch = g->ch;
    const size_t len = (size_t)n * ch;
    float *sq = tmp, *norm = tmp + len, *mean = tmp + 2 * len;
    for (size_t i = 0; i < len; i++)
        sq[i] = x[i] * x[i];
    for (int i = 0; i < n; i++) {
        memcpy(norm + (size_t)i * ch, g->beta, ch * sizeof(float));
        memcpy(mean + (size_t)i * ch, g->mbeta, ch * sizeof(float));
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, ch, ch, 1.0f, sq, ch, g->gamma, ch,
                1.0f, norm, ch);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, ch, ch, 1.0f, x, ch, g->mgamma, ch,
                1.0f, mean, ch);
    for (size_t i = 0; i < len; i++) {
        const float d = sqrtf(norm[i]);
        x[i] = inverse ? x[i] * d + mean[i] : (x[i] - mean[i]) / d;
    }
}

static void compute_row(Pipeline *p, int l, int o);

/* Compute stage l up to and including row r. */
static void ensure(Pipeline *p, int l, int r)
{
    for (Stage *s = &p->st[l]; s->next <= r; s->next++)
        compute_row(p, l, s->next);
}

static void source_row(const Pipeline *p, int r, float *out)
{
    const Job *j = p->job;
    const Stage *s = &p->st[0];
    if (j->synthesis) {
        for (int x = 0; x < s->w; x++)
            for (int c = 0; c < s->ch; c++)
                out[(size_t)x * s->ch + c] = j->lat_in[((size_t)c * s->h + r) * s->w + x];
    } else {
        const uint8_t *src = j->rgb_in + (size_t)(r < j->height ? r : j->height - 1) * j->stride;
        for (int x = 0; x < s->w; x++) {
            const uint8_t *px = src + (size_t)(x < j->width ? x : j->width - 1) * 3;
            for (int c = 0; c < 3; c++)
                out[x * 3 + c] = px[c] / 255.0f;
        }
    }
}

static void conv_row(Pipeline *p, int l, int o)
{
    const Layer *L = &p->job->layer[l - 1];
    const GricConv *c = L->conv;
    const Stage *in = &p->st[l - 1], *s = &p->st[l];
    const int py = c->transposed ? o % c->stride : 0;
    const int base = c->transposed ? o / c->stride : o * c->stride;  /* input row of offset 0 */
    const int mul = c->transposed ? 1 : c->stride;  /* input columns per output column step */
    const int n = s->w / L->nphase, cin = c->cin, cout = c->cout;
    float *out = row_ptr(s, o);
    for (int x = 0; x < s->w; x++)
        memcpy(out + (size_t)x * cout, L->b, cout * sizeof(float));
    for (int px = 0; px < L->nphase; px++) {
        const Phase *ph = &L->phase[py * L->nphase + px];
        const int K = ph->ntaps * cin;
        for (int t = 0; t < ph->ntaps; t++) {
            const int iy = base + ph->dy[t];
            const float *src = iy >= 0 && iy < in->h ? row_ptr(in, iy) : NULL;
            for (int j = 0; j < n; j++) {
                const int ix = j * mul + ph->dx[t];
                float *dst = p->col + (size_t)j * K + (size_t)t * cin;
                if (src && ix >= 0 && ix < in->w)
                    memcpy(dst, src + (size_t)ix * cin, cin * sizeof(float));
                else
                    memset(dst, 0, cin * sizeof(float));
            }
        }
        /* Phase px fills every nphase-th output position, starting at px. */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, cout, K, 1.0f, p->col, K, ph->w,
                    cout, 1.0f, out + (size_t)px * cout, L->nphase * cout);
    }
    if (L->gsdn)
        gsdn_row(L->gsdn, c->transposed, out, s->w, p->tmp);
}

static void compute_row(Pipeline *p, int l, int o)
{
    if (l == 0) {
        source_row(p, o, row_ptr(&p->st[0], o));
        return;
    }
    int lo, hi;
    input_rows(p->job->layer[l - 1].conv, o, p->st[l - 1].h, &lo, &hi);
    ensure(p, l - 1, hi);
    conv_row(p, l, o);
}

static void sink_row(const Pipeline *p, int r)
{
    const Job *j = p->job;
    const Stage *s = &p->st[STAGES - 1];
    const float *row = row_ptr(s, r);
    if (j->synthesis) {
        uint8_t *dst = j->rgb_out + (size_t)r * j->stride;
        for (int i = 0; i < j->width * 3; i++) {
            const float v = 255.0f * row[i];
            dst[i] = v > 0.0f ? (uint8_t)(v < 255.0f ? roundf(v) : 255.0f) : 0;
        }
    } else {
        for (int x = 0; x < s->w; x++)
            for (int c = 0; c < s->ch; c++)
                j->y_out[((size_t)c * s->h + r) * s->w + x] = row[(size_t)x * s->ch + c];
    }
}

static void free_pipeline(Pipeline *p)
{
    for (int l = 0; l < STAGES; l++)
        free(p->st[l].ring);
    free(p->col);
    free(p->tmp);
}

static int init_pipeline(Pipeline *p, const Job *j)
{
    size_t col = 0, tmp = 0;
    memset(p, 0, sizeof(*p));
    p->job = j;
    for (int l = 0; l < STAGES; l++) {
        Stage *s = &p->st[l];
        s->h = j->dims[l][0];
        s->w = j->dims[l][1];
        s->ch = j->dims[l][2];
        s->ring = malloc((size_t)RING * s->w * s->ch * sizeof(float));
        if (!s->ring)
            return -1;
        if (l == 0)
            continue;
        const Layer *L = &j->layer[l - 1];
        for (int i = 0; i < L->nphase * L->nphase; i++) {
            size_t need = (size_t)(s->w / L->nphase) * L->phase[i].ntaps * L->conv->cin;
            col = need > col ? need : col;
        }
        if (L->gsdn && (size_t)3 * s->w * s->ch > tmp)
            tmp = (size_t)3 * s->w * s->ch;
    }
    p->col = malloc(col * sizeof(float));
    p->tmp = malloc(tmp * sizeof(float));
    return p->col && p->tmp ? 0 : -1;
}

typedef struct {
    const Job *job;
    int r0, r1;             /* final-stage rows of this band */
    int status;
    int started;            /* runs in its own thread */
    pthread_t thread;
} Band;

static void *run_band(void *arg)
{
    Band *b = arg;
    Pipeline p;
    b->status = 0;
    if (b->r0 >= b->r1)     /* cropped away */
        return NULL;
    b->status = init_pipeline(&p, b->job);
    if (!b->status) {
        /* Start every stage at the first row the band needs from it. */
        p.st[STAGES - 1].next = b->r0;
        for (int l = STAGES - 1; l > 0; l--) {
            int lo, hi;
            input_rows(b->job->layer[l - 1].conv, p.st[l].next, p.st[l - 1].h, &lo, &hi);
            p.st[l - 1].next = lo;
        }
        for (int r = b->r0; r < b->r1; r++) {
            ensure(&p, STAGES - 1, r);
            sink_row(&p, r);
        }
    }
    free_pipeline(&p);
    return NULL;
}

/* Split the latent rows into one band per thread and run them; rows_out is how many
 * final-stage rows are wanted (the synthesis crops), a latent row being `scale` of them. */
static int run(Job *j, int threads, int rows_out, int scale)
{
    const int latent_rows = j->dims[j->synthesis ? 0 : STAGES - 1][0];
    const GricTransform *t = j->t;
    int status = 0;
    Band band[64];
    threads = threads < 1 ? 1 : threads > 64 ? 64 : threads;
    threads = threads > latent_rows ? latent_rows : threads;
    for (int l = 0; l < 4; l++)
        if (init_layer(&j->layer[l], &t->conv[l], l < 3 ? &t->gsdn[l] : NULL,
                       l < 3 ? t->scale[l] : NULL))
            status = -1;
    /* gric threads itself; nested BLAS threads would only oversubscribe the cores. */
    openblas_set_num_threads(1);
    for (int i = 0; !status && i < threads; i++) {
        Band *b = &band[i];
        b->job = j;
        b->r0 = (int)((long long)latent_rows * i / threads) * scale;
        b->r1 = (int)((long long)latent_rows * (i + 1) / threads) * scale;
        b->r0 = b->r0 < rows_out ? b->r0 : rows_out;
        b->r1 = b->r1 < rows_out ? b->r1 : rows_out;
        /* A band whose thread cannot start runs here after band 0 instead. */
        b->started = i > 0 && !pthread_create(&b->thread, NULL, run_band, b);
    }
    if (!status) {
        for (int i = 0; i < threads; i++)
            if (!band[i].started)
                run_band(&band[i]);
        for (int i = 0; i < threads; i++) {
            if (band[i].started)
                pthread_join(band[i].thread, NULL);
            status |= band[i].status;
        }
    }
    for (int l = 0; l < 4; l++) {
        free(j->layer[l].b);
        for (int i = 0; i < 4; i++)
            free(j->layer[l].phase[i].w);
    }
    return status ? -1 : 0;
}

int gric_analysis(const GricTransform *t, const uint8_t *rgb, size_t stride, int width, int height,
                  int padded_w, int padded_h, float *y, int threads)
{
    Job j = {.t = t, .rgb_in = rgb, .y_out = y, .stride = stride, .width = width, .height = height};
    int h = padded_h, w = padded_w, ch = 3;
    for (int l = 0; l < STAGES; l++) {
        if (l > 0) {
            const GricConv *c = &t->conv[l - 1];
            h = (h - 1) / c->stride + 1;
            w = (w - 1) / c->stride + 1;
            ch = c->cout;
        }
        j.dims[l][0] = h;
        j.dims[l][1] = w;
        j.dims[l][2] = ch;
    }
    return run(&j, threads, h, 1);
}

int gric_synthesis(const GricTransform *t, const float *y_scaled, int h, int w,
                   uint8_t *rgb, size_t stride, int width, int height, int threads)
{
    Job j = {.t = t, .synthesis = 1, .lat_in = y_scaled, .rgb_out = rgb, .stride = stride,
             .width = width, .height = height};
    int ch = t->conv[0].cin, scale = 1;
    for (int l = 0; l < STAGES; l++) {
        if (l > 0) {
            const GricConv *c = &t->conv[l - 1];
            h *= c->stride;
            w *= c->stride;
            scale *= c->stride;
            ch = c->cout;
        }
        j.dims[l][0] = h;
        j.dims[l][1] = w;
        j.dims[l][2] = ch;
    }
    return run(&j, threads, height, scale);
}
