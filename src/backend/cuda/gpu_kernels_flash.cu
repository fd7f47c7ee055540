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
#include <mma.h>

using namespace nvcuda;

#define FLASH_DH 64                  /* head size */
#define FLASH_QT 64                  /* queries per block */
#define FLASH_WARPS (FLASH_QT / 16)  /* one warp per 16 query rows */
#define FLASH_MAX_T 128
#define FLASH_KPL (FLASH_MAX_T / 32) /* keys per lane in the softmax */
#define FLASH_CHUNKS (FLASH_DH / 8)  /* 16-byte chunks per head row */
/* Row pitches in elements: a multiple of 16 bytes (wmma's rule) that shifts consecutive rows by
 * 4 banks, so the 8-row fragment loads do not all hit the same banks. */
#define FLASH_LDH (FLASH_DH + 8)     /* Q, K, V (bf16) */
#define FLASH_LDO (FLASH_DH + 4)     /* the output tile (fp32) */

/* Shared-memory layout for T keys. Regions start on 128-byte boundaries; every fragment pointer
 * inside them lands on the 32-byte boundary wmma needs (row offsets are multiples of 16 rows). */
struct flash_layout {
    int tp;          /* keys padded to a multiple of 16 */
    int lds, ldp;    /* pitches of S (fp32) and P (bf16) */
    size_t q, kp, v, so, bytes;  /* byte offsets of Q, K|P, V, S|O; total */
};

__host__ __device__ static inline size_t round128(size_t n) { return (n + 127) & ~(size_t)127; }
__host__ __device__ static inline size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

__host__ __device__ static inline flash_layout flash_layout_for(int T)
{
    flash_layout L;
    L.tp = (T + 15) / 16 * 16;
    L.lds = L.tp + 4;
    L.ldp = L.tp + 8;
    size_t q = (size_t)FLASH_QT * FLASH_LDH * sizeof(bf16);
    size_t kp = max_sz((size_t)L.tp * FLASH_LDH * sizeof(bf16), (size_t)FLASH_QT * L.ldp * sizeof(bf16));
    size_t v = (size_t)L.tp * FLASH_LDH * sizeof(bf16);
    size_t so = max_sz((size_t)FLASH_QT * L.lds * sizeof(float), (size_t)FLASH_QT * FLASH_LDO * sizeof(float));
    L.q = 0;
    L.kp = L.q + round128(q);
    L.v = L.kp + round128(kp);
    L.so = L.v + round128(v);
    L.bytes = L.so + round128(so);
    return L;
}

/* dst[0..8) = bf16(src[0..8) + bias[0..8)), the sum in fp32; src and dst 16-byte aligned. */
static __device__ __forceinline__ void load_biased8(bf16 *dst, const bf16 *src, const float *bias)
{
    uint4 raw = *reinterpret_cast<const uint4 *>(src), out;
    const __nv_bfloat162 *x = reinterpret_cast<const __nv_bfloat162 *>(&raw);
    __nv_bfloat162 *o = reinterpret_cast<__nv_bfloat162 *>(&out);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 f = __bfloat1622float2(x[i]);
        o[i] = __floats2bfloat162_rn(f.x + bias[2 * i], f.y + bias[2 * i + 1]);
    }
    *reinterpret_cast<uint4 *>(dst) = out;
}

static __device__ __forceinline__ void zero8(bf16 *dst) { *reinterpret_cast<uint4 *>(dst) = make_uint4(0, 0, 0, 0); }

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
    const float *bq = bias + h * FLASH_DH, *bk = bq + H, *bv = bq + 2 * H;
    const int32_t *keep_of = mask + (size_t)b * T;

    /* 1. stage Q, K, V; rows past T are zeros (padded keys are masked in the softmax) */
    for (int c = threadIdx.x; c < FLASH_QT * FLASH_CHUNKS; c += blockDim.x) {
        int r = c / FLASH_CHUNKS, d = c % FLASH_CHUNKS * 8, t = q0 + r;
        if (t < T) load_biased8(sQ + r * FLASH_LDH + d, seq + t * pitch + d, bq + d);
        else zero8(sQ + r * FLASH_LDH + d);
    }
    for (int c = threadIdx.x; c < L.tp * FLASH_CHUNKS; c += blockDim.x) {
        int j = c / FLASH_CHUNKS, d = c % FLASH_CHUNKS * 8;
        if (j < T) {
            load_biased8(sK + j * FLASH_LDH + d, seq + j * pitch + H + d, bk + d);
            load_biased8(sV + j * FLASH_LDH + d, seq + j * pitch + 2 * H + d, bv + d);
        } else {
            zero8(sK + j * FLASH_LDH + d);
            zero8(sV + j * FLASH_LDH + d);
        }
    }
    __syncthreads();

    /* 2. S[row0.., :] = Q K^T; K^T is K read column-major */
    if (active) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> qa[FLASH_DH / 16];
#pragma unroll
        for (int k = 0; k < FLASH_DH / 16; k++) wmma::load_matrix_sync(qa[k], sQ + row0 * FLASH_LDH + k * 16, FLASH_LDH);
        for (int n = 0; n < L.tp / 16; n++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.0f);
#pragma unroll
            for (int k = 0; k < FLASH_DH / 16; k++) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> kb;
                wmma::load_matrix_sync(kb, sK + n * 16 * FLASH_LDH + k * 16, FLASH_LDH);
                wmma::mma_sync(acc, qa[k], kb, acc);
            }
            wmma::store_matrix_sync(sS + row0 * L.lds + n * 16, acc, L.lds, wmma::mem_row_major);
        }
    }
    __syncthreads();  /* every warp is done with K before P overwrites it */

    /* 3. masked softmax of each row (as k_softmax_fwd), P rounded to bf16; padded keys get 0 */
    if (active) {
        bool keep[FLASH_KPL];
#pragma unroll
        for (int k = 0; k < FLASH_KPL; k++) {
            int j = k * 32 + lane;
            keep[k] = j < T && keep_of[j] != 0;
        }
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
    if (active) {
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[FLASH_DH / 16];
#pragma unroll
        for (int c = 0; c < FLASH_DH / 16; c++) wmma::fill_fragment(acc[c], 0.0f);
        for (int kt = 0; kt < L.tp / 16; kt++) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> pa;
            wmma::load_matrix_sync(pa, sP + row0 * L.ldp + kt * 16, L.ldp);
#pragma unroll
            for (int c = 0; c < FLASH_DH / 16; c++) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> vb;
                wmma::load_matrix_sync(vb, sV + kt * 16 * FLASH_LDH + c * 16, FLASH_LDH);
                wmma::mma_sync(acc[c], pa, vb, acc[c]);
            }
        }
#pragma unroll
        for (int c = 0; c < FLASH_DH / 16; c++)
            wmma::store_matrix_sync(sO + row0 * FLASH_LDO + c * 16, acc[c], FLASH_LDO, wmma::mem_row_major);
        __syncwarp();  /* lanes read what other lanes of the warp stored */
        for (int c = lane; c < 16 * FLASH_CHUNKS; c += 32) {
            int r = row0 + c / FLASH_CHUNKS, d = c % FLASH_CHUNKS * 8, t = q0 + r;
            if (t >= T) continue;
            const float *o = sO + r * FLASH_LDO + d;
            float4 lo = *reinterpret_cast<const float4 *>(o), hi = *reinterpret_cast<const float4 *>(o + 4);
            uint4 out;
            __nv_bfloat162 *o2 = reinterpret_cast<__nv_bfloat162 *>(&out);
            o2[0] = __floats2bfloat162_rn(lo.x, lo.y);
            o2[1] = __floats2bfloat162_rn(lo.z, lo.w);
            o2[2] = __floats2bfloat162_rn(hi.x, hi.y);
            o2[3] = __floats2bfloat162_rn(hi.z, hi.w);
            *reinterpret_cast<uint4 *>(ctx + ((size_t)b * T + t) * H + (size_t)h * FLASH_DH + d) = out;
        }
    }
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
