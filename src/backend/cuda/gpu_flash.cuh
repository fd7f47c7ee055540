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

/* Fused attention for training (gpu_kernels_flash_train.cu), the same shapes. qkv [B*T, 3H] bf16
 * with its bias already added; g->d_mask as above. Forward: S = scale Q K^T (scale = 1/sqrt(dh)),
 * P = masked softmax(S) (a row with every key masked uniform over all T), Pd = P * drop_scale(
 * g->seed, site, ((b*heads + h)*T + i)*T + j, p) (k_softmax_fwd's index), ctx = bf16(Pd) V into
 * ctx [B*T, H] at columns h*dh; row_stats [B*heads*T, 2] gets each row's max of the scaled kept
 * scores (-INFINITY when every key is masked) and 1 / sum (0 then), from which backward recomputes
 * P bit for bit. Backward from d_ctx [B*T, H]: dP = (dC V^T) * the same mask, dS = P (dP -
 * rowsum(P dP)), dV = bf16(Pd)^T dC, dQ = scale bf16(dS) K, dK = scale bf16(dS)^T Q, written (not
 * added) into d_qkv [B*T, 3H] at columns h*dh, H + h*dh, 2H + h*dh. Buffers 16-byte aligned;
 * both launch on g->stream and do nothing for a shape attention_train_fused_supported rejects.
 * Shared memory: about 80 KB (forward) and 204 KB (backward) at T = 128. */
void k_attention_train_fwd(gpu_model *g, const bf16 *qkv, bf16 *ctx, float *row_stats, int B, int heads, int T, int dh, float p,
                           uint32_t site);
void k_attention_train_bwd(gpu_model *g, const bf16 *qkv, const bf16 *d_ctx, const float *row_stats, bf16 *d_qkv, int B, int heads,
                           int T, int dh, float p, uint32_t site);
/* dh == 64 and 1 <= T <= 128. */
bool attention_train_fused_supported(int T, int dh);

#endif
