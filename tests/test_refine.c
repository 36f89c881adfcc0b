/* The latent refinement's rate term: the slope of a value's bits under its
 * mixture, against central differences of the bits themselves.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <stdio.h>

#include "refine.h"
#include "test_util.h"

static double uniform(double a, double b) { return a + (b - a) * (test_rand() / 4294967296.0); }

/* -log2 of the mixture's mass on [v - 1/2, v + 1/2], in long double: the plain definition */
static long double bits(const float *mix, long double v)
{
    long double mass = 0;
    for (int k = 0; k < 3; k++) {
        long double a = (v - 0.5L - mix[3 + k]) / mix[6 + k], b = (v + 0.5L - mix[3 + k]) / mix[6 + k];
        mass += mix[k] * 0.5L * (erfcl(-b / sqrtl(2.0L)) - erfcl(-a / sqrtl(2.0L)));
    }
    return -log2l(mass);
}

int main(void)
{
    int checked = 0;
    double worst = 0;
    for (int i = 0; i < 20000; i++) {
        float mix[GRIC_REFINE_MIX];
        double wsum = 0;
        for (int k = 0; k < 3; k++) {
            mix[k] = k == 1 && i % 3 == 0 ? 0.0f : (float)uniform(0.01, 1);   /* no reference */
            wsum += mix[k];
            mix[3 + k] = (float)uniform(-6, 6);
            mix[6 + k] = (float)exp(uniform(log(0.11), log(40)));
        }
        for (int k = 0; k < 3; k++)
            mix[k] = (float)(mix[k] / wsum);
        const float v = (float)uniform(-8, 8);
        const long double h = 1e-4L, bv = bits(mix, v);
        if (!(bv < 25))   /* the slope is 0 below the 1e-9 floor; stay clear of it */
            continue;
        const double fd = (double)((bits(mix, v + h) - bits(mix, v - h)) / (2 * h));
        const double got = gric_refine_bits_slope(mix, v);
        const double err = fabs(got - fd) / (1 + fabs(fd));
        worst = err > worst ? err : worst;
        CHECK(err < 1e-3, "bits slope %.6f, central difference %.6f at v = %.4f", got, fd, v);
        checked++;
    }
    CHECK(checked > 15000, "only %d mixtures checked", checked);
    /* one component: moving away from the mean costs bits, towards it saves them */
    const float one[GRIC_REFINE_MIX] = {1, 0, 0, 0, 0, 0, 1, 1, 1};
    CHECK(gric_refine_bits_slope(one, 0.7f) > 0 && gric_refine_bits_slope(one, -0.7f) < 0 &&
          gric_refine_bits_slope(one, 0.0f) == 0, "bits slope has the wrong sign");
    /* below the floor the slope is 0, as the training loss's clamp */
    const float far[GRIC_REFINE_MIX] = {1, 0, 0, 0, 0, 0, 0.11f, 1, 1};
    CHECK(gric_refine_bits_slope(far, 5.0f) == 0, "slope below the likelihood floor");
    printf("bits slope: %d mixtures, worst relative error %.2e\n", checked, worst);
    return 0;
}
