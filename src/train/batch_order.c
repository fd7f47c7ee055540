#include "train/batch_order.h"
#include "core/error.h"
#include "core/random.h"
#include <stdlib.h>
#include <string.h>

#define MAX_SOURCES 256

static void shuffle(size_t *order, size_t n, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = n - 1; n && i > 0; i--) {
        size_t j = adapt_rng_next(rng) % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

size_t epoch_positions(const uint8_t *source_of, size_t n, int n_sources, int B)
{
    if (!source_of || n_sources < 2) return n;
    if (n_sources > MAX_SOURCES) n_sources = MAX_SOURCES; /* source_of holds bytes: no more exist */
    size_t count[MAX_SOURCES] = {0}, positions = 0;
    for (size_t i = 0; i < n; i++) count[source_of[i]]++;
    for (int s = 0; s < n_sources; s++) positions += count[s] / (size_t)B * (size_t)B;
    return positions;
}

/* The source whose batches are least used up, relative to how many it has (ties: the first). */
static int next_source(const size_t *taken, const size_t *batches, int n_sources)
{
    int best = -1;
    for (int s = 0; s < n_sources; s++) {
        if (taken[s] == batches[s]) continue;
        /* (taken + 1/2) / batches, compared without division */
        if (best < 0 || (2 * taken[s] + 1) * batches[best] < (2 * taken[best] + 1) * batches[s]) best = s;
    }
    return best;
}

adapt_status epoch_order(size_t *order, size_t n, const uint8_t *source_of, int n_sources, int B, uint64_t *rng)
{
    shuffle(order, n, rng);
    if (!source_of || n_sources < 2) return ADAPT_OK;
    if (n_sources > MAX_SOURCES || B < 1) return adapt_fail(ADAPT_ERR_ARG, "epoch order: %d sources, batch %d", n_sources, B);
    size_t *by_source = malloc(n * sizeof *by_source + 1);
    if (!by_source) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    size_t start[MAX_SOURCES + 1] = {0}, fill[MAX_SOURCES], taken[MAX_SOURCES] = {0}, batches[MAX_SOURCES];
    for (size_t i = 0; i < n; i++) start[source_of[i] + 1]++;
    for (int s = 0; s < n_sources; s++) {
        batches[s] = start[s + 1] / (size_t)B;
        start[s + 1] += start[s];
        fill[s] = start[s];
    }
    for (size_t i = 0; i < n; i++) by_source[fill[source_of[order[i]]]++] = order[i]; /* stable: keeps the shuffle */
    size_t out = 0;
    for (int s; (s = next_source(taken, batches, n_sources)) >= 0; taken[s]++, out += (size_t)B)
        memcpy(order + out, by_source + start[s] + taken[s] * (size_t)B, (size_t)B * sizeof *order);
    for (int s = 0; s < n_sources; s++) { /* the remainders, after the epoch's last batch */
        size_t used = batches[s] * (size_t)B, rest = start[s + 1] - start[s] - used;
        memcpy(order + out, by_source + start[s] + used, rest * sizeof *order);
        out += rest;
    }
    free(by_source);
    return ADAPT_OK;
}
