/* Device-side helpers shared by the kernels: the counter-based dropout mask, warp reductions,
 * GELU, and stores to the fp32 / bf16 halves of a dbuf. */
#ifndef ADAPT_BACKEND_CUDA_GPU_DEVICE_CUH
#define ADAPT_BACKEND_CUDA_GPU_DEVICE_CUH
#include "backend/cuda/gpu_common.cuh"

/* Dropout without stored masks: element i of site s in the step seeded by `seed` is kept when a
 * splitmix64 hash of (seed, site, i) is at or above p * 2^32. Backward recomputes it; the host
 * self-tests (gpu_check_attn_train.cu) call the same code for their reference. */
__host__ __device__ __forceinline__ float drop_scale(uint64_t seed, uint32_t site, uint64_t i, float p)
{
    if (p <= 0.0f) return 1.0f;
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + ((uint64_t)site << 40) + i;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    uint32_t h = (uint32_t)(z >> 32);
    uint32_t thr = (uint32_t)((double)p * 4294967296.0);
    return h >= thr ? 1.0f / (1.0f - p) : 0.0f;
}

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Block-wide sum for blockDim.x a multiple of 32 (<= 1024); every thread gets the result. */
__device__ __forceinline__ float block_sum(float v, float *shared32)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) shared32[warp] = v;
    __syncthreads();
    v = lane < nw ? shared32[lane] : 0.0f;
    return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float *shared32)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) shared32[warp] = v;
    __syncthreads();
    v = lane < nw ? shared32[lane] : -INFINITY;
    return warp_max(v);
}

/* The exact (erf) GELU that BERT and RoBERTa use, and its derivative (as the CPU layers). */
__device__ __forceinline__ float gelu_f(float x) { return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f)); }
__device__ __forceinline__ float gelu_grad(float x)
{
    float cdf = 0.5f * (1.0f + erff(x * 0.7071067811865476f));
    float pdf = 0.3989422804014327f * expf(-0.5f * x * x);
    return cdf + x * pdf;
}

__device__ __forceinline__ void store2(dbuf d, size_t i, float v)
{
    if (d.f) d.f[i] = v;
    if (d.h) d.h[i] = __float2bfloat16_rn(v);
}

/* d.f when it is set, else d.h */
__device__ __forceinline__ float load2(dbuf d, size_t i) { return d.f ? d.f[i] : __bfloat162float(d.h[i]); }

__device__ __forceinline__ float load_any(const void *p, bool is_bf16, size_t i)
{
    return is_bf16 ? __bfloat162float(((const bf16 *)p)[i]) : ((const float *)p)[i];
}

static inline unsigned blocks_for(size_t n, unsigned threads, unsigned cap = 1u << 20)
{
    size_t b = (n + threads - 1) / threads;
    return (unsigned)(b < 1 ? 1 : b > cap ? cap : b);
}

#endif
