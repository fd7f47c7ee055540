/* bf16 ("brain float": the upper 16 bits of an IEEE float32) for weight-only bf16 storage: frozen
 * weights kept as bf16 to halve their memory, widened back to float32 before any arithmetic.
 * Rounding is to nearest even, as torch's .to(torch.bfloat16) does; widening is exact. */
#ifndef ADAPT_CORE_BF16_H
#define ADAPT_CORE_BF16_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t bf16_round(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* NaN stays a (quiet) NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float bf16_widen(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* n values at a time, in parallel and vectorised (the widening runs before every GEMM of a
 * bf16-held weight, so its speed is part of each pass). */
void bf16_round_array(uint16_t *dst, const float *src, size_t n);
void bf16_widen_array(float *dst, const uint16_t *src, size_t n);

#endif
