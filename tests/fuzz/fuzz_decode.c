/* libFuzzer target: the frame parser and decoder.  Half of the inputs get
 * their CRCs repaired so mutations reach the entropy decoder instead of
 * stopping at the checksum.  Model from $GRIC_MODEL.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32.h"
#include "gric.h"

#define MAX_PIXELS (80 * 64)   /* the seed frames; more only slows each run */

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static GricModel *model;
    static GricDecoder *dec;
    if (!model) {
        model = gric_model_open(getenv("GRIC_MODEL"), NULL);
        dec = model ? gric_decoder_new(model, NULL) : NULL;
        if (!dec)
            abort();
        gric_decoder_set_max_pixels(dec, MAX_PIXELS);
    }
    uint8_t *frame = malloc(size ? size : 1);
    if (!frame)
        return 0;
    memcpy(frame, data, size);
    GricFrameInfo info;
    if (size >= GRIC_HEADER_SIZE && (data[7] & 1) == 0) {
        frame[7] = 0;
        wr32(frame + 32, gric_crc32(0, frame, 32));
        if (gric_frame_info(frame, size, &info, NULL) == GRIC_OK && info.frame_size <= size)
            wr32(frame + info.frame_size - 4,
                 gric_crc32(0, frame + GRIC_HEADER_SIZE, info.frame_size - GRIC_HEADER_SIZE - 4));
    }
    /* frames above the limit are refused by the decoder itself, so the
     * output buffer is only allocated for the ones it accepts */
    if (gric_frame_info(frame, size, &info, NULL) == GRIC_OK) {
        size_t pixels = (uint64_t)info.width * info.height <= MAX_PIXELS
                            ? (size_t)info.width * info.height : 1;
        uint8_t *rgb = malloc(pixels * 3);
        if (rgb)
            gric_decode(dec, frame, size, rgb, 3 * (size_t)info.width, NULL);
        free(rgb);
    }
    free(frame);
    return 0;
}
