/* adapt-gpu check-attention-train: the fused training attention kernels (gpu_kernels_flash_train.cu)
 * against a host reference in double precision that follows the unfused path (gpu_attention.cu,
 * k_softmax_fwd / k_softmax_bwd) with its roundings (the dropped probabilities and dS in bf16 as
 * GEMM operands, the outputs in bf16), on a few shapes with padding, a fully masked sequence and
 * dropout on and off; then the time of both kernels on a BERT-base batch. Exit 0 when every tensor
 * of every shape passes, 2 when one does not, 1 on a CUDA error. */
#include "backend/cuda/gpu_check_util.cuh"
#include "backend/cuda/gpu_device.cuh"
#include "backend/cuda/gpu_flash.cuh"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define DH 64
#define CHECK_B 2
#define CHECK_HEADS 3
#define BENCH_B 32
#define BENCH_HEADS 12
#define BENCH_T 128
#define CHECK_SITE 7u
#define N_TENSORS 4

static const char *const tensor_names[N_TENSORS] = {"ctx", "dQ", "dK", "dV"};

/* qkv = bf16(1.5 N(0,1) + bias[column]), bias ~ 0.5 N(0,1) (the kernels take q|k|v with the bias
 * added): scores with a spread of about 2.5. d_ctx ~ N(0, 1). */
static void fill_inputs(bf16 *qkv, bf16 *dctx, int N, int H, uint64_t seed)
{
    uint64_t s = seed;
    float *bias = (float *)malloc((size_t)3 * H * sizeof(float));
    fill_normal_f32(bias, (size_t)3 * H, 0.5, &s);
    for (size_t i = 0; i < (size_t)N * 3 * H; i++) qkv[i] = __float2bfloat16_rn((float)(1.5 * rng_normal(&s)) + bias[i % (3 * H)]);
    fill_normal_bf16(dctx, (size_t)N * H, 1.0, &s);
    free(bias);
}

/* ctx [B*T, H] and d_qkv [B*T, 3H] as the unfused path computes them, in double where it
 * accumulates in fp32. */
static void reference(const bf16 *qkv, const bf16 *dctx, const int32_t *mask, double *ctx, double *dqkv, int B, int heads, int T,
                      float p, uint64_t seed, uint32_t site)
{
    const int H = heads * DH, W = 3 * H;
    const double scale = 1.0 / sqrt((double)DH);
    size_t n_qkv = (size_t)B * T * W, n_ctx = (size_t)B * T * H;
    float *x = (float *)malloc(n_qkv * sizeof(float)), *dc = (float *)malloc(n_ctx * sizeof(float));
    double *P = (double *)malloc((size_t)T * sizeof(double)), *dP = (double *)malloc((size_t)T * sizeof(double));
    double *Pd = (double *)malloc((size_t)T * sizeof(double)), *dS = (double *)malloc((size_t)T * sizeof(double));
    float *m = (float *)malloc((size_t)T * sizeof(float));
    for (size_t i = 0; i < n_qkv; i++) x[i] = __bfloat162float(qkv[i]);
    for (size_t i = 0; i < n_ctx; i++) dc[i] = __bfloat162float(dctx[i]);
    for (size_t i = 0; i < n_qkv; i++) dqkv[i] = 0.0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < T; i++) {
                const float *q = x + ((size_t)b * T + i) * W + h * DH;
                const float *g = dc + ((size_t)b * T + i) * H + h * DH;
                const size_t base = (((size_t)b * heads + h) * T + i) * T;
                double mx = -INFINITY, sum = 0.0, dot = 0.0;
                for (int j = 0; j < T; j++) {
                    const float *k = x + ((size_t)b * T + j) * W + H + h * DH;
                    double s = 0.0;
                    for (int d = 0; d < DH; d++) s += (double)q[d] * k[d];
                    P[j] = mask[b * T + j] ? s * scale : -INFINITY;
                    if (P[j] > mx) mx = P[j];
                }
                for (int j = 0; j < T; j++) {
                    P[j] = mx == -INFINITY ? 1.0 : (mask[b * T + j] ? exp(P[j] - mx) : 0.0);
                    sum += P[j];
                }
                for (int j = 0; j < T; j++) {
                    const float *v = x + ((size_t)b * T + j) * W + 2 * H + h * DH;
                    P[j] /= sum;
                    m[j] = drop_scale(seed, site, base + j, p);
                    Pd[j] = bf16_rounded((float)(P[j] * m[j]));
                    double dpd = 0.0;
                    for (int d = 0; d < DH; d++) dpd += (double)g[d] * v[d];
                    dP[j] = dpd * m[j];
                    dot += P[j] * dP[j];
                }
                for (int j = 0; j < T; j++) dS[j] = bf16_rounded((float)(P[j] * (dP[j] - dot)));
                double *o = ctx + ((size_t)b * T + i) * H + h * DH;
                double *dq = dqkv + ((size_t)b * T + i) * W + h * DH;
                for (int d = 0; d < DH; d++) o[d] = dq[d] = 0.0;
                for (int j = 0; j < T; j++) {
                    const float *k = x + ((size_t)b * T + j) * W + H + h * DH, *v = k + H;
                    double *dk = dqkv + ((size_t)b * T + j) * W + H + h * DH, *dv = dk + H;
                    for (int d = 0; d < DH; d++) {
                        o[d] += Pd[j] * v[d];
                        dq[d] += scale * dS[j] * k[d];
                        dk[d] += scale * dS[j] * q[d];
                        dv[d] += Pd[j] * g[d];
                    }
                }
            }
    free(x);
    free(dc);
    free(P);
    free(dP);
    free(Pd);
    free(dS);
    free(m);
}

/* Device buffers sized for the largest shape (the timing one), reused by every shape. */
struct train_bufs {
    gpu_model g;
    bf16 *qkv, *ctx, *dctx, *dqkv;
    float *stats;
};

/* One shape: batch 0 keeps every key, batch 1 keeps its first keep1 (0: fully masked). Adds the
 * tensors that pass to *passed. */
static cudaError_t check_shape(train_bufs *d, int T, int keep1, float p, int *passed)
{
    const int B = CHECK_B, heads = CHECK_HEADS, H = heads * DH, N = B * T;
    const size_t n_qkv = (size_t)N * 3 * H, n_ctx = (size_t)N * H;
    bf16 *qkv = (bf16 *)malloc(n_qkv * sizeof(bf16)), *dctx = (bf16 *)malloc(n_ctx * sizeof(bf16));
    bf16 *ctx = (bf16 *)malloc(n_ctx * sizeof(bf16)), *dqkv = (bf16 *)malloc(n_qkv * sizeof(bf16));
    int32_t *mask = (int32_t *)malloc((size_t)N * sizeof(int32_t));
    double *ref_ctx = (double *)malloc(n_ctx * sizeof(double)), *ref_dqkv = (double *)malloc(n_qkv * sizeof(double));
    d->g.seed = 0x5DEECE66Dull * (uint64_t)(T + 1) + (p > 0.0f);
    fill_inputs(qkv, dctx, N, H, 0x9E3779B97F4A7C15ull ^ (uint64_t)T ^ ((uint64_t)keep1 << 16));
    two_sequence_mask(mask, T, keep1);
    reference(qkv, dctx, mask, ref_ctx, ref_dqkv, B, heads, T, p, d->g.seed, CHECK_SITE);

    cudaError_t e = cudaMemcpy(d->qkv, qkv, n_qkv * sizeof(bf16), cudaMemcpyHostToDevice);
    if (e == cudaSuccess) e = cudaMemcpy(d->dctx, dctx, n_ctx * sizeof(bf16), cudaMemcpyHostToDevice);
    if (e == cudaSuccess) e = cudaMemcpy(d->g.d_mask, mask, (size_t)N * sizeof(int32_t), cudaMemcpyHostToDevice);
    /* all-ones bytes are bf16 / fp32 NaN: an element the kernels never write fails the check */
    if (e == cudaSuccess) e = cudaMemset(d->ctx, 0xFF, n_ctx * sizeof(bf16));
    if (e == cudaSuccess) e = cudaMemset(d->dqkv, 0xFF, n_qkv * sizeof(bf16));
    if (e == cudaSuccess) e = cudaMemset(d->stats, 0xFF, (size_t)B * heads * T * 2 * sizeof(float));
    if (e == cudaSuccess) {
        k_attention_train_fwd(&d->g, d->qkv, d->ctx, d->stats, B, heads, T, DH, p, CHECK_SITE);
        e = cudaGetLastError();
    }
    if (e == cudaSuccess) {
        k_attention_train_bwd(&d->g, d->qkv, d->dctx, d->stats, d->dqkv, B, heads, T, DH, p, CHECK_SITE);
        e = cudaGetLastError();
    }
    if (e == cudaSuccess) e = cudaStreamSynchronize(d->g.stream);
    if (e == cudaSuccess) e = cudaMemcpy(ctx, d->ctx, n_ctx * sizeof(bf16), cudaMemcpyDeviceToHost);
    if (e == cudaSuccess) e = cudaMemcpy(dqkv, d->dqkv, n_qkv * sizeof(bf16), cudaMemcpyDeviceToHost);
    if (e == cudaSuccess) {
        for (int t = 0; t < N_TENSORS; t++) {
            double worst, max_ref;
            bool pass = t == 0 ? compare_bf16(ctx, ref_ctx, N, H, 0, H, &worst, &max_ref)
                               : compare_bf16(dqkv, ref_dqkv, N, 3 * H, (t - 1) * H, H, &worst, &max_ref);
            *passed += pass;
            printf("check-attention-train B=%d heads=%d T=%3d keep(batch 1)=%3d p=%.1f %-3s: max |ref| %.3f, max abs error %.2e, "
                   "relative %.2e  %s\n",
                   B, heads, T, keep1, p, tensor_names[t], max_ref, worst, worst / (max_ref + 1e-30), pass ? "PASS" : "FAIL");
        }
    }
    free(qkv);
    free(dctx);
    free(ctx);
    free(dqkv);
    free(mask);
    free(ref_ctx);
    free(ref_dqkv);
    return e;
}

/* Microseconds per call of each kernel on a BERT-base batch (every key kept, p = 0.1). */
static cudaError_t time_kernels(train_bufs *d, double *us_fwd, double *us_bwd)
{
    const int B = BENCH_B, heads = BENCH_HEADS, T = BENCH_T, H = heads * DH, N = B * T;
    const float p = 0.1f;
    bf16 *qkv = (bf16 *)malloc((size_t)N * 3 * H * sizeof(bf16)), *dctx = (bf16 *)malloc((size_t)N * H * sizeof(bf16));
    int32_t *mask = (int32_t *)malloc((size_t)N * sizeof(int32_t));
    cudaEvent_t ev[3] = {NULL, NULL, NULL};
    float ms_fwd = 0.0f, ms_bwd = 0.0f;
    fill_inputs(qkv, dctx, N, H, 42);
    for (int i = 0; i < N; i++) mask[i] = 1;
    d->g.seed = 1234;
    cudaError_t e = cudaMemcpy(d->qkv, qkv, (size_t)N * 3 * H * sizeof(bf16), cudaMemcpyHostToDevice);
    if (e == cudaSuccess) e = cudaMemcpy(d->dctx, dctx, (size_t)N * H * sizeof(bf16), cudaMemcpyHostToDevice);
    if (e == cudaSuccess) e = cudaMemcpy(d->g.d_mask, mask, (size_t)N * sizeof(int32_t), cudaMemcpyHostToDevice);
    for (int i = 0; e == cudaSuccess && i < 3; i++) e = cudaEventCreate(&ev[i]);
    for (int i = 0; e == cudaSuccess && i < 10; i++) {
        k_attention_train_fwd(&d->g, d->qkv, d->ctx, d->stats, B, heads, T, DH, p, CHECK_SITE);
        k_attention_train_bwd(&d->g, d->qkv, d->dctx, d->stats, d->dqkv, B, heads, T, DH, p, CHECK_SITE);
        e = cudaGetLastError();
    }
    if (e == cudaSuccess) e = cudaEventRecord(ev[0], d->g.stream);
    for (int i = 0; e == cudaSuccess && i < 100; i++) {
        k_attention_train_fwd(&d->g, d->qkv, d->ctx, d->stats, B, heads, T, DH, p, CHECK_SITE);
        e = cudaGetLastError();
    }
    if (e == cudaSuccess) e = cudaEventRecord(ev[1], d->g.stream);
    for (int i = 0; e == cudaSuccess && i < 100; i++) {
        k_attention_train_bwd(&d->g, d->qkv, d->dctx, d->stats, d->dqkv, B, heads, T, DH, p, CHECK_SITE);
        e = cudaGetLastError();
    }
    if (e == cudaSuccess) e = cudaEventRecord(ev[2], d->g.stream);
    if (e == cudaSuccess) e = cudaEventSynchronize(ev[2]);
    if (e == cudaSuccess) e = cudaEventElapsedTime(&ms_fwd, ev[0], ev[1]);
    if (e == cudaSuccess) e = cudaEventElapsedTime(&ms_bwd, ev[1], ev[2]);
    *us_fwd = ms_fwd * 1000.0 / 100;
    *us_bwd = ms_bwd * 1000.0 / 100;
    for (int i = 0; i < 3; i++)
        if (ev[i]) cudaEventDestroy(ev[i]);
    free(qkv);
    free(dctx);
    free(mask);
    return e;
}

extern "C" int gpu_cmd_check_attention_train(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    /* T: a full 128 (two forward query tiles, eight backward warps), 77 (a partial tile and keys
     * padded to 80), 16, 1; keep1 = 0 is a sequence whose every key is masked; dropout 0.1 and once
     * none */
    static const struct {
        int T, keep1;
        float p;
    } shapes[] = {{128, 100, 0.1f}, {77, 50, 0.1f}, {77, 0, 0.1f}, {16, 9, 0.1f}, {1, 1, 0.1f}, {128, 100, 0.0f}};
    const int n_shapes = (int)(sizeof shapes / sizeof shapes[0]), n_checks = n_shapes * N_TENSORS;
    const int H = BENCH_HEADS * DH, N = BENCH_B * BENCH_T;
    train_bufs d = {};
    int passed = 0;
    double us_fwd = 0.0, us_bwd = 0.0;
    cudaError_t e = cudaStreamCreate(&d.g.stream);
    if (e == cudaSuccess) e = cudaMalloc((void **)&d.qkv, (size_t)N * 3 * H * sizeof(bf16));
    if (e == cudaSuccess) e = cudaMalloc((void **)&d.dqkv, (size_t)N * 3 * H * sizeof(bf16));
    if (e == cudaSuccess) e = cudaMalloc((void **)&d.ctx, (size_t)N * H * sizeof(bf16));
    if (e == cudaSuccess) e = cudaMalloc((void **)&d.dctx, (size_t)N * H * sizeof(bf16));
    if (e == cudaSuccess) e = cudaMalloc((void **)&d.stats, (size_t)BENCH_B * BENCH_HEADS * BENCH_T * 2 * sizeof(float));
    if (e == cudaSuccess) e = cudaMalloc((void **)&d.g.d_mask, (size_t)N * sizeof(int32_t));
    for (int i = 0; e == cudaSuccess && i < n_shapes; i++) e = check_shape(&d, shapes[i].T, shapes[i].keep1, shapes[i].p, &passed);
    if (e == cudaSuccess) e = time_kernels(&d, &us_fwd, &us_bwd);
    if (e == cudaSuccess) {
        printf("check-attention-train: B=%d heads=%d T=%d dh=%d p=0.1: forward %.1f us, backward %.1f us per call\n", BENCH_B,
               BENCH_HEADS, BENCH_T, DH, us_fwd, us_bwd);
        printf("check-attention-train: %d/%d pass\n", passed, n_checks);
    } else {
        fprintf(stderr, "check-attention-train: CUDA error: %s\n", cudaGetErrorString(e));
    }
    cudaFree(d.qkv);
    cudaFree(d.dqkv);
    cudaFree(d.ctx);
    cudaFree(d.dctx);
    cudaFree(d.stats);
    cudaFree(d.g.d_mask);
    if (d.g.stream) cudaStreamDestroy(d.g.stream);
    if (e != cudaSuccess) return 1;
    return passed == n_checks ? 0 : 2;
}
