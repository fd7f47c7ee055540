/* LayerNorm forward and backward, one warp per row, each lane holding H/32 values in registers.
 * Forward fuses the sublayer's bias, dropout, scaling and residual adds; backward fuses the
 * gradients of the LayerNorm weights, the residual split, the branch dropout and the branch's bias
 * gradient, reducing the per-column sums in the block before one atomic add per column per block. */
#include "backend/cuda/gpu_device.cuh"

#define LN_WARPS 8

/* Lane values of a row: k * 32 + lane, clamped into the row so that every load is valid without
 * a branch (the clamped duplicates are masked out of the sums and never stored). */
#define LANE_COL(k) min((k) * 32 + lane, a.H - 1)
#define LANE_REAL(k) ((k) * 32 + lane < a.H)

/* Each source of a row is read in its own branch-free unrolled loop, so that all its loads are in
 * flight at once: a load whose value is consumed before the next load is issued (across a branch
 * or a store, which the compiler cannot move loads past) costs one memory latency per value. */
template <int V>
__global__ void ln_fwd_kernel(ln_fwd_args a, uint64_t seed)
{
    int warp = blockIdx.x * LN_WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (warp >= a.N) return;
    size_t row = (size_t)warp * a.H;
    float x[V];
    if (a.a) {
#pragma unroll
        for (int k = 0; k < V; k++) x[k] = a.a[row + LANE_COL(k)];
    } else {
#pragma unroll
        for (int k = 0; k < V; k++) x[k] = __bfloat162float(a.a_h[row + LANE_COL(k)]);
    }
    if (a.a_bias) {
#pragma unroll
        for (int k = 0; k < V; k++) x[k] += a.a_bias[LANE_COL(k)];
    }
    float mul = a.a_mul != 0.0f ? a.a_mul : 1.0f;
    if (a.p_in > 0.0f || mul != 1.0f) { /* drop_scale branches per value: kept out of the load loops */
#pragma unroll
        for (int k = 0; k < V; k++) x[k] *= mul * drop_scale(seed, a.site_in, row + LANE_COL(k), a.p_in);
    }
    if (a.resid) {
#pragma unroll
        for (int k = 0; k < V; k++) x[k] += a.resid[row + LANE_COL(k)];
    }
    if (a.resid2) {
#pragma unroll
        for (int k = 0; k < V; k++) x[k] += a.resid2[row + LANE_COL(k)];
    }
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < V; k++) s += LANE_REAL(k) ? x[k] : 0.0f;
    float mean = warp_sum(s) / a.H, ss = 0.0f;
#pragma unroll
    for (int k = 0; k < V; k++) ss += LANE_REAL(k) ? (x[k] - mean) * (x[k] - mean) : 0.0f;
    float rstd = 1.0f / sqrtf(warp_sum(ss) / a.H + a.eps);
    if (lane == 0) {
        a.mean[warp] = mean;
        a.rstd[warp] = rstd;
    }
    if (a.sum_out) {
#pragma unroll
        for (int k = 0; k < V; k++)
            if (LANE_REAL(k)) a.sum_out[row + k * 32 + lane] = x[k];
    }
#pragma unroll
    for (int k = 0; k < V; k++) x[k] = ((x[k] - mean) * rstd) * a.w[LANE_COL(k)] + a.b[LANE_COL(k)];
    if (a.p_out > 0.0f) {
#pragma unroll
        for (int k = 0; k < V; k++) x[k] *= drop_scale(seed, a.site_out, row + LANE_COL(k), a.p_out);
    }
#pragma unroll
    for (int k = 0; k < V; k++) {
        if (!LANE_REAL(k)) continue;
        if (a.out_f) a.out_f[row + k * 32 + lane] = x[k];
        if (a.out_h) a.out_h[row + k * 32 + lane] = __float2bfloat16_rn(x[k]);
    }
}

/* Backward blocks: 4 warps, each accumulating its rows' column sums (LayerNorm weight and bias
 * gradients, the branch's bias gradient) in its own slice of shared memory, [3][4][H] floats
 * (48 KB at H = 1024), summed over the warps and added with one atomic per column at the end. */
#define LNB_WARPS 4

/* OLD: whether d_res's previous content is read (see ln_bwd_args); a template flag so that the
 * common case keeps no registers for it. */
template <int V, bool OLD>
__global__ void ln_bwd_kernel(ln_bwd_args a, uint64_t seed)
{
    extern __shared__ float red[];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, H = a.H;
    float *acc_w = red + (size_t)warp * H, *acc_b = red + (size_t)(LNB_WARPS + warp) * H, *acc_br = red + (size_t)(2 * LNB_WARPS + warp) * H;
    for (int i = threadIdx.x; i < 3 * LNB_WARPS * H; i += blockDim.x) red[i] = 0.0f;
    __syncthreads();
    float br_mul = a.br_mul != 0.0f ? a.br_mul : 1.0f;
    bool ln_grads = a.dw || a.db;
    for (int r = blockIdx.x * LNB_WARPS + warp; r < a.N; r += gridDim.x * LNB_WARPS) {
        size_t row = (size_t)r * H;
        float mean = a.mean[r], rstd = a.rstd[r];
        float xh[V], dy[V], old[V];
#pragma unroll
        for (int k = 0; k < V; k++) xh[k] = (a.in[row + LANE_COL(k)] - mean) * rstd;
#pragma unroll
        for (int k = 0; k < V; k++) dy[k] = a.d_out[row + LANE_COL(k)];
#pragma unroll
        for (int k = 0; k < V; k++) old[k] = OLD ? a.d_res[row + LANE_COL(k)] : 0.0f;
        if (a.p_dout > 0.0f) { /* a branch per value: kept out of the load loops */
#pragma unroll
            for (int k = 0; k < V; k++) dy[k] *= drop_scale(seed, a.site_dout, row + LANE_COL(k), a.p_dout);
        }
#pragma unroll
        for (int k = 0; k < V; k++) dy[k] = LANE_REAL(k) ? dy[k] + (a.old_into_d_out ? old[k] : 0.0f) : 0.0f;
        if (ln_grads) {
#pragma unroll
            for (int k = 0; k < V; k++)
                if (LANE_REAL(k)) {
                    acc_w[k * 32 + lane] += dy[k] * xh[k];
                    acc_b[k * 32 + lane] += dy[k];
                }
        }
        float sg = 0.0f, sgx = 0.0f;
#pragma unroll
        for (int k = 0; k < V; k++) {
            dy[k] *= a.w[LANE_COL(k)]; /* from here on: d(normalised value) */
            sg += dy[k];
            sgx += dy[k] * xh[k];
        }
        float mg = warp_sum(sg) / H, mgx = warp_sum(sgx) / H;
#pragma unroll
        for (int k = 0; k < V; k++) {
            if (!LANE_REAL(k)) continue;
            int c = k * 32 + lane;
            float dx = rstd * (dy[k] - mg - xh[k] * mgx) + (a.old_into_d_in ? old[k] : 0.0f);
            float br = dx + (a.old_into_branch ? old[k] : 0.0f);
            if (a.d_res) a.d_res[row + c] = (a.res_accum ? old[k] : 0.0f) + dx;
            float db = br * br_mul * drop_scale(seed, a.site_br, row + c, a.p_br);
            if (a.d_br_f) a.d_br_f[row + c] = db;
            if (a.d_br_h) a.d_br_h[row + c] = __float2bfloat16_rn(db);
            if (a.d_br_bias) acc_br[c] += db;
        }
    }
    __syncthreads();
    float *dst[3] = {a.dw, a.db, a.d_br_bias};
    for (int j = 0; j < 3; j++) {
        if (!dst[j]) continue;
        for (int c = threadIdx.x; c < H; c += blockDim.x) {
            float t = 0.0f;
            for (int w = 0; w < LNB_WARPS; w++) t += red[(size_t)(j * LNB_WARPS + w) * H + c];
            atomicAdd(dst[j] + c, t);
        }
    }
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

template <bool OLD>
static void launch_ln_bwd(gpu_model *g, const ln_bwd_args &a, unsigned grid, size_t shmem)
{
    switch (ln_values(a.H)) {
    case 8: ln_bwd_kernel<8, OLD><<<grid, 32 * LNB_WARPS, shmem, g->stream>>>(a, g->seed); break;
    case 16: ln_bwd_kernel<16, OLD><<<grid, 32 * LNB_WARPS, shmem, g->stream>>>(a, g->seed); break;
    case 24: ln_bwd_kernel<24, OLD><<<grid, 32 * LNB_WARPS, shmem, g->stream>>>(a, g->seed); break;
    default: ln_bwd_kernel<32, OLD><<<grid, 32 * LNB_WARPS, shmem, g->stream>>>(a, g->seed); break;
    }
}

void k_ln_bwd(gpu_model *g, const ln_bwd_args &a)
{
    unsigned grid = (unsigned)((a.N + LNB_WARPS - 1) / LNB_WARPS), cap = (unsigned)(4 * g->sms);
    if (grid > cap) grid = cap;
    size_t shmem = (size_t)3 * LNB_WARPS * a.H * sizeof(float);
    if (a.res_accum || a.old_into_d_out || a.old_into_d_in || a.old_into_branch) launch_ln_bwd<true>(g, a, grid, shmem);
    else launch_ln_bwd<false>(g, a, grid, shmem);
}
