/* Prefix tuning (Li & Liang 2021) with the semantics and file layout of AdapterHub `adapters`:
 * every layer's self-attention attends to prefix_length extra keys and values ahead of the
 * sequence's own, always (no padding mask). They come from one module per adapter: an embedding
 * wte [P, H] through a bottleneck MLP (Linear H -> bottleneck, non-linearity, Linear -> L' * 2 * H,
 * L' = the layers not left out), or with flat: true from a parameter control_trans of
 * P * L' * 2 * H floats. Row p of the output holds, for the i-th layer with a prefix, its key at
 * columns [2i H, (2i+1) H) and its value at [(2i+1) H, (2i+2) H), heads side by side as in the
 * key projection. Tensors: "<base>.prefix_tuning.prefix_tunings.<name>.self_prefix.*". */
#ifndef ADAPT_ADAPTERS_PREFIX_TUNING_H
#define ADAPT_ADAPTERS_PREFIX_TUNING_H
#include "adapt.h"
#include "core/arena.h"
#include "core/store.h"
#include "formats/hf_config.h"
#include <cjson/cJSON.h>

#define PREFIX_MAX_LEAVE_OUT 128
#define PREFIX_MAX_VALUES (1 << 24)  /* keys and values of one module (P x layers x 2 x H) */
#define PREFIX_MAX_WEIGHT (1 << 28)  /* its MLP's output layer */

/* PrefixTuningConfig ("config" of adapter_config.json, architecture "prefix_tuning"). */
typedef struct prefix_config {
    int prefix_length, bottleneck_size;
    activation_kind non_linearity;
    char non_linearity_name[32];
    bool flat;
    double dropout;                 /* on the keys and values; training with dropout > 0 is refused */
    bool encoder_prefix, cross_prefix, shared_gating; /* kept for the file: no effect on an encoder */
    int n_leave_out;
    int leave_out[PREFIX_MAX_LEAVE_OUT];
    bool has_init_weights_seed;
    long long init_weights_seed;
    /* Loaded from PEFT (formats/peft_prefix.h): transformers then counts the prefix as past tokens,
     * so the sequence's positions start at prefix_length (BERT: t + P; RoBERTa: non-pad positions
     * + P). Not an AdapterHub config: such an adapter is not saved in AdapterHub's layout. */
    bool peft_positions;
} prefix_config;

typedef struct prefix_weights {
    param *wte, *w0, *b0, *w2, *b2; /* the MLP (flat: false) */
    param *flat;                    /* control_trans (flat: true) */
    int n_slots;                    /* layers with a prefix */
    int *slot;                      /* per layer: its index among them, -1 when left out */
    int length, hidden;
} prefix_weights;

/* What a forward pass keeps of one prefix module: its keys and values [P, n_slots * 2 * H] and,
 * for backward, the MLP's hidden rows and the gradient it accumulates into. */
typedef struct prefix_cache {
    const float *kv;
    float *pre, *act;               /* [P, bottleneck] (MLP only) */
    float *d_kv;                    /* NULL unless the module is trained (flat: the tensor's gradient itself) */
} prefix_cache;

void prefix_config_defaults(prefix_config *c);
/* Whether an AdapterHub config object (architecture "prefix_tuning") is a prefix tuning; named
 * configs are strings (prefix_config_is_prefix_string). */
bool prefix_config_is_prefix_json(const cJSON *config);
/* Whether a config string ("prefix_tuning", "prefix_tuning_flat[prefix_length=10]") names one. */
bool prefix_config_is_prefix_string(const char *s);
/* has_version: as bn_config_from_json's (files without "version" map the old "gelu" names). */
adapt_status prefix_config_from_json(const cJSON *config, const char *what, bool has_version, prefix_config *out);
adapt_status prefix_config_parse_string(const char *s, prefix_config *out);
/* Every key PrefixTuningConfig writes, sorted as the library sorts them. */
cJSON *prefix_config_to_json(const prefix_config *c);

/* The tensors under `prefix` ("<base>.prefix_tuning.prefix_tunings.<name>.self_prefix"): made
 * (initialised as torch does: wte and flat N(0, 1), the Linears kaiming-uniform) or bound. */
adapt_status prefix_weights_make(param_store *s, const char *prefix, const prefix_config *c, int layers, int hidden,
                                 bool create, uint64_t *rng, prefix_weights *w);
void prefix_weights_free(prefix_weights *w);
bool prefix_weights_use(const prefix_weights *w, const param *p);
bool prefix_weights_trainable(const prefix_weights *w);

/* The keys and values (MLP forward or the flat tensor); d_kv allocated (zeroed) when the pass is
 * for_backward and the module is trained. */
adapt_status prefix_forward(arena *a, const prefix_weights *w, const prefix_config *c, bool for_backward, prefix_cache *out);
/* The weights' gradients from cache->d_kv (nothing when it is NULL). */
adapt_status prefix_backward(arena *a, const prefix_weights *w, const prefix_config *c, const prefix_cache *cache);
/* One layer's keys / values [P, H] (to `k`, `v` at row `row0` of [*, H] buffers), and the way back. */
void prefix_layer_rows(const prefix_weights *w, const prefix_cache *cache, int layer, float *k, float *v, int row0);
void prefix_layer_grads(const prefix_weights *w, prefix_cache *cache, int layer, const float *dk, const float *dv, int row0);

#endif
