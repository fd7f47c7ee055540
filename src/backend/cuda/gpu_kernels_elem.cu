/* Elementwise and gather kernels: embeddings, bias + activation and its backward, bias + dropout, column sums (bias
 * gradients), row gather / scatter for the MLM head, fp32 -> bf16. */
#include "backend/cuda/gpu_device.cuh"

/* Row-wise kernels over [N, C]: blockIdx.x picks 256 columns, blockIdx.y (striding) the rows, so
 * no thread divides a flat index (64-bit division is a long instruction sequence on the GPU). */
#define ROW_THREADS 256
static dim3 row_grid(int N, int C) { return dim3((unsigned)((C + ROW_THREADS - 1) / ROW_THREADS), (unsigned)(N < 65535 ? N : 65535)); }
#define FOR_ROWS(N) for (int r = blockIdx.y; r < (N); r += gridDim.y)

__global__ void embed_fwd_kernel(float *out, const int32_t *ids, const int32_t *pos, const int32_t *type, const float *word,
                                 const float *pe, const float *te, int N, int H)
{
    int c = blockIdx.x * ROW_THREADS + threadIdx.x;
    if (c >= H) return;
    FOR_ROWS(N) {
        float v = word[(size_t)ids[r] * H + c] + pe[(size_t)pos[r] * H + c];
        if (te) v += te[(size_t)(type ? type[r] : 0) * H + c];
        out[(size_t)r * H + c] = v;
    }
}

void k_embed_fwd(gpu_model *g, float *out, int N, int H)
{
    embed_fwd_kernel<<<row_grid(N, H), ROW_THREADS, 0, g->stream>>>(out, g->d_ids, g->d_pos, g->d_type, g->word.w, g->pos.w, g->type.w,
                                                                     N, H);
}

/* Word and position rows by atomics (few rows collide); the token-type table (one or two rows hit
 * by every token) is summed per block first, else every token would hit the same addresses. */
#define EMB_ROWS 64
__global__ void embed_bwd_kernel(float *dword, float *dpos, float *dtype, int type_rows, const float *d, const int32_t *ids,
                                 const int32_t *pos, const int32_t *type, int N, int H)
{
    int r0 = blockIdx.x * EMB_ROWS, r1 = min(N, r0 + EMB_ROWS);
    for (int c = threadIdx.x; c < H; c += blockDim.x) {
        float t0 = 0.0f, t1 = 0.0f;
        for (int r = r0; r < r1; r++) {
            float v = d[(size_t)r * H + c];
            if (dword) atomicAdd(dword + (size_t)ids[r] * H + c, v);
            if (dpos) atomicAdd(dpos + (size_t)pos[r] * H + c, v);
            int t = type ? type[r] : 0;
            if (t == 0) t0 += v;
            else if (t == 1) t1 += v;
            else if (dtype) atomicAdd(dtype + (size_t)t * H + c, v);
        }
        if (dtype) {
            atomicAdd(dtype + c, t0);
            if (type_rows > 1) atomicAdd(dtype + H + c, t1);
        }
    }
}

void k_embed_bwd(gpu_model *g, const float *d_sum, int N, int H)
{
    int type_rows = g->type.w ? (int)(g->type.n / (size_t)H) : 0;
    embed_bwd_kernel<<<(unsigned)((N + EMB_ROWS - 1) / EMB_ROWS), 256, 0, g->stream>>>(
        g->word.g, g->pos.g, g->type.g, type_rows, d_sum, g->d_ids, g->d_pos, g->d_type, N, H);
}

__device__ __forceinline__ float act_f(float x, int act)
{
    switch (act) {
    case ACT_GELU: return gelu_f(x);
    case ACT_RELU: return fmaxf(x, 0.0f);
    case ACT_SILU: return x / (1.0f + expf(-x));
    default: return x;
    }
}

__device__ __forceinline__ float act_grad(float x, int act)
{
    switch (act) {
    case ACT_GELU: return gelu_grad(x);
    case ACT_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case ACT_SILU: {
        float s = 1.0f / (1.0f + expf(-x));
        return s * (1.0f + x * (1.0f - s));
    }
    default: return 1.0f;
    }
}

/* Eight consecutive values at element i (a multiple of 8) of a dbuf: one 16-byte access of bf16,
 * two of fp32. */
__device__ __forceinline__ void load8(dbuf d, size_t i, float v[8])
{
    if (d.f) {
        float4 lo = *reinterpret_cast<const float4 *>(d.f + i), hi = *reinterpret_cast<const float4 *>(d.f + i + 4);
        v[0] = lo.x; v[1] = lo.y; v[2] = lo.z; v[3] = lo.w; v[4] = hi.x; v[5] = hi.y; v[6] = hi.z; v[7] = hi.w;
        return;
    }
    uint4 raw = *reinterpret_cast<const uint4 *>(d.h + i);
    const __nv_bfloat162 *p = reinterpret_cast<const __nv_bfloat162 *>(&raw);
#pragma unroll
    for (int j = 0; j < 4; j++) {
        float2 f = __bfloat1622float2(p[j]);
        v[2 * j] = f.x;
        v[2 * j + 1] = f.y;
    }
}

__device__ __forceinline__ void store8(dbuf d, size_t i, const float v[8])
{
    if (d.f) {
        *reinterpret_cast<float4 *>(d.f + i) = make_float4(v[0], v[1], v[2], v[3]);
        *reinterpret_cast<float4 *>(d.f + i + 4) = make_float4(v[4], v[5], v[6], v[7]);
    }
    if (d.h) {
        uint4 raw;
        __nv_bfloat162 *p = reinterpret_cast<__nv_bfloat162 *>(&raw);
#pragma unroll
        for (int j = 0; j < 4; j++) p[j] = __floats2bfloat162_rn(v[2 * j], v[2 * j + 1]);
        *reinterpret_cast<uint4 *>(d.h + i) = raw;
    }
}

/* Rows of C % 8 == 0 values: 8 columns per thread, so each thread moves 16-byte pieces (and a
 * block 1024 values) instead of one 2-byte value. */
#define VEC_THREADS 128
static dim3 vec_grid(int N, int C) { return dim3((unsigned)((C / 8 + VEC_THREADS - 1) / VEC_THREADS), (unsigned)(N < 65535 ? N : 65535)); }

__global__ void bias_act_vec_kernel(dbuf x, const float *bias, bool store_x, dbuf out, int N, int C, int act)
{
    int c = (blockIdx.x * VEC_THREADS + threadIdx.x) * 8;
    if (c >= C) return;
    float b[8];
#pragma unroll
    for (int j = 0; j < 8; j++) b[j] = bias ? bias[c + j] : 0.0f;
    FOR_ROWS(N) {
        size_t i = (size_t)r * C + c;
        float v[8];
        load8(x, i, v);
#pragma unroll
        for (int j = 0; j < 8; j++) v[j] += b[j];
        if (store_x) store8(x, i, v);
#pragma unroll
        for (int j = 0; j < 8; j++) v[j] = act_f(v[j], act);
        store8(out, i, v);
    }
}

__global__ void act_bwd_vec_kernel(dbuf d_in, dbuf d_out, dbuf pre, int N, int C, int act)
{
    int c = (blockIdx.x * VEC_THREADS + threadIdx.x) * 8;
    if (c >= C) return;
    FOR_ROWS(N) {
        size_t i = (size_t)r * C + c;
        float d[8], p[8];
        load8(d_out, i, d);
        load8(pre, i, p);
#pragma unroll
        for (int j = 0; j < 8; j++) d[j] *= act_grad(p[j], act);
        store8(d_in, i, d);
    }
}

__global__ void bias_act_kernel(dbuf x, const float *bias, bool store_x, dbuf out, int N, int C, int act)
{
    int c = blockIdx.x * ROW_THREADS + threadIdx.x;
    if (c >= C) return;
    float b = bias ? bias[c] : 0.0f;
    FOR_ROWS(N) {
        size_t i = (size_t)r * C + c;
        float v = load2(x, i) + b;
        if (store_x) store2(x, i, v);
        store2(out, i, act_f(v, act));
    }
}

void k_bias_act(gpu_model *g, dbuf x, const float *bias, bool store_x, dbuf out, int N, int C, int act)
{
    if (C % 8 == 0) {
        bias_act_vec_kernel<<<vec_grid(N, C), VEC_THREADS, 0, g->stream>>>(x, bias, store_x, out, N, C, act);
        return;
    }
    bias_act_kernel<<<row_grid(N, C), ROW_THREADS, 0, g->stream>>>(x, bias, store_x, out, N, C, act);
}

__global__ void act_bwd_kernel(dbuf d_in, dbuf d_out, dbuf pre, size_t n, int act)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        store2(d_in, i, load2(d_out, i) * act_grad(load2(pre, i), act));
}

void k_act_bwd(gpu_model *g, dbuf d_in, dbuf d_out, dbuf pre, int N, int C, int act)
{
    if (C % 8 == 0) {
        act_bwd_vec_kernel<<<vec_grid(N, C), VEC_THREADS, 0, g->stream>>>(d_in, d_out, pre, N, C, act);
        return;
    }
    size_t n = (size_t)N * C;
    act_bwd_kernel<<<blocks_for(n, 256, 65536), 256, 0, g->stream>>>(d_in, d_out, pre, n, act);
}

__global__ void bias_dropout_kernel(dbuf out, dbuf x, const float *bias, int N, int C, float p, uint32_t site, uint64_t seed)
{
    int c = blockIdx.x * ROW_THREADS + threadIdx.x;
    if (c >= C) return;
    float b = bias ? bias[c] : 0.0f;
    FOR_ROWS(N) {
        size_t i = (size_t)r * C + c;
        store2(out, i, (load2(x, i) + b) * drop_scale(seed, site, i, p));
    }
}

void k_bias_dropout(gpu_model *g, dbuf out, dbuf x, const float *bias, int N, int C, float p, uint32_t site)
{
    bias_dropout_kernel<<<row_grid(N, C), ROW_THREADS, 0, g->stream>>>(out, x, bias, N, C, p, site, g->seed);
}

__global__ void branch_bwd_kernel(dbuf d_out, const float *a, const float *b, size_t n, float p, uint32_t site, uint64_t seed)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        store2(d_out, i, (a[i] + (b ? b[i] : 0.0f)) * drop_scale(seed, site, i, p));
}

void k_branch_bwd(gpu_model *g, dbuf d_out, const float *a, const float *b, int N, int C, float p, uint32_t site, float *bias_grad)
{
    size_t n = (size_t)N * C;
    branch_bwd_kernel<<<blocks_for(n, 256, 65536), 256, 0, g->stream>>>(d_out, a, b, n, p, site, g->seed);
    if (bias_grad) k_colsum(g, bias_grad, d_out.f ? (const void *)d_out.f : (const void *)d_out.h, !d_out.f, N, C);
}

/* Block (32 columns x 8 row lanes) sums a slab of rows, then one atomic per column. */
__global__ void colsum_kernel(float *out, const void *in, bool in_bf16, int R, int C, int rows_per_block)
{
    __shared__ float red[8][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    int r0 = blockIdx.y * rows_per_block, r1 = min(R, r0 + rows_per_block);
    float s = 0.0f;
    if (c < C)
        for (int r = r0 + threadIdx.y; r < r1; r += 8) s += load_any(in, in_bf16, (size_t)r * C + c);
    red[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        for (int k = 1; k < 8; k++) s += red[k][threadIdx.x];
        atomicAdd(out + c, s);
    }
}

void k_colsum(gpu_model *g, float *out, const void *in, bool in_bf16, int R, int C)
{
    if (!out) return;
    int slabs = (R + 255) / 256;
    if (slabs > 256) slabs = 256;
    int rows = (R + slabs - 1) / slabs;
    dim3 grid((unsigned)((C + 31) / 32), (unsigned)slabs), block(32, 8);
    colsum_kernel<<<grid, block, 0, g->stream>>>(out, in, in_bf16, R, C, rows);
}

__global__ void gather_kernel(dbuf out, const float *in, const int32_t *rows, int R, int H)
{
    size_t n = (size_t)R * H;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / H, c = i % H;
        store2(out, i, in[(size_t)(rows ? rows[r] : (int32_t)r) * H + c]);
    }
}

void k_gather_rows(gpu_model *g, dbuf out, const float *in, const int32_t *rows, int R, int H)
{
    gather_kernel<<<blocks_for((size_t)R * H, 256, 65536), 256, 0, g->stream>>>(out, in, rows, R, H);
}

/* Rows are distinct, so plain adds are safe. */
__global__ void scatter_kernel(float *out, const float *in, const int32_t *rows, int R, int H)
{
    size_t n = (size_t)R * H;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / H, c = i % H;
        out[(size_t)(rows ? rows[r] : (int32_t)r) * H + c] += in[i];
    }
}

void k_scatter_add_rows(gpu_model *g, float *out, const float *in, const int32_t *rows, int R, int H)
{
    scatter_kernel<<<blocks_for((size_t)R * H, 256, 65536), 256, 0, g->stream>>>(out, in, rows, R, H);
}

__global__ void to_bf16_kernel(bf16 *out, const float *in, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = __float2bfloat16_rn(in[i]);
}

void k_to_bf16(gpu_model *g, bf16 *out, const float *in, size_t n)
{
    to_bf16_kernel<<<blocks_for(n, 256, 65536), 256, 0, g->stream>>>(out, in, n);
}
