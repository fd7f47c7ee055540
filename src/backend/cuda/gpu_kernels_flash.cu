/* Fused inference attention for short sequences. One block per (query tile of 64, head, batch),
 * four warps, each owning 16 query rows from start to end:
 *   1. all threads stage Q (the tile), K and V (every key, padded to a multiple of 16 with zeros)
 *      in shared memory as bf16, adding the bias in fp32 on the way;
 *   2. each warp computes its 16 x Tp block of S = Q K^T on tensor cores (fp32 in shared);
 *   3. each warp runs the masked softmax over its rows, one row at a time, writing P as bf16 over
 *      the K tile (K is dead by then);
 *   4. each warp computes its 16 x 64 block of P V on tensor cores into fp32 over S (dead by then),
 *      and stores its rows that are real queries to ctx as bf16.
 * A warp whose 16 rows all lie past T skips the work but still reaches every barrier. */
#include "backend/cuda/gpu_device.cuh"
#include "backend/cuda/gpu_flash.cuh"
#include "backend/cuda/gpu_flash_common.cuh"

using namespace nvcuda;

__global__ void __launch_bounds__(FLASH_WARPS * 32)
attention_fused_kernel(const bf16 *__restrict__ qkv, const float *__restrict__ bias, const int32_t *__restrict__ mask,
                       bf16 *__restrict__ ctx, int heads, int T, float scale)
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

    /* 1. stage Q, K, V, adding the bias; rows past T are zeros (padded keys are masked in the softmax) */
    stage_qkv<true>(sQ, sK, sV, seq, pitch, H, bias + h * FLASH_DH, q0, T, L.tp);
    __syncthreads();

    /* 2. S[row0.., :] = Q K^T */
    if (active) abt_rows(sS + row0 * L.lds, L.lds, sQ + row0 * FLASH_LDH, sK, L.tp / 16);
    __syncthreads();  /* every warp is done with K before P overwrites it */

    /* 3. masked softmax of each row (as k_softmax_fwd), P rounded to bf16; padded keys get 0 */
    if (active) {
        bool keep[FLASH_KPL];
        lane_keys_kept(keep, keep_of, T, lane);
        for (int r = row0; r < row0 + 16; r++) {
            const float *s = sS + r * L.lds;
            bf16 *p = sP + r * L.ldp;
            float x[FLASH_KPL], mx = -INFINITY;
#pragma unroll
            for (int k = 0; k < FLASH_KPL; k++) {
                x[k] = keep[k] ? s[k * 32 + lane] * scale : -INFINITY;
                mx = fmaxf(mx, x[k]);
            }
            mx = warp_max(mx);
            float sum = 0.0f;
#pragma unroll
            for (int k = 0; k < FLASH_KPL; k++) {
                x[k] = keep[k] ? expf(x[k] - mx) : 0.0f;
                sum += x[k];
            }
            sum = warp_sum(sum);
            /* every key masked: uniform over the T real keys, as the unfused path */
            bool none = mx == -INFINITY;
            float inv = none ? 0.0f : 1.0f / sum;
#pragma unroll
            for (int k = 0; k < FLASH_KPL; k++) {
                int j = k * 32 + lane;
                if (j < L.tp) p[j] = __float2bfloat16_rn(none ? (j < T ? 1.0f / T : 0.0f) : x[k] * inv);
            }
        }
    }
    __syncthreads();  /* every warp is done with S (and P is visible) before O overwrites S */

    /* 4. O[row0.., :] = P V, then the rows that are real queries go to ctx */
    if (active)
        pv_store_rows(ctx + (size_t)b * T * H + (size_t)h * FLASH_DH, H, sP + row0 * L.ldp, L.ldp, sV, sO + row0 * FLASH_LDO,
                      L.tp / 16, q0 + row0, T, lane);
}

bool attention_fused_supported(int T, int dh) { return dh == FLASH_DH && T >= 1 && T <= FLASH_MAX_T; }

void k_attention_fused(gpu_model *g, const bf16 *qkv, const float *qkv_bias, bf16 *ctx, int B, int heads, int T, int dh)
{
    if (!attention_fused_supported(T, dh)) return;
    /* above the 48 KB default once T > 32; raised once for the largest layout */
    static const cudaError_t raised = cudaFuncSetAttribute(attention_fused_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                           (int)flash_layout_for(FLASH_MAX_T).bytes);
    (void)raised;  /* a failure resurfaces as the launch error */
    dim3 grid((unsigned)((T + FLASH_QT - 1) / FLASH_QT), (unsigned)heads, (unsigned)B);
    attention_fused_kernel<<<grid, FLASH_WARPS * 32, flash_layout_for(T).bytes, g->stream>>>(
        qkv, qkv_bias, g->d_mask, ctx, heads, T, 1.0f / sqrtf((float)dh));
}
