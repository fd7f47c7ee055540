/* Saves the base model in Hugging Face layout: config.json and model.safetensors, or shards of at
 * most max_shard_bytes with model.safetensors.index.json (as save_pretrained writes them). Adapter,
 * head and LoRA tensors are not part of the base model and are left out. */
#include "adapters/lora.h"
#include "core/error.h"
#include "core/fileio.h"
#include "formats/param_io.h"
#include "model/model.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_base_tensor(const adapt_model *m, const char *name)
{
    if (strstr(name, ".adapters.") || strstr(name, "adapter_fusion_layer") || strstr(name, "invertible_adapters") ||
        strstr(name, ".prefix_tunings.") ||
        strstr(name, ".lora_") || !strncmp(name, "heads.", 6) || !strncmp(name, LORA_STAGE_PREFIX, strlen(LORA_STAGE_PREFIX)))
        return false;
    (void)m;
    return true;
}

static cJSON *config_json(const adapt_model *m, const char *architecture)
{
    const model_config *c = &m->cfg;
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON *arch = cJSON_AddArrayToObject(root, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(architecture));
    cJSON_AddNumberToObject(root, "attention_probs_dropout_prob", c->attn_dropout);
    if (c->family == FAMILY_ROBERTA) {
        cJSON_AddNumberToObject(root, "bos_token_id", 0);
        cJSON_AddNumberToObject(root, "eos_token_id", 2);
    }
    cJSON_AddStringToObject(root, "hidden_act", activation_name(c->hidden_act));
    cJSON_AddNumberToObject(root, "hidden_dropout_prob", c->hidden_dropout);
    cJSON_AddNumberToObject(root, "hidden_size", c->hidden);
    cJSON_AddNumberToObject(root, "initializer_range", 0.02);
    cJSON_AddNumberToObject(root, "intermediate_size", c->intermediate);
    cJSON_AddNumberToObject(root, "layer_norm_eps", c->layer_norm_eps);
    cJSON_AddNumberToObject(root, "max_position_embeddings", c->max_positions);
    cJSON_AddStringToObject(root, "model_type", c->model_type);
    cJSON_AddNumberToObject(root, "num_attention_heads", c->heads);
    cJSON_AddNumberToObject(root, "num_hidden_layers", c->layers);
    cJSON_AddNumberToObject(root, "pad_token_id", c->pad_id);
    cJSON_AddStringToObject(root, "position_embedding_type", "absolute");
    cJSON_AddTrueToObject(root, "tie_word_embeddings");
    cJSON_AddStringToObject(root, "torch_dtype", "float32");
    cJSON_AddNumberToObject(root, "type_vocab_size", c->type_vocab);
    cJSON_AddNumberToObject(root, "vocab_size", c->vocab);
    return root;
}

/* A layout left by an earlier save with another shard count would shadow this one. */
static adapt_status remove_stale(const char *dir, const char *name)
{
    char *path = path_join(dir, name);
    if (!path) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    adapt_status s = remove(path) && errno != ENOENT ? adapt_fail(ADAPT_ERR_IO, "%s: cannot remove: %s", path, strerror(errno)) : ADAPT_OK;
    free(path);
    return s;
}

typedef struct save_args {
    const char *dir;
    size_t max_shard_bytes;
} save_args;

static adapt_status save_files(adapt_model *m, const char *dir, size_t max_shard_bytes);

static adapt_status run_save(adapt_model *m, void *ctx)
{
    const save_args *a = ctx;
    return save_files(m, a->dir, a->max_shard_bytes);
}

adapt_status model_save(adapt_model *m, const char *dir, size_t max_shard_bytes)
{
    save_args a = {dir, max_shard_bytes};
    return lora_with_base_values(m, run_save, &a); /* a LoRA's modules_to_save are not the base model's */
}

static adapt_status save_files(adapt_model *m, const char *dir, size_t max_shard_bytes)
{
    TRY(dir_make(dir));
    const char *arch = m->mlm.dense_w ? (m->cfg.family == FAMILY_BERT ? "BertForMaskedLM" : "RobertaForMaskedLM")
                                      : (m->cfg.family == FAMILY_BERT ? "BertModel" : "RobertaModel");
    if (!strcmp(m->cfg.model_type, "xlm-roberta")) arch = m->mlm.dense_w ? "XLMRobertaForMaskedLM" : "XLMRobertaModel";
    cJSON *cfg = config_json(m, arch);
    char *text = cfg ? cJSON_Print(cfg) : NULL;
    char *cfg_path = path_join(dir, "config.json");
    adapt_status s = text && cfg_path ? file_write_atomic(cfg_path, text, strlen(text)) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    free(text);
    free(cfg_path);
    cJSON_Delete(cfg);
    if (s) return s;
    size_t n = 0, total = 0;
    const char **names = calloc(m->store.count + 1, sizeof *names);
    if (!names) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < m->store.count; i++)
        if (is_base_tensor(m, m->store.items[i]->name)) {
            names[n++] = m->store.items[i]->name;
            total += m->store.items[i]->numel * 4;
        }
    static const char *const meta[] = {"format", "pt"};
    if (!max_shard_bytes || total <= max_shard_bytes) {
        char *path = path_join(dir, "model.safetensors");
        s = path ? store_save_safetensors(&m->store, path, names, NULL, n, meta, 1) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        free(path);
        free(names);
        return s ? s : remove_stale(dir, "model.safetensors.index.json");
    }
    /* Shards in store order, each under max_shard_bytes (a single larger tensor gets its own). */
    size_t n_shards = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t b = store_get(&m->store, names[i])->numel * 4;
        if (i == 0 || bytes + b > max_shard_bytes) n_shards++, bytes = 0;
        bytes += b;
    }
    cJSON *index = cJSON_CreateObject(), *map = cJSON_CreateObject(), *md = cJSON_CreateObject();
    cJSON_AddNumberToObject(md, "total_size", (double)total);
    cJSON_AddItemToObject(index, "metadata", md);
    cJSON_AddItemToObject(index, "weight_map", map);
    size_t start = 0, shard = 0;
    while (!s && start < n) {
        size_t end = start, b = 0;
        while (end < n && (end == start || b + store_get(&m->store, names[end])->numel * 4 <= max_shard_bytes))
            b += store_get(&m->store, names[end++])->numel * 4;
        char fname[64];
        snprintf(fname, sizeof fname, "model-%05zu-of-%05zu.safetensors", ++shard, n_shards);
        char *path = path_join(dir, fname);
        s = path ? store_save_safetensors(&m->store, path, names + start, NULL, end - start, meta, 1) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        free(path);
        for (size_t i = start; i < end; i++) cJSON_AddStringToObject(map, names[i], fname);
        start = end;
    }
    char *itext = cJSON_Print(index);
    char *ipath = path_join(dir, "model.safetensors.index.json");
    if (!s) s = itext && ipath ? file_write_atomic(ipath, itext, strlen(itext)) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    free(itext);
    free(ipath);
    cJSON_Delete(index);
    free(names);
    return s ? s : remove_stale(dir, "model.safetensors");
}
