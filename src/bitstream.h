/* The .gric frame container (docs/FORMAT.md).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GRIC_BITSTREAM_H
#define GRIC_BITSTREAM_H

#include "gric.h"

#define GRIC_FORMAT_VERSION 1
#define GRIC_COLOUR_RGB8 0
/* Frame flags (byte 7).  UNSHIFTED: the encoder refined the latents against the
 * synthesis of the integers themselves, so the decoder synthesises y_hat without
 * the bin-mean shift (docs/MODEL.md §1, Reconstruction). */
#define GRIC_FLAG_UNSHIFTED 0x01u
#define GRIC_FLAGS_KNOWN GRIC_FLAG_UNSHIFTED
/* Upper bound on one frame's bytes; keeps size arithmetic far from overflow. */
#define GRIC_MAX_FRAME_BYTES ((size_t)1 << 31)

typedef struct {
    GricFrameInfo info;
    uint32_t z_len, y_len;
    uint8_t flags;
} GricFrameHeader;

/* Serialise header + payloads + CRC into a new malloc'ed frame. */
GricStatus gric_frame_write(const GricFrameHeader *hdr, const uint8_t *z, const uint8_t *y,
                            uint8_t **out, size_t *out_size, GricError *err);
/* Parse and validate the header (needs GRIC_HEADER_SIZE bytes). */
GricStatus gric_frame_parse_header(const uint8_t *data, size_t size, GricFrameHeader *hdr,
                                   GricError *err);
/* Check the whole frame is present and its payload CRC matches. */
GricStatus gric_frame_check_payload(const uint8_t *data, size_t size, const GricFrameHeader *hdr,
                                    GricError *err);

#endif
