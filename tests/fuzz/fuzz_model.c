/* libFuzzer target: the weight-file loader.  Half of the inputs get their
 * model id (the FNV-1a checksum) repaired so mutations reach the directory
 * and tensor validation.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gric.h"
#include "weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    if (size >= 64 && (data[size - 1] & 1) == 0) {
        uint64_t id = gric_fnv1a64(buf + 64, size - 64);
        for (int i = 0; i < 8; i++)
            buf[56 + i] = (uint8_t)(id >> (8 * i));
    }
    GricModel *m = gric_model_open_memory(buf, size, NULL);
    gric_model_close(m);
    free(buf);
    return 0;
}
