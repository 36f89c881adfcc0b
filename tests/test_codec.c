/* End-to-end tests of the public API: round trips at awkward sizes, the
 * model's rate estimate against the real size, latent refinement,
 * thread-count determinism,
 * and every kind of bad input (truncated, corrupted, foreign, oversized
 * frames; damaged weight files).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitstream.h"
#include "crc32.h"
#include "gric.h"
#include "test_util.h"

static const GricTensor *photo;   /* the parity vectors' image */

static uint8_t *make_image(uint32_t w, uint32_t h)
{
    return test_photo_image(photo, w, h);
}

static double psnr(const uint8_t *a, const uint8_t *b, size_t n)
{
    double se = 0;
    for (size_t i = 0; i < n; i++)
        se += (double)(a[i] - b[i]) * (a[i] - b[i]);
    return se == 0 ? 99 : 10 * log10(255.0 * 255.0 * n / se);
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Rewrite the header CRC so a deliberately altered field gets past it. */
static void reseal_header(uint8_t *frame)
{
    wr32(frame + 32, gric_crc32(0, frame, 32));
}

static GricStatus decode_status(GricDecoder *dec, const uint8_t *frame, size_t size, uint32_t w,
                                uint32_t h, GricError *err)
{
    uint8_t *out = malloc((size_t)w * h * 3 + 1);
    CHECK(out, "out of memory");
    GricStatus st = gric_decode(dec, frame, size, out, 3 * (size_t)w, err);
    free(out);
    return st;
}

/* PSNR of frame decoded against img, or -1 if it does not decode. */
static double decoded_psnr(const GricModel *m, const uint8_t *frame, size_t size, const uint8_t *img,
                           uint32_t w, uint32_t h)
{
    GricError err = {0};
    GricDecoder *dec = gric_decoder_new(m, &err);
    uint8_t *out = malloc((size_t)w * h * 3);
    CHECK(dec && out, "setup: %s", err.message);
    double p = gric_decode(dec, frame, size, out, 3 * w, &err) == GRIC_OK
                   ? psnr(img, out, (size_t)w * h * 3)
                   : -1;
    gric_decoder_free(dec);
    free(out);
    return p;
}

static void test_round_trips(const GricModel *m)
{
    static const uint32_t sizes[][2] = {{1, 1}, {17, 9}, {65, 3}, {130, 67}, {200, 129}};
    GricError err = {0};
    GricEncoder *enc = gric_encoder_new(m, &err);
    GricDecoder *dec = gric_decoder_new(m, &err);
    CHECK(enc && dec, "codec: %s", err.message);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint32_t w = sizes[i][0], h = sizes[i][1];
        uint8_t *img = make_image(w, h), *out = malloc((size_t)w * h * 3), *frame;
        size_t size;
        CHECK(out, "out of memory");
        CHECK(gric_encode(enc, img, w, h, 3 * (size_t)w, 90, &frame, &size, &err) == GRIC_OK,
              "encode %ux%u: %s", w, h, err.message);
        GricFrameInfo info;
        CHECK(gric_frame_info(frame, size, &info, &err) == GRIC_OK && info.width == w &&
              info.height == h && info.frame_size == size && info.quality == 90,
              "frame info %ux%u", w, h);
        CHECK(gric_decode(dec, frame, size, out, 3 * (size_t)w, &err) == GRIC_OK,
              "decode %ux%u: %s", w, h, err.message);
        double p = psnr(img, out, (size_t)w * h * 3);
        printf("%ux%u: %zu bytes, PSNR %.2f dB\n", w, h, size, p);
        /* tiny frames are mostly border, which the model codes poorly */
        CHECK(p > (w * h >= 1024 ? 20 : 10), "%ux%u decodes to something unrelated (%.2f dB)", w, h, p);
        gric_free(frame);
        free(img);
        free(out);
    }
    gric_encoder_free(enc);
    gric_decoder_free(dec);
}

/* Higher quality costs more bits and gives a closer picture; the real size
 * matches the model's estimate. */
static void test_rate(const GricModel *m)
{
    const uint32_t w = 256, h = 192;
    uint8_t *img = make_image(w, h), *out = malloc((size_t)w * h * 3);
    GricError err = {0};
    GricEncoder *enc = gric_encoder_new(m, &err);
    GricDecoder *dec = gric_decoder_new(m, &err);
    CHECK(out && enc && dec, "setup: %s", err.message);
    size_t last_size = 0;
    double last_psnr = 0;
    for (int q = 0; q <= 100; q += 50) {
        uint8_t *frame;
        size_t size;
        CHECK(gric_encode(enc, img, w, h, 3 * w, q, &frame, &size, &err) == GRIC_OK, "encode");
        double est = gric_encoder_estimated_bits(enc) / 8, payload = (double)size - 40;
        CHECK(gric_decode(dec, frame, size, out, 3 * w, &err) == GRIC_OK, "decode: %s",
              err.message);
        double p = psnr(img, out, (size_t)w * h * 3);
        printf("quality %d: %zu bytes (estimate %.0f), PSNR %.2f\n", q, size, est, p);
        CHECK(fabs(payload - est) <= 0.02 * est + 16, "real size %.0f vs estimate %.0f", payload,
              est);
        CHECK(size > last_size && p > last_psnr - 0.05, "quality %d is not better than %d", q,
              q - 50);
        last_size = size;
        last_psnr = p;
        gric_free(frame);
    }
    gric_encoder_free(enc);
    gric_decoder_free(dec);
    free(img);
    free(out);
}

/* Encode img at quality q with `refine` latent refinement steps on `threads`
 * threads; returns the decoded PSNR, the frame in *frame (free with gric_free). */
static double encode_refined(const GricModel *m, const uint8_t *img, uint32_t w, uint32_t h, int q,
                             unsigned refine, int threads, uint8_t **frame, size_t *size)
{
    GricError err = {0};
    GricEncoder *enc = gric_encoder_new(m, &err);
    CHECK(enc, "setup: %s", err.message);
    gric_encoder_set_refine(enc, refine);
    gric_encoder_set_threads(enc, threads);
    CHECK(gric_encode(enc, img, w, h, 3 * w, q, frame, size, &err) == GRIC_OK, "encode: %s",
          err.message);
    gric_encoder_free(enc);
    double p = decoded_psnr(m, *frame, *size, img, w, h);
    CHECK(p >= 0, "decode failed");
    return p;
}

/* Latent refinement must buy PSNR at a small price in bits where it runs (a
 * wrong gradient loses PSNR), and change nothing below its quality range.  The
 * image spans several refinement tiles, so their seams are covered, and tiles
 * on other threads must draw the same rounding noise for the latents they share. */
static void test_refine(const GricModel *m)
{
    const uint32_t w = 448, h = 416;   /* 28 x 26 latents: 2 x 2 tiles of 24 */
    uint8_t *img = make_image(w, h), *plain, *refined;
    size_t plain_size, refined_size;
    double p0 = encode_refined(m, img, w, h, 90, 0, 1, &plain, &plain_size);
    double p1 = encode_refined(m, img, w, h, 90, GRIC_REFINE_DEFAULT, 1, &refined, &refined_size);
    printf("q90 refinement: %zu -> %zu bytes, PSNR %.3f -> %.3f dB\n", plain_size, refined_size,
           p0, p1);
    CHECK(p1 > p0 + 0.3 && refined_size < plain_size * 1.08, "refinement did not pay");
    /* refined latents were fitted to the synthesis of the integers: the frame says
       so, and the decoder then leaves out the bin-mean shift */
    CHECK(refined[7] == GRIC_FLAG_UNSHIFTED && plain[7] == 0, "frame flags %u (refined), %u (plain)",
          refined[7], plain[7]);
    refined[7] = 0;
    reseal_header(refined);
    double shifted = decoded_psnr(m, refined, refined_size, img, w, h);
    printf("q90 refined frame decoded with the shift: %.3f dB\n", shifted);
    CHECK(shifted >= 0 && shifted != p1, "the decoder ignored the frame's flag");
    refined[7] = GRIC_FLAG_UNSHIFTED;
    reseal_header(refined);
    gric_free(plain);
    encode_refined(m, img, w, h, 90, GRIC_REFINE_DEFAULT, 2, &plain, &plain_size);
    CHECK(plain_size == refined_size && !memcmp(plain, refined, plain_size),
          "refinement on 2 threads gave another bitstream");
    gric_free(plain);
    gric_free(refined);
    const int below = GRIC_REFINE_MIN_QUALITY - 1;
    encode_refined(m, img, w, h, below, 0, 1, &plain, &plain_size);
    encode_refined(m, img, w, h, below, GRIC_REFINE_DEFAULT, 1, &refined, &refined_size);
    CHECK(plain_size == refined_size && !memcmp(plain, refined, plain_size),
          "refinement ran below quality %d", GRIC_REFINE_MIN_QUALITY);
    gric_free(plain);
    gric_free(refined);
    free(img);
}

/* The bitstream cannot depend on the number of threads, with or without
 * latent refinement. */
static void test_threads(const GricModel *m)
{
    const uint32_t w = 200, h = 150;
    uint8_t *img = make_image(w, h), *frames[2];
    size_t sizes[2];
    GricError err = {0};
    for (int q = 40; q <= 90; q += 50) {
        for (int i = 0; i < 2; i++) {
            GricEncoder *enc = gric_encoder_new(m, &err);
            CHECK(enc, "encoder: %s", err.message);
            gric_encoder_set_threads(enc, i + 1);
            CHECK(gric_encode(enc, img, w, h, 3 * w, q, &frames[i], &sizes[i], &err) == GRIC_OK,
                  "encode");
            gric_encoder_free(enc);
        }
        CHECK(sizes[0] == sizes[1] && !memcmp(frames[0], frames[1], sizes[0]),
              "1 and 2 threads give different bitstreams at quality %d", q);
        for (int i = 0; i < 2; i++)
            gric_free(frames[i]);
    }
    free(img);
}

static void test_bad_frames(const GricModel *m)
{
    const uint32_t w = 70, h = 50;
    uint8_t *img = make_image(w, h), *frame;
    size_t size;
    GricError err = {0};
    GricEncoder *enc = gric_encoder_new(m, &err);
    GricDecoder *dec = gric_decoder_new(m, &err);
    CHECK(enc && dec && gric_encode(enc, img, w, h, 3 * w, 50, &frame, &size, &err) == GRIC_OK,
          "setup");
    uint8_t *bad = malloc(size);
    CHECK(bad, "out of memory");

    for (size_t n = 0; n < size; n += n < 64 ? 1 : 37) {
        GricStatus st = decode_status(dec, frame, n, w, h, &err);
        CHECK(st == GRIC_ERR_TRUNCATED || (n < 4 && st != GRIC_OK), "truncated to %zu: status %d",
              n, st);
    }
    memcpy(bad, frame, size);
    bad[0] = 'X';
    CHECK(decode_status(dec, bad, size, w, h, &err) == GRIC_ERR_NOT_GRIC, "bad magic");

    /* every single-bit flip is caught (CRC) or, in the CRC field itself, too */
    for (size_t i = 0; i < size; i++) {
        memcpy(bad, frame, size);
        bad[i] ^= (uint8_t)(1u << (i % 8));
        GricStatus st = decode_status(dec, bad, size, w, h, &err);
        CHECK(st != GRIC_OK, "flipped bit in byte %zu was decoded", i);
    }

    memcpy(bad, frame, size);
    wr32(bad + 8, 20000);
    reseal_header(bad);
    CHECK(decode_status(dec, bad, size, w, h, &err) == GRIC_ERR_TOO_LARGE, "absurd width");
    memcpy(bad, frame, size);
    wr32(bad + 24, 0xFFFFFFF0u);
    reseal_header(bad);
    CHECK(decode_status(dec, bad, size, w, h, &err) != GRIC_OK, "absurd section length");
    memcpy(bad, frame, size);
    bad[16] ^= 1;
    reseal_header(bad);
    CHECK(decode_status(dec, bad, size, w, h, &err) == GRIC_ERR_MODEL_MISMATCH &&
              strstr(err.message, "model"), "foreign model not reported");
    gric_decoder_set_max_pixels(dec, (uint64_t)w * h - 1);
    CHECK(decode_status(dec, frame, size, w, h, &err) == GRIC_ERR_TOO_LARGE,
          "pixel limit not enforced");
    gric_decoder_set_max_pixels(dec, 0);
    memcpy(bad, frame, size);
    bad[4] = 2;
    reseal_header(bad);
    CHECK(decode_status(dec, bad, size, w, h, &err) == GRIC_ERR_UNSUPPORTED, "future version");
    memcpy(bad, frame, size);
    bad[7] |= (uint8_t)~GRIC_FLAGS_KNOWN & 0x80u;
    reseal_header(bad);
    CHECK(decode_status(dec, bad, size, w, h, &err) == GRIC_ERR_UNSUPPORTED, "unknown flag");

    /* payload garbage with a valid CRC must fail cleanly, never crash */
    uint32_t seed = 99;
    for (int trial = 0; trial < 50; trial++) {
        memcpy(bad, frame, size);
        for (size_t i = GRIC_HEADER_SIZE; i < size - 4; i++) {
            seed = seed * 1664525u + 1013904223u;
            if ((seed >> 24) < 8)
                bad[i] = (uint8_t)(seed >> 8);
        }
        wr32(bad + size - 4, gric_crc32(0, bad + GRIC_HEADER_SIZE, size - GRIC_HEADER_SIZE - 4));
        decode_status(dec, bad, size, w, h, &err);
    }
    /* and the decoder still works afterwards */
    CHECK(decode_status(dec, frame, size, w, h, &err) == GRIC_OK, "decoder broken by bad input");
    free(bad);
    gric_free(frame);
    free(img);
    gric_encoder_free(enc);
    gric_decoder_free(dec);
}

static void test_bad_models(const char *path)
{
    size_t size;
    uint8_t *buf = test_read_all(path, &size);
    CHECK(buf, "cannot read %s", path);
    GricError err = {0};
    for (size_t n = 0; n < size; n = n < 256 ? n + 1 : n * 3 / 2) {
        GricModel *m = gric_model_open_memory(buf, n, &err);
        CHECK(!m && err.status == GRIC_ERR_BAD_MODEL, "truncated weight file (%zu) accepted", n);
    }
    uint32_t seed = 7;
    for (int trial = 0; trial < 20; trial++) {
        seed = seed * 1664525u + 1013904223u;
        size_t i = seed % size;
        buf[i] ^= 0x10;
        CHECK(!gric_model_open_memory(buf, size, &err), "damaged weight file accepted");
        buf[i] ^= 0x10;
    }
    CHECK(!gric_model_open("/nonexistent/gric.bin", &err) && err.status == GRIC_ERR_IO,
          "missing weight file");
    free(buf);
}

int main(void)
{
    TestFile vec;
    GricModel *m = test_open_model(&vec, &photo);
    test_round_trips(m);
    test_rate(m);
    test_refine(m);
    test_threads(m);
    test_bad_frames(m);
    test_bad_models(getenv("GRIC_MODEL"));
    test_file_close(&vec);
    gric_model_close(m);
    printf("codec OK\n");
    return 0;
}
