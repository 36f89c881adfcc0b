/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>
#include <time.h>

#include "test_util.h"

uint8_t *test_read_all(const char *path, size_t *size)
{
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = buf ? (size_t)n : 0;
    return buf;
}

int test_file_open(TestFile *f, const char *path)
{
    memset(f, 0, sizeof(*f));
    f->buf = test_read_all(path, &f->size);
    if (!f->buf || gric_container_parse(&f->c, f->buf, f->size, NULL) != GRIC_OK) {
        free(f->buf);
        return -1;
    }
    return 0;
}

void test_file_close(TestFile *f)
{
    gric_container_free(&f->c);
    free(f->buf);
}

const float *test_tensor_f32(const TestFile *f, const char *name, size_t count)
{
    const GricTensor *t = gric_container_find(&f->c, name);
    CHECK(t && t->dtype == GRIC_DT_F32 && t->count == count,
          "tensor %s missing or not %zu float32 values", name, count);
    return (const float *)t->data;
}

double nmse(const float *a, const float *ref, size_t n)
{
    double err = 0, energy = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - ref[i];
        err += d * d;
        energy += (double)ref[i] * ref[i];
    }
    return energy > 0 ? err / energy : err;
}

int test_failures;

uint32_t test_rand(void)
{
    static uint64_t state = 0x9e3779b97f4a7c15u;
    uint64_t z = (state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

double test_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

GricModel *test_open_model(TestFile *vectors, const GricTensor **photo)
{
    GricError err = {0};
    GricModel *m = gric_model_open(getenv("GRIC_MODEL"), &err);
    CHECK(m, "model: %s", err.message);
    CHECK(test_file_open(vectors, getenv("GRIC_PARITY")) == 0, "cannot read parity vectors");
    *photo = gric_container_find(&vectors->c, "image");
    CHECK(*photo && (*photo)->dtype == GRIC_DT_U8 && (*photo)->ndim == 3 && (*photo)->dims[2] == 3,
          "parity vectors lack the image");
    return m;
}

uint8_t *test_photo_image(const GricTensor *photo, uint32_t w, uint32_t h)
{
    uint8_t *rgb = malloc((size_t)w * h * 3);
    CHECK(rgb, "out of memory");
    uint32_t pw = photo->dims[1], ph = photo->dims[0];
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            uint32_t sx = x % (2 * pw), sy = y % (2 * ph);
            sx = sx < pw ? sx : 2 * pw - 1 - sx;
            sy = sy < ph ? sy : 2 * ph - 1 - sy;
            memcpy(rgb + ((size_t)y * w + x) * 3, photo->data + ((size_t)sy * pw + sx) * 3, 3);
        }
    return rgb;
}
