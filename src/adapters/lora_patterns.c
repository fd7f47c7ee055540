/* PEFT's per-module LoRA settings: rank_pattern and alpha_pattern give some modules another rank
 * or lora_alpha (first matching key in file order, the key a regular expression that must match
 * the end of the module's name after a '.'), layers_to_transform limits the LoRA to some layer
 * indices, found after layers_pattern ("layer" in BERT's "bert.encoder.layer.3.attention..."). */
#include "adapters/lora.h"
#include "core/error.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Matches `re` against `name` from its start (PCRE2_ANCHORED), to its end too when `whole`;
 * *index (optional) receives capture group 1 as a number. */
static bool match(const char *re, const char *name, bool whole, long *index)
{
    int err;
    PCRE2_SIZE off;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_ANCHORED | (whole ? PCRE2_ENDANCHORED : 0), &err,
                                     &off, NULL);
    if (!code) return false;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    int rc = md ? pcre2_match(code, (PCRE2_SPTR)name, strlen(name), 0, 0, md, NULL) : -1;
    if (rc >= 2 && index) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        *index = strtol(name + ov[2], NULL, 10);
    }
    pcre2_match_data_free(md);
    pcre2_code_free(code);
    return rc >= 0;
}

bool lora_full_match(const char *re, const char *name) { return match(re, name, true, NULL); }

static const lora_pattern *pattern_for(const lora_pattern *ps, int n, const char *module_name)
{
    for (int i = 0; i < n; i++) {
        char re[sizeof ps[i].key + 16];
        snprintf(re, sizeof re, "(.*\\.)?(%s)", ps[i].key);
        if (lora_full_match(re, module_name)) return &ps[i];
    }
    return NULL;
}

int lora_module_rank(const lora_config *cfg, const char *module_name)
{
    const lora_pattern *p = pattern_for(cfg->rank_pattern, cfg->n_rank_pattern, module_name);
    return p ? (int)p->value : cfg->r;
}

double lora_module_alpha(const lora_config *cfg, const char *module_name)
{
    const lora_pattern *p = pattern_for(cfg->alpha_pattern, cfg->n_alpha_pattern, module_name);
    return p ? p->value : cfg->alpha;
}

bool lora_layer_selected(const lora_config *cfg, const char *module_name)
{
    if (!cfg->layers_set) return true;
    long index = -1;
    bool found = false;
    if (!cfg->n_layers_pattern) found = match(".*\\.[^.]*\\.(\\d+)\\.", module_name, false, &index);
    for (int i = 0; !found && i < cfg->n_layers_pattern; i++) {
        char re[64];
        snprintf(re, sizeof re, ".*\\.%s\\.(\\d+)\\.", cfg->layers_pattern[i]);
        found = match(re, module_name, false, &index);
    }
    for (int i = 0; found && i < cfg->n_layers; i++)
        if (cfg->layers[i] == index) return true;
    return false;
}

/* An object of module-name keys and numbers (ranks: integers 1-4096; alphas: finite). */
static adapt_status read_patterns(const cJSON *root, const char *key, bool rank, const char *what, lora_pattern *out, int *n)
{
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, key);
    *n = 0;
    if (!obj || cJSON_IsNull(obj)) return ADAPT_OK;
    if (!cJSON_IsObject(obj)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" must be an object of module names and numbers", what, key);
    for (const cJSON *e = obj->child; e; e = e->next) {
        if (*n == LORA_MAX_PATTERNS || strlen(e->string) >= sizeof out[0].key)
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" holds at most %d keys of at most %zu characters", what, key, LORA_MAX_PATTERNS,
                              sizeof out[0].key - 1);
        double v = cJSON_IsNumber(e) ? e->valuedouble : NAN;
        bool ok = rank ? v >= 1 && v <= 4096 && v == (double)(long)v : isfinite(v);
        if (!ok) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" entry \"%.60s\" is not %s", what, key, e->string, rank ? "a rank 1-4096" : "a finite number");
        char re[sizeof out[0].key + 16];
        snprintf(re, sizeof re, "(.*\\.)?(%s)", e->string);
        int err;
        PCRE2_SIZE off;
        pcre2_code *code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
        if (!code) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" key \"%.60s\" is not a regular expression", what, key, e->string);
        pcre2_code_free(code);
        snprintf(out[*n].key, sizeof out[0].key, "%s", e->string);
        out[(*n)++].value = v;
    }
    return ADAPT_OK;
}

adapt_status lora_patterns_from_json(const cJSON *root, const char *what, lora_config *cfg)
{
    TRY(read_patterns(root, "rank_pattern", true, what, cfg->rank_pattern, &cfg->n_rank_pattern));
    TRY(read_patterns(root, "alpha_pattern", false, what, cfg->alpha_pattern, &cfg->n_alpha_pattern));
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers_to_transform");
    cfg->layers_set = layers && !cJSON_IsNull(layers);
    cfg->n_layers = 0;
    const cJSON *one_layer = cJSON_IsNumber(layers) ? layers : NULL, *first = cJSON_IsArray(layers) ? layers->child : NULL;
    if (cfg->layers_set && !one_layer && !cJSON_IsArray(layers))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"layers_to_transform\" must be a layer index or a list of them", what);
    for (const cJSON *e = one_layer ? one_layer : first; e; e = one_layer ? NULL : e->next) {
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble <= 100000) || cfg->n_layers == LORA_MAX_LAYER_LIST)
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"layers_to_transform\" must be at most %d layer indices", what, LORA_MAX_LAYER_LIST);
        cfg->layers[cfg->n_layers++] = e->valueint;
    }
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(root, "layers_pattern");
    cfg->n_layers_pattern = 0;
    const cJSON *one = cJSON_IsString(pat) ? pat : NULL, *list = cJSON_IsArray(pat) ? pat->child : NULL;
    if (pat && !cJSON_IsNull(pat) && !one && !cJSON_IsArray(pat))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"layers_pattern\" must be a name or a list of names", what);
    for (const cJSON *e = one ? one : list; e; e = one ? NULL : e->next) {
        bool plain = cJSON_IsString(e) && *e->valuestring && strlen(e->valuestring) < sizeof cfg->layers_pattern[0];
        for (const char *c = plain ? e->valuestring : ""; plain && *c; c++) /* a module-name part, used inside a regex */
            plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_';
        if (!plain || cfg->n_layers_pattern == 4)
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"layers_pattern\" must be up to 4 module names (letters, digits, '_')", what);
        snprintf(cfg->layers_pattern[cfg->n_layers_pattern++], sizeof cfg->layers_pattern[0], "%s", e->valuestring);
    }
    return ADAPT_OK;
}

void lora_patterns_to_json(const lora_config *cfg, cJSON *root)
{
    /* only what is set: a config without them stays as it was written (PEFT reads them as absent) */
    cJSON *rank = cfg->n_rank_pattern ? cJSON_AddObjectToObject(root, "rank_pattern") : NULL;
    cJSON *alpha = cfg->n_alpha_pattern ? cJSON_AddObjectToObject(root, "alpha_pattern") : NULL;
    for (int i = 0; rank && i < cfg->n_rank_pattern; i++) cJSON_AddNumberToObject(rank, cfg->rank_pattern[i].key, cfg->rank_pattern[i].value);
    for (int i = 0; alpha && i < cfg->n_alpha_pattern; i++) cJSON_AddNumberToObject(alpha, cfg->alpha_pattern[i].key, cfg->alpha_pattern[i].value);
    cJSON *l = cfg->layers_set ? cJSON_AddArrayToObject(root, "layers_to_transform") : NULL;
    for (int i = 0; l && i < cfg->n_layers; i++) cJSON_AddItemToArray(l, cJSON_CreateNumber(cfg->layers[i]));
    cJSON *p = cfg->n_layers_pattern ? cJSON_AddArrayToObject(root, "layers_pattern") : NULL;
    for (int i = 0; p && i < cfg->n_layers_pattern; i++) cJSON_AddItemToArray(p, cJSON_CreateString(cfg->layers_pattern[i]));
}
