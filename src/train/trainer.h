/* Fine-tuning runs: `adapt train` on NER (CoNLL or JSON Lines) or GLUE-style classification and
 * regression (TSV or JSON Lines) with a bottleneck adapter, LoRA, or a baseline (full fine-tuning, head only, top-k layers); evaluation every N
 * steps on the dev set, the best checkpoint kept, progress lines, a summary JSON and an SVG
 * training curve in the output folder. */
#ifndef ADAPT_TRAIN_TRAINER_H
#define ADAPT_TRAIN_TRAINER_H
#include "adapt.h"
#include "data/task_data.h"

/* METHOD_FUSION: an AdapterFusion over loaded adapters (frozen unless fusion_train_adapters). */
typedef enum train_method { METHOD_ADAPTER, METHOD_LORA, METHOD_FULL, METHOD_HEAD, METHOD_TOPK, METHOD_FUSION } train_method;

#define TRAIN_MAX_LOADED 8
#define TRAIN_MAX_FILES 16

typedef struct train_options {
    const char *model_dir, *tokenizer;   /* tokenizer: NULL = the model folder */
    const char *task;                    /* "ner" or a GLUE task name (sst2, cola, mrpc, rte, stsb, tsv, ...) */
    const char *train_files[TRAIN_MAX_FILES]; /* --train: one file; --task mlm reads several (each may be a comma list) */
    int n_train_files;
    const char *dev_file;
    data_format format;                  /* of both files; AUTO: from the file names (.jsonl) */
    bool regression;                     /* task tsv: the label is a number (a regression head, MSE) */
    const char *out_dir;
    train_method method;
    const char *name;                    /* adapter / head name (default: the task) */
    const char *adapter_config;          /* e.g. "seq_bn[reduction_factor=16]" */
    bool train_layer_norms;              /* METHOD_ADAPTER: the adapter trains its own copies of the
                                          * LayerNorms at its points (Houlsby et al.); else they stay frozen */
    const char *setup;                   /* composition for training (default: the new adapter) */
    const char *load_adapters[TRAIN_MAX_LOADED]; /* "DIR" or "DIR=NAME", frozen */
    int n_load;
    int top_k, lora_r;
    double lora_alpha;
    bool lora_dora;                      /* METHOD_LORA: DoRA, a learnt magnitude per output row */
    double lora_dropout;                 /* METHOD_LORA: PEFT's lora_dropout */
    const char *lora_targets;            /* METHOD_LORA: target_modules, comma-separated (NULL: query,value) */
    bool lora_ia3;                       /* METHOD_LORA: (IA)^3 (AdapterHub's IA3Config), saved in its layout */
    bool lora_ia3_peft;                  /* with lora_ia3: PEFT's IA3Config and layout instead */
    int epochs;
    long max_steps;                      /* 0: epochs decide */
    int batch_size, max_len, grad_accum;
    double lr, weight_decay, warmup_ratio, grad_clip;
    long eval_every;                     /* steps; 0: once per epoch */
    int patience;                        /* evaluations without improvement before stopping; 0: never */
    long max_train_examples;             /* 0: all */
    long max_dev_examples;               /* 0: all (evaluate on the first N only, for speed) */
    double max_seconds;                  /* 0: no limit */
    uint64_t seed;
    bool quiet;
    const char *fusion;                  /* METHOD_FUSION: "a,b,c", adapters given with load_adapters */
    const char *fusion_config;           /* "dynamic" (default), "static", "dynamic[temperature=true]" */
    bool fusion_train_adapters;          /* unfreeze the fused adapters too (saved beside the fusion) */
    long checkpoint_every;               /* optimizer steps between OUT/checkpoint/ writes; 0: none */
    bool resume;                         /* continue from OUT/checkpoint/ when it exists */
    bool check_checkpoint;               /* with resume: load OUT/checkpoint/, report, do not train */
    bool on_nan_skip;                    /* NaN/Inf loss or gradient: drop the step (default: abort) */
    bool whole_word_mask;                /* --task mlm: mask whole words (see mlm_mask_batch_words) */
    const char *init_config;             /* pretraining from scratch: a random model of this config.json, not model_dir */
    const char *model_out;               /* --task mlm --method full: the model goes to this Hugging Face folder, the
                                          * tokenizer copied in (instead of OUT/best/model) */
} train_options;

void train_options_defaults(train_options *o);
adapt_status trainer_run(const train_options *o);

#endif
