/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>

#include "buffer.h"

int gric_reserve(void **buf, size_t *cap, size_t bytes)
{
    if (bytes <= *cap && *buf)
        return 0;
    /* free first: the old contents are not needed, so never hold both */
    free(*buf);
    *buf = malloc(bytes ? bytes : 1);
    *cap = *buf ? bytes : 0;
    return *buf ? 0 : -1;
}
