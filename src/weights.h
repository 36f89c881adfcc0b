/* The weight-file container (docs/MODEL.md §5): parsing and validation.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GRIC_WEIGHTS_H
#define GRIC_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum { GRIC_DT_F32 = 0, GRIC_DT_F16 = 1, GRIC_DT_I32 = 2, GRIC_DT_U8 = 3, GRIC_DT_I64 = 4 };

#define GRIC_MAX_NDIM 4

typedef struct {
    char name[64];
    int dtype;
    int ndim;
    uint32_t dims[GRIC_MAX_NDIM];
    size_t count;          /* elements */
    const uint8_t *data;   /* inside the container buffer, 64-byte aligned offset */
} GricTensor;

typedef struct {
    char key[32];
    int64_t value;
} GricMeta;

typedef struct {
    uint64_t id;
    int n_meta, n_tensors;
    GricMeta *meta;
    GricTensor *tensors;
} GricContainer;

/* Parse and validate a container held in buf (which must outlive it).
 * Checks magic, version, every offset and size, and the model id (FNV-1a). */
GricStatus gric_container_parse(GricContainer *c, const uint8_t *buf, size_t size, GricError *err);
void gric_container_free(GricContainer *c);
uint64_t gric_fnv1a64(const uint8_t *data, size_t size);

const GricTensor *gric_container_find(const GricContainer *c, const char *name);
/* Metadata value, or `fallback` when absent. */
int64_t gric_container_meta(const GricContainer *c, const char *key, int64_t fallback);

/* Look a tensor up and check its dtype and shape (dims[i] < 0 = any).  NULL and err set if not. */
const GricTensor *gric_container_expect(const GricContainer *c, const char *name, int dtype,
                                        int ndim, const long *dims, GricError *err);
/* Convert an f16 or f32 tensor to a new float32 array (caller frees); NULL if out of memory. */
float *gric_tensor_to_f32(const GricTensor *t);

#endif
