/* Byte-wise rANS (after Duda and Giesen's public-domain rans_byte).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The state x stays in [L, 256 L) between symbols.  Coding (start, freq)
 * maps x to (x / freq) << 16 | (x % freq + start) after shifting out bytes
 * until x < freq << 15, so every symbol emits at most two bytes. */
#include <stdlib.h>
#include <string.h>

#include "rans.h"

#define RANS_L (1u << 23)
#define HALF (GRIC_RANS_TOTAL / 2)

void gric_rans_enc_init(GricRansEncoder *e)
{
    e->syms = NULL;
    e->n = e->cap = 0;
}

int gric_rans_enc_put(GricRansEncoder *e, uint32_t start, uint32_t freq)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 4096;
        uint32_t *syms = realloc(e->syms, cap * sizeof(*syms));
        if (!syms)
            return -1;
        e->syms = syms;
        e->cap = cap;
    }
    e->syms[e->n++] = start << 16 | (freq - 1);
    return 0;
}

int gric_rans_enc_put_bit(GricRansEncoder *e, int bit)
{
    return gric_rans_enc_put(e, bit ? HALF : 0, HALF);
}

int gric_rans_enc_finish(GricRansEncoder *e, uint8_t **out, size_t *len)
{
    /* At most 2 bytes per symbol plus the 4-byte final state. */
    size_t cap = 2 * e->n + 4;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return -1;
    uint8_t *p = buf + cap;
    uint32_t x = RANS_L;
    for (size_t i = e->n; i-- > 0;) {
        uint32_t start = e->syms[i] >> 16, freq = (e->syms[i] & 0xffff) + 1;
        uint32_t x_max = freq << (31 - GRIC_RANS_PREC_BITS);
        while (x >= x_max) {
            *--p = (uint8_t)x;
            x >>= 8;
        }
        x = ((x / freq) << GRIC_RANS_PREC_BITS) + x % freq + start;
    }
    p -= 4;
    p[0] = (uint8_t)x;
    p[1] = (uint8_t)(x >> 8);
    p[2] = (uint8_t)(x >> 16);
    p[3] = (uint8_t)(x >> 24);
    *len = (size_t)(buf + cap - p);
    memmove(buf, p, *len);
    uint8_t *shrunk = realloc(buf, *len);
    *out = shrunk ? shrunk : buf;
    e->n = 0;
    return 0;
}

void gric_rans_enc_free(GricRansEncoder *e)
{
    free(e->syms);
    gric_rans_enc_init(e);
}

int gric_rans_dec_init(GricRansDecoder *d, const uint8_t *buf, size_t len)
{
    if (len < 4)
        return -1;
    d->state = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 |
               (uint32_t)buf[3] << 24;
    d->p = buf + 4;
    d->end = buf + len;
    d->overrun = 0;
    /* Keeping x in [L, 256 L) also keeps advance from ever reaching x = 0,
     * where renormalisation would not terminate. */
    return d->state >= RANS_L && d->state < 256 * RANS_L ? 0 : -1;
}

void gric_rans_dec_advance(GricRansDecoder *d, uint32_t start, uint32_t freq)
{
    uint32_t x = d->state;
    x = freq * (x >> GRIC_RANS_PREC_BITS) + (x & (GRIC_RANS_TOTAL - 1)) - start;
    while (x < RANS_L) {
        if (d->p < d->end) {
            x = x << 8 | *d->p++;
        } else {
            x <<= 8;
            d->overrun++;
        }
    }
    d->state = x;
}

int gric_rans_dec_get_bit(GricRansDecoder *d)
{
    int bit = gric_rans_dec_peek(d) >= HALF;
    gric_rans_dec_advance(d, bit ? HALF : 0, HALF);
    return bit;
}

int gric_rans_dec_finished(const GricRansDecoder *d)
{
    return d->overrun == 0 && d->p == d->end && d->state == RANS_L;
}
