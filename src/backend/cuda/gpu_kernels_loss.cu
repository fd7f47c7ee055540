/* Cross-entropy over head logits (one block per row), and the optimizer: global gradient norm and
 * torch AdamW with the clipping factor applied on the device, so a step needs no host sync. */
#include "backend/cuda/gpu_device.cuh"

__global__ void cross_entropy_kernel(float *logits, const float *bias, const int32_t *labels, dbuf d, int C, float scale,
                                     float *loss)
{
    __shared__ float sh[32];
    size_t base = (size_t)blockIdx.x * C;
    float *z = logits + base;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < C; j += blockDim.x) {
        float v = z[j] + (bias ? bias[j] : 0.0f);
        z[j] = v;
        mx = fmaxf(mx, v);
    }
    if (!labels) return;
    int label = labels[blockIdx.x];
    if (label < 0 || label >= C) { /* ignored row (-100): no loss, no gradient */
        for (int j = threadIdx.x; j < C; j += blockDim.x) store2(d, base + j, 0.0f);
        return;
    }
    mx = block_max(mx, sh);
    float s = 0.0f;
    for (int j = threadIdx.x; j < C; j += blockDim.x) s += expf(z[j] - mx);
    s = block_sum(s, sh);
    float lse = mx + logf(s);
    for (int j = threadIdx.x; j < C; j += blockDim.x) {
        float pj = expf(z[j] - lse);
        store2(d, base + j, scale * (pj - (j == label ? 1.0f : 0.0f)));
    }
    if (threadIdx.x == 0) atomicAdd(loss, scale * (lse - z[label]));
}

void k_cross_entropy(gpu_model *g, float *logits, const float *bias, const int32_t *labels, dbuf dlogits, int R, int C,
                     float label_scale)
{
    if (R > 0) cross_entropy_kernel<<<(unsigned)R, 512, 0, g->stream>>>(logits, bias, labels, dlogits, C, label_scale, g->d_loss);
}

__global__ void sumsq_kernel(const float *x, size_t n, float *out)
{
    __shared__ float sh[32];
    float s = 0.0f;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) s += x[i] * x[i];
    s = block_sum(s, sh);
    if (threadIdx.x == 0) atomicAdd(out, s);
}

void k_sumsq(gpu_model *g, const float *x, size_t n, float *out)
{
    sumsq_kernel<<<(unsigned)(2 * g->sms), 1024, 0, g->stream>>>(x, n, out);
}

/* torch.optim.AdamW: decoupled decay, bias-corrected moments, eps after the square root. */
__global__ void adamw_kernel(float *w, bf16 *wh, const float *grad, float *m, float *v, size_t n, float lr, float b1, float b2,
                             float eps, float wd, float bc1, float bc2, float max_norm, const float *norm2)
{
    float coef = 1.0f;
    if (max_norm > 0.0f) coef = fminf(1.0f, max_norm / (sqrtf(*norm2) + 1e-6f));
    float decay = 1.0f - lr * wd, step = lr / bc1, inv_sqrt_bc2 = 1.0f / sqrtf(bc2);
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float gi = grad[i] * coef;
        float mi = b1 * m[i] + (1.0f - b1) * gi, vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float wi = w[i] * decay - step * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
        w[i] = wi;
        if (wh) wh[i] = __float2bfloat16_rn(wi);
    }
}

void k_adamw(gpu_model *g, float lr, float beta1, float beta2, float eps, float wd, float bc1, float bc2, float max_norm)
{
    adamw_kernel<<<blocks_for(g->n_train, 256, (unsigned)(8 * g->sms)), 256, 0, g->stream>>>(
        g->wf, g->bf ? g->wh : NULL, g->gf, g->adam_m, g->adam_v, g->n_train, lr, beta1, beta2, eps, wd, bc1, bc2, max_norm,
        g->d_norm);
}
