/* Fused attention for training on short sequences (dh = 64, T <= 128): the unfused path's scores,
 * masked softmax, dropout on the probabilities and probability-weighted values (forward), and the
 * gradients of q, k and v (backward), with no [B,heads,T,T] buffer in global memory.
 *
 * Forward: one block per (query tile of 64, head, batch), four warps, each owning 16 query rows
 * (the structure of the inference kernel, gpu_kernels_flash.cu):
 *   1. all threads stage Q (the tile), K and V (every key, zeros up to a multiple of 16);
 *   2. each warp computes its 16 x Tp block of S = Q K^T (fp32 in shared);
 *   3. each warp runs the masked softmax over its rows, keeps each row's max and 1 / sum in
 *      row_stats, and writes Pd = P * dropout as bf16 over the K tile (dead by then);
 *   4. each warp computes its 16 x 64 block of Pd V into fp32 over S and stores its real rows.
 * Backward: one block per (head, batch) over every query, Tp / 16 warps; warp w owns query rows
 * [16w, 16w + 16) for the row-wise parts and dQ, and key rows [16w, 16w + 16) for dK and dV
 * (those sum over every query, so each is one warp's product over the whole P tile, no atomics):
 *   1. all threads stage Q, K, V and dC (zeros past T);
 *   2. each warp computes its rows of S = Q K^T and dPd = dC V^T (fp32);
 *   3. each warp recomputes P from S and row_stats exactly as forward did, and writes Pd and
 *      dS = P (dP - rowsum(P dP)) (dP = dPd * dropout) as bf16 over the first half of the bytes
 *      of its own rows of S and dPd (each row is read whole into registers first);
 *   4. each warp computes dQ = scale dS K (its query rows), dV = Pd^T dC and dK = scale dS^T Q
 *      (its key rows; the transposes are col_major loads of the P tiles), staging each 16 x 64
 *      fp32 block in the free second half of its own rows of S / dPd before the bf16 store.
 * S is computed by the same routine with the same products in the same order in both kernels, and
 * P with the same IEEE operations (no contraction), so backward's P is bit-identical to forward's. */
#include "backend/cuda/gpu_device.cuh"
#include "backend/cuda/gpu_flash.cuh"
#include "backend/cuda/gpu_flash_common.cuh"

using namespace nvcuda;

#define BWD_WARPS (FLASH_MAX_T / 16) /* backward at most: one warp per 16 rows */
/* Backward: S and dPd rows in fp32 with a fixed pitch of 132 (4 banks of shift per row); the bf16
 * view of the same bytes (pitch 264) holds Pd over S and dS over dPd in its first Tp elements
 * (<= 256 bytes), and a warp stages a 16 x 64 fp32 output block at fp32 column 64 of its rows. */
#define BWD_LDF (FLASH_MAX_T + 4)
#define BWD_LDB (2 * BWD_LDF)
#define BWD_STAGE 64

static_assert(FLASH_MAX_T * sizeof(bf16) <= BWD_STAGE * sizeof(float), "staging overlaps the bf16 P/dS rows");
static_assert(BWD_STAGE + FLASH_DH <= BWD_LDF, "staging block past the row");
static_assert(BWD_STAGE * sizeof(float) % 32 == 0, "staging block not 32-byte aligned");

/* Backward shared memory: Q, K, V, dC (bf16, pitch FLASH_LDH), S|Pd and dPd|dS (pitch BWD_LDF fp32),
 * Tp rows each; 204 KB at T = 128. */
struct bwd_layout {
    int tp;
    size_t q, k, v, c, s, d, bytes;
};

__host__ __device__ static inline bwd_layout bwd_layout_for(int T)
{
    bwd_layout L;
    L.tp = (T + 15) / 16 * 16;
    size_t head = round128((size_t)L.tp * FLASH_LDH * sizeof(bf16));
    size_t rows = round128((size_t)L.tp * BWD_LDF * sizeof(float));
    L.q = 0;
    L.k = L.q + head;
    L.v = L.k + head;
    L.c = L.v + head;
    L.s = L.c + head;
    L.d = L.s + rows;
    L.bytes = L.d + rows;
    return L;
}

/* exp(scale s - max) / sum for a kept key, in the IEEE operations both training kernels use
 * (rounded intrinsics: the compiler may not fuse them differently in forward and backward). */
static __device__ __forceinline__ float score_scaled(float s, float scale) { return __fmul_rn(s, scale); }
static __device__ __forceinline__ float score_exp(float x, float mx) { return expf(__fsub_rn(x, mx)); }

__global__ void __launch_bounds__(FLASH_WARPS * 32)
attention_train_fwd_kernel(const bf16 *__restrict__ qkv, const int32_t *__restrict__ mask, bf16 *__restrict__ ctx,
                           float *__restrict__ row_stats, int heads, int T, float scale, float p, uint32_t site, uint64_t seed)
{
    extern __shared__ __align__(128) unsigned char smem[];
    const flash_layout L = flash_layout_for(T);
    bf16 *sQ = reinterpret_cast<bf16 *>(smem + L.q);
    bf16 *sK = reinterpret_cast<bf16 *>(smem + L.kp), *sP = sK;
    bf16 *sV = reinterpret_cast<bf16 *>(smem + L.v);
    float *sS = reinterpret_cast<float *>(smem + L.so), *sO = sS;

    const int q0 = blockIdx.x * FLASH_QT, h = blockIdx.y, b = blockIdx.z;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, row0 = warp * 16;
    const bool active = q0 + row0 < T;
    const int H = heads * FLASH_DH;
    const size_t pitch = (size_t)3 * H;
    const bf16 *seq = qkv + (size_t)b * T * pitch + (size_t)h * FLASH_DH;  /* this sequence, this head's q */
    const int32_t *keep_of = mask + (size_t)b * T;
    const size_t head_row0 = ((size_t)b * heads + h) * T;                  /* (b, h, query 0) */

    /* 1. stage Q, K, V (the bias is already in); rows past T are zeros (padded keys are masked in the softmax) */
    stage_qkv<false>(sQ, sK, sV, seq, pitch, H, nullptr, q0, T, L.tp);
    __syncthreads();

    /* 2. S[row0.., :] = Q K^T */
    if (active) abt_rows(sS + row0 * L.lds, L.lds, sQ + row0 * FLASH_LDH, sK, L.tp / 16);
    __syncthreads();  /* every warp is done with K before Pd overwrites it */

    /* 3. masked softmax of each real row (as k_softmax_fwd), its max and 1 / sum to row_stats, and
     * Pd = P * dropout (index (row, key) of the [B, heads, T, T] probabilities) as bf16; padded
     * keys and padded query rows get 0 */
    if (active) {
        bool keep[FLASH_KPL];
        lane_keys_kept(keep, keep_of, T, lane);
        for (int r = row0; r < row0 + 16; r++) {
            const int t = q0 + r;
            bf16 *pr = sP + r * L.ldp;
            if (t >= T) {  /* warp-uniform */
#pragma unroll
                for (int k = 0; k < FLASH_KPL; k++) {
                    int j = k * 32 + lane;
                    if (j < L.tp) pr[j] = __float2bfloat16_rn(0.0f);
                }
                continue;
            }
            const float *s = sS + r * L.lds;
            float x[FLASH_KPL], mx = -INFINITY;
#pragma unroll
            for (int k = 0; k < FLASH_KPL; k++) {
                x[k] = keep[k] ? score_scaled(s[k * 32 + lane], scale) : -INFINITY;
                mx = fmaxf(mx, x[k]);
            }
            mx = warp_max(mx);
            float sum = 0.0f;
#pragma unroll
            for (int k = 0; k < FLASH_KPL; k++) {
                x[k] = keep[k] ? score_exp(x[k], mx) : 0.0f;
                sum += x[k];
            }
            sum = warp_sum(sum);
            /* every key masked: uniform over the T real keys, as the unfused path */
            const bool none = mx == -INFINITY;
            const float inv = none ? 0.0f : 1.0f / sum;
            const size_t row = head_row0 + t, base = row * T;
            if (lane == 0) {
                row_stats[2 * row] = mx;
                row_stats[2 * row + 1] = inv;
            }
#pragma unroll
            for (int k = 0; k < FLASH_KPL; k++) {
                int j = k * 32 + lane;
                if (j >= L.tp) continue;
                float pd = 0.0f;
                if (j < T) {
                    float pv = none ? 1.0f / T : __fmul_rn(x[k], inv);
                    pd = pv * drop_scale(seed, site, base + j, p);
                }
                pr[j] = __float2bfloat16_rn(pd);
            }
        }
    }
    __syncthreads();  /* every warp is done with S (and Pd is visible) before O overwrites S */

    /* 4. O[row0.., :] = Pd V, then the rows that are real queries go to ctx */
    if (active)
        pv_store_rows(ctx + (size_t)b * T * H + (size_t)h * FLASH_DH, H, sP + row0 * L.ldp, L.ldp, sV, sO + row0 * FLASH_LDO,
                      L.tp / 16, q0 + row0, T, lane);
}

__global__ void __launch_bounds__(BWD_WARPS * 32)
attention_train_bwd_kernel(const bf16 *__restrict__ qkv, const bf16 *__restrict__ dctx, const float *__restrict__ row_stats,
                           const int32_t *__restrict__ mask, bf16 *__restrict__ dqkv, int heads, int T, float scale, float p,
                           uint32_t site, uint64_t seed)
{
    extern __shared__ __align__(128) unsigned char smem[];
    const bwd_layout L = bwd_layout_for(T);
    bf16 *sQ = reinterpret_cast<bf16 *>(smem + L.q);
    bf16 *sK = reinterpret_cast<bf16 *>(smem + L.k);
    bf16 *sV = reinterpret_cast<bf16 *>(smem + L.v);
    bf16 *sC = reinterpret_cast<bf16 *>(smem + L.c);
    float *sS = reinterpret_cast<float *>(smem + L.s), *sD = reinterpret_cast<float *>(smem + L.d);
    bf16 *sPd = reinterpret_cast<bf16 *>(sS), *sdS = reinterpret_cast<bf16 *>(sD);  /* pitch BWD_LDB */

    const int h = blockIdx.x, b = blockIdx.y;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, row0 = warp * 16;  /* row0 < Tp */
    const int H = heads * FLASH_DH, nt = L.tp / 16;
    const size_t pitch = (size_t)3 * H;
    const bf16 *seq = qkv + (size_t)b * T * pitch + (size_t)h * FLASH_DH;
    const bf16 *dc = dctx + (size_t)b * T * H + (size_t)h * FLASH_DH;
    bf16 *dq = dqkv + (size_t)b * T * pitch + (size_t)h * FLASH_DH, *dk = dq + H, *dv = dq + 2 * H;
    const int32_t *keep_of = mask + (size_t)b * T;
    const size_t head_row0 = ((size_t)b * heads + h) * T;

    /* 1. stage Q, K, V, dC; rows past T are zeros */
    for (int c = threadIdx.x; c < L.tp * FLASH_CHUNKS; c += blockDim.x) {
        int j = c / FLASH_CHUNKS, d = c % FLASH_CHUNKS * 8, o = j * FLASH_LDH + d;
        if (j < T) {
            const bf16 *src = seq + j * pitch + d;
            copy8(sQ + o, src);
            copy8(sK + o, src + H);
            copy8(sV + o, src + 2 * H);
            copy8(sC + o, dc + (size_t)j * H + d);
        } else {
            zero8(sQ + o);
            zero8(sK + o);
            zero8(sV + o);
            zero8(sC + o);
        }
    }
    __syncthreads();

    /* 2. this warp's rows of S = Q K^T and dPd = dC V^T */
    abt_rows(sS + row0 * BWD_LDF, BWD_LDF, sQ + row0 * FLASH_LDH, sK, nt);
    abt_rows(sD + row0 * BWD_LDF, BWD_LDF, sC + row0 * FLASH_LDH, sV, nt);
    __syncwarp();  /* lanes read what other lanes of the warp stored */

    /* 3. P as forward computed it; Pd = P * dropout and dS = P (dP - rowsum(P dP)) with
     * dP = dPd * dropout (as k_softmax_bwd), both bf16 over the row's own S / dPd bytes; padded
     * keys and padded query rows get 0 (they add nothing to dK, dV) */
    {
        bool keep[FLASH_KPL];
        lane_keys_kept(keep, keep_of, T, lane);
        for (int r = row0; r < row0 + 16; r++) {
            bf16 *pd_row = sPd + r * BWD_LDB, *ds_row = sdS + r * BWD_LDB;
            if (r >= T) {  /* warp-uniform; nothing of this row is read */
#pragma unroll
                for (int k = 0; k < FLASH_KPL; k++) {
                    int j = k * 32 + lane;
                    if (j < L.tp) pd_row[j] = ds_row[j] = __float2bfloat16_rn(0.0f);
                }
                continue;
            }
            const float *s = sS + r * BWD_LDF, *dpd = sD + r * BWD_LDF;
            const size_t row = head_row0 + r, base = row * T;
            const float mx = row_stats[2 * row], inv = row_stats[2 * row + 1];
            const bool none = mx == -INFINITY;
            float pv[FLASH_KPL], dvv[FLASH_KPL], pdv[FLASH_KPL], dot = 0.0f;
#pragma unroll
            for (int k = 0; k < FLASH_KPL; k++) {
                int j = k * 32 + lane;
                pv[k] = dvv[k] = pdv[k] = 0.0f;
                if (j < T) {
                    float P = none ? 1.0f / T : keep[k] ? __fmul_rn(score_exp(score_scaled(s[j], scale), mx), inv) : 0.0f;
                    float m = drop_scale(seed, site, base + j, p);
                    pv[k] = P;
                    pdv[k] = P * m;
                    dvv[k] = dpd[j] * m;
                    dot += pv[k] * dvv[k];
                }
            }
            dot = warp_sum(dot);
            __syncwarp();  /* every lane has read the row before it is overwritten */
#pragma unroll
            for (int k = 0; k < FLASH_KPL; k++) {
                int j = k * 32 + lane;
                if (j < L.tp) {
                    pd_row[j] = __float2bfloat16_rn(pdv[k]);
                    ds_row[j] = __float2bfloat16_rn(pv[k] * (dvv[k] - dot));
                }
            }
        }
    }
    __syncthreads();  /* every warp's Pd and dS rows are visible */

    /* 4. dQ (query rows row0..) = scale dS K; dV (key rows row0..) = Pd^T dC; dK (key rows
     * row0..) = scale dS^T Q. A col_major load of the [queries, keys] tile at (query kt, key row0)
     * is the [keys, queries] transpose block. Staging: fp32 columns 64.. of this warp's rows of
     * S (stA) and dPd (stB), disjoint from every Pd / dS byte the other warps read. */
    float *stA = sS + row0 * BWD_LDF + BWD_STAGE, *stB = sD + row0 * BWD_LDF + BWD_STAGE;
    {
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> aq[FLASH_DH / 16], av[FLASH_DH / 16];
#pragma unroll
        for (int c = 0; c < FLASH_DH / 16; c++) {
            wmma::fill_fragment(aq[c], 0.0f);
            wmma::fill_fragment(av[c], 0.0f);
        }
        for (int kt = 0; kt < nt; kt++) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fs;
            wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::col_major> fp;
            wmma::load_matrix_sync(fs, sdS + row0 * BWD_LDB + kt * 16, BWD_LDB);
            wmma::load_matrix_sync(fp, sPd + kt * 16 * BWD_LDB + row0, BWD_LDB);
#pragma unroll
            for (int c = 0; c < FLASH_DH / 16; c++) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> fk, fc;
                wmma::load_matrix_sync(fk, sK + kt * 16 * FLASH_LDH + c * 16, FLASH_LDH);
                wmma::load_matrix_sync(fc, sC + kt * 16 * FLASH_LDH + c * 16, FLASH_LDH);
                wmma::mma_sync(aq[c], fs, fk, aq[c]);
                wmma::mma_sync(av[c], fp, fc, av[c]);
            }
        }
#pragma unroll
        for (int c = 0; c < FLASH_DH / 16; c++) {
#pragma unroll
            for (int e = 0; e < aq[c].num_elements; e++) aq[c].x[e] *= scale;
            wmma::store_matrix_sync(stA + c * 16, aq[c], BWD_LDF, wmma::mem_row_major);
            wmma::store_matrix_sync(stB + c * 16, av[c], BWD_LDF, wmma::mem_row_major);
        }
    }
    __syncwarp();
    store_rows_bf16(dq, pitch, stA, BWD_LDF, row0, T, lane);
    store_rows_bf16(dv, pitch, stB, BWD_LDF, row0, T, lane);
    __syncwarp();  /* stA is read before it is staged over */
    {
        flash_acc ak[FLASH_DH / 16];
        ab_rows<wmma::col_major>(ak, sdS + row0, BWD_LDB, 16 * BWD_LDB, sQ, nt);
#pragma unroll
        for (int c = 0; c < FLASH_DH / 16; c++) {
#pragma unroll
            for (int e = 0; e < ak[c].num_elements; e++) ak[c].x[e] *= scale;
            wmma::store_matrix_sync(stA + c * 16, ak[c], BWD_LDF, wmma::mem_row_major);
        }
    }
    __syncwarp();
    store_rows_bf16(dk, pitch, stA, BWD_LDF, row0, T, lane);
}

bool attention_train_fused_supported(int T, int dh) { return dh == FLASH_DH && T >= 1 && T <= FLASH_MAX_T; }

void k_attention_train_fwd(gpu_model *g, const bf16 *qkv, bf16 *ctx, float *row_stats, int B, int heads, int T, int dh, float p,
                           uint32_t site)
{
    if (!attention_train_fused_supported(T, dh)) return;
    /* above the 48 KB default once T > 32; raised once for the largest layout */
    static const cudaError_t raised = cudaFuncSetAttribute(attention_train_fwd_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                           (int)flash_layout_for(FLASH_MAX_T).bytes);
    (void)raised;  /* a failure resurfaces as the launch error */
    dim3 grid((unsigned)((T + FLASH_QT - 1) / FLASH_QT), (unsigned)heads, (unsigned)B);
    attention_train_fwd_kernel<<<grid, FLASH_WARPS * 32, flash_layout_for(T).bytes, g->stream>>>(
        qkv, g->d_mask, ctx, row_stats, heads, T, 1.0f / sqrtf((float)dh), p, site, g->seed);
}

void k_attention_train_bwd(gpu_model *g, const bf16 *qkv, const bf16 *d_ctx, const float *row_stats, bf16 *d_qkv, int B, int heads,
                           int T, int dh, float p, uint32_t site)
{
    if (!attention_train_fused_supported(T, dh)) return;
    static const cudaError_t raised = cudaFuncSetAttribute(attention_train_bwd_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                           (int)bwd_layout_for(FLASH_MAX_T).bytes);
    (void)raised;
    const bwd_layout L = bwd_layout_for(T);
    dim3 grid((unsigned)heads, (unsigned)B);
    attention_train_bwd_kernel<<<grid, (unsigned)(L.tp / 16 * 32), L.bytes, g->stream>>>(
        qkv, d_ctx, row_stats, g->d_mask, d_qkv, heads, T, 1.0f / sqrtf((float)dh), p, site, g->seed);
}
