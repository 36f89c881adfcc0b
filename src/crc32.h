/* CRC-32 (IEEE 802.3, as zlib) for frame headers and payloads.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GRIC_CRC32_H
#define GRIC_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: start with crc = 0. */
uint32_t gric_crc32(uint32_t crc, const uint8_t *data, size_t size);

#endif
