/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gric.h"
#include "image_io.h"

static int has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), e = strlen(ext);
    return n > e && !strcasecmp(path + n - e, ext);
}

static int fail(char *msg, size_t size, const char *fmt, const char *path)
{
    snprintf(msg, size, fmt, path);
    return -1;
}

static int alloc_image(Image *img, uint32_t w, uint32_t h)
{
    if (!w || !h || w > GRIC_MAX_DIMENSION || h > GRIC_MAX_DIMENSION)
        return -1;
    img->width = w;
    img->height = h;
    img->rgb = malloc((size_t)w * h * 3);
    return img->rgb ? 0 : -1;
}

/* P6 header tokens, skipping whitespace and # comments. */
static int ppm_number(FILE *f, unsigned long *out)
{
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (c == '#') {
            while ((c = fgetc(f)) != EOF && c != '\n')
                ;
        } else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
            break;
        }
    }
    if (c < '0' || c > '9')
        return -1;
    unsigned long v = 0;
    while (c >= '0' && c <= '9') {
        v = v * 10 + (unsigned long)(c - '0');
        if (v > 1000000)
            return -1;
        c = fgetc(f);
    }
    *out = v; /* the single whitespace after the token was consumed */
    return 0;
}

static int read_ppm(FILE *f, const char *path, Image *img, char *msg, size_t ms)
{
    unsigned long w, h, maxval;
    if (fgetc(f) != 'P' || fgetc(f) != '6' || ppm_number(f, &w) || ppm_number(f, &h) ||
        ppm_number(f, &maxval) || maxval != 255)
        return fail(msg, ms, "%s: not an 8-bit binary PPM (P6)", path);
    if (alloc_image(img, (uint32_t)w, (uint32_t)h))
        return fail(msg, ms, "%s: unsupported dimensions", path);
    if (fread(img->rgb, 3 * w, h, f) != h) {
        image_free(img);
        return fail(msg, ms, "%s: truncated PPM", path);
    }
    return 0;
}

static int read_png(FILE *f, const char *path, Image *img, char *msg, size_t ms)
{
    png_image pi;
    memset(&pi, 0, sizeof(pi));
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_stdio(&pi, f))
        return fail(msg, ms, "%s: not a readable PNG", path);
    pi.format = PNG_FORMAT_RGB;
    if (alloc_image(img, pi.width, pi.height)) {
        png_image_free(&pi);
        return fail(msg, ms, "%s: unsupported dimensions", path);
    }
    if (!png_image_finish_read(&pi, NULL, img->rgb, 0, NULL)) {
        image_free(img);
        return fail(msg, ms, "%s: corrupt PNG", path);
    }
    return 0;
}

int image_read(const char *path, Image *img, char *msg, size_t ms)
{
    memset(img, 0, sizeof(*img));
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(msg, ms, "%s: cannot open", path);
    int r = has_ext(path, ".ppm") ? read_ppm(f, path, img, msg, ms) : read_png(f, path, img, msg, ms);
    fclose(f);
    return r;
}

int image_write(const char *path, const Image *img, char *msg, size_t ms)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return fail(msg, ms, "%s: cannot create", path);
    int ok;
    if (has_ext(path, ".ppm")) {
        ok = fprintf(f, "P6\n%u %u\n255\n", img->width, img->height) > 0 &&
             fwrite(img->rgb, 3 * (size_t)img->width, img->height, f) == img->height;
    } else {
        png_image pi;
        memset(&pi, 0, sizeof(pi));
        pi.version = PNG_IMAGE_VERSION;
        pi.width = img->width;
        pi.height = img->height;
        pi.format = PNG_FORMAT_RGB;
        ok = png_image_write_to_stdio(&pi, f, 0, img->rgb, 0, NULL);
    }
    if (fclose(f) != 0)
        ok = 0;
    return ok ? 0 : fail(msg, ms, "%s: write failed", path);
}

void image_free(Image *img)
{
    free(img->rgb);
    img->rgb = NULL;
}
