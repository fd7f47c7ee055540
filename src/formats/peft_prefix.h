/* PEFT's prefix tuning folders (peft_type "PREFIX_TUNING": adapter_config.json +
 * adapter_model.safetensors holding "prompt_embeddings" [num_virtual_tokens, num_layers * 2 *
 * token_dim]). PEFT reshapes them exactly as AdapterHub reshapes a flat prefix tuning
 * (view(P, layers * 2, heads, head_dim), permute, split in key / value pairs), with a prefix on every
 * layer and always attended: such a folder loads as a prefix_tuning_flat adapter, and a prefix
 * tuning without leave_out saves as one (its keys and values: the MLP's output, as PEFT's own saves
 * of a prefix_projection model hold). */
#ifndef ADAPT_FORMATS_PEFT_PREFIX_H
#define ADAPT_FORMATS_PEFT_PREFIX_H
#include "model/model.h"
#include <cjson/cJSON.h>

/* Whether an adapter_config.json is PEFT's prefix tuning. */
bool peft_prefix_config(const cJSON *root);
/* Loads dir (its parsed adapter_config.json: root) as adapter `name`; `what` names the config file. */
adapt_status peft_prefix_load(adapt_model *m, const char *dir, const cJSON *root, const char *what, const char *name);
/* Saves prefix tuning `name` in PEFT's layout; a head h (NULL: none) goes along as Hugging Face's
 * head in modules_to_save, as for LoRAs (formats/peft.h), and sets task_type. */
struct head;
adapt_status peft_prefix_save(adapt_model *m, const char *name, const char *dir, const struct head *h);

#endif
