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
/* The embedding tables (PEFT's lora.Embedding), by their module names after the model prefix. */
typedef enum lora_embedding { EMB_WORD, EMB_POSITION, EMB_TYPE, EMB_COUNT } lora_embedding;
extern const char *const lora_embedding_names[EMB_COUNT]; /* "embeddings.word_embeddings", ... */

#define LORA_MAX_TARGETS 64                /* target_modules and feedforward_modules entries */
#define LORA_MAX_EXCLUDE 128               /* exclude_modules entries (often one per layer and module) */
#define LORA_MAX_PATTERNS 32
#define LORA_MAX_LAYER_LIST 64

/* A rank_pattern / alpha_pattern entry: modules whose name matches "(.*\.)?(key)" take value. */
typedef struct lora_pattern {
    char key[128];
    double value;
} lora_pattern;

typedef struct lora_config {
    int r;
    double alpha, dropout;
    bool use_rslora;
    bool use_dora;                         /* DoRA (Liu et al. 2024): a learnt magnitude per output row */
    char bias[12];                         /* PEFT's bias: "none" ("" too), "all" or "lora_only" (the file then
                                            * holds biases, bound as modules_to_save are) */
    int n_targets;
    char targets[LORA_MAX_TARGETS][64];    /* module-name suffixes ("query", "intermediate.dense") */
    char target_regex[512];                /* target_modules given as one string: a full-match regex */
    int n_modules_to_save;
    char modules_to_save[8][64];
    lora_pattern rank_pattern[LORA_MAX_PATTERNS], alpha_pattern[LORA_MAX_PATTERNS]; /* PEFT's, in file order */
    int n_rank_pattern, n_alpha_pattern;
    bool layers_set;                       /* layers_to_transform given: only those layer indices */
    int n_layers, layers[LORA_MAX_LAYER_LIST];
    int n_layers_pattern;                  /* layers_pattern: the name before the index ("layer") */
    char layers_pattern[4][32];
    bool names_without_root;               /* the file names modules "encoder.layer..." (PEFT on a bare
                                            * BertModel): patterns and regexes match such names */
    char task_type[32];                    /* as the file says ("TOKEN_CLS"), "" when it says none */
    bool from_adapterhub;                  /* read from an AdapterHub LoRA folder (adapterhub_lora.c) */
    bool ia3;                              /* (IA)^3 (AdapterHub's composition_mode "scale", PEFT's IA3): y = (W x + b) * s l
                                            * per output, l [out, 1] in the pair's B (no A), s = alpha */
    int n_feedforward;                     /* PEFT's IA3: feedforward_modules, whose l [1, in] scales the layer's
                                            * input instead, y = W (x * s l) + b (names matched as suffixes) */
    char feedforward[LORA_MAX_TARGETS][64];
    char feedforward_regex[512];           /* feedforward_modules given as one string: a full-match regex */
    int n_exclude;                         /* exclude_modules (PEFT >= 0.14): never targeted (exact names or
                                            * suffixes after a '.') */
    char exclude[LORA_MAX_EXCLUDE][64];
    char exclude_regex[512];               /* exclude_modules given as one string: a full-match regex */
} lora_config;

typedef struct lora_pair {
    param *A, *B;                          /* (IA)^3: A NULL, B the vector l [out, 1] */
    float scaling;                         /* s = alpha / r of this module (rank_pattern / alpha_pattern) */
    param *magnitude;                      /* DoRA: m [out] (NULL without DoRA) */
    float *merged_scale;                   /* DoRA while merged: the m / ||W + s B A|| it multiplied W by */
    bool scales_input;                     /* (IA)^3 of a feedforward module: B is l [1, in], on the input */
} lora_pair;

/* A modules_to_save tensor (PEFT: e.g. the classifier the LoRA was trained with): the model's
 * tensor `name` (a base-model tensor, or "classifier.weight" / ".bias", created when the model has
 * none) holds the active LoRA's values; each LoRA keeps its values in "peft.<lora>.<name>", and the
 * values without LoRA are kept in "peft.(base).<name>" (lora_registry.c swaps them). Looked up by
 * name on every switch: nothing holds a pointer that a store removal could leave dangling. */
typedef struct lora_module {
    char name[256];
} lora_module;

/* PEFT's default adapter name: its tensors are "<module>.lora_A.weight" (as in the files); any
 * other name N gives "<module>.lora_A.N.weight" (PEFT's in-memory names). */
#define LORA_DEFAULT_NAME "default"
#define LORA_STAGE_PREFIX "peft."
#define LORA_NAME_MAX 64

typedef struct lora_state {
    char name[LORA_NAME_MAX];
    lora_config cfg;
    float scaling;                   /* the config's alpha / r (a module's own: its pair's) */
    lora_pair (*pairs)[LIN_COUNT];   /* [layers][LIN_COUNT] */
    bool (*has)[LIN_COUNT];
    bool merged;
    int layers;                            /* rows of pairs / has */
    lora_pair emb[EMB_COUNT];              /* on the embedding tables (lora_embedding.c): A [r, rows], B [dim, r] */
    bool has_emb[EMB_COUNT];
    int n_modules;
    lora_module *modules;
} lora_state;

/* peft_type "LORA" or "IA3" (ia3.c). */
adapt_status lora_config_from_json(const cJSON *root, const char *what, lora_config *out);
/* target_modules-like entries: a string (kept in regex, a full-match regular expression) or a list
 * of at most `max` names (names, *n); *given false when absent or null. */
adapt_status lora_modules_from_json(const cJSON *root, const char *key, const char *what, char *regex, size_t regex_size,
                                    char (*names)[64], int max, int *n, bool *given);
void lora_modules_to_json(cJSON *root, const char *key, const char *regex, const char (*names)[64], int n);
/* What LoRA and (IA)^3 configs share: target_modules, exclude_modules, task_type, modules_to_save,
 * fan_in_fan_out (refused). */
adapt_status lora_common_from_json(const cJSON *root, const char *what, lora_config *cfg);
/* ia3.c: PEFT's IA3Config (target_modules, feedforward_modules) into cfg (zeroed by the caller),
 * and back. */
adapt_status ia3_config_from_json(const cJSON *root, const char *what, lora_config *cfg);
cJSON *ia3_config_to_json(const lora_config *cfg, const char *task_type);
/* task_type NULL: the config's own (null when it has none). */
cJSON *lora_config_to_json(const lora_config *cfg, const char *task_type);
/* Whether a store tensor is a LoRA factor ("....query.lora_A.weight"); `unused` lets it serve as a
 * store_remove_matching predicate. */
bool lora_is_tensor(const char *name, const char *unused);
/* Whether a store tensor is a LoRA factor of the LoRA named `lora`. */
bool lora_tensor_of(const char *name, const char *lora);
/* The store name of factor `factor` ("lora_A" / "lora_B") of LoRA `lora` after "<module>.". */
void lora_factor_name(const char *lora, const char *factor, char *out, size_t size);
/* The store name of LoRA `lora`'s DoRA magnitude after "<module>.": "lora_magnitude_vector" (the
 * files' and PEFT's default adapter's), "lora_magnitude_vector.<lora>" for another name. */
#define LORA_MAGNITUDE "lora_magnitude_vector"
void lora_magnitude_name(const char *lora, char *out, size_t size);
/* A LoRA name: 1-63 letters, digits, '_' or '-' (it becomes part of tensor names). */
adapt_status lora_check_name(const char *name);

/* lora_patterns.c: PEFT's per-module settings. rank_pattern, alpha_pattern (objects),
 * layers_to_transform (an index or a list) and layers_pattern (a name or a list) read from the
 * config (`what` names it in errors) and written back. */
adapt_status lora_patterns_from_json(const cJSON *root, const char *what, lora_config *cfg);
void lora_patterns_to_json(const lora_config *cfg, cJSON *root);
/* A module as PEFT's config reads it (check_target_module_exists, get_pattern_key), its name as
 * the file saw it (without "bert." when names_without_root): targeted by target_modules (a regex
 * matching the whole name, an exact name, or a suffix after a '.', the latter filtered by
 * layers_to_transform: the number after "<layers_pattern>.", any name without one) unless
 * exclude_modules names it (a full-match regex, an exact name or a suffix after a '.'), its rank and
 * lora_alpha from the first rank_pattern / alpha_pattern key matching "(.*\.)?(key)", else the
 * config's. Fails when a regular expression cannot be matched (PCRE2's match limit: a key that
 * backtracks without end). */
typedef struct lora_module_settings {
    bool targeted;
    bool scales_input;                     /* (IA)^3: a feedforward_modules entry names it */
    int r;
    double alpha;
} lora_module_settings;
adapt_status lora_module_settings_of(const lora_config *cfg, const char *module_name, lora_module_settings *out);

/* Adds a LoRA named `name` to the model: create = true makes fresh A/B (trainable), false binds A/B
 * already in the store (loaded from a file). The model's first LoRA becomes the active one
 * (m->lora); later ones are loaded inactive, as PEFT's load_adapter does. *out: the new state. */
adapt_status lora_attach(adapt_model *m, const lora_config *cfg, const char *name, bool create, uint64_t *rng,
                         lora_state **out);
void lora_state_free(lora_state *s);

/* lora_combine.c: a new LoRA `name` from n loaded ones with weights (PEFT's add_weighted_adapter,
 * every combination type; adapt.h describes them), frozen and loaded inactive; nothing changes
 * when it fails. lora_add_weighted: the type's defaults. */
adapt_status lora_combine(adapt_model *m, const char *const *names, const double *weights, int n, const char *name,
                          const adapt_lora_combination *how);
adapt_status lora_add_weighted(adapt_model *m, const char *const *names, const double *weights, int n, const char *name,
                               const char *combination);

/* lora_registry.c: the model's named LoRAs. */
lora_state *lora_find(const adapt_model *m, const char *name);
/* Makes `name` the active LoRA (NULL: none, the base model), swapping modules_to_save values;
 * refused while the active one is merged. */
adapt_status lora_activate(adapt_model *m, const char *name);
/* Removes a LoRA, its tensors and its modules_to_save copies; deleting the active one activates
 * the first remaining LoRA, as PEFT's delete_adapter does (none left: the base model). */
adapt_status lora_delete(adapt_model *m, const char *name);
/* Binds the "peft.<name>.<tensor>" copies a load staged to the model's tensors: each must be a
 * base-model tensor of the same shape held in fp32, or the HF classifier (created when the model
 * has none); all are checked before anything is created. The base values are kept once. */
adapt_status lora_bind_modules(adapt_model *m, lora_state *s, const char *file);
void lora_free_all(adapt_model *m);
/* Saving writes the active LoRA's factors: refused with none active or while it is merged. */
adapt_status lora_check_savable(const adapt_model *m);
/* Takes LoRA `lora`'s factors and modules_to_save copies out of the store (its state is gone). */
void lora_remove_tensors(adapt_model *m, const char *lora);
/* Runs `run` with LoRA `name` active (NULL: none), the active LoRA as it was afterwards. */
adapt_status lora_while_active(adapt_model *m, const char *name, adapt_status (*run)(adapt_model *m, void *ctx), void *ctx);
/* Runs `run` with the base values in the model's tensors: an unmerged active LoRA with
 * modules_to_save is switched off around it (saving the base model writes the base's values; a
 * merged LoRA's values are part of the merged model, as in PEFT's merge_and_unload). */
adapt_status lora_with_base_values(adapt_model *m, adapt_status (*run)(adapt_model *m, void *ctx), void *ctx);
/* The first modules_to_save tensor of `s` inside the encoder ("<prefix>." names), or NULL: such a
 * tensor exists once, so only the active LoRA's rows can use it. */
const char *lora_encoder_module(const adapt_model *m, const lora_state *s);
/* Whether a store tensor is LoRA `lora`'s modules_to_save copy ("peft.<lora>.<tensor>"). */
bool lora_staged_by(const char *tensor, const char *lora);

/* Every module a LoRA may target, numbered j = 0 .. lora_module_count(m) - 1: layer j / LIN_COUNT's
 * linear j % LIN_COUNT, then the embedding tables. lora_module_path writes its full name
 * ("bert.encoder.layer.0.attention.self.query", "bert.embeddings.word_embeddings") and returns its
 * length; lora_state_has says whether LoRA s adapts it. */
int lora_module_count(const adapt_model *m);
int lora_module_path(const adapt_model *m, int j, char *out, size_t size);
bool lora_state_has(const lora_state *s, int j);
/* The active LoRA's pair on layer l's linear `which` while it applies there (unmerged), else NULL. */
const lora_pair *lora_active_pair(const adapt_model *m, int l, lora_linear which);
/* s = lora_alpha / r (rsLoRA: lora_alpha / sqrt(r)). */
float lora_scaling(double alpha, int r, bool rslora);
/* A tensor a load put in the store, bound to a targeted module ("<prefix><suffix>"): a missing one
 * or one of another shape is told by the module's label ("layer 0 attention.self.query") and the
 * tensor's role ("lora_A ([r, in])"), not by the store's internal name. d1 0: a vector [d0]. */
adapt_status lora_bind_loaded(adapt_model *m, const char *prefix, const char *suffix, const char *module, const char *role, int64_t d0,
                              int64_t d1, param **out);

/* lora_embedding.c: LoRA on the embedding tables (PEFT's lora.Embedding): E[id] + s B A[:, id],
 * A [r, num_embeddings] from zeros, B [dim, r] from N(0, 1) as PEFT starts them. attach adds (or
 * binds, create false) the pairs of the tables the config targets, counting them in *attached. */
param *lora_embedding_table(const adapt_model *m, lora_embedding which);
bool lora_has_embedding(const lora_state *s);
adapt_status lora_embedding_attach(adapt_model *m, lora_state *s, bool create, uint64_t *rng, int *attached);
/* out [N, dim] (the embeddings' sum before LayerNorm) += each row's s B A[:, id], the active
 * LoRA's, or each row group's own in a mixed-LoRA pass. */
void lora_embedding_forward(adapt_model *m, float *out);
/* Whether the active LoRA trains an embedding pair (backward then reaches the embeddings). */
bool lora_embedding_trainable(const adapt_model *m);
/* A's and B's gradients from d_out, the gradient of the embeddings' sum. */
void lora_embedding_backward(adapt_model *m, const float *d_out);
/* Refused (fp32 tables only) before anything is merged; then E += sign s (B A)^T. */
adapt_status lora_embedding_check(const adapt_model *m, const lora_state *s, const char *what);
void lora_embedding_merge(adapt_model *m, const lora_state *s, float sign);

/* The weight and bias of one of a layer's linear layers. */
param *linear_weight(encoder_layer *L, lora_linear which);
param *linear_bias(encoder_layer *L, lora_linear which);

/* y[N,out] += s * B (A x); *ax_out receives A x [N,r] (arena) for backward. */
adapt_status lora_forward(arena *a, float *y, float **ax_out, const float *x, const lora_pair *p, float s, int N);
/* From dy: A's and B's gradients, and d_x += s A^T B^T dy when d_x != NULL. */
adapt_status lora_backward(arena *a, float *d_x, const float *dy, const float *ax, const float *x, const lora_pair *p, float s, int N);

/* (IA)^3 of a feedforward module: the N rows of x [N, in] times s l per column, into xs. */
void ia3_scale_input(float *xs, const float *x, const lora_pair *p, float s, int N);
/* Its backward: from d_xs (the layer's input gradient, taken at x * s l) l's gradient
 * s sum over rows of d_xs * x, and d_x += s l d_xs (d_x NULL: none wanted). */
void ia3_input_backward(const lora_pair *p, float s, float *d_x, const float *d_xs, const float *x, int N);

/* (IA)^3's forward on the N rows of y = W x + b: y *= s l per output; *kept (optional) receives
 * the rows before (arena), which backward needs. */
adapt_status ia3_forward(arena *a, float *y, float **kept, const lora_pair *p, float s, int N);
/* Backward, before the layer's: l's gradient s sum over rows of dy * kept, and dy *= s l in place
 * (the gradient of W x + b, which the layer's backward then takes). */
void ia3_backward(const lora_pair *p, float s, float *dy, const float *kept, int N);

/* ia3.c: PEFT's IA3 add_weighted_adapter: a new frozen (IA)^3 `name` whose l per module is the
 * weighted sum of the inputs' s l that have the module (alpha 1; loaded inactive). */
adapt_status ia3_combine(adapt_model *m, lora_state *const *in, const double *weights, int n, const char *name);

/* (IA)^3's merge: W and b rows times s l (input scaling: W's columns) and back; refused when some
 * s l is zero (no way back). */
adapt_status ia3_merge(adapt_model *m, lora_state *s, bool want_merged);

/* W += s B A for every pair (merge) or W -= s B A (unmerge); DoRA: W = c (W + s B A) and back;
 * (IA)^3: W and b rows times s l and back (refused when some s l is zero: no way back). */
adapt_status lora_merge(adapt_model *m);
adapt_status lora_unmerge(adapt_model *m);

/* dora.c. DoRA's output, PEFT's: y = c (W x + s B A x) + b with c = m / ||W + s B A|| per output
 * row, the norm taken as a constant (the paper's section 4.3). dora_scale computes c [out]; */
adapt_status dora_scale(const param *W, const lora_pair *p, float s, float *c);
/* A new DoRA's m: the row norms of W + s B A (of W, B being zero), as PEFT starts it. */
adapt_status dora_init_magnitude(const param *W, lora_pair *p);
/* dora_rescale turns the N rows of y = W x + b + s B A x into DoRA's output (b: the layer's bias). */
adapt_status dora_rescale(const param *W, const param *b, const lora_pair *p, float s, float *y, int N);
/* Backward, before the layer's and the LoRA's: from dy [N,out], x [N,in] and A x [N,r] adds m's
 * gradient, sum over rows of dy (W x + s B A x) / ||W + s B A||, and turns dy into c dy, the
 * gradient of W x + s B A x that the base and LoRA backward then take (the norm a constant). */
adapt_status dora_backward(arena *a, const param *W, const lora_pair *p, float s, float *dy, const float *x, const float *ax, int N);

#endif
