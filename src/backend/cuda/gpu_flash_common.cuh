/* What the fused attention kernels share (gpu_kernels_flash.cu for inference, gpu_kernels_flash_train.cu
 * for training): the head shape, the forward shared-memory layout, 16-byte bf16 row moves, the
 * tensor-core row products and the per-lane key mask of the row-wise softmax. */
#ifndef ADAPT_BACKEND_CUDA_GPU_FLASH_COMMON_CUH
#define ADAPT_BACKEND_CUDA_GPU_FLASH_COMMON_CUH
#include "backend/cuda/gpu_common.cuh"
#include <mma.h>

#define FLASH_DH 64                  /* head size */
#define FLASH_MAX_T 128
#define FLASH_KPL (FLASH_MAX_T / 32) /* keys per lane in the row-wise parts */
#define FLASH_CHUNKS (FLASH_DH / 8)  /* 16-byte chunks per head row */
#define FLASH_QT 64                  /* forward: queries per block */
#define FLASH_WARPS (FLASH_QT / 16)  /* forward: one warp per 16 query rows */
/* Row pitches in elements: a multiple of 16 bytes (wmma's rule) that shifts consecutive rows by
 * 4 banks, so the 8-row fragment loads do not all hit the same banks. */
#define FLASH_LDH (FLASH_DH + 8)     /* the bf16 head tiles (Q, K, V, dC) */
#define FLASH_LDO (FLASH_DH + 4)     /* forward: the fp32 output tile */

__host__ __device__ static inline size_t round128(size_t n) { return (n + 127) & ~(size_t)127; }
__host__ __device__ static inline size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* Forward shared memory for T keys. Regions start on 128-byte boundaries; every fragment pointer
 * inside them lands on the 32-byte boundary wmma needs (row offsets are multiples of 16 rows). */
struct flash_layout {
    int tp;          /* keys padded to a multiple of 16 */
    int lds, ldp;    /* pitches of S (fp32) and P (bf16; training: P times the dropout mask) */
    size_t q, kp, v, so, bytes;  /* byte offsets of Q, K|P, V, S|O; total */
};

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

static __device__ __forceinline__ void zero8(bf16 *dst) { *reinterpret_cast<uint4 *>(dst) = make_uint4(0, 0, 0, 0); }

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

/* dst[0..8) = src[0..8), a plain 16-byte copy (training stages q|k|v with the bias already added). */
static __device__ __forceinline__ void copy8(bf16 *dst, const bf16 *src)
{
    *reinterpret_cast<uint4 *>(dst) = *reinterpret_cast<const uint4 *>(src);
}

/* One 16-byte chunk of a staged row: plus bias[at..at+8) when Biased, else copied (bias unread). */
template <bool Biased>
static __device__ __forceinline__ void stage8(bf16 *dst, const bf16 *src, const float *bias, int at)
{
    if constexpr (Biased) load_biased8(dst, src, bias + at);
    else copy8(dst, src);
}

/* Stage one (sequence, head) for a forward kernel: Q of the query tile q0.. (FLASH_QT rows), K and
 * V of every key (tp rows), each in shared memory at pitch FLASH_LDH; rows past T are zeros. seq is
 * the head's q in the token-major q|k|v (row pitch `pitch`, k at +H, v at +2H). Biased (inference):
 * bias is the head's q part (k's and v's follow at +H, +2H), added in fp32; otherwise (training adds
 * the bias before) the rows are copied and bias is not read. A template flag, so that neither
 * kernel carries the other's branch. */
template <bool Biased>
static __device__ __forceinline__ void stage_qkv(bf16 *sQ, bf16 *sK, bf16 *sV, const bf16 *seq, size_t pitch, int H,
                                                 const float *bias, int q0, int T, int tp)
{
    for (int c = threadIdx.x; c < FLASH_QT * FLASH_CHUNKS; c += blockDim.x) {
        int r = c / FLASH_CHUNKS, d = c % FLASH_CHUNKS * 8, t = q0 + r;
        if (t < T) stage8<Biased>(sQ + r * FLASH_LDH + d, seq + t * pitch + d, bias, d);
        else zero8(sQ + r * FLASH_LDH + d);
    }
    for (int c = threadIdx.x; c < tp * FLASH_CHUNKS; c += blockDim.x) {
        int j = c / FLASH_CHUNKS, d = c % FLASH_CHUNKS * 8;
        if (j < T) {
            stage8<Biased>(sK + j * FLASH_LDH + d, seq + j * pitch + H + d, bias, H + d);
            stage8<Biased>(sV + j * FLASH_LDH + d, seq + j * pitch + 2 * H + d, bias, 2 * H + d);
        } else {
            zero8(sK + j * FLASH_LDH + d);
            zero8(sV + j * FLASH_LDH + d);
        }
    }
}

/* dst[0..8) = bf16(src[0..8)); src and dst 16-byte aligned. */
static __device__ __forceinline__ void store8(bf16 *dst, const float *src)
{
    float4 lo = *reinterpret_cast<const float4 *>(src), hi = *reinterpret_cast<const float4 *>(src + 4);
    uint4 out;
    __nv_bfloat162 *o2 = reinterpret_cast<__nv_bfloat162 *>(&out);
    o2[0] = __floats2bfloat162_rn(lo.x, lo.y);
    o2[1] = __floats2bfloat162_rn(lo.z, lo.w);
    o2[2] = __floats2bfloat162_rn(hi.x, hi.y);
    o2[3] = __floats2bfloat162_rn(hi.z, hi.w);
    *reinterpret_cast<uint4 *>(dst) = out;
}

/* A warp's staged 16 x 64 fp32 block (pitch ld) to rows r0.. of out (pitch `pitch`) as bf16, the
 * rows below T only. */
static __device__ __forceinline__ void store_rows_bf16(bf16 *out, size_t pitch, const float *st, int ld, int r0, int T, int lane)
{
    for (int c = lane; c < 16 * FLASH_CHUNKS; c += 32) {
        int rr = c / FLASH_CHUNKS, d = c % FLASH_CHUNKS * 8, t = r0 + rr;
        if (t < T) store8(out + (size_t)t * pitch + d, st + rr * ld + d);
    }
}

typedef nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> flash_acc;

/* out[16, 16 * ntiles] (fp32, pitch ldo) = A[16, 64] B[16 * ntiles, 64]^T, A and B bf16 row-major
 * (pitch FLASH_LDH); B^T is B read column-major. Each 16 x 16 block accumulates the four 16-wide
 * chunks of dh in order from zero: all three kernels compute S = Q K^T with this one routine (training
 * backward's S is forward's bit for bit). */
static __device__ __forceinline__ void abt_rows(float *out, int ldo, const bf16 *a, const bf16 *bm, int ntiles)
{
    using namespace nvcuda;
    wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fa[FLASH_DH / 16];
#pragma unroll
    for (int k = 0; k < FLASH_DH / 16; k++) wmma::load_matrix_sync(fa[k], a + k * 16, FLASH_LDH);
    for (int n = 0; n < ntiles; n++) {
        flash_acc acc;
        wmma::fill_fragment(acc, 0.0f);
#pragma unroll
        for (int k = 0; k < FLASH_DH / 16; k++) {
            wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> fb;
            wmma::load_matrix_sync(fb, bm + n * 16 * FLASH_LDH + k * 16, FLASH_LDH);
            wmma::mma_sync(acc, fa[k], fb, acc);
        }
        wmma::store_matrix_sync(out + n * 16, acc, ldo, wmma::mem_row_major);
    }
}

/* acc[c] = A[16, 16 * ntiles] B[16 * ntiles, 64] for the four 16-column blocks c, B bf16 row-major
 * (pitch FLASH_LDH), summed over the key tiles in order. A's tile kt is at a + kt * a_step with
 * pitch lda in layout ALayout: wmma::row_major for a block of rows of P, wmma::col_major for the
 * transpose of a block of columns. */
template <typename ALayout>
static __device__ __forceinline__ void ab_rows(flash_acc (&acc)[FLASH_DH / 16], const bf16 *a, int lda, int a_step, const bf16 *bm,
                                               int ntiles)
{
    using namespace nvcuda;
#pragma unroll
    for (int c = 0; c < FLASH_DH / 16; c++) wmma::fill_fragment(acc[c], 0.0f);
    for (int kt = 0; kt < ntiles; kt++) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, ALayout> fa;
        wmma::load_matrix_sync(fa, a + kt * a_step, lda);
#pragma unroll
        for (int c = 0; c < FLASH_DH / 16; c++) {
            wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> fb;
            wmma::load_matrix_sync(fb, bm + kt * 16 * FLASH_LDH + c * 16, FLASH_LDH);
            wmma::mma_sync(acc[c], fa, fb, acc[c]);
        }
    }
}

/* Forward step 4 for one warp: O = P[16, 16 * ntiles] V into its fp32 tile o (pitch FLASH_LDO),
 * then O's rows r0.. below T to out (pitch `pitch`) as bf16. */
static __device__ __forceinline__ void pv_store_rows(bf16 *out, size_t pitch, const bf16 *p, int ldp, const bf16 *v, float *o,
                                                     int ntiles, int r0, int T, int lane)
{
    using namespace nvcuda;
    flash_acc acc[FLASH_DH / 16];
    ab_rows<wmma::row_major>(acc, p, ldp, 16, v, ntiles);
#pragma unroll
    for (int c = 0; c < FLASH_DH / 16; c++)
        wmma::store_matrix_sync(o + c * 16, acc[c], FLASH_LDO, wmma::mem_row_major);
    __syncwarp();  /* lanes read what other lanes of the warp stored */
    store_rows_bf16(out, pitch, o, FLASH_LDO, r0, T, lane);
}

/* keep[k]: key k * 32 + lane is real (below T) and not masked. */
static __device__ __forceinline__ void lane_keys_kept(bool keep[FLASH_KPL], const int32_t *keep_of, int T, int lane)
{
#pragma unroll
    for (int k = 0; k < FLASH_KPL; k++) {
        int j = k * 32 + lane;
        keep[k] = j < T && keep_of[j] != 0;
    }
}

#endif
