/* The encoder model: configuration, parameters (in the store, under Hugging Face names with the
 * bert./roberta. prefix always present), and the activations of the last forward pass. */
#ifndef ADAPT_MODEL_MODEL_H
#define ADAPT_MODEL_MODEL_H
#include "adapt.h"
#include "core/arena.h"
#include "core/store.h"
#include "formats/hf_config.h"

typedef struct encoder_layer {
    param *q_w, *q_b, *k_w, *k_b, *v_w, *v_b;
    param *attn_out_w, *attn_out_b, *attn_ln_w, *attn_ln_b;
    param *inter_w, *inter_b, *out_w, *out_b, *out_ln_w, *out_ln_b;
} encoder_layer;

typedef struct mlm_head {
    param *dense_w, *dense_b, *ln_w, *ln_b, *bias;
    param *decoder;          /* NULL: tied to the word embeddings */
    activation_kind act;     /* BERT: hidden_act; RoBERTa lm_head: gelu */
} mlm_head;

/* What one adapter point (a sublayer's output) keeps for backward; see adapters/compose.h. */
typedef struct point_cache point_cache;

typedef struct layer_cache {
    float *q, *k, *v, *ctx, *attn_dense;
    point_cache *attn_point;
    float *attn_out;         /* output of the attention sublayer = FFN input */
    float *ffn_pre, *ffn_act, *ffn_dense;
    point_cache *out_point;
    float *lora_ax[6];       /* LoRA A x per linear (see adapters/lora.h), NULL without LoRA */
    float *lora_x[6];        /* training with lora_dropout: the LoRA's input after its dropout (else NULL) */
    /* prefix tuning (adapters/prefix_setup.h): the keys and values of each row group, and each
     * row's pointer into them (NULL without a prefix in this layer) */
    struct attention_prefix *prefix_groups;
    const struct attention_prefix *const *prefix_rows;
} layer_cache;

/* Activations of the last forward pass, in the model's arena. */
typedef struct forward_state {
    int B, T, N;             /* B = channels * the caller's batch (a Parallel setup replicates it) */
    int channels, B_in;      /* Parallel channels (1 without) and the caller's batch size */
    /* Dropout of this pass: probabilities (0 in evaluation) and the seed its site keys derive from
     * (see dropout_key in layers.h); backward recomputes the masks from them. */
    float p_hidden, p_attn;
    uint64_t drop_seed;
    int32_t *ids, *pos_ids, *type_ids, *mask;
    float *emb_sum, *emb_mean, *emb_rstd;
    float **hidden;          /* L+1 buffers [N,H]: embeddings output, then each layer */
    layer_cache *layers;
    float *emb_ln_out;       /* embedding LayerNorm output (= hidden[0] without invertible adapter) */
    void *inv_cache;         /* invertible adapter on the embeddings (a nice_cache) */
    void *mlm_inv_cache;     /* its inverse before the MLM decoder */
    struct prefix_pass *prefix; /* the prefix tunings this pass runs (NULL: none) */
    /* masked-LM head: dense output, activation, LayerNorm output and statistics, decoder input */
    float *mlm_pre, *mlm_act, *mlm_t, *mlm_mean, *mlm_rstd, *mlm_dec_in;
    float *mlm_in;           /* the head's input rows (all of the last hidden state, or a gather) */
    /* Shared by every layer for what backward does not read (see layer_forward). */
    float *scratch_nh[2], *scratch_ni;
    bool no_grad;            /* an inference pass: layer caches were reused, backward is refused */
    layer_cache inference_scratch; /* the buffers every layer of an inference pass shares */
    const int32_t *mlm_rows; /* positions the head ran on (NULL = every position) */
    int mlm_n;
} forward_state;

/* Dropout sites: the embedding output, then three per layer (attention probabilities, attention
 * output, FFN output), then the head's input(s). */
#define DROP_SITE_EMB 0u
#define DROP_SITE_PROBS(l) (1u + 3u * (uint32_t)(l))
#define DROP_SITE_ATTN_OUT(l) (2u + 3u * (uint32_t)(l))
#define DROP_SITE_FFN_OUT(l) (3u + 3u * (uint32_t)(l))
#define DROP_SITE_HEAD(k) (0x40000000u + (uint32_t)(k))
#define DROP_SITE_LORA(l, k) (0x20000000u + 8u * (uint32_t)(l) + (uint32_t)(k)) /* a LoRA's lora_dropout on its input */

struct adapter_setup;
struct lora_state;
#define ADAPT_MODEL_MAX_LORAS 16

struct adapt_model {
    model_config cfg;
    char prefix[16];         /* "bert" or "roberta" */
    param_store store;
    param *word, *pos, *type, *emb_ln_w, *emb_ln_b;
    encoder_layer *layers;
    param *pooler_w, *pooler_b;   /* NULL when the checkpoint has no pooler */
    mlm_head mlm;                 /* dense_w NULL when the checkpoint has no MLM head */
    param *classifier_w, *classifier_b; /* HF static token/sequence classifier, if present */
    size_t base_tensor_count;
    struct adapter_setup *setup;  /* active adapter composition, NULL for the plain encoder */
    struct lora_state *lora;      /* the active LoRA on the encoder's linear layers, NULL without */
    struct lora_state *loras[ADAPT_MODEL_MAX_LORAS]; /* every loaded LoRA, by name (PEFT's named adapters) */
    int n_loras;
    /* A mixed-LoRA pass (adapt_model_encode_mixed_lora): row group k (lora_route_rows[k] rows, the
     * groups in order) under lora_route[k] (NULL: none); n_lora_routes = 0 outside such a pass. */
    const struct lora_state *const *lora_route;
    const int *lora_route_rows;
    int n_lora_routes;
    arena acts;
    forward_state fw;
    adapt_weight_dtype weight_dtype; /* how the encoder's linear weights are held (adapt.h) */
    float *weight_scratch;        /* bf16: one fp32 [out,in] buffer each GEMM's weight is widened into */
    bool training;                /* dropout on (hidden, attention, adapters) */
    uint64_t dropout_rng;
};

/* Builds an empty model (zero weights) for a configuration: used by loading and pretraining. */
adapt_status model_create(const model_config *cfg, adapt_model **out);
/* The same with the encoder's linear weights held as `dtype` from the start (see adapt.h). */
adapt_status model_create_dtype(const model_config *cfg, adapt_weight_dtype dtype, adapt_model **out);
/* The encoder's linear layers with either storage of W (bf16: widened into m->weight_scratch
 * first; fp32: linear_forward / linear_backward as they are). Backward takes the gradients of
 * W and b from the params (NULL while frozen). */
void model_linear_forward(adapt_model *m, float *out, const float *in, const param *W, const param *b, int N, int in_dim,
                          int out_dim);
void model_linear_backward(adapt_model *m, float *d_in, const float *d_out, const float *in, const param *W, const param *b,
                           int N, int in_dim, int out_dim);
/* Adds the pretrained-MLM-head tensors (decoder only when untied) / the BERT pooler. */
adapt_status model_add_mlm_head(adapt_model *m, bool untied_decoder);
adapt_status model_add_pooler(adapt_model *m);
/* Random initialisation (Hugging Face's _init_weights with initializer_range std). */
void model_init_random(adapt_model *m, double std, uint64_t seed);
/* A model to pretrain from scratch: the encoder of a config.json with a tied MLM head, randomly
 * initialised (std 0.02) from `seed`. */
adapt_status model_create_random(const char *config_path, uint64_t seed, adapt_model **out);
/* The longest sequence (special tokens included) the position embeddings allow. */
int model_max_tokens(const model_config *c);
/* ADAPT_ERR_ARG naming both limits when max_len is longer than model_max_tokens allows. */
adapt_status model_check_max_tokens(const model_config *c, int max_len);
/* Shards the pretraining commands write (as the GPU tool's saves: each file under 16 MB). */
#define MODEL_SHARD_BYTES ((size_t)15000000)
/* Saves the base model (config.json + model.safetensors, sharded above max_shard_bytes; 0 = one
 * file) in Hugging Face layout. */
adapt_status model_save(adapt_model *m, const char *dir, size_t max_shard_bytes);
/* Fills every store tensor from a checkpoint (`dir` names it in errors). */
struct tensor_source;
adapt_status model_load_tensors(adapt_model *m, const struct tensor_source *src, const char *dir);
/* Position ids as transformers computes them: BERT 0..T-1; RoBERTa / XLM-R pad + the running count
 * of non-pad tokens (pad tokens get pad). Fails when a position passes max_position_embeddings. */
adapt_status model_position_ids(const model_config *c, int B, int T, const int32_t *ids, int32_t *pos);
/* Forward through the embeddings and all layers; activations stay in model->fw. */
adapt_status model_forward(adapt_model *m, int B, int T, const int32_t *ids, const int32_t *mask, const int32_t *type_ids);
/* The same for inference only: layers share their buffers (a layer's worth of activation memory
 * instead of all of them); the hidden states stay in model->fw, model_backward is refused. */
adapt_status model_forward_inference(adapt_model *m, int B, int T, const int32_t *ids, const int32_t *mask,
                                     const int32_t *type_ids);
/* The same for a setup with a Parallel block (AdapterHub's adjust_tensors_for_parallel): the
 * batch is replicated once per channel before the embeddings, so everything downstream sees
 * channels * B sequences; rows [c*B*T, (c+1)*B*T) of the hidden states are channel c (see
 * head_forward_channel). *channels receives the count (1 without Parallel, when this equals
 * model_forward). model_forward itself refuses Parallel setups: its callers size outputs by B. */
adapt_status model_forward_channels(adapt_model *m, int B, int T, const int32_t *ids, const int32_t *mask,
                                    const int32_t *type_ids, int *channels);
/* MLM logits [N,V] for the last forward pass, and the way back to d_hidden [N,H] (accumulated). */
adapt_status model_mlm_forward(adapt_model *m, float *logits);
/* The same on n selected positions only (masked-LM training: logits [n,V]); `rows` must stay
 * valid until the backward pass. */
adapt_status model_mlm_forward_rows(adapt_model *m, const int32_t *rows, int n, float *logits);
adapt_status model_mlm_backward(adapt_model *m, const float *d_logits, float *d_hidden);

#endif
