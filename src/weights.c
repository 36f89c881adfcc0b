/* Weight-file container parsing.  Every length and offset read from the
 * file is checked against the buffer before use.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "weights.h"

#define HEADER_SIZE 64
#define MAX_ENTRIES 4096

static const char MAGIC[8] = {'G', 'R', 'I', 'C', 'M', 'O', 'D', 'L'};

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static size_t dtype_size(int dtype)
{
    switch (dtype) {
    case GRIC_DT_F32: case GRIC_DT_I32: return 4;
    case GRIC_DT_F16: return 2;
    case GRIC_DT_U8: return 1;
    case GRIC_DT_I64: return 8;
    }
    return 0;
}

uint64_t gric_fnv1a64(const uint8_t *data, size_t size)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < size; i++) {
        h ^= data[i];
        h *= 0x100000001B3ull;
    }
    return h;
}

/* Cursor over the directory that never reads past its end. */
typedef struct {
    const uint8_t *p, *end;
} Reader;

static int take(Reader *r, size_t n, const uint8_t **out)
{
    if ((size_t)(r->end - r->p) < n)
        return -1;
    *out = r->p;
    r->p += n;
    return 0;
}

static int read_name(Reader *r, char *dst, size_t cap)
{
    const uint8_t *p;
    if (take(r, 2, &p))
        return -1;
    size_t len = rd16(p);
    if (len == 0 || len >= cap || take(r, len, &p))
        return -1;
    memcpy(dst, p, len);
    dst[len] = 0;
    return memchr(dst, 0, len) ? -1 : 0;
}

GricStatus gric_container_parse(GricContainer *c, const uint8_t *buf, size_t size, GricError *err)
{
    memset(c, 0, sizeof(*c));
    if (size < HEADER_SIZE || memcmp(buf, MAGIC, 8) != 0)
        return gric_fail(err, GRIC_ERR_BAD_MODEL, "not a gric weight file (bad magic)");
    uint32_t version = rd32(buf + 8), header_size = rd32(buf + 12);
    uint32_t n_meta = rd32(buf + 16), n_tensors = rd32(buf + 20);
    uint64_t dir_off = rd64(buf + 24), dir_size = rd64(buf + 32);
    uint64_t data_off = rd64(buf + 40), data_size = rd64(buf + 48);
    if (version != 2)
        return gric_fail(err, GRIC_ERR_BAD_MODEL, "weight file version %u is not supported", version);
    if (header_size != HEADER_SIZE || dir_off != HEADER_SIZE || n_meta > MAX_ENTRIES ||
        n_tensors > MAX_ENTRIES || dir_size > size - HEADER_SIZE || data_off % 64 ||
        data_off < dir_off + dir_size || data_off > size || data_size != size - data_off)
        return gric_fail(err, GRIC_ERR_BAD_MODEL, "weight file header is inconsistent (truncated?)");
    if (gric_fnv1a64(buf + HEADER_SIZE, size - HEADER_SIZE) != rd64(buf + 56))
        return gric_fail(err, GRIC_ERR_BAD_MODEL, "weight file is damaged (model id mismatch)");
    c->id = rd64(buf + 56);
    c->meta = calloc(n_meta ? n_meta : 1, sizeof(*c->meta));
    c->tensors = calloc(n_tensors ? n_tensors : 1, sizeof(*c->tensors));
    if (!c->meta || !c->tensors) {
        gric_container_free(c);
        return gric_fail(err, GRIC_ERR_NOMEM, "out of memory reading the weight file");
    }
    Reader r = {buf + dir_off, buf + dir_off + dir_size};
    const uint8_t *p;
    for (uint32_t i = 0; i < n_meta; i++, c->n_meta++) {
        if (read_name(&r, c->meta[i].key, sizeof(c->meta[i].key)) || take(&r, 8, &p))
            goto bad;
        c->meta[i].value = (int64_t)rd64(p);
    }
    for (uint32_t i = 0; i < n_tensors; i++, c->n_tensors++) {
        GricTensor *t = &c->tensors[i];
        if (read_name(&r, t->name, sizeof(t->name)) || take(&r, 2, &p))
            goto bad;
        t->dtype = p[0];
        t->ndim = p[1];
        size_t esize = dtype_size(t->dtype);
        if (!esize || t->ndim > GRIC_MAX_NDIM || take(&r, 4u * t->ndim + 8, &p))
            goto bad;
        uint64_t count = 1;
        for (int d = 0; d < t->ndim; d++) {
            t->dims[d] = rd32(p + 4 * d);
            if (t->dims[d] == 0 || t->dims[d] > (1u << 28))
                goto bad;
            count *= t->dims[d];
            if (count > (1ull << 32))
                goto bad;
        }
        uint64_t off = rd64(p + 4 * t->ndim);
        if (off % 64 || off > data_size || count * esize > data_size - off)
            goto bad;
        t->count = (size_t)count;
        t->data = buf + data_off + off;
    }
    return GRIC_OK;
bad:
    gric_container_free(c);
    return gric_fail(err, GRIC_ERR_BAD_MODEL, "weight file directory is corrupt");
}

void gric_container_free(GricContainer *c)
{
    free(c->meta);
    free(c->tensors);
    memset(c, 0, sizeof(*c));
}

const GricTensor *gric_container_find(const GricContainer *c, const char *name)
{
    for (int i = 0; i < c->n_tensors; i++)
        if (!strcmp(c->tensors[i].name, name))
            return &c->tensors[i];
    return NULL;
}

int64_t gric_container_meta(const GricContainer *c, const char *key, int64_t fallback)
{
    for (int i = 0; i < c->n_meta; i++)
        if (!strcmp(c->meta[i].key, key))
            return c->meta[i].value;
    return fallback;
}

const GricTensor *gric_container_expect(const GricContainer *c, const char *name, int dtype,
                                        int ndim, const long *dims, GricError *err)
{
    const GricTensor *t = gric_container_find(c, name);
    if (!t) {
        gric_fail(err, GRIC_ERR_BAD_MODEL, "weight file lacks tensor '%s'", name);
        return NULL;
    }
    int ok = t->ndim == ndim && (t->dtype == dtype ||
                                 (dtype == GRIC_DT_F32 && t->dtype == GRIC_DT_F16));
    for (int d = 0; ok && d < ndim; d++)
        ok = dims[d] < 0 || (long)t->dims[d] == dims[d];
    if (!ok) {
        gric_fail(err, GRIC_ERR_BAD_MODEL, "weight file tensor '%s' has the wrong type or shape",
                  name);
        return NULL;
    }
    return t;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 31, mant = h & 1023;
    uint32_t bits;
    if (exp == 31) {
        bits = sign | 0x7F800000u | mant << 13;
    } else if (exp) {
        bits = sign | (exp + 112) << 23 | mant << 13;
    } else if (mant) { /* subnormal: normalise */
        exp = 113;
        while (!(mant & 1024)) {
            mant <<= 1;
            exp--;
        }
        bits = sign | exp << 23 | (mant & 1023) << 13;
    } else {
        bits = sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float *gric_tensor_to_f32(const GricTensor *t)
{
    float *out = malloc(t->count * sizeof(float));
    if (!out)
        return NULL;
    if (t->dtype == GRIC_DT_F32) {
        memcpy(out, t->data, t->count * sizeof(float));
    } else {
        for (size_t i = 0; i < t->count; i++)
            out[i] = half_to_float(rd16(t->data + 2 * i));
    }
    return out;
}
