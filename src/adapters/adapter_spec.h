/* What an AdapterHub adapter config describes: a bottleneck adapter (BnConfig), a prefix tuning
 * (PrefixTuningConfig), or their union (ConfigUnion, architecture "union"; "mam" is the library's
 * Mix-and-Match: prefix_tuning[bottleneck_size=800] | par_bn). One adapter name then holds both
 * kinds of tensors. Unions of two bottleneck configs, or with LoRA / prompt tuning, are refused. */
#ifndef ADAPT_ADAPTERS_ADAPTER_SPEC_H
#define ADAPT_ADAPTERS_ADAPTER_SPEC_H
#include "adapters/bn_config.h"
#include "adapters/prefix_tuning.h"

typedef struct adapter_spec {
    bool has_bn, has_prefix;
    bool prefix_first;     /* a union's order in the file: [prefix, bottleneck] (MAM's) or the reverse */
    bn_config bn;          /* BnConfig defaults (no points) without a bottleneck part */
    prefix_config prefix;
} adapter_spec;

/* The "config" of adapter_config.json (an object or a name); has_version as bn_config_from_json's. */
adapt_status adapter_spec_from_json(const cJSON *config, const char *what, bool has_version, adapter_spec *out);
/* "seq_bn[reduction_factor=8]", "prefix_tuning[prefix_length=10]", "mam", and unions
 * "prefix_tuning[bottleneck_size=64]|par_bn" as the library's AdapterConfig.load reads them. */
adapt_status adapter_spec_parse_string(const char *s, adapter_spec *out);
/* The config object as the library writes it (a union: {"architecture": "union", "configs": [...]}). */
cJSON *adapter_spec_to_json(const adapter_spec *s);

#endif
