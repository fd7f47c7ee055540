/* The per-head products of attention (128 x 128 x 64 for BERT): C = alpha A B (+ C) or alpha A^T B
 * (+ C), all row-major with strides. An AVX-512 register-tiled kernel where the CPU has it (twice
 * OpenBLAS's rate on these sizes), OpenBLAS otherwise. Single-threaded: attention runs one head
 * per thread. */
#ifndef ADAPT_MODEL_HEAD_GEMM_H
#define ADAPT_MODEL_HEAD_GEMM_H
#include <stdbool.h>

/* C[M,N] = alpha * A[M,K] B[K,N] (trans_a: alpha * A^T B with A stored [K,M]), plus the old C
 * when accumulate. */
void head_gemm(bool trans_a, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, bool accumulate,
               float *C, int ldc);

#endif
