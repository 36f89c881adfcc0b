/* Byte-wise rANS entropy coder: 32-bit state, 16-bit probabilities.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A symbol is a (start, freq) interval of [0, 65536): start + freq <= 65536,
 * freq >= 1.  The encoder only records symbols; gric_rans_enc_finish codes
 * them in reverse so that the decoder reads the stream forward.
 */
#ifndef GRIC_RANS_H
#define GRIC_RANS_H

#include <stddef.h>
#include <stdint.h>

#define GRIC_RANS_PREC_BITS 16
#define GRIC_RANS_TOTAL (1u << GRIC_RANS_PREC_BITS)

typedef struct {
    uint32_t *syms;   /* start << 16 | (freq - 1), in coding order */
    size_t n, cap;
} GricRansEncoder;

void gric_rans_enc_init(GricRansEncoder *e);
/* Record one symbol.  0, or -1 when out of memory. */
int gric_rans_enc_put(GricRansEncoder *e, uint32_t start, uint32_t freq);
/* Record one equiprobable bit (start bit * 32768, freq 32768). */
int gric_rans_enc_put_bit(GricRansEncoder *e, int bit);
/* Code every recorded symbol into a malloc'ed stream (*out, *len) and empty
 * the encoder, keeping its buffer for the next frame.  0, or -1 when out of
 * memory (the symbols are then kept). */
int gric_rans_enc_finish(GricRansEncoder *e, uint8_t **out, size_t *len);
void gric_rans_enc_free(GricRansEncoder *e);

/* Reads [p, end) only.  Past the end it shifts in zero bytes and counts them
 * in overrun, so decoding any bytes terminates; callers treat overrun != 0 as
 * a truncated or corrupt stream. */
typedef struct {
    const uint8_t *p, *end;
    uint32_t state;
    int overrun;
} GricRansDecoder;

/* 0, or -1 when buf cannot be a stream (shorter than 4 bytes, or an initial
 * state no encoder produces). */
int gric_rans_dec_init(GricRansDecoder *d, const uint8_t *buf, size_t len);
/* The slot of the next symbol, in [0, 65536): the caller finds the symbol
 * with start <= slot < start + freq and passes it to gric_rans_dec_advance. */
static inline uint32_t gric_rans_dec_peek(const GricRansDecoder *d)
{
    return d->state & (GRIC_RANS_TOTAL - 1);
}
/* Consume the symbol (start, freq); requires start <= peek < start + freq. */
void gric_rans_dec_advance(GricRansDecoder *d, uint32_t start, uint32_t freq);
int gric_rans_dec_get_bit(GricRansDecoder *d);
/* 1 when the stream was consumed exactly: every byte read, none missing,
 * and the state back at the encoder's initial value. */
int gric_rans_dec_finished(const GricRansDecoder *d);

#endif
