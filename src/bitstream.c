/* Frame header serialisation and validation.  Every field read from the
 * data is checked before it is used to size anything.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "bitstream.h"
#include "crc32.h"
#include "error.h"

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

GricStatus gric_frame_write(const GricFrameHeader *hdr, const uint8_t *z, const uint8_t *y,
                            uint8_t **out, size_t *out_size, GricError *err)
{
    size_t size = GRIC_HEADER_SIZE + (size_t)hdr->z_len + hdr->y_len + 4;
    if (size > GRIC_MAX_FRAME_BYTES)
        return gric_fail(err, GRIC_ERR_TOO_LARGE, "frame would exceed %zu bytes",
                         GRIC_MAX_FRAME_BYTES);
    uint8_t *f = malloc(size);
    if (!f)
        return gric_fail(err, GRIC_ERR_NOMEM, "out of memory writing a frame");
    memcpy(f, "GRIC", 4);
    f[4] = GRIC_FORMAT_VERSION;
    f[5] = GRIC_COLOUR_RGB8;
    f[6] = (uint8_t)hdr->info.quality;
    f[7] = hdr->flags;
    wr32(f + 8, hdr->info.width);
    wr32(f + 12, hdr->info.height);
    wr32(f + 16, (uint32_t)hdr->info.model_id);
    wr32(f + 20, (uint32_t)(hdr->info.model_id >> 32));
    wr32(f + 24, hdr->z_len);
    wr32(f + 28, hdr->y_len);
    wr32(f + 32, gric_crc32(0, f, 32));
    memcpy(f + GRIC_HEADER_SIZE, z, hdr->z_len);
    memcpy(f + GRIC_HEADER_SIZE + hdr->z_len, y, hdr->y_len);
    wr32(f + size - 4, gric_crc32(0, f + GRIC_HEADER_SIZE, hdr->z_len + (size_t)hdr->y_len));
    *out = f;
    *out_size = size;
    return GRIC_OK;
}

GricStatus gric_frame_parse_header(const uint8_t *d, size_t size, GricFrameHeader *hdr,
                                   GricError *err)
{
    if (!d || size < 4)
        return gric_fail(err, GRIC_ERR_TRUNCATED, "data too short for a gric frame");
    if (memcmp(d, "GRIC", 4))
        return gric_fail(err, GRIC_ERR_NOT_GRIC, "not a gric frame (bad magic)");
    if (size < GRIC_HEADER_SIZE)
        return gric_fail(err, GRIC_ERR_TRUNCATED, "gric frame header is truncated");
    if (rd32(d + 32) != gric_crc32(0, d, 32))
        return gric_fail(err, GRIC_ERR_CORRUPT, "gric frame header is corrupt (CRC mismatch)");
    if (d[4] != GRIC_FORMAT_VERSION)
        return gric_fail(err, GRIC_ERR_UNSUPPORTED, "gric format version %u is not supported",
                         d[4]);
    if (d[5] != GRIC_COLOUR_RGB8 || (d[7] & ~GRIC_FLAGS_KNOWN))
        return gric_fail(err, GRIC_ERR_UNSUPPORTED, "unsupported colour format %u or flags %u",
                         d[5], d[7]);
    GricFrameInfo *info = &hdr->info;
    info->quality = d[6];
    hdr->flags = d[7];
    info->width = rd32(d + 8);
    info->height = rd32(d + 12);
    info->model_id = rd32(d + 16) | (uint64_t)rd32(d + 20) << 32;
    hdr->z_len = rd32(d + 24);
    hdr->y_len = rd32(d + 28);
    if (info->quality > 100 || !info->width || !info->height || hdr->z_len < 4 || hdr->y_len < 4)
        return gric_fail(err, GRIC_ERR_CORRUPT, "gric frame header has invalid fields");
    if (info->width > GRIC_MAX_DIMENSION || info->height > GRIC_MAX_DIMENSION)
        return gric_fail(err, GRIC_ERR_TOO_LARGE, "frame is %ux%u, larger than %d",
                         info->width, info->height, GRIC_MAX_DIMENSION);
    info->frame_size = GRIC_HEADER_SIZE + (size_t)hdr->z_len + hdr->y_len + 4;
    if (info->frame_size > GRIC_MAX_FRAME_BYTES)
        return gric_fail(err, GRIC_ERR_CORRUPT, "gric frame claims %zu bytes", info->frame_size);
    return GRIC_OK;
}

GricStatus gric_frame_check_payload(const uint8_t *d, size_t size, const GricFrameHeader *hdr,
                                    GricError *err)
{
    if (size < hdr->info.frame_size)
        return gric_fail(err, GRIC_ERR_TRUNCATED, "gric frame is truncated (%zu of %zu bytes)",
                         size, hdr->info.frame_size);
    size_t payload = hdr->info.frame_size - GRIC_HEADER_SIZE - 4;
    if (rd32(d + GRIC_HEADER_SIZE + payload) != gric_crc32(0, d + GRIC_HEADER_SIZE, payload))
        return gric_fail(err, GRIC_ERR_CORRUPT, "gric frame payload is corrupt (CRC mismatch)");
    return GRIC_OK;
}

GricStatus gric_frame_info(const uint8_t *data, size_t size, GricFrameInfo *info, GricError *err)
{
    GricFrameHeader hdr;
    GricStatus st = gric_frame_parse_header(data, size, &hdr, err);
    if (st == GRIC_OK && info)
        *info = hdr.info;
    return st;
}
