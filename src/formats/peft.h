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
/* The same with head tensors saved as PEFT modules_to_save: tensor[i] under "base_model.model." +
 * file_name[i], each of `modules` added to modules_to_save (e.g. a tagging head as "classifier",
 * BertForTokenClassification's). */
#define PEFT_MAX_HEAD_TENSORS 4
typedef struct peft_head_tensors {
    const param *tensor[PEFT_MAX_HEAD_TENSORS];
    char file_name[PEFT_MAX_HEAD_TENSORS][96];
    int n;
    const char *modules[2];
    int n_modules;
} peft_head_tensors;
adapt_status peft_save_with_head(adapt_model *m, const char *dir, const char *task_type, const peft_head_tensors *head);
/* An AdapterHub head as Hugging Face's head of the model (*ok false when it has no equal): a
 * tagging head is the token classifier ("classifier"); a classification head (dense, tanh,
 * output) is BERT's pooler plus classifier ("<prefix>.pooler.dense", "classifier") or RoBERTa's
 * classification head ("classifier.dense", "classifier.out_proj"). */
struct head;
void peft_head_of(const adapt_model *m, const struct head *h, peft_head_tensors *out, bool *ok);
/* peft_save_with_head with h (NULL: none) as Hugging Face's head where it has one, and task_type
 * TOKEN_CLS for a token head, SEQ_CLS for another, null without h. */
adapt_status peft_save_with_model_head(adapt_model *m, const char *dir, const struct head *h);

#endif
