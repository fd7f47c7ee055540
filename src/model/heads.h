/* Prediction heads on top of the encoder, each a forward/backward pair:
 *   HEAD_TAGGING         AdapterHub tagging head: heads.<name>.1 Linear(H, labels) on every token
 *   HEAD_CLASSIFICATION  AdapterHub classification head: heads.<name>.1 Linear(H,H) + tanh on
 *                        token 0, then heads.<name>.4 Linear(H, labels). With one label it is the
 *                        regression head (AdapterHub's num_labels=1: MSE loss on the one output)
 *   HEAD_TOKEN_CLASSIFIER  Hugging Face static head: classifier Linear(H, labels) on every token
 *   HEAD_MLM             the checkpoint's pretrained masked-LM head (see model.h)
 * Logits are [N, labels] per token, or [B, labels] for classification. In training mode the
 * AdapterHub heads drop their inputs (the Dropout at index 0, and 3 for classification) with the
 * model's hidden dropout; the static HF classifier does the same (BertForTokenClassification). */
#ifndef ADAPT_MODEL_HEADS_H
#define ADAPT_MODEL_HEADS_H
#include "model/model.h"

typedef enum head_kind { HEAD_TAGGING, HEAD_CLASSIFICATION, HEAD_TOKEN_CLASSIFIER, HEAD_MLM } head_kind;

typedef struct head {
    head_kind kind;
    char name[64];
    int num_labels;
    param *w1, *b1, *w2, *b2;   /* tagging / token classifier: w1,b1; classification: both */
    /* forward cache */
    float *pooled_in, *pooled_pre, *pooled;   /* classification: token 0 rows, dense output, tanh */
    float *pooled_drop;                       /* classification: tanh output after dropout (training) */
    float *drop_in;                           /* token heads: the input after dropout (training), else NULL */
    float *mlm_pre, *mlm_act, *mlm_t, *mlm_mean, *mlm_rstd, *mlm_t_inv;
} head;

/* Adds the head's tensors to the model store (zero; use head_init_random to initialise) or binds
 * them when already present (e.g. loaded from model_head.safetensors). */
adapt_status head_create(adapt_model *m, head *h, head_kind kind, const char *name, int num_labels);
/* For loading an AdapterHub head: whether tensors "heads.<name>.*" are in the store already; their
 * removal (after a failed load); and the check that the loaded ones are exactly the tensors of a
 * head of that kind (head_create would otherwise add a missing one as zeros, silently). */
bool head_tensors_present(const adapt_model *m, const char *name);
void head_remove_tensors(adapt_model *m, const char *name);
adapt_status head_check_loaded(const adapt_model *m, head_kind kind, const char *name);
void head_init_random(head *h, uint64_t *rng_state);
int head_rows(const adapt_model *m, const head *h); /* N for token heads, B for classification */
/* A classification head with a single output: a regression head (MSE loss, Pearson / Spearman). */
bool head_is_regression(const head *h);
/* Forward from the last hidden state of m->fw; logits: [head_rows, labels] (vocab for MLM). */
adapt_status head_forward(adapt_model *m, head *h, float *logits);
/* A tagging or classification head in evaluation (no dropout) on hidden states [B,T,H] the caller
 * has; logits [B*T, labels] or [B, labels]. Its caches go to the model's arena, as head_forward's. */
adapt_status head_forward_hidden(adapt_model *m, head *h, const float *hidden, int B, int T, float *logits);
/* Accumulates into d_hidden [N,H] and the head's trainable tensors. */
adapt_status head_backward(adapt_model *m, head *h, const float *d_logits, float *d_hidden);

/* A head per Parallel channel (after model_forward_channels): the head runs on channel c's rows
 * only; logits are [head_rows / channels, labels], d_hidden is the whole [N,H] gradient. One
 * channel's forward must be followed by its backward before the next channel's forward. */
adapt_status head_forward_channel(adapt_model *m, head *h, int channel, float *logits);
adapt_status head_backward_channel(adapt_model *m, head *h, int channel, const float *d_logits, float *d_hidden);

/* Backward through the encoder from d_last [N,H]: accumulates into every trainable tensor; stops
 * below the lowest layer that holds a trainable tensor. */
adapt_status model_backward(adapt_model *m, float *d_last);

#endif
