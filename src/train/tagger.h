/* Inference with a trained setup: a model, its tokenizer, adapters (AdapterHub folders), a
 * composition and a head of any AdapterHub kind with its label names. tagger_tag runs a tagging
 * head: words in, one tag per word out, in batches (train/evaluate.h and train/predict.h run the
 * sequence heads). */
#ifndef ADAPT_TRAIN_TAGGER_H
#define ADAPT_TRAIN_TAGGER_H
#include "adapt.h"
#include "adapters/lora.h"
#include "model/heads.h"

#define TAGGER_MAX_ADAPTERS 8
#define TAGGER_MAX_LORAS 8

typedef struct tagger_options {
    const char *model_dir, *tokenizer;       /* tokenizer NULL: the model folder */
    const char *adapters[TAGGER_MAX_ADAPTERS]; /* "DIR" or "DIR=NAME" */
    int n_adapters;
    const char *head_dir;                    /* folder with head_config.json (NULL: the last adapter's) */
    const char *loras[TAGGER_MAX_LORAS];     /* PEFT LoRA folders, "DIR" or "DIR=NAME" (several: each
                                              * named; the first is active, records name others) */
    int n_loras;
    bool merge_lora;                         /* merge the (one) LoRA into the base weights before tagging */
    const char *setup;                       /* composition (NULL: the last adapter alone) */
    int max_len, batch_size;
    adapt_weight_dtype weight_dtype;         /* the encoder's linear weights (adapt.h) */
} tagger_options;

/* A LoRA's own head (an adapt-trained LoRA folder holds one), used while that LoRA runs. */
typedef struct tagger_lora_head {
    char lora[LORA_NAME_MAX + 8];
    head h;
} tagger_lora_head;

typedef struct tagger {
    adapt_model *m;
    adapt_tokenizer *tok;
    head h;                                  /* the head in use (tagger_use_lora switches it) */
    head command_head;                       /* records without a LoRA of their own */
    tagger_lora_head lora_heads[TAGGER_MAX_LORAS]; /* with several LoRAs and no --head or adapters */
    int n_lora_heads;
    char **labels;                           /* head labels (from head_config.json label2id) */
    int n_labels, max_len, batch_size;
    bool quiet;                              /* no progress lines from tagger_tag (library callers) */
} tagger;

adapt_status tagger_open(const tagger_options *o, tagger *t);
/* tagger_loras.c: loads the options' LoRAs (the first active) and, when each folder's own head is
 * wanted (several LoRAs, no --head, no adapters), their heads, whose labels must be the first's;
 * *head_dir receives the first LoRA's folder (its head is the command's). */
adapt_status tagger_load_loras(const tagger_options *o, tagger *t, char *head_dir, size_t size);
/* Runs the LoRA a record names: NULL: the command's (the first loaded), DATA_BASE_MODEL: none, else
 * a loaded LoRA's name; switches to that LoRA's own head when it has one. */
adapt_status tagger_use_lora(tagger *t, const char *lora);
void tagger_close(tagger *t);
/* Tags n sentences: words[s][w] (n_words[s] each); tags[s][w] receives label indices. The head
 * must be a tagging head. scores (NULL: not wanted): scores[s][w] receives the probability the
 * head gives the chosen tag (softmax over its labels at the word's first token; 1 for a word
 * without a token, tagged O). A sentence longer than max_len tokens is tagged in windows
 * (tagger_tag_long), every word of it. */
adapt_status tagger_tag(tagger *t, size_t n, const char *const *const *words, const size_t *n_words, int32_t **tags,
                        float **scores);
/* One sentence the length limit cut (its first `fit` words fit): tagged in overlapping windows of
 * words that fit, each word's logits from the window where it is furthest from a cut edge, one
 * IOB2 decoding over the whole sentence (train/tag_windows.c). tagger_tag calls it. */
adapt_status tagger_tag_long(tagger *t, const char *const *words, size_t n, size_t fit, int32_t *tags, float *scores);
/* Softmax probability of label `k` among the n logits. */
float tagger_label_probability(const float *v, int n, int k);

#endif
