/* AdapterFusion attention analysis (Pfeiffer et al. 2021, Figure 4): the softmax weights a Fuse
 * block gives each adapter, averaged over the non-padding tokens of a dataset, per layer and
 * location; written as JSON and an SVG heatmap (rows: layers; or, when runs on several target
 * tasks are combined, one row per task with its layer average; columns: adapters). */
#ifndef ADAPT_TRAIN_FUSION_ATTENTION_H
#define ADAPT_TRAIN_FUSION_ATTENTION_H
#include "adapters/setup.h"
#include "train/examples.h"
#include "train/tagger.h"

#define FA_MAX_ROWS 256

typedef struct fusion_attention {
    int n_adapters;
    char adapters[FUSION_MAX_ADAPTERS][ADAPTER_NAME_MAX];
    int n_rows;                          /* (layer, location) pairs where the fusion ran */
    int layer[FA_MAX_ROWS];
    bool attention[FA_MAX_ROWS];         /* location attention.output (else output) */
    double sum[FA_MAX_ROWS][FUSION_MAX_ADAPTERS]; /* summed probabilities, then means */
    size_t tokens;
} fusion_attention;

/* Runs the model (with its active composition, which must contain a Fuse block) over every
 * example and averages the fusion weights over tokens whose attention mask is 1. */
adapt_status fusion_attention_collect(tagger *t, const encoded_set *enc, fusion_attention *out);

/* PREFIX.json and PREFIX.svg for one run; `task` and `data` are recorded in the JSON. */
adapt_status fusion_attention_write(const fusion_attention *fa, const char *task, const char *data, const char *prefix);

/* Several PREFIX.json files of runs on different target tasks (same adapters, same order) into
 * one heatmap: row = task, values = the run's mean over its layers. */
adapt_status fusion_attention_combine(const char *const *json_paths, int n, const char *prefix);

#endif
