/* Global reference search.  With the Gram row of padded pixel p stored
 * relative to p (row_p[j] = <y_p, y_q>, q = p - span + 1 + j), the
 * neighbourhood dot product of positions t and s is the same column
 * j = s - t + span - 1 of the four rows of t's neighbours, so one pass over
 * j scores every candidate.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "reference.h"

int gric_ref_reset(GricRefSearch *r, int h, int w, int m)
{
    r->h = h;
    r->w = w;
    r->m = m;
    r->pw = w + 2;
    r->ring_rows = r->pw + 2;
    int rows = h < GRIC_SEARCH_ROWS ? h : GRIC_SEARCH_ROWS;
    r->span = (rows + 1) * r->pw;
    size_t ny = (size_t)(h + 1) * r->pw * m;
    size_t ngram = (size_t)(r->ring_rows + 1) * r->span;
    if (gric_reserve((void **)&r->y, &r->cap_y, ny * sizeof(int16_t)) ||
        gric_reserve((void **)&r->gram, &r->cap_gram, ngram * sizeof(int32_t)) ||
        gric_reserve((void **)&r->norm, &r->cap_norm, (size_t)h * w * sizeof(int64_t)))
        return -1;
    memset(r->y, 0, ny * sizeof(int16_t));
    r->zero_row = r->gram + (size_t)r->ring_rows * r->span;
    memset(r->zero_row, 0, (size_t)r->span * sizeof(int32_t));
    return 0;
}

void gric_ref_free(GricRefSearch *r)
{
    free(r->y);
    free(r->gram);
    free(r->norm);
    memset(r, 0, sizeof(*r));
}

static int is_padding(const GricRefSearch *r, int p)
{
    int col = p % r->pw;
    return p < r->pw || col == 0 || col == r->pw - 1;
}

static int padded_index(const GricRefSearch *r, int t)
{
    return (t / r->w + 1) * r->pw + t % r->w + 1;
}

static const int32_t *gram_row(const GricRefSearch *r, int p)
{
    if (is_padding(r, p))
        return r->zero_row;
    return r->gram + (size_t)(p % r->ring_rows) * r->span;
}

static int32_t dot16(const int16_t *a, const int16_t *b, int n)
{
    int32_t s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

void gric_ref_store(GricRefSearch *r, int t, const int32_t *values)
{
    int16_t *yp = r->y + (size_t)padded_index(r, t) * r->m;
    for (int c = 0; c < r->m; c++)
        yp[c] = (int16_t)values[c];
}

int gric_ref_gram_width(const GricRefSearch *r)
{
    return r->span;
}

void gric_ref_gram(GricRefSearch *r, int t, int j0, int j1)
{
    int p = padded_index(r, t);
    const int16_t *yp = r->y + (size_t)p * r->m;
    int32_t *row = r->gram + (size_t)(p % r->ring_rows) * r->span;
    int q0 = p - r->span + 1;
    for (int j = j0; j < j1; j++) {
        int q = q0 + j;
        row[j] = q < 0 || is_padding(r, q) ? 0 : dot16(yp, r->y + (size_t)q * r->m, r->m);
    }
}

int gric_ref_search(GricRefSearch *r, int t, int *sim_k)
{
    int p = padded_index(r, t), pw = r->pw, last = r->span - 1;
    const int32_t *ra = gram_row(r, p - pw - 1), *rb = gram_row(r, p - pw);
    const int32_t *rc = gram_row(r, p - pw + 1), *rd = gram_row(r, p - 1);
    int64_t a = (int64_t)ra[last] + rb[last] + rc[last] + rd[last];
    r->norm[t] = a;
    *sim_k = 0;
    if (a == 0)
        return -1;
    int row = t / r->w, first_row = row > GRIC_SEARCH_ROWS ? row - GRIC_SEARCH_ROWS : 0;
    int best_s = -1;
    double best = 0;
    for (int s = first_row * r->w; s < t; s++) {
        int j = padded_index(r, s) - p + last;
        int64_t d = (int64_t)ra[j] + rb[j] + rc[j] + rd[j];
        if (d <= 0)
            continue;
        double score = ((double)d * (double)d) / ((double)a * (double)r->norm[s]);
        if (score > best) {
            best = score;
            best_s = s;
        }
    }
    if (best_s < 0)
        return -1;
    /* largest k in [0, 256] with k^2 <= score * 65536 */
    int lo = 0, hi = GRIC_SIM_STEPS;
    double target = best * (double)(GRIC_SIM_STEPS * GRIC_SIM_STEPS);
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if ((double)(mid * mid) <= target)
            lo = mid;
        else
            hi = mid - 1;
    }
    *sim_k = lo;
    return best_s;
}
