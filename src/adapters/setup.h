/* The adapters, fusions and active composition of a model (AdapterHub's "adapter setup").
 * Adapters keep their tensors in the model's parameter store under AdapterHub names; this registry
 * binds them per layer and sublayer, and parses composition strings such as
 * "Stack(qu, Fuse(sst2, cola, mrpc))". */
#ifndef ADAPT_ADAPTERS_SETUP_H
#define ADAPT_ADAPTERS_SETUP_H
#include "adapters/bn_config.h"
#include "adapters/bottleneck.h"
#include "adapters/fusion.h"
#include "adapters/invertible.h"
#include "adapters/adapter_spec.h"
#include "model/model.h"

#define ADAPTER_NAME_MAX 64
#define FUSION_MAX_ADAPTERS 16

typedef struct adapter_def {
    char name[ADAPTER_NAME_MAX];
    bn_config cfg;
    bn_weights *attn, *out;  /* per layer; valid where has_attn / has_out */
    bool *has_attn, *has_out;
    bool has_inv;
    nice_weights inv;
    bool has_ln_copies;      /* its own LayerNorms at its points (adapters/ln_copies.h) */
    /* What its config describes (adapters/adapter_spec.h): a bottleneck adapter (has_bn), a prefix
     * tuning (has_prefix, adapters/prefix_tuning.h), or both (a ConfigUnion such as "mam").
     * Without has_bn, cfg has no points and the composition passes the adapter by at them. */
    bool has_bn, has_prefix, prefix_first;
    prefix_config prefix;
    prefix_weights prefix_w;
} adapter_def;

typedef struct fusion_def {
    char name[FUSION_MAX_ADAPTERS * (ADAPTER_NAME_MAX + 1)]; /* "a,b,c" as AdapterHub names it */
    int n;
    char adapters[FUSION_MAX_ADAPTERS][ADAPTER_NAME_MAX];
    fusion_config cfg;
    fusion_weights *attn, *out;
    bool *has_attn, *has_out;
    double temperature;
} fusion_def;

typedef enum comp_kind { COMP_SINGLE, COMP_STACK, COMP_FUSE, COMP_BATCHSPLIT, COMP_AVERAGE, COMP_PARALLEL, COMP_SPLIT } comp_kind;

typedef struct comp_node {
    comp_kind kind;
    char name[ADAPTER_NAME_MAX];     /* COMP_SINGLE */
    int n;
    struct comp_node **children;
    int *batch_sizes;                /* COMP_BATCHSPLIT: rows (sequences) per child */
    double *weights;                 /* COMP_AVERAGE: normalised weights */
    int *splits;                     /* COMP_SPLIT: tokens per child (n values), or n_splits == 1 with
                                      * two children: the legacy split index (first k tokens, then the rest) */
    int n_splits;
} comp_node;

typedef struct adapter_setup {
    adapter_def *adapters;
    int n_adapters, cap_adapters;
    fusion_def *fusions;
    int n_fusions, cap_fusions;
    comp_node *active;               /* NULL: adapters are loaded but not used */
    /* A mixed batch (adapters/mixed_batch.c, inference only): the batch's rows in n_routes groups,
     * group g (route_rows[g] sequences, in order) run as if route_roots[g] were the active
     * composition. n_routes 0: the active composition for every row. */
    const comp_node *const *route_roots;
    const int *route_rows;
    int n_routes;
    uint64_t rng;                    /* weight initialisation */
} adapter_setup;

/* "<base>.encoder.layer.<layer>.<output|attention.output>.adapters.<name>": where an adapter's
 * tensors at one point are named. */
void setup_adapter_prefix(const adapt_model *m, int layer, bool attention, const char *name, char *buf, size_t size);

/* The model's registry, created on first use. */
adapt_status model_setup(adapt_model *m, adapter_setup **out);
void setup_free(adapter_setup *s);

/* Adds an adapter: create = true makes fresh tensors (AdapterHub init), false binds tensors that
 * are already in the store (loaded from a file): each one the config needs, and no other tensor of
 * that name. On failure the adapter's tensors are removed from the store. The same for fusions. */
adapt_status setup_add_adapter(adapt_model *m, const char *name, const bn_config *cfg, bool create);
adapt_status setup_add_fusion(adapt_model *m, const char *const *names, int n, const fusion_config *cfg, bool create);
/* The same for any adapter config: bottleneck, prefix tuning or their union. */
adapt_status setup_add_adapter_spec(adapt_model *m, const char *name, const adapter_spec *spec, bool create);
/* A new adapter (fresh tensors) from a config string (adapter_spec_parse_string): "seq_bn[...]",
 * "prefix_tuning[prefix_length=10]", "prefix_tuning_flat", "mam", "prefix_tuning|par_bn". */
adapt_status setup_add_adapter_from_string(adapt_model *m, const char *name, const char *config);
/* An adapter's config back as a spec (for saving and comparing). */
void setup_adapter_spec(const adapter_def *a, adapter_spec *out);
/* "<base>.prefix_tuning.prefix_tunings.<name>.self_prefix": where a prefix tuning's tensors are named. */
void setup_prefix_tuning_prefix(const adapt_model *m, const char *name, char *buf, size_t size);
/* Prefix tunings run alone or inside Stacks (from the root): elsewhere (Fuse, Average, BatchSplit,
 * Parallel, Split) they are refused, by name. */
adapt_status setup_check_prefix_placement(const adapter_setup *s, const comp_node *root);
/* Fails when `name` is no valid adapter name or is already loaded (check before loading a file's
 * tensors under that name, which would overwrite the loaded adapter's). */
adapt_status setup_check_new_adapter_name(const adapt_model *m, const char *name);

/* adapters/setup_tensors.c: the store tensors of an adapter / a fusion ("a,b,c"), their removal,
 * and the check that each one is bound by the adapter's (fusion's) blocks. */
bool setup_tensor_of_adapter(const char *tensor, const char *name);
bool setup_tensor_of_fusion(const char *tensor, const char *fusion_name);
void setup_remove_adapter_tensors(adapt_model *m, const char *name);
void setup_remove_fusion_tensors(adapt_model *m, const char *fusion_name);
adapt_status setup_check_adapter_tensors(const adapt_model *m, const adapter_def *a);
adapt_status setup_check_fusion_tensors(const adapt_model *m, const fusion_def *f);
/* Removes an adapter (and its tensors) from the model. */
adapt_status setup_delete_adapter(adapt_model *m, const char *name);
adapter_def *setup_find_adapter(const adapter_setup *s, const char *name);
fusion_def *setup_find_fusion(const adapter_setup *s, const char *const *names, int n);

/* Parses and activates a composition ("ner", "Stack(en, ner)", "Fuse(a, b, c)",
 * "BatchSplit(x, y, batch_sizes=[2, 1])", "Average(a, b, weights=[0.3, 0.7])", "Parallel(a, b)",
 * "Split(a, b, splits=[3, 5])"). Every adapter
 * (and fusion) it names must exist. NULL or "" deactivates. */
adapt_status setup_activate(adapt_model *m, const char *composition);
adapt_status comp_parse(const char *text, comp_node **out);
void comp_free(comp_node *n);
/* Writes the composition back as text. */
void comp_format(const comp_node *n, char *buf, size_t size);
/* The number of channels of the composition's Parallel block (at the root or inside the root's
 * Stacks, where the library allows it), 1 without one. With n > 1 the model replicates the input
 * batch n times (see model_forward_channels): rows [c*B, (c+1)*B) are channel c. */
int comp_parallel_channels(const comp_node *n);
/* Whether every row of a batch goes through the composition on its own: no BatchSplit (rows given
 * to children by position) and no Parallel (rows replicated into channels) anywhere in it. */
bool comp_rows_independent(const comp_node *n);
/* The first adapter of a composition (the one whose invertible adapter is used). */
const char *comp_first(const comp_node *n);

/* The adapter whose invertible adapter runs on the embeddings: the first adapter of the active
 * composition, when it has one (AdapterHub uses only that one). NULL otherwise. */
const adapter_def *setup_invertible(const adapt_model *m);
/* The same for a composition `root` (NULL: none). */
const adapter_def *setup_invertible_of(const adapt_model *m, const comp_node *root);
/* Fails unless every adapter and fusion the composition names is loaded. */
adapt_status setup_check_composition(const adapt_model *m, const comp_node *root);

/* Marks every tensor of an adapter (or fusion) trainable or frozen. */
adapt_status setup_set_adapter_trainable(adapt_model *m, const char *name, bool trainable);
adapt_status setup_set_fusion_trainable(adapt_model *m, fusion_def *f, bool trainable);

#endif
