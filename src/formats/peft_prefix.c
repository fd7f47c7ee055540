#include "formats/peft_prefix.h"
#include "adapters/prefix_setup.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "formats/adapterhub.h"
#include "formats/param_io.h"
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

static const char *shape_text(const param *p)
{
    static char buf[96];
    int n = snprintf(buf, sizeof buf, "[");
    for (int d = 0; d < p->ndim && n < (int)sizeof buf - 24; d++) n += snprintf(buf + n, sizeof buf - (size_t)n, d ? ", %lld" : "%lld", (long long)p->shape[d]);
    snprintf(buf + n, sizeof buf - (size_t)n, "]");
    return buf;
}

adapt_status peft_prefix_load(adapt_model *m, const char *dir, const cJSON *root, const char *what, const char *name)
{
    long long P = 0;
    TRY(json_get_int(root, "num_virtual_tokens", 1, 4096, what, &P));
    TRY(expect_count(root, "token_dim", m->cfg.hidden, what));
    TRY(expect_count(root, "num_layers", m->cfg.layers, what));
    TRY(expect_count(root, "num_attention_heads", m->cfg.heads, what));
    long long submodules = 1;
    TRY(json_get_int_opt(root, "num_transformer_submodules", 1, 2, what, &submodules));
    if (submodules != 1) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: an encoder-decoder prefix (num_transformer_submodules 2)", what);
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
        s = adapt_fail(ADAPT_ERR_FORMAT, "%s: \"prompt_embeddings\" is %s, not [%lld, %lld] (num_virtual_tokens x num_layers * 2 * hidden)",
                       path, shape_text(e), P, (long long)width);
    char config[96];
    snprintf(config, sizeof config, "prefix_tuning_flat[prefix_length=%lld]", P);
    if (!s) s = setup_add_adapter_from_string(m, name, config);
    if (!s) { /* the same values in the same order (see the header), with PEFT's positions */
        adapter_def *a = setup_find_adapter(m->setup, name);
        a->prefix.peft_positions = true;
        memcpy(a->prefix_w.flat->data, e->data, a->prefix_w.flat->numel * sizeof(float));
    }
    store_free(&st);
    free(path);
    return s;
}
