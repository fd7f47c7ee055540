/* Prefix tunings in a forward / backward pass: which ones the active composition runs (alone or
 * in Stacks), their keys and values computed once per pass, each layer's rows for the attention,
 * and the gradients back to their weights. */
#ifndef ADAPT_ADAPTERS_PREFIX_SETUP_H
#define ADAPT_ADAPTERS_PREFIX_SETUP_H
#include "adapters/setup.h"
#include "model/layers.h"

#define PREFIX_MAX_ACTIVE 16

typedef struct prefix_pass {
    int n;
    const adapter_def *defs[PREFIX_MAX_ACTIVE];
    prefix_cache caches[PREFIX_MAX_ACTIVE];
} prefix_pass;

/* Sets m->fw.prefix for this pass (NULL when the composition runs no prefix tuning). */
adapt_status prefix_pass_begin(adapt_model *m);
/* Layer l's prefix rows (out->len 0: none), kept in the layer's cache when backward may need them. */
adapt_status prefix_pass_layer(adapt_model *m, int l, attention_prefix *out);
/* Backward: layer l's prefix as forward had it, with zeroed dk / dv when a prefix is trained;
 * then its gradients into the modules' d_kv; at the end, the modules' weights. */
adapt_status prefix_pass_layer_backward(adapt_model *m, int l, attention_prefix *out);
void prefix_pass_layer_grads(adapt_model *m, int l, const attention_prefix *ap);
adapt_status prefix_pass_backward(adapt_model *m);
/* The lowest layer a trained prefix reaches (-2: none is trained). */
int prefix_pass_lowest_trained_layer(const adapt_model *m);
bool prefix_pass_layer_trained(const adapt_model *m, int l);

#endif
