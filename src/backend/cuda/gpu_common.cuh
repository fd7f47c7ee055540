/* Internal to the CUDA backend: the device model, its buffers, and the kernel launchers.
 * Every activation that feeds a GEMM is a dbuf: its fp32 values (f) and, in bf16 mode, its bf16
 * copy (h). A producer writes whichever of the two are allocated, so no separate conversion pass
 * is needed; either pointer may be NULL when nothing reads it. */
#ifndef ADAPT_BACKEND_CUDA_GPU_COMMON_CUH
#define ADAPT_BACKEND_CUDA_GPU_COMMON_CUH
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "adapters/setup.h"
#include "backend/cuda/gpu.h"
#include "backend/cuda/gpu_adapter_config.h"
#include "core/error.h"
#include "model/model.h"
}

typedef __nv_bfloat16 bf16;

struct dbuf {
    float *f;
    bf16 *h;
};

/* A tensor (or a group of tensors laid out back to back, such as query|key|value) in the arenas. */
struct dparam {
    float *w;  /* fp32 master values */
    bf16 *wh;  /* bf16 copy (bf16 mode), refreshed by the optimizer */
    float *g;  /* gradient, NULL when frozen */
    size_t n;
};

struct dlayer {
    dparam qkv_w, qkv_b, ao_w, ao_b, ln1_w, ln1_b, in_w, in_b, out_w, out_b, ln2_w, ln2_b;
};

/* Activations of one layer kept for backward. */
struct layer_acts {
    dbuf qkv;            /* [N,3H], bias added */
    float *P;            /* [B,heads,T,T] softmax probabilities */
    dbuf Pd;             /* probabilities after dropout (GEMM operand; may alias P) */
    dbuf ctx;            /* [N,H] */
    float *sum1, *mean1, *rstd1;
    dbuf a;              /* attention sublayer output [N,H] */
    dbuf ffn_pre;        /* [N,I], bias added (in the GEMM precision) */
    dbuf ffn_act;        /* [N,I] */
    float *sum2, *mean2, *rstd2;
    void **ptrs;         /* device pointer tables of the attention GEMMs (gpu_attention.cu) */
    float *row_stats;    /* fused training attention: [B*heads*T][2] softmax max and 1/sum */
};

/* One bottleneck adapter at one point (after attention or after the FFN) of one layer; m = 0 where
 * the active adapter has none. */
struct dadapter {
    dparam down_w, down_b, up_w, up_b;
    int m;
};

/* What backward needs from an adapter point: z = dropout(y + b) is the sublayer's branch output,
 * x its input; the adapter reads hs = LN(z + x) (original_ln_before) or hs = z. */
struct adapter_acts {
    float *sum, *mean, *rstd;  /* original_ln_before: z + x and its LayerNorm statistics */
    dbuf hs;                   /* [N,H] adapter input; fp32 too where it is the residual */
    float *dn;                 /* [N,m] down projection + bias */
    dbuf act;                  /* [N,m] act(dn) */
};

struct slot {            /* one store tensor in the arenas */
    param *p;
    size_t off;
    bool trainable;
};

struct gpu_prof;

struct gpu_model {
    adapt_model *m;
    gpu_options opt;
    bool bf;             /* bf16 GEMM operands */
    bool fused_attention; /* bf16: the kernels of gpu_kernels_flash*.cu where the shape allows */
    cudaStream_t stream;
    cublasHandle_t blas;
    void *blas_ws;
    int sms;
    /* arenas */
    float *wf, *gf, *adam_m, *adam_v;
    bf16 *wh;
    size_t n_total, n_train;
    slot *slots;
    size_t n_slots;
    /* parameters by role */
    dparam word, pos, type, emb_ln_w, emb_ln_b;
    dlayer *L;
    dparam mlm_dense_w, mlm_dense_b, mlm_ln_w, mlm_ln_b, mlm_bias, mlm_decoder;
    dparam head_w, head_b;
    int head_classes;
    /* adapter */
    gpu_adapter_cfg ad;
    dadapter *ad_points[2];            /* per layer: [0] the FFN's end, [1] attention's (adapter_at) */
    adapter_acts *ad_acts[2];          /* per layer, the same two points */
    dbuf ad_u;                         /* [N,H] up projection (forward scratch, GEMM output precision) */
    float *ad_dact, *ad_dhs;           /* backward scratch [N,m_max], [N,H] */
    dbuf ad_ddn;                       /* [N,m_max] */
    /* batch */
    int B, T, N, n_rows;
    float label_scale;
    bool has_labels, has_mask_pad;
    int32_t *d_ids, *d_pos, *d_type, *d_mask, *d_rows, *d_labels;
    int32_t *pinned[2];
    cudaEvent_t staged[2];
    int stage;
    /* activations */
    float *emb_sum, *emb_mean, *emb_rstd;
    dbuf *hidden;        /* L+1 entries [N,H] */
    layer_acts *acts;
    dbuf scratch_h;      /* [N,H] dense outputs before their LayerNorm (GEMM output precision) */
    /* head */
    dbuf xm;             /* gathered rows [R,H] */
    float *m_pre, *m_act, *m_mean, *m_rstd;
    dbuf m_t;
    float *logits;       /* [R,C] */
    dbuf dlogits;
    /* backward scratch */
    float *d_h[2], *d_a, *dP, *d_t, *d_act, *d_xm;
    dbuf d_ffn_act;      /* [N,I] in the GEMM output precision */
    dbuf d_branch, d_ctx, d_qkv, d_ffn_pre, dS, d_mpre;
    void **bwd_ptrs;     /* pointer tables of the backward attention GEMMs */
    int ptr_B, ptr_T;    /* the batch shape the tables were built for */
    /* scalars */
    float *d_loss, *d_norm;
    uint64_t seed;
    bool training;
    gpu_prof *prof;      /* NULL unless profiling (gpu_profile.cu) */
};

#define CUDA_TRY(expr)                                                                             \
    do {                                                                                           \
        cudaError_t e_ = (expr);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "CUDA: %s at %s:%d", cudaGetErrorString(e_), __FILE__, __LINE__); \
    } while (0)
#define BLAS_TRY(expr)                                                                             \
    do {                                                                                           \
        cublasStatus_t s_ = (expr);                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                           \
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "cuBLAS: status %d at %s:%d", (int)s_, __FILE__, __LINE__); \
    } while (0)

/* ---- GEMM (gpu_gemm.cu): row-major C[M,N] = alpha op(A) op(B) + beta C, batched with strides.
 * A and B are bf16 when bf16 is set (else fp32); C is bf16 when c_bf16 is set. */
struct gemm_operand {
    const void *p;
    int ld;
    long long stride;
};
adapt_status gemm(gpu_model *g, bool ta, bool tb, int M, int N, int K, float alpha, gemm_operand A, gemm_operand B,
                  float beta, void *C, bool c_bf16, int ldc, long long strideC, int batch);
/* The same over `batch` independent products whose operands are device arrays of pointers. */
adapt_status gemm_ptrs(gpu_model *g, bool ta, bool tb, int M, int N, int K, float alpha, void *const *A, int lda, void *const *B,
                       int ldb, float beta, void *const *C, bool c_bf16, int ldc, int batch);
/* The operand view of a dbuf / a parameter in the model's precision; out_of: a GEMM output buffer
 * in that precision. */
const void *op_of(const gpu_model *g, dbuf d);
void *out_of(const gpu_model *g, dbuf d);
const void *op_of(const gpu_model *g, const dparam &p);

/* ---- kernels (gpu_kernels_*.cu); all launch on g->stream. Dropout: p = probability, site = a
 * number unique to each dropout location, so backward recomputes the same mask. */
void k_embed_fwd(gpu_model *g, float *out, int N, int H);
void k_embed_bwd(gpu_model *g, const float *d_sum, int N, int H);
struct ln_fwd_args {
    float *out_f; bf16 *out_h; float *sum_out; float *mean, *rstd;
    const float *a, *a_bias, *resid;  /* LN input = dropout(a + a_bias) * a_mul + resid + resid2 */
    const bf16 *a_h;                  /* a in bf16 instead (when a is NULL) */
    const float *resid2;
    float a_mul;                      /* 0 is read as 1 */
    const float *w, *b;
    int N, H; float eps;
    float p_in; uint32_t site_in;     /* dropout on a + a_bias */
    float p_out; uint32_t site_out;   /* dropout on the output (embeddings) */
};
void k_ln_fwd(gpu_model *g, const ln_fwd_args &a);
struct ln_bwd_args {
    const float *d_out; float p_dout; uint32_t site_dout; /* d_out through the output dropout */
    const float *in, *mean, *rstd, *w;
    int N, H;
    float *dw, *db;                   /* accumulated, may be NULL */
    float *d_res; bool res_accum;     /* d(LN input), written or added, may be NULL */
    /* What d_res held before ("old", e.g. a residual's gradient that arrived first) may also be
     * added to d_out (after its dropout), to d(LN input) before it is split, or to the branch
     * gradient only: */
    bool old_into_d_out, old_into_d_in, old_into_branch;
    float *d_br_f; bf16 *d_br_h;      /* d(a + a_bias): through the input dropout and a_mul */
    float p_br; uint32_t site_br; float br_mul; /* br_mul: 0 is read as 1 */
    float *d_br_bias;                 /* column sums of d_br (the branch's bias gradient) */
};
void k_ln_bwd(gpu_model *g, const ln_bwd_args &a);
/* v = x + bias over [N,C] (x read from x.f, else x.h); stored back into x when store_x; out =
 * act(v) (act: ACT_IDENTITY, ACT_GELU, ACT_RELU, ACT_SILU) into out.f / out.h where set. */
void k_bias_act(gpu_model *g, dbuf x, const float *bias, bool store_x, dbuf out, int N, int C, int act);
/* d_in = d_out * act'(pre) over [N,C] (d_out and pre read from .f, else .h) */
void k_act_bwd(gpu_model *g, dbuf d_in, dbuf d_out, dbuf pre, int N, int C, int act);
/* out = dropout(x + bias) [N,C] (x from x.f, else x.h; out.f / out.h where set). */
void k_bias_dropout(gpu_model *g, dbuf out, dbuf x, const float *bias, int N, int C, float p, uint32_t site);
/* d_out = dropout-mask * (a + b) over n elements of rows of C (b may be NULL); bias_grad (may be
 * NULL) += column sums. */
void k_branch_bwd(gpu_model *g, dbuf d_out, const float *a, const float *b, int N, int C, float p, uint32_t site, float *bias_grad);
/* out[c] += sum_r in[r*C + c] */
void k_colsum(gpu_model *g, float *out, const void *in, bool in_bf16, int R, int C);
void k_gather_rows(gpu_model *g, dbuf out, const float *in, const int32_t *rows, int R, int H);
void k_scatter_add_rows(gpu_model *g, float *out, const float *in, const int32_t *rows, int R, int H);
void k_to_bf16(gpu_model *g, bf16 *out, const float *in, size_t n);
/* Attention softmax over [rows = B*heads*T, T] in place, padding keys masked; Pd = dropout(P). */
void k_softmax_fwd(gpu_model *g, float *P, dbuf Pd, int B, int heads, int T, float p, uint32_t site);
/* dS = P * (dP' - rowsum(P * dP')), dP' = dP through the dropout mask. */
void k_softmax_bwd(gpu_model *g, dbuf dS, const float *dP, const float *P, int B, int heads, int T, float p, uint32_t site);
/* Cross-entropy on logits[R,C] + bias: loss sum += label_scale * CE, dlogits = label_scale * (softmax - onehot). */
void k_cross_entropy(gpu_model *g, float *logits, const float *bias, const int32_t *labels, dbuf dlogits, int R, int C,
                     float label_scale);
void k_sumsq(gpu_model *g, const float *x, size_t n, float *out);
void k_adamw(gpu_model *g, float lr, float beta1, float beta2, float eps, float wd, float bc1, float bc2, float max_norm);

/* ---- attention (gpu_attention.cu): layer l's context from its qkv (before the bias, which it
 * adds), and back into g->d_qkv */
adapt_status attention_forward(gpu_model *g, int l);
adapt_status attention_backward(gpu_model *g, int l);
/* Entries of the per-layer (forward) or shared (backward) pointer table. */
size_t attention_ptr_count(const gpu_model *g, bool backward);

/* ---- passes (gpu_forward.cu / gpu_backward.cu) */
/* dW[out,in] += dY^T X for Y = X W^T (skipped when W is frozen). */
adapt_status weight_grad(gpu_model *g, const dparam &W, const void *dY, const void *X, int N, int in, int out);
adapt_status encoder_forward(gpu_model *g);
adapt_status head_forward(gpu_model *g);
adapt_status head_backward(gpu_model *g, float *d_last);
adapt_status encoder_backward(gpu_model *g, float *d_last);

/* ---- adapters (gpu_adapter.cu). The end of a sublayer with the active adapter: y is the dense
 * output without its bias b, x the sublayer input; writes the point's output (after its
 * LayerNorm, whose input / statistics go to ln_sum / ln_mean / ln_rstd). */
struct point_io {
    dbuf y;
    const float *bias, *x, *ln_w, *ln_b;
    uint32_t site;                 /* the sublayer's dropout site */
    dbuf out;
    float *ln_sum, *ln_mean, *ln_rstd;
};
/* The two points of layer l as the plain encoder and the adapter code see them. */
point_io attention_point(const gpu_model *g, int l);
point_io output_point(const gpu_model *g, int l);
adapt_status adapter_point_forward(gpu_model *g, int l, bool attention, const point_io &io);
/* Backward of the same: d_out is the gradient of the point's output; writes d_x (the gradient of
 * x), the branch gradient into g->d_branch (through the sublayer dropout; its bias gradient into
 * d_bias) unless `stop` (nothing below needs a gradient: only the adapter's own are computed). */
struct point_grads {
    const float *d_out;
    float *d_x;
    float *ln_dw, *ln_db, *d_bias;
    bool stop;
};
adapt_status adapter_point_backward(gpu_model *g, int l, bool attention, const point_io &io, const point_grads &gr);
/* Whether the adapter input is also kept in fp32 (as the residual). */
bool adapter_input_is_residual(const gpu_adapter_cfg &c);
/* The active adapter at the end of layer l's attention or FFN sublayer, NULL where it has none. */
static inline const dadapter *adapter_at(const gpu_model *g, int l, bool attention)
{
    const dadapter *A = g->ad_points[attention];
    return A && A[l].m ? &A[l] : NULL;
}

/* Profiling (gpu_profile.cu): the phase that ends here; nothing when profiling is off. */
void prof_mark(gpu_model *g, const char *phase);
void prof_free(gpu_model *g);

/* Dropout sites */
#define SITE_EMB 0u
#define SITE_PROBS(l) (1u + 3u * (uint32_t)(l))
#define SITE_ATTN_OUT(l) (2u + 3u * (uint32_t)(l))
#define SITE_FFN_OUT(l) (3u + 3u * (uint32_t)(l))
#define SITE_ADAPTER(l, attention) ((1u << 20) + 2u * (uint32_t)(l) + ((attention) ? 1u : 0u))

#endif
