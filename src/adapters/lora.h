/* LoRA (Hu et al. 2021) with Hugging Face PEFT semantics: y = W x + b + s * B (A x) on the targeted
 * linear layers, s = lora_alpha / r (rsLoRA: lora_alpha / sqrt(r)). A [r, in] starts
 * kaiming-uniform, B [out, r] at zero, so training starts from the base model. Merging adds s B A
 * into W (inference at base-model speed); unmerging subtracts it again. */
#ifndef ADAPT_ADAPTERS_LORA_H
#define ADAPT_ADAPTERS_LORA_H
#include "core/arena.h"
#include "model/model.h"
#include <cjson/cJSON.h>

/* The six linear layers of an encoder layer, by their module names. */
typedef enum lora_linear { LIN_QUERY, LIN_KEY, LIN_VALUE, LIN_ATTN_OUT, LIN_INTER, LIN_OUT, LIN_COUNT } lora_linear;
extern const char *const lora_module_names[LIN_COUNT]; /* "attention.self.query", ... */

#define LORA_MAX_TARGETS 16

typedef struct lora_config {
    int r;
    double alpha, dropout;
    bool use_rslora;
    int n_targets;
    char targets[LORA_MAX_TARGETS][64];    /* module-name suffixes ("query", "intermediate.dense") */
    char target_regex[256];                /* target_modules given as one string: a full-match regex */
    int n_modules_to_save;
    char modules_to_save[8][64];
} lora_config;

typedef struct lora_pair {
    param *A, *B;
} lora_pair;

typedef struct lora_state {
    lora_config cfg;
    float scaling;
    lora_pair (*pairs)[LIN_COUNT];   /* [layers][LIN_COUNT] */
    bool (*has)[LIN_COUNT];
    bool merged;
} lora_state;

adapt_status lora_config_from_json(const cJSON *root, const char *what, lora_config *out);
cJSON *lora_config_to_json(const lora_config *cfg, const char *task_type);
/* Whether a store tensor is a LoRA factor ("....query.lora_A.weight"); `unused` lets it serve as a
 * store_remove_matching predicate. */
bool lora_is_tensor(const char *name, const char *unused);
/* Whether a module ("bert.encoder.layer.3.attention.self.query") is targeted. */
bool lora_targets_module(const lora_config *cfg, const char *module_name);

/* Adds LoRA to the model: create = true makes fresh A/B (trainable), false binds A/B already in the
 * store (loaded from a file). */
adapt_status lora_attach(adapt_model *m, const lora_config *cfg, bool create, uint64_t *rng);
void lora_state_free(lora_state *s);

/* y[N,out] += s * B (A x); *ax_out receives A x [N,r] (arena) for backward. */
adapt_status lora_forward(arena *a, float *y, float **ax_out, const float *x, const lora_pair *p, float s, int N);
/* From dy: A's and B's gradients, and d_x += s A^T B^T dy when d_x != NULL. */
adapt_status lora_backward(arena *a, float *d_x, const float *dy, const float *ax, const float *x, const lora_pair *p, float s, int N);

/* W += s B A for every pair (merge) or W -= s B A (unmerge). */
adapt_status lora_merge(adapt_model *m);
adapt_status lora_unmerge(adapt_model *m);

#endif
