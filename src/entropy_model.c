/* Autoregressive coding of y_hat and table coding of z_hat.
 *
 * Both directions compute every probability with the same kernels in the
 * same order, so they agree bit for bit.  The decoder must go one position
 * at a time; the encoder knows y_hat up front and works a latent row at a
 * time, which lets each weight serve several positions (one position at a
 * time, the kernels are bound by reading the weights).
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
    return 0;
}

void gric_latent_coder_free(GricLatentCoder *lc)
{
    gric_pool_free(lc->pool);
    gric_ref_free(&lc->ref);
    free(lc->y_hat);
    free(lc->hyper);
    free(lc->ctx_rows);
    free(lc->slot_buf);
    free(lc->slot_ints);
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

/* Work slots for n positions.  0 or -1. */
static int reserve_slots(GricLatentCoder *lc, int n)
{
    size_t M = (size_t)lc->model->M, H = (size_t)lc->model->H, sn = (size_t)n;
    if (gric_reserve((void **)&lc->slot_buf, &lc->cap_slot_buf, sn * (15 * M + 6 * H) * sizeof(float)))
        return -1;
    float *f = lc->slot_buf;
    lc->features = f;
    f += sn * 6 * M;
    for (int s = 0; s < 3; s++) {
        lc->params[s] = f;
        f += sn * 3 * M;
        for (int i = 0; i < 2; i++) {
            lc->hidden[s][i] = f;
            f += sn * H;
        }
    }
    return 0;
}

/* Per-column arrays of a row of w positions.  0 or -1. */
static int reserve_columns(GricLatentCoder *lc, int w)
{
    size_t sw = (size_t)w;
    if (gric_reserve((void **)&lc->slot_ints, &lc->cap_slot_ints, 6 * sw * sizeof(int)))
        return -1;
    int **arrays[6] = {&lc->site_y, &lc->site_x, &lc->iota, &lc->zeros, &lc->row_ref, &lc->row_sim};
    for (int a = 0; a < 6; a++)
        *arrays[a] = lc->slot_ints + a * sw;
    for (int i = 0; i < w; i++) {
        lc->iota[i] = i;
        lc->zeros[i] = 0;
    }
    return 0;
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
        gric_reserve((void **)&lc->u, &lc->cap_u, hw * sizeof(double)) || reserve_slots(lc, 1) ||
        reserve_columns(lc, w))
        return -1;
    memset(lc->y_hat, 0, hw * M * sizeof(float));
    return gric_ref_reset(&lc->ref, h, w, (int)M);
}

/* The decoder's work for one position is cut into chunks of output channels
 * (or Gram columns) that the pool's threads share: every value is still
 * computed by one thread in the fixed order, so the result does not depend
 * on the thread count.  Chunks of a few thousand MACs keep the hand-off cheap;
 * one thread takes the work whole, so the kernels get long runs of outputs. */
#define CHUNKS 8
#define OUTPUT_BLOCK 32   /* outputs the exact kernel sums at once */
#define SITE_GROUP 4      /* positions gric_exact_conv_sites takes at once */
typedef struct {
    GricLatentCoder *lc;
    int t, ref, layer;
} Position;

static int chunks(const GricLatentCoder *lc)
{
    return lc->pool ? CHUNKS : 1;
}

/* [a, b): part `part` of `parts` of [0, n), cut at multiples of `unit` (the
 * kernels' block of outputs, or a group of sites) where n allows. */
static void share(int n, int unit, int part, int parts, int *a, int *b)
{
    int units = (n + unit - 1) / unit;
    *a = (int)((long)units * part / parts) * unit;
    *b = (int)((long)units * (part + 1) / parts) * unit;
    *a = *a < n ? *a : n;
    *b = *b < n ? *b : n;
}

/* U (MODEL.md §3): the mean likelihood of a position's values under its
 * local-only prediction (params: stack_local's output for it). */
static double local_likelihood(const GricLatentCoder *lc, const float *params, const int32_t *values)
{
    const GricModel *m = lc->model;
    int M = m->M;
    double sum = 0;
    for (int c = 0; c < M; c++) {
        double p = gric_gaussian_likelihood(&m->tables, values[c], (double)params[M + c],
                                            gric_mixture_sigma(&m->tables, params[2 * M + c]));
        sum += p > LIKELIHOOD_MIN ? p : LIKELIHOOD_MIN;
    }
    return sum / M;
}

static double confidence(const GricLatentCoder *lc, int ref, int sim_k)
{
    return ref >= 0 ? (double)sim_k / GRIC_SIM_STEPS * lc->u[ref] : 0;
}

/* The mixture of channel c in work slot `slot`. */
static void mixture_for(const GricLatentCoder *lc, int slot, int c, double conf, GricMixture *mix)
{
    int M = lc->model->M;
    float pi[3], mu[3], ls[3];
    for (int k = 0; k < 3; k++) {
        const float *p = lc->params[k] + (size_t)slot * 3 * M;
        pi[k] = p[c];
        mu[k] = p[M + c];
        ls[k] = p[2 * M + c];
    }
    gric_mixture_init(mix, &lc->model->tables, pi, mu, ls, conf);
}

/* Layer `layer` of stack s for the positions in slots [a, b), all at once. */
static void stack_layer_sites(GricLatentCoder *lc, int s, int layer, int a, int b)
{
    const GricModel *m = lc->model;
    const GricExactConv *conv = &m->stack[s][layer];
    size_t M = (size_t)m->M, H = (size_t)m->H;
    const float *in = layer == 0 ? lc->features + a * 6 * M : lc->hidden[s][layer - 1] + a * H;
    size_t in_stride = layer == 0 ? 6 * M : H;
    float *out = layer == 2 ? lc->params[s] + a * 3 * M : lc->hidden[s][layer] + a * H;
    size_t out_stride = layer == 2 ? 3 * M : H;
    for (int i = a; i < b; i++)
        memcpy(out + (i - a) * out_stride, conv->b, (size_t)conv->cout * sizeof(float));
    gric_exact_conv_sites(conv, in, in_stride, 1, b - a, lc->zeros, lc->iota, b - a, 0, 1, out,
                          out_stride);
    if (layer < 2)
        for (int i = a; i < b; i++)
            gric_leaky_relu(out + (i - a) * out_stride, (size_t)conv->cout);
}

/* ---- one position at a time: the decoder, and the encoder with RDO ---- */

/* Context partial sums from the two rows above, for a whole row at once. */
static void task_context_rows(void *arg, int part, int parts)
{
    const Position *p = arg;
    GricLatentCoder *lc = p->lc;
    const GricExactConv *ctx = &lc->model->context;
    int x0, x1, row = p->t / lc->w;
    share(lc->w, SITE_GROUP, part, parts, &x0, &x1);
    for (int x = x0; x < x1; x++) {
        lc->site_y[x] = row;
        memcpy(lc->ctx_rows + (size_t)x * ctx->cout, ctx->b, (size_t)ctx->cout * sizeof(float));
    }
    gric_exact_conv_sites(ctx, lc->y_hat, (size_t)ctx->cin, lc->h, lc->w, lc->site_y + x0,
                          lc->iota + x0, x1 - x0, 0, 2, lc->ctx_rows + (size_t)x0 * ctx->cout,
                          (size_t)ctx->cout);
}

/* ctx (left taps added to the row sums) and ref features of position t. */
static void task_features(void *arg, int part, int parts)
{
    const Position *p = arg;
    GricLatentCoder *lc = p->lc;
    const GricModel *m = lc->model;
    int C2 = 2 * m->M, c0, c1, w = lc->w;
    share(C2, OUTPUT_BLOCK, part, parts, &c0, &c1);
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
        share(layer->cout, OUTPUT_BLOCK, part, parts, &c0, &c1);
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
    share(gric_ref_gram_width(&p->lc->ref), 1, part, parts, &j0, &j1);
    gric_ref_gram(&p->lc->ref, p->t, j0, j1);
}

/* Position t is known: the search state learns it (both directions). */
static void record(GricLatentCoder *lc, int t, const int32_t *values)
{
    gric_ref_store(&lc->ref, t, values);
    Position p = {lc, t, -1, 0};
    gric_pool_run(lc->pool, task_gram, &p, chunks(lc));
}

/* Features of position t and the three stacks' outputs in slot 0;
 * returns the confidence S * U_ref. */
static double predict(GricLatentCoder *lc, int t)
{
    Position p = {lc, t, -1, 0};
    if (t % lc->w == 0)
        gric_pool_run(lc->pool, task_context_rows, &p, chunks(lc));
    int k;
    p.ref = gric_ref_search(&lc->ref, t, &k);
    lc->ref_index = p.ref;
    lc->sim_k = k;
    gric_pool_run(lc->pool, task_features, &p, chunks(lc));
    size_t C2 = 2 * (size_t)lc->model->M;
    memcpy(lc->features + 2 * C2, lc->hyper + (size_t)t * C2, C2 * sizeof(float));
    for (p.layer = 0; p.layer < 3; p.layer++)
        gric_pool_run(lc->pool, task_stack_layer, &p, chunks(lc));
    return confidence(lc, p.ref, k);
}

static uint32_t frequency(const GricMixture *mix, const GricTables *tab, int v)
{
    return gric_mixture_cum(mix, tab, v + 1) - gric_mixture_cum(mix, tab, v);
}

/* round(y) = v0 or the other neighbour v1 of y, whichever costs less in
 * bits + slope / ln 2 * (y - r)^2, r being the value's reconstruction (what
 * the decoder will synthesise).  Both must be regular symbols; the test
 * f1 > f0 * EXP(slope * ((y - r1)^2 - (y - r0)^2)) uses the coding path's
 * tables, so an encode is the same on every machine. */
static int rdo_value(const GricMixture *mix, const GricTables *tab, float y, int v0, double slope,
                     double shift)
{
    double e = (double)y - v0;
    int v1 = e > 0 ? v0 + 1 : v0 - 1;
    if (e == 0 || mix->uniform || v0 < mix->lo || v0 > mix->hi || v1 < mix->lo || v1 > mix->hi)
        return v0;
    double e0 = (double)y - gric_mixture_reconstruct(mix, tab, v0, shift);
    double e1 = (double)y - gric_mixture_reconstruct(mix, tab, v1, shift);
    double extra = slope * (e1 * e1 - e0 * e0);
    if (extra >= 8.0)   /* past EXP's table: v1 would need f1 > 2981 f0 */
        return v0;
    uint32_t f0 = frequency(mix, tab, v0), f1 = frequency(mix, tab, v1);
    return (double)f1 > (double)f0 * gric_exp(tab, extra) ? v1 : v0;
}

/* With dec: decodes y_hat, and y_rec with the given reconstruction shift.
 * Without: codes y_hat into enc, each value first chosen by rdo_value from y
 * (priced with the model's shift).  One loop for both, so they cannot drift apart. */
static GricStatus code_positions(GricLatentCoder *lc, GricRansDecoder *dec, GricRansEncoder *enc,
                                 const float *y, double slope, double shift, int32_t *y_hat,
                                 float *y_rec)
{
    const GricModel *m = lc->model;
    int M = m->M, T = lc->h * lc->w;
    for (int t = 0; t < T; t++) {
        double conf = predict(lc, t);
        int32_t *v = y_hat + (size_t)t * M;
        for (int c = 0; c < M; c++) {
            GricMixture mix;
            mixture_for(lc, 0, c, conf, &mix);
            if (dec) {
                if (gric_mixture_decode(&mix, &m->tables, dec, &v[c]))
                    return GRIC_ERR_CORRUPT;
                y_rec[(size_t)t * M + c] =
                    (float)gric_mixture_reconstruct(&mix, &m->tables, v[c], shift);
            } else {
                v[c] = rdo_value(&mix, &m->tables, y[(size_t)t * M + c], v[c], slope, shift);
                if (gric_mixture_encode(&mix, &m->tables, enc, v[c]))
                    return GRIC_ERR_NOMEM;
                lc->bits += gric_mixture_bits(&mix, &m->tables, v[c]);
            }
            if (lc->observe)
                lc->observe(lc->observe_user, lc, t, c, &mix);
        }
        /* v is known: U, the conv input and the search learn it */
        lc->u[t] = local_likelihood(lc, lc->params[0], v);
        float *yf = lc->y_hat + (size_t)t * M;
        for (int c = 0; c < M; c++)
            yf[c] = (float)v[c];
        record(lc, t, v);
    }
    return GRIC_OK;
}

GricStatus gric_latents_decode(GricLatentCoder *lc, GricRansDecoder *dec, double shift,
                               int32_t *y_hat, float *y_rec)
{
    return code_positions(lc, dec, NULL, NULL, 0, shift, y_hat, y_rec);
}

GricStatus gric_latents_encode_rdo(GricLatentCoder *lc, const float *y, int32_t *y_hat,
                                   double slope, GricRansEncoder *enc)
{
    return code_positions(lc, NULL, enc, y, slope, lc->model->recon_shift, y_hat, NULL);
}

/* ---- encoder: a latent row at a time ---- */

typedef struct {
    GricLatentCoder *lc;
    const int32_t *y_hat;
    int row, parts;
} Row;

/* ctx, stack_local and U for the row's positions [a, b). */
static void task_row_local(void *arg, int part, int parts)
{
    const Row *r = arg;
    GricLatentCoder *lc = r->lc;
    const GricModel *m = lc->model;
    size_t M = (size_t)m->M;
    int a, b, w = lc->w;
    share(w, SITE_GROUP, part, parts, &a, &b);
    for (int x = a; x < b; x++) {
        lc->site_y[x] = r->row;
        memcpy(lc->features + x * 6 * M, m->context.b, 2 * M * sizeof(float));
    }
    gric_exact_conv_sites(&m->context, lc->y_hat, M, lc->h, w, lc->site_y + a, lc->iota + a, b - a,
                          0, m->context.k, lc->features + a * 6 * M, 6 * M);
    for (int layer = 0; layer < 3; layer++)
        stack_layer_sites(lc, 0, layer, a, b);
    for (int x = a; x < b; x++) {
        size_t t = (size_t)r->row * w + x;
        lc->u[t] = local_likelihood(lc, lc->params[0] + x * 3 * M, r->y_hat + t * M);
    }
}

/* ref features, hyper and the two other stacks for the row's positions [a, b). */
static void task_row_mixture(void *arg, int part, int parts)
{
    const Row *r = arg;
    GricLatentCoder *lc = r->lc;
    const GricModel *m = lc->model;
    size_t M = (size_t)m->M;
    int a, b, w = lc->w;
    share(w, SITE_GROUP, part, parts, &a, &b);
    for (int x = a; x < b; x++) {
        int ref = lc->row_ref[x];
        /* a position without reference is computed at (0, 0) and then zeroed */
        lc->site_y[x] = ref >= 0 ? ref / w : 0;
        lc->site_x[x] = ref >= 0 ? ref % w : 0;
        memcpy(lc->features + x * 6 * M + 2 * M, m->reference.b, 2 * M * sizeof(float));
        memcpy(lc->features + x * 6 * M + 4 * M, lc->hyper + ((size_t)r->row * w + x) * 2 * M,
               2 * M * sizeof(float));
    }
    gric_exact_conv_sites(&m->reference, lc->y_hat, M, lc->h, w, lc->site_y + a, lc->site_x + a,
                          b - a, 0, m->reference.k, lc->features + a * 6 * M + 2 * M, 6 * M);
    for (int x = a; x < b; x++)
        if (lc->row_ref[x] < 0)
            memset(lc->features + x * 6 * M + 2 * M, 0, 2 * M * sizeof(float));
    for (int layer = 0; layer < 3; layer++)
        for (int s = 1; s < 3; s++)
            stack_layer_sites(lc, s, layer, a, b);
}

GricStatus gric_latents_encode(GricLatentCoder *lc, const int32_t *y_hat, GricRansEncoder *enc)
{
    const GricModel *m = lc->model;
    int M = m->M, w = lc->w;
    if (reserve_slots(lc, w))
        return GRIC_ERR_NOMEM;
    for (size_t i = 0; i < (size_t)lc->h * w * M; i++)
        lc->y_hat[i] = (float)y_hat[i];
    /* two parts per thread even out rows that do not split evenly */
    int groups = (w + SITE_GROUP - 1) / SITE_GROUP, parts = 2 * gric_pool_threads(lc->pool);
    Row r = {lc, y_hat, 0, lc->pool ? (groups < parts ? groups : parts) : 1};
    for (r.row = 0; r.row < lc->h; r.row++) {
        gric_pool_run(lc->pool, task_row_local, &r, r.parts);
        for (int x = 0; x < w; x++) {
            int t = r.row * w + x;
            lc->row_ref[x] = gric_ref_search(&lc->ref, t, &lc->row_sim[x]);
            record(lc, t, y_hat + (size_t)t * M);
        }
        gric_pool_run(lc->pool, task_row_mixture, &r, r.parts);
        for (int x = 0; x < w; x++) {
            int t = r.row * w + x;
            const int32_t *v = y_hat + (size_t)t * M;
            double conf = confidence(lc, lc->row_ref[x], lc->row_sim[x]);
            lc->ref_index = lc->row_ref[x];
            lc->sim_k = lc->row_sim[x];
            for (int c = 0; c < M; c++) {
                GricMixture mix;
                mixture_for(lc, x, c, conf, &mix);
                if (gric_mixture_encode(&mix, &m->tables, enc, v[c]))
                    return GRIC_ERR_NOMEM;
                lc->bits += gric_mixture_bits(&mix, &m->tables, v[c]);
                if (lc->observe)
                    lc->observe(lc->observe_user, lc, t, c, &mix);
            }
        }
    }
    return GRIC_OK;
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
