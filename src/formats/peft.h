/* Hugging Face PEFT LoRA folders: adapter_config.json + adapter_model.safetensors, tensors named
 * "base_model.model.<model name>" (LoRA A/B as "<module>.lora_A.weight"; modules_to_save, e.g. a
 * classifier head, under their plain names). */
#ifndef ADAPT_FORMATS_PEFT_H
#define ADAPT_FORMATS_PEFT_H
#include "adapters/lora.h"

/* Loads LoRA weights (and modules_to_save tensors) into the model and attaches them. */
adapt_status peft_load(adapt_model *m, const char *dir);
/* Saves the model's LoRA weights and modules_to_save tensors (the LoRA must be unmerged). */
adapt_status peft_save(adapt_model *m, const char *dir, const char *task_type);

#endif
