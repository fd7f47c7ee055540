/* The tiny model the adapter targets load files into: hidden 32, 2 layers, 4 heads, as the shared
 * fixtures' tiny-bert / tiny-xlmr, built in memory (no checkpoint to read). */
#ifndef ADAPT_FUZZ_MODEL_H
#define ADAPT_FUZZ_MODEL_H
#include "model/model.h"
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static adapt_model *fuzz_tiny_model(bool roberta)
{
    model_config cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.model_type, sizeof cfg.model_type, roberta ? "xlm-roberta" : "bert");
    cfg.family = roberta ? FAMILY_ROBERTA : FAMILY_BERT;
    cfg.pad_id = roberta ? 1 : 0;
    cfg.hidden = 32;
    cfg.layers = 2;
    cfg.heads = 4;
    cfg.intermediate = 64;
    cfg.vocab = 16;
    cfg.max_positions = 8;
    cfg.type_vocab = 2;
    cfg.hidden_act = ACT_GELU;
    cfg.layer_norm_eps = 1e-12;
    adapt_model *m = NULL;
    if (model_create(&cfg, &m) != ADAPT_OK) abort();
    return m;
}

#endif
