/* Loading a weight file into runnable layers.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"

#define MAX_DIM 4096   /* sanity bound on N, M, H read from the file */

typedef struct {
    GricModel *m;
    GricError *err;
    int failed;
} Loader;

/* Float32 copy of a tensor of the given shape, owned by the model. */
static float *load_f32(Loader *l, const char *name, int ndim, const long *dims)
{
    if (l->failed)
        return NULL;
    const GricTensor *t = gric_container_expect(&l->m->file, name, GRIC_DT_F32, ndim, dims, l->err);
    float *v = t ? gric_tensor_to_f32(t) : NULL;
    float **owned = v ? realloc(l->m->owned, (l->m->n_owned + 1) * sizeof(float *)) : NULL;
    if (!owned) {
        if (t && !v)
            gric_fail(l->err, GRIC_ERR_NOMEM, "out of memory loading '%s'", name);
        free(v);
        l->failed = 1;
        return NULL;
    }
    l->m->owned = owned;
    owned[l->m->n_owned++] = v;
    return v;
}

static void load_conv(Loader *l, GricConv *c, const char *name, int cin, int cout, int k,
                      int stride, int transposed)
{
    char key[64];
    long wd[4] = {transposed ? cin : cout, transposed ? cout : cin, k, k}, bd[1] = {cout};
    snprintf(key, sizeof(key), "%s.weight", name);
    c->w = load_f32(l, key, 4, wd);
    snprintf(key, sizeof(key), "%s.bias", name);
    c->b = load_f32(l, key, 1, bd);
    c->cin = cin;
    c->cout = cout;
    c->k = k;
    c->stride = stride;
    c->transposed = transposed;
}

static void load_gsdn(Loader *l, GricGsdn *g, const char *name, int ch)
{
    static const char *const parts[4] = {"beta", "gamma", "mbeta", "mgamma"};
    const float *p[4];
    char key[64];
    for (int i = 0; i < 4; i++) {
        long dims[2] = {ch, ch};
        snprintf(key, sizeof(key), "%s.%s", name, parts[i]);
        p[i] = load_f32(l, key, i % 2 ? 2 : 1, dims);
    }
    g->ch = ch;
    g->beta = p[0];
    g->gamma = p[1];
    g->mbeta = p[2];
    g->mgamma = p[3];
}

static void load_transform(Loader *l, GricTransform *t, const char *name, int N, int M, int synth)
{
    const int chans[5] = {synth ? M : 3, N, N, N, synth ? 3 : M};
    char key[32];
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "%s.%d", name, 2 * i);
        load_conv(l, &t->conv[i], key, chans[i], chans[i + 1], 5, 2, synth);
        if (i < 3) {
            snprintf(key, sizeof(key), "%s.%d", name, 2 * i + 1);
            load_gsdn(l, &t->gsdn[i], key, N);
        }
    }
}

/* Exact layers keep their own repacked weights, so the file's layout is
 * converted into a temporary; only the bias stays with the model. */
static void load_exact(Loader *l, GricExactConv *c, const char *name, int cin, int cout, int k,
                       int stride, int transposed, const uint8_t *mask)
{
    char key[64];
    long wd[4] = {transposed ? cin : cout, transposed ? cout : cin, k, k}, bd[1] = {cout};
    snprintf(key, sizeof(key), "%s.bias", name);
    const float *b = load_f32(l, key, 1, bd);
    snprintf(key, sizeof(key), "%s.weight", name);
    const GricTensor *t = l->failed ? NULL : gric_container_expect(&l->m->file, key, GRIC_DT_F32,
                                                                    k == 1 ? 2 : 4, wd, l->err);
    if (!t) {
        l->failed = 1;
        return;
    }
    float *w = gric_tensor_to_f32(t);
    if (!w || gric_exact_conv_init(c, w, b, cin, cout, k, stride, transposed, mask)) {
        gric_fail(l->err, GRIC_ERR_NOMEM, "out of memory loading '%s'", name);
        l->failed = 1;
    }
    free(w);
}

/* 1x1 layers are stored as (cout, cin), the same memory as (cout, cin, 1, 1). */
static void load_dense(Loader *l, GricExactConv *c, const char *name, int cin, int cout)
{
    load_exact(l, c, name, cin, cout, 1, 1, 0, NULL);
}

static const int64_t *load_table(Loader *l, const char *name, long n)
{
    if (l->failed)
        return NULL;
    const GricTensor *t = gric_container_expect(&l->m->file, name, GRIC_DT_I64, 1, &n, l->err);
    l->failed |= !t;
    return t ? (const int64_t *)t->data : NULL;
}

/* The z tables drive the decoder's binary search: reject any that is not a
 * valid strictly increasing CDF ending at 1 << 16. */
static void load_z_tables(Loader *l)
{
    GricModel *m = l->m;
    long dims_n[1] = {m->N}, dims_cdf[2] = {m->N, -1};
    const GricTensor *cdf = gric_container_expect(&m->file, "z.cdf", GRIC_DT_I32, 2, dims_cdf, l->err);
    const GricTensor *len = cdf ? gric_container_expect(&m->file, "z.cdf_len", GRIC_DT_I32, 1,
                                                        dims_n, l->err) : NULL;
    const GricTensor *off = len ? gric_container_expect(&m->file, "z.offset", GRIC_DT_I32, 1,
                                                        dims_n, l->err) : NULL;
    if (!off) {
        l->failed = 1;
        return;
    }
    m->z_cdf = (const int32_t *)cdf->data;
    m->z_len = (const int32_t *)len->data;
    m->z_offset = (const int32_t *)off->data;
    m->z_cdf_width = (int)cdf->dims[1];
    for (int c = 0; c < m->N; c++) {
        const int32_t *row = m->z_cdf + (size_t)c * m->z_cdf_width;
        int n = m->z_len[c];
        int ok = n >= 2 && n < m->z_cdf_width && row[0] == 0 && row[n] == 65536 &&
                 m->z_offset[c] >= -GRIC_Y_LIMIT && m->z_offset[c] + n - 2 <= GRIC_Y_LIMIT;
        for (int i = 0; ok && i < n; i++)
            ok = row[i + 1] > row[i];
        if (!ok) {
            gric_fail(l->err, GRIC_ERR_BAD_MODEL, "weight file z table %d is invalid", c);
            l->failed = 1;
            return;
        }
    }
}

static GricStatus build(GricModel *m, GricError *err)
{
    Loader l = {m, err, 0};
    GricStatus st = gric_container_parse(&m->file, m->buf, m->size, err);
    if (st)
        return st;
    int64_t N = gric_container_meta(&m->file, "N", 0), M = gric_container_meta(&m->file, "M", 0);
    int64_t H = gric_container_meta(&m->file, "H", 0), K = gric_container_meta(&m->file, "K", 0);
    int64_t shift = gric_container_meta(&m->file, "recon_shift_256", 0);
    if (N < 1 || N > MAX_DIM || M < 1 || M > MAX_DIM || H < 1 || H > MAX_DIM || K < 2 || K > 64 ||
        shift < 0 || shift > 256 ||
        gric_container_meta(&m->file, "cdf_precision", 0) != 16 ||
        gric_container_meta(&m->file, "table_q", 0) != 40)
        return gric_fail(err, GRIC_ERR_BAD_MODEL, "weight file hyperparameters are invalid");
    m->N = (int)N;
    m->M = (int)M;
    m->H = (int)H;
    m->K = (int)K;
    m->recon_shift = shift / 256.0;
    load_transform(&l, &m->g_a, "g_a", m->N, m->M, 0);
    load_transform(&l, &m->g_s, "g_s", m->N, m->M, 1);
    load_exact(&l, &m->h_a[0], "h_a.0", m->M, m->N, 3, 1, 0, NULL);
    load_exact(&l, &m->h_a[1], "h_a.2", m->N, m->N, 5, 2, 0, NULL);
    load_exact(&l, &m->h_a[2], "h_a.4", m->N, m->N, 5, 2, 0, NULL);
    load_exact(&l, &m->h_s[0], "h_s.0", m->N, m->N, 5, 2, 1, NULL);
    load_exact(&l, &m->h_s[1], "h_s.2", m->N, m->N, 5, 2, 1, NULL);
    load_exact(&l, &m->h_s[2], "h_s.4", m->N, 2 * m->M, 3, 1, 0, NULL);
    static const uint8_t mask_a[25] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t mask_b[9] = {1, 1, 1, 1, 1};
    load_exact(&l, &m->context, "context", m->M, 2 * m->M, 5, 1, 0, mask_a);
    load_exact(&l, &m->reference, "reference", m->M, 2 * m->M, 3, 1, 0, mask_b);
    static const char *const stacks[3] = {"stack_local", "stack_ref", "stack_hyper"};
    for (int s = 0; s < 3; s++) {
        char key[32];
        const int cin[3] = {2 * (s + 1) * m->M, m->H, m->H}, cout[3] = {m->H, m->H, 3 * m->M};
        for (int i = 0; i < 3; i++) {
            snprintf(key, sizeof(key), "%s.%d", stacks[s], 2 * i);
            load_dense(&l, &m->stack[s][i], key, cin[i], cout[i]);
        }
    }
    long gd[2] = {m->K, m->M};
    m->gain = load_f32(&l, "gain", 2, gd);
    m->inv_gain = load_f32(&l, "inv_gain", 2, gd);
    long sd[3] = {m->K, 3, m->N};
    m->scale_a = load_f32(&l, "g_a.scale", 3, sd);
    m->scale_s = load_f32(&l, "g_s.scale", 3, sd);
    long kd[1] = {m->K};
    m->lambdas = load_f32(&l, "lambdas", 1, kd);
    m->tables.exp_tab = load_table(&l, "tab.exp", 2561);
    m->tables.phi_tab = load_table(&l, "tab.phi", 8193);
    if (!l.failed)
        load_z_tables(&l);
    if (l.failed)
        return err ? err->status : GRIC_ERR_BAD_MODEL;
    /* positive and finite: their logarithms are interpolated */
    for (int i = 0; i < m->K * m->M; i++)
        if (!(m->gain[i] > 0 && m->inv_gain[i] > 0 && m->gain[i] < 1e6f && m->inv_gain[i] < 1e6f))
            return gric_fail(err, GRIC_ERR_BAD_MODEL, "weight file gains are invalid");
    for (int i = 0; i < m->K * 3 * m->N; i++)
        if (!(m->scale_a[i] > 0 && m->scale_s[i] > 0 && m->scale_a[i] < 1e6f && m->scale_s[i] < 1e6f))
            return gric_fail(err, GRIC_ERR_BAD_MODEL, "weight file rate scales are invalid");
    for (int i = 0; i < m->K; i++)
        if (!(m->lambdas[i] > 0 && m->lambdas[i] < 1e6f))
            return gric_fail(err, GRIC_ERR_BAD_MODEL, "weight file lambdas are invalid");
    return GRIC_OK;
}

static GricModel *finish_open(GricModel *m, GricError *err)
{
    if (build(m, err) != GRIC_OK) {
        gric_model_close(m);
        return NULL;
    }
    return m;
}

GricModel *gric_model_open_memory(const void *data, size_t size, GricError *err)
{
    if (!data)
        return gric_fail(err, GRIC_ERR_INVALID_ARG, "no weight data"), NULL;
    GricModel *m = calloc(1, sizeof(*m));
    if (!m)
        return gric_fail(err, GRIC_ERR_NOMEM, "out of memory"), NULL;
    m->buf = data;
    m->size = size;
    return finish_open(m, err);
}

GricModel *gric_model_open(const char *path, GricError *err)
{
    if (!path)
        path = gric_default_model_path();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return gric_fail(err, GRIC_ERR_IO, "cannot open weight file %s", path), NULL;
    struct stat st;
    void *map = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size > 0)
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return gric_fail(err, GRIC_ERR_IO, "cannot map weight file %s", path), NULL;
    GricModel *m = calloc(1, sizeof(*m));
    if (!m) {
        munmap(map, (size_t)st.st_size);
        return gric_fail(err, GRIC_ERR_NOMEM, "out of memory"), NULL;
    }
    m->buf = map;
    m->size = (size_t)st.st_size;
    m->mapped = 1;
    return finish_open(m, err);
}

void gric_model_close(GricModel *m)
{
    if (!m)
        return;
    GricExactConv *exact[] = {&m->h_a[0], &m->h_a[1], &m->h_a[2], &m->h_s[0], &m->h_s[1],
                              &m->h_s[2], &m->context, &m->reference};
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        gric_exact_conv_free(exact[i]);
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < 3; i++)
            gric_exact_conv_free(&m->stack[s][i]);
    for (int i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    gric_container_free(&m->file);
    if (m->mapped)
        munmap((void *)m->buf, m->size);
    free(m);
}

uint64_t gric_model_id(const GricModel *m)
{
    return m->file.id;
}

const char *gric_default_model_path(void)
{
    const char *env = getenv("GRIC_MODEL");
    return env && *env ? env : GRIC_DATADIR "/gric-model.bin";
}

/* Row-wise geometric interpolation of a (K, n) table between its rate points. */
static void interpolate(const float *table, int K, size_t n, int quality, float *out)
{
    double t = (quality < 0 ? 0 : quality > 100 ? 100 : quality) / 100.0 * (K - 1);
    int k = (int)t < K - 2 ? (int)t : K - 2;
    double a = t - k;
    const float *lo = table + (size_t)k * n, *hi = lo + n;
    for (size_t i = 0; i < n; i++)
        out[i] = (float)exp((1 - a) * log(lo[i]) + a * log(hi[i]));
}

int gric_rate_init(GricRate *r, const GricModel *m)
{
    memset(r, 0, sizeof(*r));
    r->gain = malloc((size_t)m->M * sizeof(float));
    r->inv_gain = malloc((size_t)m->M * sizeof(float));
    r->scale = malloc((size_t)6 * m->N * sizeof(float));
    r->g_a = m->g_a;
    r->g_s = m->g_s;
    for (int l = 0; l < 3; l++) {
        r->g_a.scale[l] = r->scale ? r->scale + (size_t)l * m->N : NULL;
        r->g_s.scale[l] = r->scale ? r->scale + (size_t)(3 + l) * m->N : NULL;
    }
    return r->gain && r->inv_gain && r->scale ? 0 : -1;
}

void gric_rate_set(GricRate *r, const GricModel *m, int quality)
{
    interpolate(m->gain, m->K, (size_t)m->M, quality, r->gain);
    interpolate(m->inv_gain, m->K, (size_t)m->M, quality, r->inv_gain);
    interpolate(m->scale_a, m->K, (size_t)3 * m->N, quality, r->scale);
    interpolate(m->scale_s, m->K, (size_t)3 * m->N, quality, r->scale + (size_t)3 * m->N);
    interpolate(m->lambdas, m->K, 1, quality, &r->lambda);
}

void gric_rate_free(GricRate *r)
{
    free(r->gain);
    free(r->inv_gain);
    free(r->scale);
    memset(r, 0, sizeof(*r));
}
