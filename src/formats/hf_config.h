/* config.json of a Hugging Face BERT / RoBERTa / XLM-R checkpoint. */
#ifndef ADAPT_FORMATS_HF_CONFIG_H
#define ADAPT_FORMATS_HF_CONFIG_H
#include "adapt.h"
#include <cjson/cJSON.h>

typedef enum activation_kind {
    ACT_GELU, ACT_GELU_NEW, ACT_RELU, ACT_SILU, ACT_TANH, ACT_LEAKY_RELU, ACT_IDENTITY
} activation_kind;

/* Parses activation names as transformers and adapters spell them ("gelu", "gelu_new",
 * "gelu_pytorch_tanh", "relu", "swish", "silu", "tanh", "leakyrelu", "linear"). */
bool activation_parse(const char *name, activation_kind *out);
const char *activation_name(activation_kind a);

typedef enum model_family { FAMILY_BERT, FAMILY_ROBERTA } model_family;

typedef struct model_config {
    char model_type[32];    /* "bert", "roberta", "xlm-roberta" */
    char architecture[96];  /* e.g. "BertForMaskedLM"; "" when absent */
    model_family family;    /* roberta positions and lm_head names for roberta / xlm-roberta */
    int hidden, layers, heads, intermediate, vocab, max_positions, type_vocab, pad_id;
    activation_kind hidden_act;
    double layer_norm_eps;
    double hidden_dropout, attn_dropout; /* hidden_dropout_prob, attention_probs_dropout_prob (training) */
    int num_labels;         /* from id2label / num_labels, for *ForTokenClassification etc. */
    char **id2label;        /* num_labels entries (or NULL) */
} model_config;

/* Reads and validates config.json (`path` names it in errors). */
adapt_status hf_config_load(const char *path, model_config *cfg);
adapt_status hf_config_from_json(const cJSON *root, const char *what, model_config *cfg);
void hf_config_free(model_config *cfg);

#endif
