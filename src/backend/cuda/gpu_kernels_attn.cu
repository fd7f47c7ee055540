/* The attention softmax between the two batched GEMMs: forward over the scores of each (batch,
 * head, query) row with padding keys masked, and its backward. One warp per row of T keys. */
#include "backend/cuda/gpu_device.cuh"

template <int V>
__global__ void softmax_fwd_kernel(float *P, dbuf Pd, const int32_t *mask, int rows, int heads, int T, float p, uint32_t site,
                                   uint64_t seed)
{
    int r = blockIdx.x * 8 + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (r >= rows) return;
    size_t base = (size_t)r * T;
    const int32_t *mk = mask + (size_t)(r / (heads * T)) * T;
    float x[V];
    float mx = -INFINITY;
#pragma unroll
    for (int k = 0; k < V; k++) {
        int j = k * 32 + lane;
        x[k] = -INFINITY;
        if (j < T && mk[j]) x[k] = P[base + j];
        mx = fmaxf(mx, x[k]);
    }
    mx = warp_max(mx);
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < V; k++) {
        int j = k * 32 + lane;
        x[k] = (j < T && mx != -INFINITY && x[k] != -INFINITY) ? expf(x[k] - mx) : 0.0f;
        s += x[k];
    }
    s = warp_sum(s);
    /* every key masked: the uniform distribution, as adding finfo.min to every score gives */
    float inv = mx == -INFINITY ? 0.0f : 1.0f / s;
#pragma unroll
    for (int k = 0; k < V; k++) {
        int j = k * 32 + lane;
        if (j >= T) continue;
        float v = mx == -INFINITY ? 1.0f / T : x[k] * inv;
        P[base + j] = v;
        float vd = v * drop_scale(seed, site, base + j, p);
        if (Pd.f && Pd.f != P) Pd.f[base + j] = vd;
        if (Pd.h) Pd.h[base + j] = __float2bfloat16_rn(vd);
    }
}

template <int V>
__global__ void softmax_bwd_kernel(dbuf dS, const float *dP, const float *P, int rows, int T, float p, uint32_t site,
                                   uint64_t seed)
{
    int r = blockIdx.x * 8 + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (r >= rows) return;
    size_t base = (size_t)r * T;
    float pv[V], dv[V];
    float dot = 0.0f;
#pragma unroll
    for (int k = 0; k < V; k++) {
        int j = k * 32 + lane;
        pv[k] = dv[k] = 0.0f;
        if (j < T) {
            pv[k] = P[base + j];
            dv[k] = dP[base + j] * drop_scale(seed, site, base + j, p);
            dot += pv[k] * dv[k];
        }
    }
    dot = warp_sum(dot);
#pragma unroll
    for (int k = 0; k < V; k++) {
        int j = k * 32 + lane;
        if (j < T) store2(dS, base + j, pv[k] * (dv[k] - dot));
    }
}

#define SOFTMAX_CASES(X) X(1) X(2) X(4) X(8) X(16)

void k_softmax_fwd(gpu_model *g, float *P, dbuf Pd, int B, int heads, int T, float p, uint32_t site)
{
    int rows = B * heads * T, v = (T + 31) / 32;
    unsigned grid = (unsigned)((rows + 7) / 8);
#define LAUNCH_F(n) else if (v <= n) softmax_fwd_kernel<n><<<grid, 256, 0, g->stream>>>(P, Pd, g->d_mask, rows, heads, T, p, site, g->seed);
    if (0) {}
    SOFTMAX_CASES(LAUNCH_F)
#undef LAUNCH_F
}

void k_softmax_bwd(gpu_model *g, dbuf dS, const float *dP, const float *P, int B, int heads, int T, float p, uint32_t site)
{
    int rows = B * heads * T, v = (T + 31) / 32;
    unsigned grid = (unsigned)((rows + 7) / 8);
#define LAUNCH_B(n) else if (v <= n) softmax_bwd_kernel<n><<<grid, 256, 0, g->stream>>>(dS, dP, P, rows, T, p, site, g->seed);
    if (0) {}
    SOFTMAX_CASES(LAUNCH_B)
#undef LAUNCH_B
}
