/* The one pseudo-random stream the library uses (splitmix64): seeded runs repeat exactly, and a
 * checkpoint resumes a stream by saving its 64-bit state. */
#ifndef ADAPT_CORE_RANDOM_H
#define ADAPT_CORE_RANDOM_H
#include <stdint.h>

uint64_t adapt_rng_next(uint64_t *state);
double adapt_rng_uniform(uint64_t *state);  /* [0, 1) */
double adapt_rng_normal(uint64_t *state);   /* N(0, 1) */

#endif
