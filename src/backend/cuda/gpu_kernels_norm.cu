/* LayerNorm forward and backward, one warp per row, each lane holding H/32 values in registers.
 * Forward fuses the sublayer's bias, dropout, scaling and residual adds; backward fuses the
 * gradients of the LayerNorm weights, the residual split, the branch dropout and the branch's bias
 * gradient, reducing the per-column sums in the block before one atomic add per column per block. */
#include "backend/cuda/gpu_device.cuh"

#define LN_WARPS 8

template <int V>
__global__ void ln_fwd_kernel(ln_fwd_args a, uint64_t seed)
{
    int warp = blockIdx.x * LN_WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (warp >= a.N) return;
    size_t row = (size_t)warp * a.H;
    float x[V];
    float s = 0.0f, mul = a.a_mul != 0.0f ? a.a_mul : 1.0f;
    /* every load from memory before the first store: the pointers may alias as far as the
     * compiler knows, so a store between loads would make each row pay one memory latency per
     * value (the LayerNorm weights read below come from L1) */
#pragma unroll
    for (int k = 0; k < V; k++) {
        int c = k * 32 + lane;
        x[k] = 0.0f;
        if (c < a.H) {
            float v = a.a ? a.a[row + c] : __bfloat162float(a.a_h[row + c]);
            if (a.a_bias) v += a.a_bias[c];
            v *= mul * drop_scale(seed, a.site_in, row + c, a.p_in);
            if (a.resid) v += a.resid[row + c];
            if (a.resid2) v += a.resid2[row + c];
            x[k] = v;
            s += v;
        }
    }
    float mean = warp_sum(s) / a.H, ss = 0.0f;
#pragma unroll
    for (int k = 0; k < V; k++) {
        int c = k * 32 + lane;
        if (c < a.H) ss += (x[k] - mean) * (x[k] - mean);
    }
    float rstd = 1.0f / sqrtf(warp_sum(ss) / a.H + a.eps);
    if (lane == 0) {
        a.mean[warp] = mean;
        a.rstd[warp] = rstd;
    }
#pragma unroll
    for (int k = 0; k < V; k++) {
        int c = k * 32 + lane;
        if (c >= a.H) continue;
        if (a.sum_out) a.sum_out[row + c] = x[k];
        float y = ((x[k] - mean) * rstd) * a.w[c] + a.b[c];
        y *= drop_scale(seed, a.site_out, row + c, a.p_out);
        if (a.out_f) a.out_f[row + c] = y;
        if (a.out_h) a.out_h[row + c] = __float2bfloat16_rn(y);
    }
}

/* Adds this block's per-lane column partials (V per lane, per warp) into dst with one atomic per
 * column: the warps meet in shared memory first. */
template <int V>
__device__ void flush_columns(float *dst, const float (&part)[V], float *red, int H)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
#pragma unroll
    for (int k = 0; k < V; k++) {
        int c = k * 32 + lane;
        if (c < H) red[warp * H + c] = part[k];
    }
    __syncthreads();
    if (dst)
        for (int c = threadIdx.x; c < H; c += blockDim.x) {
            float t = 0.0f;
            for (int w = 0; w < LN_WARPS; w++) t += red[w * H + c];
            atomicAdd(dst + c, t);
        }
}

template <int V>
__global__ void ln_bwd_kernel(ln_bwd_args a, uint64_t seed)
{
    extern __shared__ float red[]; /* [LN_WARPS][H] */
    int lane = threadIdx.x & 31;
    float pdw[V], pdb[V], pbias[V], br_mul = a.br_mul != 0.0f ? a.br_mul : 1.0f;
    bool need_old = a.res_accum || a.old_into_d_out || a.old_into_d_in || a.old_into_branch;
#pragma unroll
    for (int k = 0; k < V; k++) pdw[k] = pdb[k] = pbias[k] = 0.0f;
    for (int r = blockIdx.x * LN_WARPS + (threadIdx.x >> 5); r < a.N; r += gridDim.x * LN_WARPS) {
        size_t row = (size_t)r * a.H;
        float mean = a.mean[r], rstd = a.rstd[r];
        float xh[V], gw[V], old[V];
        float sg = 0.0f, sgx = 0.0f;
        /* every load of the row before its first store (see ln_fwd_kernel) */
#pragma unroll
        for (int k = 0; k < V; k++) {
            int c = k * 32 + lane;
            xh[k] = gw[k] = old[k] = 0.0f;
            if (c < a.H) {
                xh[k] = (a.in[row + c] - mean) * rstd;
                old[k] = need_old ? a.d_res[row + c] : 0.0f;
                float dy = a.d_out[row + c] * drop_scale(seed, a.site_dout, row + c, a.p_dout);
                if (a.old_into_d_out) dy += old[k];
                gw[k] = dy * a.w[c];
                sg += gw[k];
                sgx += gw[k] * xh[k];
                pdw[k] += dy * xh[k];
                pdb[k] += dy;
            }
        }
        float mg = warp_sum(sg) / a.H, mgx = warp_sum(sgx) / a.H;
#pragma unroll
        for (int k = 0; k < V; k++) {
            int c = k * 32 + lane;
            if (c >= a.H) continue;
            float dx = rstd * (gw[k] - mg - xh[k] * mgx) + (a.old_into_d_in ? old[k] : 0.0f);
            float br = dx + (a.old_into_branch ? old[k] : 0.0f);
            if (a.d_res) a.d_res[row + c] = (a.res_accum ? old[k] : 0.0f) + dx;
            float db = br * br_mul * drop_scale(seed, a.site_br, row + c, a.p_br);
            if (a.d_br_f) a.d_br_f[row + c] = db;
            if (a.d_br_h) a.d_br_h[row + c] = __float2bfloat16_rn(db);
            pbias[k] += db;
        }
    }
    flush_columns<V>(a.dw, pdw, red, a.H);
    flush_columns<V>(a.db, pdb, red, a.H);
    flush_columns<V>(a.d_br_bias, pbias, red, a.H);
}

static int ln_values(int H) { return H <= 256 ? 8 : H <= 512 ? 16 : H <= 768 ? 24 : 32; }

void k_ln_fwd(gpu_model *g, const ln_fwd_args &a)
{
    unsigned grid = (unsigned)((a.N + LN_WARPS - 1) / LN_WARPS);
    switch (ln_values(a.H)) {
    case 8: ln_fwd_kernel<8><<<grid, 32 * LN_WARPS, 0, g->stream>>>(a, g->seed); break;
    case 16: ln_fwd_kernel<16><<<grid, 32 * LN_WARPS, 0, g->stream>>>(a, g->seed); break;
    case 24: ln_fwd_kernel<24><<<grid, 32 * LN_WARPS, 0, g->stream>>>(a, g->seed); break;
    default: ln_fwd_kernel<32><<<grid, 32 * LN_WARPS, 0, g->stream>>>(a, g->seed); break;
    }
}

void k_ln_bwd(gpu_model *g, const ln_bwd_args &a)
{
    unsigned grid = (unsigned)((a.N + LN_WARPS - 1) / LN_WARPS), cap = (unsigned)(2 * g->sms);
    if (grid > cap) grid = cap;
    size_t shmem = (size_t)LN_WARPS * a.H * sizeof(float);
    switch (ln_values(a.H)) {
    case 8: ln_bwd_kernel<8><<<grid, 32 * LN_WARPS, shmem, g->stream>>>(a, g->seed); break;
    case 16: ln_bwd_kernel<16><<<grid, 32 * LN_WARPS, shmem, g->stream>>>(a, g->seed); break;
    case 24: ln_bwd_kernel<24><<<grid, 32 * LN_WARPS, shmem, g->stream>>>(a, g->seed); break;
    default: ln_bwd_kernel<32><<<grid, 32 * LN_WARPS, shmem, g->stream>>>(a, g->seed); break;
    }
}
