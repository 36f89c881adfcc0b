/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <unistd.h>

#include "codec.h"

void gric_geometry(uint32_t width, uint32_t height, GricGeometry *g)
{
    g->padded_w = (int)((width + GRIC_PAD - 1) / GRIC_PAD * GRIC_PAD);
    g->padded_h = (int)((height + GRIC_PAD - 1) / GRIC_PAD * GRIC_PAD);
    g->w = g->padded_w / 16;
    g->h = g->padded_h / 16;
    g->wz = g->padded_w / 64;
    g->hz = g->padded_h / 64;
}

int gric_resolve_threads(int threads)
{
    if (threads > 0)
        return threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Round half to even without libm (valid for |x| < 2^22). */
int32_t gric_quantise(float x)
{
    if (!(x > -2048.0f))
        x = -2048.0f;
    if (x > 2048.0f)
        x = 2048.0f;
    /* adding 1.5 * 2^23 leaves no fraction bits, so the FPU rounds to even */
    int32_t v = (int32_t)((x + 12582912.0f) - 12582912.0f);
    return v < -GRIC_Y_LIMIT ? -GRIC_Y_LIMIT : v > GRIC_Y_LIMIT ? GRIC_Y_LIMIT : v;
}

