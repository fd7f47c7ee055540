/* The CUDA backend's C API: one model's parameters in device arenas, and the steps that run on
 * them (forward, head and loss, backward, clipping + AdamW). The host side (the C library) keeps
 * loading, saving and data; the device side never touches files.
 *
 * Precision: GPU_FP32 is plain fp32 everywhere (for the fixture cases), GPU_TF32 runs the GEMMs on
 * tensor cores with TF32 inputs, GPU_BF16 keeps bf16 copies of the weights and of every GEMM input
 * (fp32 accumulation, fp32 LayerNorm / softmax / loss / optimizer). */
#ifndef ADAPT_BACKEND_CUDA_GPU_H
#define ADAPT_BACKEND_CUDA_GPU_H
#include "adapt.h"

#ifdef __cplusplus
extern "C" {
#endif

struct adapt_model;

typedef enum gpu_precision { GPU_FP32 = 0, GPU_TF32 = 1, GPU_BF16 = 2 } gpu_precision;
typedef enum gpu_head_kind { GPU_HEAD_NONE = 0, GPU_HEAD_MLM = 1, GPU_HEAD_TOKEN = 2 } gpu_head_kind;

typedef struct gpu_options {
    gpu_precision precision;
    int max_B, max_T;            /* activation buffers are sized once, for these */
    int max_head_rows;           /* rows the head may see per batch (MLM: masked positions) */
    gpu_head_kind head;
    const char *head_w, *head_b; /* GPU_HEAD_TOKEN: store names of its weight [C,H] and bias [C] */
    bool train;                  /* allocate gradients, moments and backward buffers */
    float hidden_dropout, attn_dropout; /* used by gpu_forward(training = true) */
    bool unfused_attention;      /* keep the GEMM + softmax attention where a fused kernel applies
                                  * (also ADAPT_GPU_UNFUSED_ATTENTION=1), for comparisons */
} gpu_options;

typedef struct gpu_model gpu_model;

/* Copies every store tensor of `m` to the device. With opt->train, the tensors marked trainable
 * in the store get gradients and AdamW moments; the others are frozen (no weight-gradient work). */
adapt_status gpu_model_create(struct adapt_model *m, const gpu_options *opt, gpu_model **out);
void gpu_model_free(gpu_model *g);

/* One batch, all arrays on the host; copied asynchronously through pinned staging buffers. */
typedef struct gpu_batch {
    int B, T;
    const int32_t *ids, *pos_ids;    /* [B*T]; pos_ids as the model family computes them */
    const int32_t *type_ids, *mask;  /* [B*T] or NULL (zeros / all ones) */
    int n_rows;                      /* head rows */
    const int32_t *rows;             /* [n_rows] token indices gathered for the head; NULL: 0..n_rows-1 */
    const int32_t *labels;           /* [n_rows], -100 = ignored; NULL: no loss */
    float label_scale;               /* loss weight of one counted label (1 / count for the mean) */
} gpu_batch;

adapt_status gpu_upload_batch(gpu_model *g, const gpu_batch *b);
/* Forward through the encoder and the head, adding the batch's loss to the device loss sum.
 * training: dropout on (seeded by `seed`; the backward pass recomputes the same masks). */
adapt_status gpu_forward(gpu_model *g, bool training, uint64_t seed);
/* Zeroes the gradients, then backward from the loss of the last forward. */
adapt_status gpu_backward(gpu_model *g);

typedef struct gpu_adamw {
    double beta1, beta2, eps, weight_decay, max_grad_norm; /* max_grad_norm <= 0: no clipping */
} gpu_adamw;
/* Global-norm clipping (torch clip_grad_norm_) then one torch AdamW step on every trainable
 * tensor; `step` counts from 1. Needs no host synchronisation. */
adapt_status gpu_adamw_step(gpu_model *g, const gpu_adamw *cfg, double lr, long step);

/* Waits for the device; returns the loss sum since the last reset and the last gradient norm. */
adapt_status gpu_read_loss(gpu_model *g, double *loss_sum, double *grad_norm);
void gpu_reset_loss(gpu_model *g);
adapt_status gpu_synchronize(gpu_model *g);

/* Copies results back: hidden state `layer` (0 = embeddings) [B*T*H], the head logits
 * [n_rows * classes], parameters into the store's data, gradients into p->grad (trainable only). */
adapt_status gpu_download_hidden(gpu_model *g, int layer, float *out);
adapt_status gpu_download_logits(gpu_model *g, float *out);
adapt_status gpu_download_params(gpu_model *g);
adapt_status gpu_download_grads(gpu_model *g);
/* The reverse: p->grad of every trainable tensor into the device gradients (to step the optimizer
 * from given gradients). */
adapt_status gpu_upload_grads(gpu_model *g);

/* Per-phase device time (adapt-gpu bench --profile): enable once, collect after each step (it
 * synchronises), print the mean per step. */
adapt_status gpu_profile_enable(gpu_model *g);
adapt_status gpu_profile_collect(gpu_model *g);
void gpu_profile_print(const gpu_model *g, long steps);

/* Device name and memory, for logs. */
void gpu_describe(char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
