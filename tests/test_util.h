/* Small helpers shared by the C tests.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GRIC_TEST_UTIL_H
#define GRIC_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "gric.h"
#include "weights.h"

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: FAILED: ", __FILE__, __LINE__);             \
            fprintf(stderr, __VA_ARGS__);                                       \
            fprintf(stderr, "\n");                                              \
            exit(1);                                                            \
        }                                                                       \
    } while (0)

/* Non-fatal check: counts the failure and carries on. */
extern int test_failures;
#define EXPECT(cond, ...)                                                       \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
            test_failures++;                                                    \
        }                                                                       \
    } while (0)

/* Deterministic pseudo-random numbers (splitmix64) and a monotonic clock. */
uint32_t test_rand(void);
double test_now(void);

/* A container file (weights or parity vectors) read into memory. */
typedef struct {
    uint8_t *buf;
    size_t size;
    GricContainer c;
} TestFile;

int test_file_open(TestFile *f, const char *path);
void test_file_close(TestFile *f);
/* Float32 tensor `name` with exactly `count` elements; exits if absent. */
const float *test_tensor_f32(const TestFile *f, const char *name, size_t count);
uint8_t *test_read_all(const char *path, size_t *size);
double nmse(const float *a, const float *ref, size_t n);
/* The model ($GRIC_MODEL) and the parity vectors ($GRIC_PARITY) with their
 * photo (h, w, 3 bytes); exits when any is missing. */
GricModel *test_open_model(TestFile *vectors, const GricTensor **photo);
/* Photo content at any size: `photo` (h, w, 3 bytes) mirror-tiled to w x h RGB (malloc'ed). */
uint8_t *test_photo_image(const GricTensor *photo, uint32_t w, uint32_t h);

#endif
