/* Speed benchmark: per-stage time of encoding and decoding one image, the
 * model's multiply-accumulates per pixel, the transforms' GFLOP/s against
 * the machine's sgemm peak, and peak memory.
 *   gric-speed [-t THREADS] [-q QUALITY] [-r REPEAT] IMAGE.png|WIDTHxHEIGHT
 * A size instead of a file times a mid-grey noise image of that size.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "image_io.h"
#include "model.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* MACs of one conv layer producing oh x ow outputs. */
static double conv_macs(const GricConv *c, double out_positions)
{
    double taps = c->transposed ? (double)c->k * c->k / (c->stride * c->stride) : c->k * c->k;
    return out_positions * c->cout * c->cin * taps;
}

/* Analysis or synthesis MACs for a padded image of P pixels (GSDN: 2 C^2 per position). */
static double transform_macs(const GricTransform *t, double P, int synth)
{
    double macs = 0;
    for (int i = 0; i < 4; i++) {
        int level = synth ? 3 - i : i + 1;            /* output resolution P / 4^level */
        double out = P / (double)(1 << (2 * level));
        macs += conv_macs(&t->conv[i], out);
        if (i < 3)
            macs += 2.0 * t->gsdn[i].ch * t->gsdn[i].ch * out;
    }
    return macs;
}

static double entropy_macs(const GricModel *m, double P)
{
    double pos = P / 256, M = m->M, H = m->H;
    double ctx = 12 * M * 2 * M, ref = 5 * M * 2 * M;
    double stacks = 0;
    for (int s = 0; s < 3; s++)
        stacks += 2 * (s + 1) * M * H + H * H + H * 3 * M;
    double hyper = 9 * m->N * 2 * M + 25.0 / 4 * m->N * m->N * (1 + 1.0 / 4);
    return pos * (ctx + ref + stacks + hyper);
}

/* Best of three 1536^3 sgemms: the machine's practical float peak. */
static double sgemm_peak(int threads)
{
    const int n = 1536;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n);
    float *c = malloc(sizeof(float) * n * n);
    if (!a || !b || !c)
        exit(1);
    for (int i = 0; i < n * n; i++)
        a[i] = b[i] = (float)(i % 7) * 0.1f;
    openblas_set_num_threads(threads);
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double dt = now() - t0;
        best = dt < best ? dt : best;
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * n * n * n / best / 1e9;
}

int main(int argc, char **argv)
{
    int threads = 0, quality = 50, repeat = 3, opt;
    while ((opt = getopt(argc, argv, "t:q:r:")) != -1) {
        if (opt == 't')
            threads = atoi(optarg);
        else if (opt == 'q')
            quality = atoi(optarg);
        else if (opt == 'r')
            repeat = atoi(optarg) > 0 ? atoi(optarg) : 1;
        else
            return 2;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: gric-speed [-t THREADS] [-q QUALITY] [-r REPEAT] IMAGE|WxH\n");
        return 2;
    }
    Image img = {0};
    unsigned w, h;
    char msg[256];
    if (sscanf(argv[optind], "%ux%u", &w, &h) == 2 && w && h && w <= GRIC_MAX_DIMENSION &&
        h <= GRIC_MAX_DIMENSION) {
        img.width = w;
        img.height = h;
        img.rgb = malloc((size_t)w * h * 3);
        if (!img.rgb)
            return 1;
        for (size_t i = 0; i < (size_t)w * h * 3; i++)
            img.rgb[i] = (uint8_t)(128 + (int)((i * 2654435761u) >> 28) - 8);
    } else if (image_read(argv[optind], &img, msg, sizeof(msg))) {
        fprintf(stderr, "%s\n", msg);
        return 1;
    }
    GricError err = {0};
    GricModel *m = gric_model_open(NULL, &err);
    GricEncoder *enc = m ? gric_encoder_new(m, &err) : NULL;
    GricDecoder *dec = m ? gric_decoder_new(m, &err) : NULL;
    if (!enc || !dec) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    gric_encoder_set_threads(enc, threads);
    gric_decoder_set_threads(dec, threads);
    threads = gric_resolve_threads(threads);
    size_t stride = 3 * (size_t)img.width;
    uint8_t *out = malloc(stride * img.height), *frame = NULL;
    size_t size = 0;
    double t_enc = 1e9, t_plain = 1e9, t_dec = 1e9, t_ana = 1e9, t_syn = 1e9;
    size_t plain_size = 0;
    GricGeometry g;
    gric_geometry(img.width, img.height, &g);
    size_t n = (size_t)g.h * g.w * m->M;
    float *y = malloc(n * sizeof(float));
    if (!out || !y)
        return 1;
    for (int r = 0; r < repeat; r++) {
        gric_free(frame);
        double t0 = now();
        if (gric_encode(enc, img.rgb, img.width, img.height, stride, quality, &frame, &size, &err))
            return fprintf(stderr, "%s\n", err.message), 1;
        double t1 = now();
        if (gric_decode(dec, frame, size, out, stride, &err))
            return fprintf(stderr, "%s\n", err.message), 1;
        double t2 = now();
        gric_analysis(&m->g_a, img.rgb, stride, (int)img.width, (int)img.height, g.padded_w,
                      g.padded_h, y, threads);
        double t3 = now();
        gric_synthesis(&m->g_s, y, g.h, g.w, out, stride, (int)img.width, (int)img.height, threads);
        double t4 = now();
        t_enc = t1 - t0 < t_enc ? t1 - t0 : t_enc;
        t_dec = t2 - t1 < t_dec ? t2 - t1 : t_dec;
        t_ana = t3 - t2 < t_ana ? t3 - t2 : t_ana;
        t_syn = t4 - t3 < t_syn ? t4 - t3 : t_syn;
    }
    gric_encoder_set_rdo_slope(enc, 0);
    gric_encoder_set_refine(enc, 0);
    for (int r = 0; r < repeat; r++) {
        uint8_t *plain;
        double t0 = now();
        if (gric_encode(enc, img.rgb, img.width, img.height, stride, quality, &plain, &plain_size,
                        &err))
            return fprintf(stderr, "%s\n", err.message), 1;
        double t1 = now();
        gric_free(plain);
        t_plain = t1 - t0 < t_plain ? t1 - t0 : t_plain;
    }
    double P = (double)g.padded_w * g.padded_h;
    double ma = transform_macs(&m->g_a, P, 0), ms = transform_macs(&m->g_s, P, 1);
    double me = entropy_macs(m, P);
    double peak = sgemm_peak(threads);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("image %ux%u (padded %dx%d), quality %d, %d thread(s), best of %d\n", img.width,
           img.height, g.padded_w, g.padded_h, quality, threads, repeat);
    printf("size %zu bytes, %.4f bpp\n", size, 8.0 * size / ((double)img.width * img.height));
    printf("encode %.3f s  decode %.3f s\n", t_enc, t_dec);
    printf("encode without RDO or refinement (-r 0 -i 0) %.3f s, %zu bytes (%+.1f%%)\n", t_plain, plain_size,
           100.0 * ((double)plain_size / size - 1));
    printf("analysis   %.3f s  %6.0f MAC/px  %.1f GFLOP/s\n", t_ana, ma / P, 2 * ma / t_ana / 1e9);
    printf("synthesis  %.3f s  %6.0f MAC/px  %.1f GFLOP/s\n", t_syn, ms / P, 2 * ms / t_syn / 1e9);
    /* the encoder's time beyond the analysis: from GRIC_REFINE_MIN_QUALITY that is
     * mostly the latent refinement, below it RDO, which goes one position at a time as
     * the decoder does; the plain encoder computes a row of positions at a time */
    printf("entropy model %6.0f MAC/px: encoder ~%.3f s (%s; plain ~%.3f s), decoder ~%.3f s\n",
           me / P, t_enc - t_ana,
           quality >= GRIC_REFINE_MIN_QUALITY ? "with refinement" : "with RDO",
           t_plain - t_ana, t_dec - t_syn);
    printf("sgemm peak %.1f GFLOP/s: analysis at %.0f%%, synthesis at %.0f%%\n", peak,
           100 * 2 * ma / t_ana / 1e9 / peak, 100 * 2 * ms / t_syn / 1e9 / peak);
    printf("peak memory %.1f MB (includes the benchmark's own buffers)\n", ru.ru_maxrss / 1024.0);
    gric_free(frame);
    free(out);
    free(y);
    image_free(&img);
    gric_encoder_free(enc);
    gric_decoder_free(dec);
    gric_model_close(m);
    return 0;
}
