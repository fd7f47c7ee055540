#include "core/random.h"
#include <math.h>

uint64_t adapt_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double adapt_rng_uniform(uint64_t *state) { return (double)(adapt_rng_next(state) >> 11) * (1.0 / 9007199254740992.0); }

double adapt_rng_normal(uint64_t *state)
{
    /* Box-Muller; 1 - u keeps the log argument in (0, 1]. */
    double u = 1.0 - adapt_rng_uniform(state), v = adapt_rng_uniform(state);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}
