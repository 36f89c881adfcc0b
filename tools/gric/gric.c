/* gric: command-line encoder, decoder and inspector.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gric.h"
#include "image_io.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: gric encode [-q QUALITY] [-r SLOPE] [-i STEPS] [-t THREADS] [-m MODEL] IN.png|IN.ppm OUT.gric\n"
            "       gric decode [-t THREADS] [-m MODEL] [-f FRAME] IN.gric OUT.png|OUT.ppm\n"
            "       gric info FILE.gric\n"
            "QUALITY 0-100 (default 75); THREADS 0 = all cores (default);\n"
            "SLOPE: rate-distortion optimised quantisation of frames not refined,\n"
            "0 = off (faster), default %d (see gric.h);\n"
            "STEPS: latent refinement steps at quality 100 (fewer down to quality %d,\n"
            "none below), 0 = off (faster), default %d, at most %d (see gric.h);\n"
            "MODEL defaults to $GRIC_MODEL or %s;\n"
            "FRAME selects a frame of a multi-frame archive (default 0).\n",
            GRIC_RDO_SLOPE_DEFAULT, GRIC_REFINE_MIN_QUALITY, GRIC_REFINE_DEFAULT, GRIC_REFINE_MAX,
            gric_default_model_path());
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 1 << 16;
            uint8_t *p = realloc(buf, cap);
            if (!p)
                break;
            buf = p;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f) || !buf;
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *size = n;
    return buf;
}

static int die(const char *what, const GricError *err)
{
    fprintf(stderr, "gric: %s: %s\n", what, err->message);
    return 1;
}

/* The model, or NULL after naming the weight file that failed. */
static GricModel *open_model(const char *path, GricError *err)
{
    GricModel *model = gric_model_open(path, err);
    if (!model)
        die(path ? path : gric_default_model_path(), err);
    return model;
}

static int cmd_encode(int quality, int rdo_slope, int refine, int threads, const char *model_path,
                      const char *in, const char *out)
{
    char msg[512];
    Image img;
    if (image_read(in, &img, msg, sizeof(msg))) {
        fprintf(stderr, "gric: %s\n", msg);
        return 1;
    }
    GricError err = {0};
    GricModel *model = open_model(model_path, &err);
    if (!model) {
        image_free(&img);
        return 1;
    }
    GricEncoder *enc = gric_encoder_new(model, &err);
    uint8_t *frame = NULL;
    size_t size = 0;
    int rc = 1;
    if (enc) {
        gric_encoder_set_threads(enc, threads);
        gric_encoder_set_rdo_slope(enc, (unsigned)rdo_slope);
        gric_encoder_set_refine(enc, (unsigned)refine);
        if (gric_encode(enc, img.rgb, img.width, img.height, 3 * (size_t)img.width, quality,
                        &frame, &size, &err) == GRIC_OK) {
            FILE *f = fopen(out, "wb");
            if (f && fwrite(frame, 1, size, f) == size && fclose(f) == 0) {
                rc = 0;
            } else {
                if (f)
                    fclose(f);
                fprintf(stderr, "gric: %s: write failed\n", out);
                rc = 2;
            }
        }
    }
    if (rc == 1)
        die(in, &err);
    gric_free(frame);
    gric_encoder_free(enc);
    gric_model_close(model);
    image_free(&img);
    return rc ? 1 : 0;
}

/* Byte offset of frame `index` in a concatenation of frames, or an error. */
static GricStatus find_frame(const uint8_t *buf, size_t size, int index, size_t *offset,
                             GricFrameInfo *info, GricError *err)
{
    size_t off = 0;
    for (int i = 0;; i++) {
        GricStatus st = gric_frame_info(buf + off, size - off, info, err);
        if (st)
            return st;
        if (i == index) {
            *offset = off;
            return GRIC_OK;
        }
        if (info->frame_size >= size - off) {
            snprintf(err->message, sizeof(err->message), "the file holds only %d frame(s)", i + 1);
            return err->status = GRIC_ERR_INVALID_ARG;
        }
        off += info->frame_size;
    }
}

static int cmd_decode(int threads, const char *model_path, int index, const char *in,
                      const char *out)
{
    size_t size;
    uint8_t *buf = read_file(in, &size);
    if (!buf) {
        fprintf(stderr, "gric: %s: cannot read\n", in);
        return 1;
    }
    GricError err = {0};
    GricFrameInfo info;
    size_t off = 0;
    if (find_frame(buf, size, index, &off, &info, &err) != GRIC_OK) {
        free(buf);
        return die(in, &err);
    }
    GricModel *model = open_model(model_path, &err);
    if (!model) {
        free(buf);
        return 1;
    }
    GricDecoder *dec = gric_decoder_new(model, &err);
    Image img = {0};
    int rc = 1;
    if (dec) {
        gric_decoder_set_threads(dec, threads);
        img.width = info.width;
        img.height = info.height;
        img.rgb = malloc((size_t)info.width * info.height * 3);
        if (!img.rgb) {
            snprintf(err.message, sizeof(err.message), "out of memory");
        } else if (gric_decode(dec, buf + off, size - off, img.rgb, 3 * (size_t)info.width,
                               &err) == GRIC_OK) {
            char msg[512];
            rc = image_write(out, &img, msg, sizeof(msg));
            if (rc)
                fprintf(stderr, "gric: %s\n", msg);
            rc = rc ? 2 : 0;
        }
    }
    if (rc == 1)
        die(in, &err);
    image_free(&img);
    gric_decoder_free(dec);
    gric_model_close(model);
    free(buf);
    return rc ? 1 : 0;
}

static int cmd_info(const char *in)
{
    size_t size;
    uint8_t *buf = read_file(in, &size);
    if (!buf) {
        fprintf(stderr, "gric: %s: cannot read\n", in);
        return 1;
    }
    size_t off = 0;
    int frames = 0, rc = 0;
    while (off < size) {
        GricFrameInfo info;
        GricError err = {0};
        if (gric_frame_info(buf + off, size - off, &info, &err) != GRIC_OK ||
            info.frame_size > size - off) {
            fprintf(stderr, "gric: %s: frame %d at byte %zu: %s\n", in, frames, off,
                    err.status ? err.message : "truncated");
            rc = 1;
            break;
        }
        printf("frame %d: %ux%u quality %u model %016llx bytes %zu bpp %.4f\n", frames,
               info.width, info.height, info.quality, (unsigned long long)info.model_id,
               info.frame_size, 8.0 * info.frame_size / ((double)info.width * info.height));
        off += info.frame_size;
        frames++;
    }
    free(buf);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage();
        return 2;
    }
    const char *cmd = argv[1];
    int quality = 75, rdo_slope = GRIC_RDO_SLOPE_DEFAULT, refine = GRIC_REFINE_DEFAULT;
    int threads = 0, frame = 0, opt;
    const char *model = NULL;
    optind = 2;
    while ((opt = getopt(argc, argv, "q:r:i:t:m:f:h")) != -1) {
        switch (opt) {
        case 'q':
            if (parse_int(optarg, 0, 100, &quality))
                return fprintf(stderr, "gric: quality must be 0-100\n"), 2;
            break;
        case 'r':
            if (parse_int(optarg, 0, 1000, &rdo_slope))
                return fprintf(stderr, "gric: rdo slope must be 0-1000\n"), 2;
            break;
        case 'i':
            if (parse_int(optarg, 0, GRIC_REFINE_MAX, &refine))
                return fprintf(stderr, "gric: refinement steps must be 0-%d\n", GRIC_REFINE_MAX), 2;
            break;
        case 't':
            if (parse_int(optarg, 0, 256, &threads))
                return fprintf(stderr, "gric: threads must be 0-256\n"), 2;
            break;
        case 'f':
            if (parse_int(optarg, 0, 1 << 30, &frame))
                return fprintf(stderr, "gric: bad frame index\n"), 2;
            break;
        case 'm':
            model = optarg;
            break;
        default:
            usage();
            return 2;
        }
    }
    int rest = argc - optind;
    if (!strcmp(cmd, "encode") && rest == 2)
        return cmd_encode(quality, rdo_slope, refine, threads, model, argv[optind], argv[optind + 1]);
    if (!strcmp(cmd, "decode") && rest == 2)
        return cmd_decode(threads, model, frame, argv[optind], argv[optind + 1]);
    if (!strcmp(cmd, "info") && rest == 1)
        return cmd_info(argv[optind]);
    usage();
    return 2;
}
