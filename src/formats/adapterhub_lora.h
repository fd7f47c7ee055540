/* AdapterHub's LoRA folders (the `adapters` library's LoRAConfig, architecture "lora"):
 * adapter_config.json {"config": {...}, "name", "hidden_size", ...} + adapter.safetensors with
 * "<prefix>.encoder.layer.N.<module>.loras.<name>.lora_A" [r, in] and ".lora_B" [out, r].
 * Its LoRA is PEFT's, y = W x + b + (alpha / r) B A x, on the modules its flags pick:
 * selfattn_lora with attn_matrices "q" / "k" / "v" (attention.self.query / key / value),
 * intermediate_lora (intermediate.dense), output_lora (the FFN's output.dense), in every layer
 * not in leave_out. It loads as a LoRA whose target_modules is the regular expression naming
 * exactly those modules, so merging, switching, mixed batches and saving as PEFT apply. */
#ifndef ADAPT_FORMATS_ADAPTERHUB_LORA_H
#define ADAPT_FORMATS_ADAPTERHUB_LORA_H
#include "adapters/lora.h"

/* Whether an adapter_config.json root is an AdapterHub LoRA's ("config" with architecture "lora",
 * or the config strings "lora" / "ia3"). */
bool adapterhub_is_lora(const cJSON *root);
/* Loads such a folder as LoRA `name` (the file's tensors are renamed from its saved name);
 * cfg_path names the config in errors. Nothing stays behind on failure. */
adapt_status adapterhub_load_lora(adapt_model *m, const char *dir, const cJSON *root, const char *cfg_path, const char *name);
/* Saves the active LoRA in AdapterHub's layout, under its name. Refused when AdapterHub's
 * LoRAConfig cannot say it: DoRA, different ranks or scalings per module (rank_pattern,
 * alpha_pattern), attention.output.dense, modules that differ between the layers it adapts, or
 * modules_to_save inside the encoder. A classifier among modules_to_save is not written (an
 * AdapterHub head is a folder of its own). */
adapt_status adapterhub_save_lora(adapt_model *m, const char *dir);

#endif
