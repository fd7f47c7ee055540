/* BnConfig: the architecture of a bottleneck adapter, with the semantics and the file layout of
 * AdapterHub `adapters` 1.2 (the "config" object of adapter_config.json). Keys that only matter to
 * features adapt does not implement (PHM/Compacter layers, gating) are kept so a config read from a
 * file is written back unchanged, and a file written here loads in the Python library. */
#ifndef ADAPT_ADAPTERS_BN_CONFIG_H
#define ADAPT_ADAPTERS_BN_CONFIG_H
#include "adapt.h"
#include "formats/hf_config.h"
#include <cjson/cJSON.h>

#define BN_MAX_LAYER_ENTRIES 128 /* per-layer reduction factors and leave_out entries */

typedef enum bn_residual_mode {
    BN_RESIDUAL_AFTER_LN = 0,  /* residual_before_ln: false */
    BN_RESIDUAL_BEFORE_LN = 1, /* true: residual taken from the sub-layer output before the add & LN */
    BN_RESIDUAL_POST_ADD = 2   /* "post_add": residual taken after the add, before the LN */
} bn_residual_mode;

typedef enum bn_scaling_kind {
    BN_SCALING_FIXED,   /* a number */
    BN_SCALING_LEARNED, /* one trainable scalar ".scaling" [1], initialised to 1 */
    BN_SCALING_CHANNEL  /* trainable vector ".scaling" [H], initialised to 1 */
} bn_scaling_kind;

typedef enum bn_init_kind { BN_INIT_BERT, BN_INIT_HOULSBY, BN_INIT_MAM } bn_init_kind;
typedef enum bn_inv_kind { BN_INV_NONE, BN_INV_NICE } bn_inv_kind;

typedef struct bn_config {
    bool mh_adapter, output_adapter;
    /* reduction_factor: a number, or a map {"<layer>": rf, ..., "default": rf}. */
    bool rf_is_map;
    double reduction_factor;           /* the number, or the map's "default" (0 when it has none) */
    int n_rf_layers;
    int rf_layer[BN_MAX_LAYER_ENTRIES];
    double rf_value[BN_MAX_LAYER_ENTRIES];
    activation_kind non_linearity;
    char non_linearity_name[32];       /* spelling written back to the file (e.g. "swish") */
    bool original_ln_before, original_ln_after;
    bn_residual_mode residual_before_ln;
    bool adapter_residual_before_ln, ln_before, ln_after;
    bn_scaling_kind scaling_kind;
    double scaling;                    /* the factor when BN_SCALING_FIXED */
    bn_init_kind init_weights;
    bool has_init_weights_seed;
    long long init_weights_seed;
    double dropout;
    int n_leave_out;
    int leave_out[BN_MAX_LAYER_ENTRIES];
    bool is_parallel;
    bn_inv_kind inv_adapter;
    double inv_adapter_reduction_factor; /* 0 when null */
    /* Carried for the file only (adapt refuses phm_layer / use_gating = true). */
    bool use_gating, cross_adapter, phm_layer;
    int phm_dim, phm_rank;
    bool factorized_phm_W, shared_W_phm, shared_phm_rule, factorized_phm_rule, learn_phm, phm_bias;
    char phm_c_init[16], hypercomplex_nonlinearity[24];
    double phm_init_range, stochastic_depth; /* stochastic_depth: training-only DropPath, not applied */
} bn_config;

/* BnConfig defaults (mh/output adapter off, rf 16, relu): the base the named configs modify. */
void bn_config_defaults(bn_config *out);

/* Parses the "config" object of adapter_config.json. Files without a "version" key come from
 * older releases, where "gelu" meant the tanh approximation: pass has_version = false to map
 * "gelu" -> gelu_new and "gelu_orig" -> gelu as the adapters library does. */
adapt_status bn_config_from_json(const cJSON *config_obj, const char *what, bool has_version, bn_config *out);

/* Named configs: seq_bn / pfeiffer, double_seq_bn / houlsby, par_bn / parallel,
 * scaled_par_bn / scaled_parallel, seq_bn_inv / pfeiffer+inv, double_seq_bn_inv / houlsby+inv,
 * optionally followed by overrides: "seq_bn[reduction_factor=8,non_linearity=gelu]". Values are
 * numbers, true/false (or True/False), null/None, strings (quotes optional), [lists], {maps}. */
adapt_status bn_config_parse_string(const char *s, bn_config *out);

/* The full "config" object with every key AdapterHub 1.2 writes (sorted as it sorts them). */
cJSON *bn_config_to_json(const bn_config *cfg);

/* Reduction factor for one layer (the map entry, else its default). */
double bn_reduction_factor(const bn_config *cfg, int layer);
/* max(1, int(hidden // rf)), Python float floor division. */
int bn_bottleneck_dim(const bn_config *cfg, int layer, int hidden);
/* NICE subnet width: int(half // inv_adapter_reduction_factor). */
int bn_inv_dim(const bn_config *cfg, int half);
/* Whether the adapter sits after the attention output (attention_output) or the FFN output of
 * `layer`, honouring mh_adapter / output_adapter and leave_out. */
bool bn_config_has_location(const bn_config *cfg, int layer, bool attention_output);

#endif
