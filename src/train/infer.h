/* Opening a trained setup for inference, for every command that runs one (eval, fusion-attention,
 * predict-like tools): the model, its tokenizer, AdapterHub adapters and fusions, an optional
 * PEFT LoRA folder, a head of any AdapterHub kind with its label names, and the composition.
 * The result is a `tagger` (train/tagger.h): model + tokenizer + head + labels, which tagger_tag
 * uses for tagging heads and classify_* (train/evaluate.h) for classification heads. */
#ifndef ADAPT_TRAIN_INFER_H
#define ADAPT_TRAIN_INFER_H
#include "train/tagger.h"

#define INFER_MAX_ADAPTERS 16
#define INFER_MAX_FUSIONS 4

typedef struct infer_options {
    const char *model_dir, *tokenizer;          /* tokenizer NULL: the model folder */
    const char *adapters[INFER_MAX_ADAPTERS];   /* "DIR" or "DIR=NAME" */
    int n_adapters;
    const char *fusions[INFER_MAX_FUSIONS];     /* AdapterFusion folders (their adapters loaded above) */
    int n_fusions;
    const char *lora_dir;                       /* PEFT folder, or NULL */
    const char *head_dir;                       /* NULL: the last fusion's folder if it holds a head,
                                                   else the last adapter's */
    const char *setup;                          /* NULL: Fuse(...) of the last fusion, else the last adapter */
    bool head_optional;                         /* no head found is fine (fusion-attention) */
    int max_len, batch_size;
    adapt_weight_dtype weight_dtype;            /* the encoder's linear weights (adapt.h) */
} infer_options;

adapt_status infer_open(const infer_options *o, tagger *t);
/* Loads the head folder `dir` into t->m and its label names into t (they must agree in number). */
adapt_status infer_load_head(const char *dir, tagger *t);
/* The same into h and *labels (the caller frees them, also on a count mismatch), the head loaded
 * under `load_as` (NULL: its saved name). */
adapt_status infer_read_head(adapt_model *m, const char *dir, const char *load_as, head *h, char ***labels, int *n_labels);

/* Parses "DIR" / "DIR=NAME" into dir (copied into a buffer) and name (NULL when absent). */
void infer_split_spec(const char *spec, char *dir, size_t size, const char **name); /* an existing path with '=' stays whole */

#endif
