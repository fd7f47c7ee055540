#include "core/bf16.h"

/* Blocks of 16K values: each thread converts whole blocks, which stay in its cache. */
#define BF16_BLOCK ((size_t)16384)

static size_t blocks(size_t n) { return (n + BF16_BLOCK - 1) / BF16_BLOCK; }
static size_t block_end(size_t b, size_t n) { return (b + 1) * BF16_BLOCK < n ? (b + 1) * BF16_BLOCK : n; }

void bf16_round_array(uint16_t *dst, const float *src, size_t n)
{
    #pragma omp parallel for schedule(static)
    for (size_t b = 0; b < blocks(n); b++)
        for (size_t i = b * BF16_BLOCK, end = block_end(b, n); i < end; i++) dst[i] = bf16_round(src[i]);
}

void bf16_widen_array(float *dst, const uint16_t *src, size_t n)
{
    #pragma omp parallel for schedule(static)
    for (size_t b = 0; b < blocks(n); b++)
        for (size_t i = b * BF16_BLOCK, end = block_end(b, n); i < end; i++) dst[i] = bf16_widen(src[i]);
}
