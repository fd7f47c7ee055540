/* Operations on loaded adapters (AdapterHub's model.average_adapter, inspection for
 * `adapt adapters list`): parameter counts, readable config / location summaries, and the linear
 * average of adapters that share a config. Deleting is setup_delete_adapter (adapters/setup.h);
 * renaming is load_as on load (formats/adapterhub.h). */
#ifndef ADAPT_ADAPTERS_OPS_H
#define ADAPT_ADAPTERS_OPS_H
#include "adapters/setup.h"
#include "model/heads.h"

/* Parameters of adapter `name`: its bottleneck blocks in every layer and its invertible adapter. */
size_t adapter_param_count(const adapt_model *m, const char *name);
/* Parameters of the base model (the checkpoint's tensors, before any adapter or head). */
size_t model_base_param_count(const adapt_model *m);

/* "seq_bn, reduction_factor 4 (bottleneck 8), relu" and the like: the family (seq_bn,
 * double_seq_bn, par_bn, +inv) then the keys that differ between adapters most often. */
void adapter_config_summary(const bn_config *cfg, int hidden, char *buf, size_t size);
/* "prefix_tuning, prefix_length 30, bottleneck 512, tanh". */
void prefix_config_summary(const prefix_config *c, char *buf, size_t size);
/* "output: layers 0-11; attention.output: layers 0-5, 7" (leave_out shows as gaps). */
void adapter_locations_summary(const adapt_model *m, const adapter_def *a, char *buf, size_t size);

/* Creates adapter `name` = sum_i w_i * sources[i] with w normalised to sum 1 (weights NULL: equal),
 * as AdapterHub's average_adapter(combine_strategy="linear", normalize_weights=True). Every source
 * must have the same config, and all or none their own LayerNorms (adapters/ln_copies.h; averaged
 * too); the weights must be finite with a non-zero sum. The new adapter is frozen and not activated. */
adapt_status adapters_average(adapt_model *m, const char *name, const char *const *sources, const double *weights, int n);

/* The same for heads of one kind and label count: `out` is created as `name` in the model. */
adapt_status heads_average(adapt_model *m, head *out, const char *name, const head *const *sources, const double *weights,
                           int n);

#endif
