#include "formats/hf_config.h"
#include "core/error.h"
#include "core/json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct { const char *name; activation_kind kind; } activations[] = {
    {"gelu", ACT_GELU},         {"gelu_new", ACT_GELU_NEW}, {"gelu_pytorch_tanh", ACT_GELU_NEW},
    {"gelu_fast", ACT_GELU_NEW}, {"relu", ACT_RELU},         {"swish", ACT_SILU},
    {"silu", ACT_SILU},         {"tanh", ACT_TANH},         {"leakyrelu", ACT_LEAKY_RELU},
    {"leaky_relu", ACT_LEAKY_RELU}, {"linear", ACT_IDENTITY},
};

bool activation_parse(const char *name, activation_kind *out)
{
    for (size_t i = 0; i < sizeof activations / sizeof activations[0]; i++)
        if (!strcmp(name, activations[i].name)) {
            *out = activations[i].kind;
            return true;
        }
    return false;
}

const char *activation_name(activation_kind a)
{
    for (size_t i = 0; i < sizeof activations / sizeof activations[0]; i++)
        if (activations[i].kind == a) return activations[i].name;
    return "?";
}

static adapt_status read_labels(const cJSON *root, const char *what, model_config *cfg)
{
    const cJSON *id2label = cJSON_GetObjectItemCaseSensitive(root, "id2label");
    long long n = 0;
    TRY(json_get_int_opt(root, "num_labels", 1, 100000, what, &n));
    if (cJSON_IsObject(id2label)) n = cJSON_GetArraySize(id2label);
    if (n <= 0) return ADAPT_OK;
    if (n > 100000) return adapt_fail(ADAPT_ERR_FORMAT, "%s: too many labels (%lld)", what, n);
    cfg->num_labels = (int)n;
    cfg->id2label = calloc((size_t)n, sizeof(char *));
    if (!cfg->id2label) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", what);
    for (const cJSON *e = cJSON_IsObject(id2label) ? id2label->child : NULL; e; e = e->next) {
        char *end;
        long id = strtol(e->string, &end, 10);
        if (*end || id < 0 || id >= n || !cJSON_IsString(e) || cfg->id2label[id])
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: id2label entry \"%s\" is invalid", what, e->string);
        cfg->id2label[id] = strdup(e->valuestring);
    }
    for (int i = 0; i < cfg->num_labels; i++) {
        if (!cfg->id2label[i]) {
            char buf[32];
            snprintf(buf, sizeof buf, "LABEL_%d", i);
            cfg->id2label[i] = strdup(buf);
        }
        if (!cfg->id2label[i]) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", what);
    }
    return ADAPT_OK;
}

adapt_status hf_config_from_json(const cJSON *root, const char *what, model_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    const char *type;
    TRY(json_get_str(root, "model_type", what, &type));
    if (!strcmp(type, "bert")) cfg->family = FAMILY_BERT;
    else if (!strcmp(type, "roberta") || !strcmp(type, "xlm-roberta")) cfg->family = FAMILY_ROBERTA;
    else return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: model_type \"%.40s\" is not supported (bert, roberta, xlm-roberta)", what, type);
    snprintf(cfg->model_type, sizeof cfg->model_type, "%s", type);
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    if (cJSON_IsArray(arch) && cJSON_IsString(cJSON_GetArrayItem(arch, 0)))
        snprintf(cfg->architecture, sizeof cfg->architecture, "%s", cJSON_GetArrayItem(arch, 0)->valuestring);
    long long v;
    const int big = 1 << 20;
    TRY(json_get_int(root, "hidden_size", 1, 65536, what, &v)); cfg->hidden = (int)v;
    TRY(json_get_int(root, "num_hidden_layers", 0, 1024, what, &v)); cfg->layers = (int)v;
    TRY(json_get_int(root, "num_attention_heads", 1, 4096, what, &v)); cfg->heads = (int)v;
    TRY(json_get_int(root, "intermediate_size", 1, 1 << 18, what, &v)); cfg->intermediate = (int)v;
    TRY(json_get_int(root, "vocab_size", 1, 1 << 22, what, &v)); cfg->vocab = (int)v;
    v = 512; TRY(json_get_int_opt(root, "max_position_embeddings", 1, big, what, &v)); cfg->max_positions = (int)v;
    v = 2; TRY(json_get_int_opt(root, "type_vocab_size", 0, 1024, what, &v)); cfg->type_vocab = (int)v;
    v = cfg->family == FAMILY_BERT ? 0 : 1;
    TRY(json_get_int_opt(root, "pad_token_id", 0, 1 << 22, what, &v)); cfg->pad_id = (int)v;
    cfg->layer_norm_eps = 1e-12;
    TRY(json_get_num_opt(root, "layer_norm_eps", what, &cfg->layer_norm_eps));
    if (!(cfg->layer_norm_eps > 0 && cfg->layer_norm_eps < 1))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: layer_norm_eps %g must be in (0, 1)", what, cfg->layer_norm_eps);
    cfg->hidden_dropout = cfg->attn_dropout = 0.1; /* transformers' defaults */
    TRY(json_get_num_opt(root, "hidden_dropout_prob", what, &cfg->hidden_dropout));
    TRY(json_get_num_opt(root, "attention_probs_dropout_prob", what, &cfg->attn_dropout));
    if (!(cfg->hidden_dropout >= 0 && cfg->hidden_dropout < 1 && cfg->attn_dropout >= 0 && cfg->attn_dropout < 1))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: dropout probabilities must be in [0, 1)", what);
    const char *act = "gelu";
    TRY(json_get_str_opt(root, "hidden_act", what, &act));
    if (!activation_parse(act, &cfg->hidden_act))
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: hidden_act \"%.40s\" is not supported", what, act);
    if (cfg->hidden % cfg->heads)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: hidden_size %d is not a multiple of num_attention_heads %d", what, cfg->hidden, cfg->heads);
    if (cfg->pad_id >= cfg->vocab)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: pad_token_id %d is not below vocab_size %d", what, cfg->pad_id, cfg->vocab);
    const char *pos_type = "absolute";
    TRY(json_get_str_opt(root, "position_embedding_type", what, &pos_type));
    if (strcmp(pos_type, "absolute"))
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: position_embedding_type \"%.40s\" is not supported", what, pos_type);
    adapt_status s = read_labels(root, what, cfg);
    if (s) hf_config_free(cfg);
    return s;
}

adapt_status hf_config_load(const char *path, model_config *cfg)
{
    cJSON *root;
    TRY(json_load_file(path, &root));
    adapt_status s = hf_config_from_json(root, path, cfg);
    cJSON_Delete(root);
    return s;
}

void hf_config_free(model_config *cfg)
{
    for (int i = 0; cfg->id2label && i < cfg->num_labels; i++) free(cfg->id2label[i]);
    free(cfg->id2label);
    cfg->id2label = NULL;
    cfg->num_labels = 0;
}
