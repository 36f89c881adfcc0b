/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <pthread.h>

#include "crc32.h"

static uint32_t table[256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

/* Reflected polynomial 0xEDB88320, one table lookup per byte. */
static void build_table(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[n] = c;
    }
}

uint32_t gric_crc32(uint32_t crc, const uint8_t *data, size_t size)
{
    pthread_once(&table_once, build_table);
    crc = ~crc;
    for (size_t i = 0; i < size; i++)
        crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}
