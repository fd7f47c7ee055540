/* Dropout without stored masks. Element i of a site is kept when a hash of (key, i) is at or
 * above p * 2^32; the key mixes the step's seed with a site number (layer and place), so the
 * backward pass recomputes exactly the forward mask instead of keeping an [N,H] mask per site.
 * The hash is 32-bit so the loop vectorises (AVX2 has 32-bit multiplies, not 64-bit ones). */
#include "model/layers.h"

uint64_t dropout_key(uint64_t seed, uint32_t site)
{
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + ((uint64_t)site << 32) + site;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* murmur3's finaliser over the index mixed with the two halves of the key. */
static inline uint32_t drop_hash(uint32_t i, uint32_t k0, uint32_t k1)
{
    uint32_t h = (i ^ k0) * 0x9E3779B1u;
    h ^= k1;
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    return h ^ (h >> 16);
}

void dropout_apply(float *x, size_t n, size_t offset, float p, uint64_t key)
{
    if (p <= 0.0f) return;
    uint32_t thr = (uint32_t)((double)p * 4294967296.0), k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    float keep = 1.0f / (1.0f - p);
    #pragma omp simd
    for (size_t i = 0; i < n; i++) x[i] *= drop_hash((uint32_t)(offset + i), k0, k1) >= thr ? keep : 0.0f;
}

void dropout_forward(float *x, size_t n, float p, uint64_t key)
{
    if (p <= 0.0f) return;
    #pragma omp parallel for schedule(static)
    for (size_t c = 0; c < n; c += 4096) dropout_apply(x + c, n - c < 4096 ? n - c : 4096, c, p, key);
}

void dropout_backward(float *d, size_t n, float p, uint64_t key) { dropout_forward(d, n, p, key); }
