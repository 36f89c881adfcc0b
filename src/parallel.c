/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "parallel.h"

#define SPIN_ROUNDS 2000   /* polls (each a sched_yield) before a worker sleeps */

struct GricPool {
    int threads;
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int sleeping;             /* workers blocked on wake (under lock) */
    int quit;
    /* The current run: generation << 32 | next unclaimed chunk.  Claiming
     * with compare-and-swap on both halves stops a late worker from taking
     * a chunk of a newer run with the task of an older one. */
    _Atomic uint64_t ticket;
    atomic_int done;
    GricPoolTask task;        /* written under lock before the run is published */
    void *arg;
    int chunks;
};

/* Claim and run chunks of run `gen` until none is left. */
static int work(GricPool *pool, uint32_t gen, GricPoolTask task, void *arg, int chunks)
{
    int ran = 0;
    uint64_t t = atomic_load(&pool->ticket);
    while ((uint32_t)(t >> 32) == gen && (int)(uint32_t)t < chunks) {
        if (!atomic_compare_exchange_weak(&pool->ticket, &t, t + 1))
            continue;
        task(arg, (int)(uint32_t)t, chunks);
        ran++;
        t = atomic_load(&pool->ticket);
    }
    return ran;
}

static void *worker_main(void *p)
{
    GricPool *pool = p;
    uint32_t seen = 0;
    for (;;) {
        for (int i = 0; i < SPIN_ROUNDS && (uint32_t)(atomic_load(&pool->ticket) >> 32) == seen;
             i++)
            sched_yield();
        pthread_mutex_lock(&pool->lock);
        while ((uint32_t)(atomic_load(&pool->ticket) >> 32) == seen && !pool->quit) {
            pool->sleeping++;
            pthread_cond_wait(&pool->wake, &pool->lock);
            pool->sleeping--;
        }
        if (pool->quit) {
            pthread_mutex_unlock(&pool->lock);
            return NULL;
        }
        seen = (uint32_t)(atomic_load(&pool->ticket) >> 32);
        GricPoolTask task = pool->task;
        void *arg = pool->arg;
        int chunks = pool->chunks;
        pthread_mutex_unlock(&pool->lock);
        int ran = work(pool, seen, task, arg, chunks);
        atomic_fetch_add(&pool->done, ran);
    }
}

GricPool *gric_pool_new(int threads)
{
    if (threads < 2)
        return NULL;
    GricPool *pool = calloc(1, sizeof(*pool));
    if (!pool || !(pool->workers = calloc((size_t)threads - 1, sizeof(pthread_t)))) {
        free(pool);
        return NULL;
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pool->threads = 1;
    while (pool->threads < threads &&
           !pthread_create(&pool->workers[pool->threads - 1], NULL, worker_main, pool))
        pool->threads++;
    if (pool->threads < 2) {
        gric_pool_free(pool);
        return NULL;
    }
    return pool;
}

void gric_pool_free(GricPool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->quit = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->threads - 1; i++)
        pthread_join(pool->workers[i], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->wake);
    free(pool->workers);
    free(pool);
}

int gric_pool_threads(const GricPool *pool)
{
    return pool ? pool->threads : 1;
}

void gric_pool_run(GricPool *pool, GricPoolTask task, void *arg, int chunks)
{
    if (!pool) {
        for (int i = 0; i < chunks; i++)
            task(arg, i, chunks);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->task = task;
    pool->arg = arg;
    pool->chunks = chunks;
    atomic_store(&pool->done, 0);
    uint32_t gen = (uint32_t)(atomic_load(&pool->ticket) >> 32) + 1;
    atomic_store(&pool->ticket, (uint64_t)gen << 32);
    if (pool->sleeping)
        pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    int ran = work(pool, gen, task, arg, chunks);
    /* only chunks a worker already holds can be outstanding */
    while (atomic_load(&pool->done) + ran < chunks)
        sched_yield();
}
