/* Host helpers of the fused-attention self-tests (gpu_check_attn.cu, gpu_check_attn_train.cu):
 * reproducible normal inputs, the two-sequence key mask, bf16 rounding and the error check. */
#ifndef ADAPT_BACKEND_CUDA_GPU_CHECK_UTIL_CUH
#define ADAPT_BACKEND_CUDA_GPU_CHECK_UTIL_CUH
#include "backend/cuda/gpu_common.cuh"

/* xorshift64: the next state of *s (never 0 from a nonzero seed). */
uint64_t rng_next(uint64_t *s);
/* N(0, 1) by Box-Muller on two uniforms in (0, 1]. */
double rng_normal(uint64_t *s);
/* x[i] = sd N(0, 1), drawn in order from *s; the bf16 variant rounds each value. */
void fill_normal_bf16(bf16 *x, size_t n, double sd, uint64_t *s);
void fill_normal_f32(float *x, size_t n, double sd, uint64_t *s);

/* mask [2, T]: sequence 0 keeps every key, sequence 1 its first keep1 (0: every key masked). */
void two_sequence_mask(int32_t *mask, int T, int keep1);

/* x rounded to bf16, as the device stores it. */
float bf16_rounded(float x);

/* Rows x cols of got (pitch ld, from column col0) against ref: *worst gets the largest absolute
 * error, *max_ref the largest |ref|. True when the error is within what bf16 outputs allow. */
bool compare_bf16(const bf16 *got, const double *ref, int rows, int ld, int col0, int cols, double *worst, double *max_ref);

#endif
