/* PEFT's prefix tuning folders (peft_type "PREFIX_TUNING": adapter_config.json +
 * adapter_model.safetensors holding "prompt_embeddings" [num_virtual_tokens, num_layers * 2 *
 * token_dim], with or without prefix_projection). PEFT reshapes them as AdapterHub reshapes a flat
 * prefix tuning (view(P, layers * 2, heads, head_dim), permute, split in key / value pairs), a
 * prefix on every layer, always attended; but it hands them to transformers as past_key_values,
 * which BERT and RoBERTa count as P earlier tokens: the sequence's position ids start at P. Such a
 * folder loads as a prefix_tuning_flat adapter with those positions (prefix_config.peft_positions). */
#ifndef ADAPT_FORMATS_PEFT_PREFIX_H
#define ADAPT_FORMATS_PEFT_PREFIX_H
#include "model/model.h"
#include <cjson/cJSON.h>

/* Whether an adapter_config.json is PEFT's prefix tuning. */
bool peft_prefix_config(const cJSON *root);
/* Loads dir (its parsed adapter_config.json: root) as adapter `name`; `what` names the config file. */
adapt_status peft_prefix_load(adapt_model *m, const char *dir, const cJSON *root, const char *what, const char *name);

#endif
