/* Row-major GEMMs through cuBLAS (column-major): C = A B in row-major is C^T = B^T A^T in
 * column-major, so the operands swap places and keep their own transposition flags. */
#include "backend/cuda/gpu_common.cuh"

const void *op_of(const gpu_model *g, dbuf d) { return g->bf ? (const void *)d.h : (const void *)d.f; }
void *out_of(const gpu_model *g, dbuf d) { return g->bf ? (void *)d.h : (void *)d.f; }
const void *op_of(const gpu_model *g, const dparam &p) { return g->bf ? (const void *)p.wh : (const void *)p.w; }

/* Operand and result types and the compute type of the model's precision. */
struct gemm_types {
    cudaDataType_t ab, c;
    cublasComputeType_t compute;
};

static gemm_types types_of(const gpu_model *g, bool c_bf16)
{
    /* fp32 mode must stay IEEE fp32 (fixture tolerance 1e-5); TF32 only when asked for. */
    return gemm_types{g->bf ? CUDA_R_16BF : CUDA_R_32F, c_bf16 ? CUDA_R_16BF : CUDA_R_32F,
                      g->opt.precision == GPU_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F};
}

adapt_status gemm(gpu_model *g, bool ta, bool tb, int M, int N, int K, float alpha, gemm_operand A, gemm_operand B,
                  float beta, void *C, bool c_bf16, int ldc, long long strideC, int batch)
{
    if (!A.p || !B.p || !C) return adapt_fail(ADAPT_ERR_ARG, "CUDA GEMM %dx%dx%d: an operand buffer is missing", M, N, K);
    gemm_types t = types_of(g, c_bf16);
    BLAS_TRY(cublasGemmStridedBatchedEx(g->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K,
                                        &alpha, B.p, t.ab, B.ld, B.stride, A.p, t.ab, A.ld, A.stride, &beta, C, t.c, ldc, strideC,
                                        batch, t.compute, CUBLAS_GEMM_DEFAULT));
    return ADAPT_OK;
}

adapt_status gemm_ptrs(gpu_model *g, bool ta, bool tb, int M, int N, int K, float alpha, void *const *A, int lda, void *const *B,
                       int ldb, float beta, void *const *C, bool c_bf16, int ldc, int batch)
{
    gemm_types t = types_of(g, c_bf16);
    BLAS_TRY(cublasGemmBatchedEx(g->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha,
                                 (const void *const *)B, t.ab, ldb, (const void *const *)A, t.ab, lda, &beta, C, t.c, ldc, batch,
                                 t.compute, CUBLAS_GEMM_DEFAULT));
    return ADAPT_OK;
}
