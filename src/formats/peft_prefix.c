#include "formats/peft_prefix.h"
#include "adapters/prefix_setup.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "formats/adapterhub.h"
#include "formats/param_io.h"
#include "formats/peft.h"
#include "model/heads.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool peft_prefix_config(const cJSON *root)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "peft_type");
    return cJSON_IsString(t) && !strcmp(t->valuestring, "PREFIX_TUNING");
}

/* A count PEFT wrote; absent is fine (PEFT fills it from the model), another value is not. */
static adapt_status expect_count(const cJSON *root, const char *key, long long want, const char *what)
{
    long long got = want;
    TRY(json_get_int_opt(root, key, 1, 1 << 20, what, &got));
    if (got != want) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" is %lld, the model has %lld", what, key, got, want);
    return ADAPT_OK;
}

adapt_status peft_prefix_load(adapt_model *m, const char *dir, const cJSON *root, const char *what, const char *name)
{
    long long P = 0;
    TRY(json_get_int(root, "num_virtual_tokens", 1, 4096, what, &P));
    TRY(expect_count(root, "token_dim", m->cfg.hidden, what));
    TRY(expect_count(root, "num_layers", m->cfg.layers, what));
    TRY(expect_count(root, "num_attention_heads", m->cfg.heads, what));
    TRY(expect_count(root, "num_transformer_submodules", 1, what));
    TRY(setup_check_new_adapter_name(m, name));
    char *path = path_join(dir, "adapter_model.safetensors");
    if (!path) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!path_exists(path)) {
        adapt_status s = adapt_fail(ADAPT_ERR_IO, "%s: missing (PEFT's adapter_model.bin: convert it to safetensors first)", path);
        free(path);
        return s;
    }
    param_store st;
    store_init(&st);
    adapt_status s = store_load_safetensors(&st, path, NULL, NULL, NULL);
    const param *e = s ? NULL : store_get(&st, "prompt_embeddings");
    int64_t width = (int64_t)m->cfg.layers * 2 * m->cfg.hidden;
    if (!s && !e) s = adapt_fail(ADAPT_ERR_FORMAT, "%s: no tensor \"prompt_embeddings\"", path);
    if (!s && (e->ndim != 2 || e->shape[0] != P || e->shape[1] != width))
        s = adapt_fail(ADAPT_ERR_FORMAT, "%s: \"prompt_embeddings\" is not [%lld, %lld] (num_virtual_tokens x num_layers * 2 * hidden)",
                       path, P, (long long)width);
    char config[96];
    snprintf(config, sizeof config, "prefix_tuning_flat[prefix_length=%lld]", P);
    if (!s) s = setup_add_adapter_from_string(m, name, config);
    if (!s) { /* the same values in the same order (see the header) */
        param *flat = setup_find_adapter(m->setup, name)->prefix_w.flat;
        memcpy(flat->data, e->data, flat->numel * sizeof(float));
    }
    store_free(&st);
    free(path);
    return s;
}

/* Copies a model tensor into the save's own store under its file name. */
static adapt_status stage(param_store *st, const param *p, const char *file_name)
{
    param *copy = NULL;
    TRY(store_add(st, file_name, p->ndim, p->shape, &copy));
    TRY(param_require_fp32(p, "saving a PEFT prefix tuning's head"));
    memcpy(copy->data, p->data, p->numel * sizeof(float));
    return ADAPT_OK;
}

adapt_status peft_prefix_save(adapt_model *m, const char *name, const char *dir, const head *h)
{
    const adapter_def *a = setup_find_adapter(m->setup, name);
    if (!a) return adapt_fail(ADAPT_ERR_ARG, "no adapter named \"%s\"", name);
    if (!a->has_prefix || a->has_bn)
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "adapter \"%s\" is not a prefix tuning alone: PEFT's folders hold only a prefix", name);
    if (a->prefix_w.n_slots != m->cfg.layers)
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "prefix tuning \"%s\" leaves layers out; PEFT's prefix covers every layer", name);
    prefix_cache c;
    arena scratch; /* its own: the model's last pass stays as it was */
    arena_init(&scratch);
    adapt_status s = prefix_forward(&scratch, &a->prefix_w, &a->prefix, false, &c);
    if (!s) s = dir_make(dir);
    cJSON *root = s ? NULL : cJSON_CreateObject();
    if (!s && !root) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (s) {
        arena_free(&scratch);
        return s;
    }
    peft_head_tensors hf;
    bool has_hf = false;
    if (h) peft_head_of(m, h, &hf, &has_hf);
    cJSON_AddNullToObject(root, "base_model_name_or_path");
    cJSON_AddNumberToObject(root, "encoder_hidden_size", m->cfg.hidden);
    cJSON_AddBoolToObject(root, "inference_mode", true);
    cJSON *modules = cJSON_AddArrayToObject(root, "modules_to_save"); /* the head, as PEFT saves a trained one */
    for (int i = 0; modules && has_hf && i < hf.n_modules; i++) cJSON_AddItemToArray(modules, cJSON_CreateString(hf.modules[i]));
    cJSON_AddNumberToObject(root, "num_attention_heads", m->cfg.heads);
    cJSON_AddNumberToObject(root, "num_layers", m->cfg.layers);
    cJSON_AddNumberToObject(root, "num_transformer_submodules", 1);
    cJSON_AddNumberToObject(root, "num_virtual_tokens", a->prefix.prefix_length);
    cJSON_AddStringToObject(root, "peft_type", "PREFIX_TUNING");
    cJSON_AddBoolToObject(root, "prefix_projection", false);
    if (h) cJSON_AddStringToObject(root, "task_type", h->kind == HEAD_TAGGING || h->kind == HEAD_TOKEN_CLASSIFIER ? "TOKEN_CLS" : "SEQ_CLS");
    else cJSON_AddNullToObject(root, "task_type");
    cJSON_AddNumberToObject(root, "token_dim", m->cfg.hidden);
    s = adapterhub_write_json(dir, "adapter_config.json", root);
    cJSON_Delete(root);
    /* the keys and values as one stored tensor, written under PEFT's name */
    param_store st;
    store_init(&st);
    int64_t shape[2] = {a->prefix.prefix_length, (int64_t)m->cfg.layers * 2 * m->cfg.hidden};
    param *e = NULL;
    if (!s) s = store_add(&st, "prompt_embeddings", 2, shape, &e);
    if (!s) memcpy(e->data, c.kv, e->numel * sizeof(float));
    char head_names[PEFT_MAX_HEAD_TENSORS][128];
    const char *names[1 + PEFT_MAX_HEAD_TENSORS] = {"prompt_embeddings"};
    int n = 1;
    for (int i = 0; !s && has_hf && i < hf.n; i++) {
        snprintf(head_names[i], sizeof head_names[i], "base_model.model.%s", hf.file_name[i]);
        s = stage(&st, hf.tensor[i], head_names[i]);
        names[n++] = head_names[i];
    }
    static const char *const meta[] = {"format", "pt"};
    char *path = s ? NULL : path_join(dir, "adapter_model.safetensors");
    if (!s) s = path ? store_save_safetensors(&st, path, names, NULL, (size_t)n, meta, 1) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    free(path);
    store_free(&st);
    arena_free(&scratch);
    return s;
}
