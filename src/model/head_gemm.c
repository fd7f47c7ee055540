/* See head_gemm.h. The register tile is 6 rows x 64 columns (24 zmm accumulators): each step over
 * k loads four vectors of B's row k and broadcasts six values of A's column k, 24 FMAs for 10
 * loads, which keeps both FMA ports of an AVX-512 core busy. OpenBLAS reaches about half of that
 * on attention's shapes (128 x 128 x 64 per head), where its packing and call overhead are not
 * amortised. */
#include "model/head_gemm.h"
#include "model/cpu_features.h"
#include <cblas.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define TILE_ROWS 6
#define TILE_VECS 4 /* 64 columns */

#define INLINE_WIDE static inline __attribute__((always_inline)) WIDE_TARGET

/* One tile: rows x vecs*16 columns of C (the last vector masked by `tail`). */
INLINE_WIDE void tile(bool trans_a, int rows, int vecs, __mmask16 tail, int K, float alpha, const float *A, int lda, const float *B,
                      int ldb, bool accumulate, float *C, int ldc)
{
    __m512 acc[TILE_ROWS][TILE_VECS];
#pragma GCC unroll 6
    for (int i = 0; i < rows; i++)
#pragma GCC unroll 4
        for (int v = 0; v < vecs; v++) acc[i][v] = _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m512 b[TILE_VECS];
        const float *brow = B + (size_t)k * ldb;
#pragma GCC unroll 4
        for (int v = 0; v < vecs; v++) b[v] = v == vecs - 1 ? _mm512_maskz_loadu_ps(tail, brow + 16 * v) : _mm512_loadu_ps(brow + 16 * v);
#pragma GCC unroll 6
        for (int i = 0; i < rows; i++) {
            __m512 a = _mm512_set1_ps(trans_a ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]);
#pragma GCC unroll 4
            for (int v = 0; v < vecs; v++) acc[i][v] = _mm512_fmadd_ps(a, b[v], acc[i][v]);
        }
    }
    __m512 scale = _mm512_set1_ps(alpha);
#pragma GCC unroll 6
    for (int i = 0; i < rows; i++)
#pragma GCC unroll 4
        for (int v = 0; v < vecs; v++) {
            float *c = C + (size_t)i * ldc + 16 * v;
            __mmask16 m = v == vecs - 1 ? tail : 0xFFFF;
            __m512 r = _mm512_mul_ps(acc[i][v], scale);
            if (accumulate) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, c));
            _mm512_mask_storeu_ps(c, m, r);
        }
}

/* The tile's row count as a compile-time constant, so that the accumulators stay in registers. */
INLINE_WIDE void tile_rows(bool trans_a, int rows, int vecs, __mmask16 tail, int K, float alpha, const float *A, int lda,
                           const float *B, int ldb, bool accumulate, float *C, int ldc)
{
#define TILE_CASE(R, V) tile(trans_a, R, V, tail, K, alpha, A, lda, B, ldb, accumulate, C, ldc)
#define TILE_VECS_SWITCH(R)                                                                    \
    switch (vecs) {                                                                            \
    case 4: TILE_CASE(R, 4); break;                                                            \
    case 3: TILE_CASE(R, 3); break;                                                            \
    case 2: TILE_CASE(R, 2); break;                                                            \
    default: TILE_CASE(R, 1); break;                                                           \
    }
    switch (rows) {
    case 6: TILE_VECS_SWITCH(6) break;
    case 5: TILE_VECS_SWITCH(5) break;
    case 4: TILE_VECS_SWITCH(4) break;
    case 3: TILE_VECS_SWITCH(3) break;
    case 2: TILE_VECS_SWITCH(2) break;
    default: TILE_VECS_SWITCH(1) break;
    }
#undef TILE_VECS_SWITCH
#undef TILE_CASE
}

/* trans_a a constant in each caller below, so that each tile is compiled for one A layout. */
INLINE_WIDE void all_tiles(bool trans_a, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                           bool accumulate, float *C, int ldc)
{
    for (int n0 = 0; n0 < N; n0 += 16 * TILE_VECS) {
        int cols = N - n0 < 16 * TILE_VECS ? N - n0 : 16 * TILE_VECS;
        int vecs = (cols + 15) / 16;
        __mmask16 tail = (__mmask16)(cols % 16 ? (1u << (cols % 16)) - 1 : 0xFFFF);
        for (int m0 = 0; m0 < M; m0 += TILE_ROWS) {
            int rows = M - m0 < TILE_ROWS ? M - m0 : TILE_ROWS;
            const float *a = trans_a ? A + m0 : A + (size_t)m0 * lda;
            tile_rows(trans_a, rows, vecs, tail, K, alpha, a, lda, B + n0, ldb, accumulate, C + (size_t)m0 * ldc + n0, ldc);
        }
    }
}

WIDE_TARGET static void head_gemm_avx512(bool trans_a, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                                         int ldb, bool accumulate, float *C, int ldc)
{
    if (trans_a) all_tiles(true, M, N, K, alpha, A, lda, B, ldb, accumulate, C, ldc);
    else all_tiles(false, M, N, K, alpha, A, lda, B, ldb, accumulate, C, ldc);
}
#endif

void head_gemm(bool trans_a, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, bool accumulate,
               float *C, int ldc)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (cpu_has_wide_vectors()) {
        head_gemm_avx512(trans_a, M, N, K, alpha, A, lda, B, ldb, accumulate, C, ldc);
        return;
    }
#endif
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
                accumulate ? 1.0f : 0.0f, C, ldc);
}
