/* A small fork-join pool for the autoregressive coder's many short parallel
 * phases (a few per latent position).  Work is cut into chunks that threads
 * claim one at a time, so the caller never waits for a worker that has not
 * started: on a loaded machine it simply does the chunks itself.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GRIC_PARALLEL_H
#define GRIC_PARALLEL_H

typedef struct GricPool GricPool;
/* Do chunk `chunk` of `chunks`. */
typedef void (*GricPoolTask)(void *arg, int chunk, int chunks);

/* A pool of `threads` (the caller counts as one).  NULL if threads < 2 or
 * on failure: callers then run tasks inline. */
GricPool *gric_pool_new(int threads);
void gric_pool_free(GricPool *pool);
/* Run task(arg, i, chunks) for every i in [0, chunks) and return when all are done. */
void gric_pool_run(GricPool *pool, GricPoolTask task, void *arg, int chunks);
int gric_pool_threads(const GricPool *pool);

#endif
