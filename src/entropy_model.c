/* Autoregressive coding of y_hat and table coding of z_hat.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "codec.h"
#include "entropy_model.h"

#define LIKELIHOOD_MIN 1e-9

int gric_latent_coder_init(GricLatentCoder *lc, const GricModel *m)
{
    memset(lc, 0, sizeof(*lc));
    lc->model = m;
    int M = m->M, ok = (lc->features = malloc(6 * (size_t)M * sizeof(float))) != NULL;
    for (int s = 0; s < 3; s++) {
        ok &= (lc->params[s] = malloc(3 * (size_t)M * sizeof(float))) != NULL;
        for (int i = 0; i < 2; i++)
            ok &= (lc->hidden[s][i] = malloc((size_t)m->H * sizeof(float))) != NULL;
    }
    if (!ok) {
        gric_latent_coder_free(lc);
        return -1;
    }
    return 0;
}

void gric_latent_coder_free(GricLatentCoder *lc)
{
    gric_pool_free(lc->pool);
    gric_ref_free(&lc->ref);
    free(lc->y_hat);
    free(lc->hyper);
    free(lc->ctx_rows);
    free(lc->features);
    for (int s = 0; s < 3; s++) {
        free(lc->params[s]);
        free(lc->hidden[s][0]);
        free(lc->hidden[s][1]);
    }
    free(lc->u);
    memset(lc, 0, sizeof(*lc));
}

void gric_latent_coder_set_threads(GricLatentCoder *lc, int threads)
{
    if (gric_pool_threads(lc->pool) == threads)
        return;
    gric_pool_free(lc->pool);
    lc->pool = gric_pool_new(threads);
}

int gric_latent_coder_reset(GricLatentCoder *lc, int h, int w)
{
    size_t M = (size_t)lc->model->M, hw = (size_t)h * w;
    lc->h = h;
    lc->w = w;
    lc->bits = 0;
    if (gric_reserve((void **)&lc->y_hat, &lc->cap_y_hat, hw * M * sizeof(float)) ||
        gric_reserve((void **)&lc->hyper, &lc->cap_hyper, hw * 2 * M * sizeof(float)) ||
        gric_reserve((void **)&lc->ctx_rows, &lc->cap_ctx_rows, (size_t)w * 2 * M * sizeof(float)) ||
        gric_reserve((void **)&lc->u, &lc->cap_u, hw * sizeof(double)))
        return -1;
    memset(lc->y_hat, 0, hw * M * sizeof(float));
    return gric_ref_reset(&lc->ref, h, w, (int)M);
}

/* The work of one position is cut into chunks of output channels (or Gram
 * columns) that the pool's threads share: every value is still computed by
 * one thread in the fixed order, so the result does not depend on the
 * thread count.  Chunks of a few thousand MACs keep the hand-off cheap. */
#define CHUNKS 8
typedef struct {
    GricLatentCoder *lc;
    int t, ref, layer;
} Position;

static void share(int n, int part, int parts, int *a, int *b)
{
    *a = (int)((long)n * part / parts);
    *b = (int)((long)n * (part + 1) / parts);
}

/* Context partial sums from the two rows above, for a whole row at once. */
static void task_context_rows(void *arg, int part, int parts)
{
    const Position *p = arg;
    GricLatentCoder *lc = p->lc;
    const GricExactConv *ctx = &lc->model->context;
    int x0, x1, row = p->t / lc->w;
    share(lc->w, part, parts, &x0, &x1);
    for (int x = x0; x < x1; x++) {
        float *acc = lc->ctx_rows + (size_t)x * ctx->cout;
        memcpy(acc, ctx->b, (size_t)ctx->cout * sizeof(float));
        gric_exact_conv_at(ctx, lc->y_hat, lc->h, lc->w, row, x, 0, 2, acc);
    }
}

/* ctx (left taps added to the row sums) and ref features of position t. */
static void task_features(void *arg, int part, int parts)
{
    const Position *p = arg;
    GricLatentCoder *lc = p->lc;
    const GricModel *m = lc->model;
    int C2 = 2 * m->M, c0, c1, w = lc->w;
    share(C2, part, parts, &c0, &c1);
    float *ctx = lc->features, *ref = lc->features + C2;
    memcpy(ctx + c0, lc->ctx_rows + (size_t)(p->t % w) * C2 + c0, (size_t)(c1 - c0) * sizeof(float));
    gric_exact_conv_part(&m->context, lc->y_hat, lc->h, w, p->t / w, p->t % w, 2, 3, c0, c1, ctx);
    if (p->ref >= 0) {
        memcpy(ref + c0, m->reference.b + c0, (size_t)(c1 - c0) * sizeof(float));
        gric_exact_conv_part(&m->reference, lc->y_hat, lc->h, w, p->ref / w, p->ref % w, 0, 3, c0,
                             c1, ref);
    } else {
        memset(ref + c0, 0, (size_t)(c1 - c0) * sizeof(float));
    }
}

/* Layer p->layer of all three stacks (MODEL.md §1): [ctx], [ctx, ref], [ctx, ref, hyper]. */
static void task_stack_layer(void *arg, int part, int parts)
{
    const Position *p = arg;
    GricLatentCoder *lc = p->lc;
    int i = p->layer;
    for (int s = 0; s < 3; s++) {
        const GricExactConv *layer = &lc->model->stack[s][i];
        const float *in = i == 0 ? lc->features : lc->hidden[s][i - 1];
        float *out = i == 2 ? lc->params[s] : lc->hidden[s][i];
        int c0, c1;
        share(layer->cout, part, parts, &c0, &c1);
        memcpy(out + c0, layer->b + c0, (size_t)(c1 - c0) * sizeof(float));
        gric_exact_conv_part(layer, in, 1, 1, 0, 0, 0, 1, c0, c1, out);
        if (i < 2)
            gric_leaky_relu(out + c0, (size_t)(c1 - c0));
    }
}

static void task_gram(void *arg, int part, int parts)
{
    const Position *p = arg;
    int j0, j1;
    share(gric_ref_gram_width(&p->lc->ref), part, parts, &j0, &j1);
    gric_ref_gram(&p->lc->ref, p->t, j0, j1);
}

/* Features of position t and the three stacks' outputs in lc->params;
 * returns the confidence S * U_ref. */
static double predict(GricLatentCoder *lc, int t)
{
    Position p = {lc, t, -1, 0};
    if (t % lc->w == 0)
        gric_pool_run(lc->pool, task_context_rows, &p, CHUNKS);
    int k;
    p.ref = gric_ref_search(&lc->ref, t, &k);
    lc->ref_index = p.ref;
    lc->sim_k = k;
    gric_pool_run(lc->pool, task_features, &p, CHUNKS);
    size_t C2 = 2 * (size_t)lc->model->M;
    memcpy(lc->features + 2 * C2, lc->hyper + (size_t)t * C2, C2 * sizeof(float));
    for (p.layer = 0; p.layer < 3; p.layer++)
        gric_pool_run(lc->pool, task_stack_layer, &p, CHUNKS);
    return p.ref >= 0 ? (double)k / GRIC_SIM_STEPS * lc->u[p.ref] : 0;
}

static void mixture_for(const GricLatentCoder *lc, int c, double conf, GricMixture *mix)
{
    int M = lc->model->M;
    float pi[3], mu[3], ls[3];
    for (int k = 0; k < 3; k++) {
        pi[k] = lc->params[k][c];
        mu[k] = lc->params[k][M + c];
        ls[k] = lc->params[k][2 * M + c];
    }
    gric_mixture_init(mix, &lc->model->tables, pi, mu, ls, conf);
}

/* After position t is known: U, the float copy for the convs, the search state. */
static void record(GricLatentCoder *lc, int t, const int32_t *values, const double *p1)
{
    int M = lc->model->M;
    double sum = 0;
    for (int c = 0; c < M; c++)
        sum += p1[c] > LIKELIHOOD_MIN ? p1[c] : LIKELIHOOD_MIN;
    lc->u[t] = sum / M;
    float *yf = lc->y_hat + (size_t)t * M;
    for (int c = 0; c < M; c++)
        yf[c] = (float)values[c];
    gric_ref_store(&lc->ref, t, values);
    Position p = {lc, t, -1, 0};
    gric_pool_run(lc->pool, task_gram, &p, CHUNKS);
}

/* One loop for both directions, so the encoder and the decoder cannot
 * drift apart: exactly one of enc / dec is set. */
static GricStatus code_latents(GricLatentCoder *lc, GricRansEncoder *enc, GricRansDecoder *dec,
                               int32_t *y_hat)
{
    const GricModel *m = lc->model;
    int M = m->M, T = lc->h * lc->w;
    double *p1 = malloc((size_t)M * sizeof(double));
    if (!p1)
        return GRIC_ERR_NOMEM;
    GricStatus st = GRIC_OK;
    for (int t = 0; t < T && st == GRIC_OK; t++) {
        double conf = predict(lc, t);
        int32_t *v = y_hat + (size_t)t * M;
        for (int c = 0; c < M; c++) {
            GricMixture mix;
            mixture_for(lc, c, conf, &mix);
            if (enc) {
                if (gric_mixture_encode(&mix, &m->tables, enc, v[c])) {
                    st = GRIC_ERR_NOMEM;
                    break;
                }
                lc->bits += gric_mixture_bits(&mix, &m->tables, v[c]);
                if (lc->observe)
                    lc->observe(lc->observe_user, lc, t, c, &mix);
            } else if (gric_mixture_decode(&mix, &m->tables, dec, &v[c])) {
                st = GRIC_ERR_CORRUPT;
                break;
            }
            p1[c] = gric_gaussian_likelihood(&m->tables, v[c], mix.mu[0], mix.sigma[0]);
        }
        if (st == GRIC_OK)
            record(lc, t, v, p1);
    }
    free(p1);
    return st;
}

GricStatus gric_latents_encode(GricLatentCoder *lc, const int32_t *y_hat, GricRansEncoder *enc)
{
    /* read-only in the encoding direction */
    return code_latents(lc, enc, NULL, (int32_t *)y_hat);
}

GricStatus gric_latents_decode(GricLatentCoder *lc, GricRansDecoder *dec, int32_t *y_hat)
{
    return code_latents(lc, NULL, dec, y_hat);
}

GricStatus gric_z_encode(const GricModel *m, const int32_t *z_hat, int hz, int wz,
                         GricRansEncoder *enc, double *bits)
{
    size_t n = (size_t)hz * wz;
    for (int c = 0; c < m->N; c++) {
        const int32_t *cdf = m->z_cdf + (size_t)c * m->z_cdf_width;
        for (size_t i = 0; i < n; i++) {
            int v = z_hat[c * n + i];
            if (gric_table_encode(cdf, m->z_len[c], m->z_offset[c], enc, v))
                return GRIC_ERR_NOMEM;
            *bits += gric_table_bits(cdf, m->z_len[c], m->z_offset[c], v);
        }
    }
    return GRIC_OK;
}

GricStatus gric_z_decode(const GricModel *m, GricRansDecoder *dec, int hz, int wz, int32_t *z_hat)
{
    size_t n = (size_t)hz * wz;
    for (int c = 0; c < m->N; c++) {
        const int32_t *cdf = m->z_cdf + (size_t)c * m->z_cdf_width;
        for (size_t i = 0; i < n; i++)
            if (gric_table_decode(cdf, m->z_len[c], m->z_offset[c], dec, &z_hat[c * n + i]))
                return GRIC_ERR_CORRUPT;
    }
    return GRIC_OK;
}

int gric_hyper_synthesis(GricLatentCoder *lc, const int32_t *z_hat, int hz, int wz)
{
    const GricModel *m = lc->model;
    size_t N = (size_t)m->N, n = (size_t)hz * wz;
    /* largest intermediate: (4hz, 4wz, N) */
    float *a = malloc(16 * n * N * sizeof(float)), *b = malloc(16 * n * N * sizeof(float));
    if (!a || !b) {
        free(a);
        free(b);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < N; c++)
            a[i * N + c] = (float)z_hat[c * n + i];
    int h = hz, w = wz, oh, ow;
    float *in = a, *out = b;
    for (int i = 0; i < 3; i++) {
        const GricExactConv *layer = &m->h_s[i];
        gric_exact_conv_out_size(layer, h, w, &oh, &ow);
        float *dst = i == 2 ? lc->hyper : out;
        gric_exact_conv(layer, in, h, w, dst);
        if (i < 2)
            gric_leaky_relu(dst, (size_t)oh * ow * layer->cout);
        h = oh;
        w = ow;
        float *tmp = in;
        in = out;
        out = tmp;
    }
    free(a);
    free(b);
    return 0;
}

int gric_hyper_analysis(const GricModel *m, const float *y, int h, int w, int32_t *z_hat)
{
    size_t N = (size_t)m->N;
    /* the first layer (stride 1) is the largest output: (h, w, N) */
    float *a = malloc((size_t)h * w * N * sizeof(float)), *b = malloc((size_t)h * w * N * sizeof(float));
    if (!a || !b) {
        free(a);
        free(b);
        return -1;
    }
    const float *in = y;
    float *bufs[2] = {a, b};
    int oh, ow;
    for (int i = 0; i < 3; i++) {
        gric_exact_conv_out_size(&m->h_a[i], h, w, &oh, &ow);
        gric_exact_conv(&m->h_a[i], in, h, w, bufs[i % 2]);
        if (i < 2)
            gric_leaky_relu(bufs[i % 2], (size_t)oh * ow * N);
        in = bufs[i % 2];
        h = oh;
        w = ow;
    }
    size_t nz = (size_t)h * w;
    for (size_t p = 0; p < nz; p++)
        for (size_t c = 0; c < N; c++)
            z_hat[c * nz + p] = gric_quantise(in[p * N + c]);
    free(a);
    free(b);
    return 0;
}
