/* Fused inference attention (gpu_kernels_flash.cu): the q/k/v bias, the scaled scores, the masked
 * softmax and the probability-weighted values in one kernel, with no [B,heads,T,T] buffer. */
#ifndef ADAPT_BACKEND_CUDA_GPU_FLASH_CUH
#define ADAPT_BACKEND_CUDA_GPU_FLASH_CUH
#include "backend/cuda/gpu_common.cuh"

/* ctx[B*T, H] (H = heads * dh, head h at columns h*dh) = softmax(q k^T / sqrt(dh)) v per (batch,
 * head), keys with g->d_mask == 0 excluded (a row with every key masked is uniform over all T).
 * qkv is [B*T, 3H] bf16 before its bias; qkv_bias [3H] fp32 is added in fp32 and rounded to bf16
 * as the unfused path does, and the probabilities are rounded to bf16 before the product with v.
 * No dropout. qkv and ctx must be 16-byte aligned (cudaMalloc'd buffers are). Launches on
 * g->stream; does nothing for a shape attention_fused_supported rejects. */
void k_attention_fused(gpu_model *g, const bf16 *qkv, const float *qkv_bias, bf16 *ctx, int B, int heads, int T, int dh);
/* The shapes the kernel handles: dh == 64 and 1 <= T <= 128. */
bool attention_fused_supported(int T, int dh);

#endif
