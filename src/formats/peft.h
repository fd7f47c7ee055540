/* Hugging Face PEFT LoRA folders: adapter_config.json + adapter_model.safetensors, tensors named
 * "base_model.model.<model name>" (LoRA A/B as "<module>.lora_A.weight"; modules_to_save, e.g. a
 * classifier head, under their plain names). */
#ifndef ADAPT_FORMATS_PEFT_H
#define ADAPT_FORMATS_PEFT_H
#include "adapters/lora.h"

/* Loads a LoRA (and its modules_to_save tensors) into the model as LoRA `name` (see lora_attach:
 * the model's first LoRA becomes active). Nothing of the file stays behind on failure. */
adapt_status peft_load_as(adapt_model *m, const char *dir, const char *name);
/* peft_load_as under PEFT's default name. */
adapt_status peft_load(adapt_model *m, const char *dir);
/* Saves the active LoRA's weights and modules_to_save tensors (the LoRA must be unmerged). */
adapt_status peft_save(adapt_model *m, const char *dir, const char *task_type);
/* The same with a token classifier (weight [labels, H], bias [labels]) saved as PEFT's
 * modules_to_save "classifier" (BertForTokenClassification's head), e.g. adapt's trained tagging
 * head, so that PEFT loads the LoRA with its head. */
adapt_status peft_save_with_classifier(adapt_model *m, const char *dir, const char *task_type, const param *classifier_w,
                                       const param *classifier_b);

#endif
