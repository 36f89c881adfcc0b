/* Buffers that grow on demand and are reused frame to frame.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GRIC_BUFFER_H
#define GRIC_BUFFER_H

#include <stddef.h>

/* Make *buf hold at least `bytes` (contents not kept); *cap tracks its size. 0 or -1. */
int gric_reserve(void **buf, size_t *cap, size_t bytes);

#endif
