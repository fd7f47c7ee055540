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

/* Matches `re` against `name` from its start (PCRE2_ANCHORED), to its end too when `whole`: 1, 0
 * (no match), or -1 when the pattern does not compile or passes the match limit (a key that
 * backtracks without end fails instead of taking minutes). *index (optional) receives capture
 * group 1 as a number. */
static int match(const char *re, const char *name, bool whole, long *index)
{
    int err;
    PCRE2_SIZE off;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_ANCHORED | (whole ? PCRE2_ENDANCHORED : 0), &err,
                                     &off, NULL);
    if (!code) return -1;
    pcre2_match_context *ctx = pcre2_match_context_create(NULL);
    if (ctx) pcre2_set_match_limit(ctx, 100000);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    int rc = md && ctx ? pcre2_match(code, (PCRE2_SPTR)name, strlen(name), 0, 0, md, ctx) : PCRE2_ERROR_NOMEMORY;
    if (rc >= 2 && index) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        *index = strtol(name + ov[2], NULL, 10);
    }
    pcre2_match_data_free(md);
    pcre2_match_context_free(ctx);
    pcre2_code_free(code);
    return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

static adapt_status unmatchable(const char *re, const char *name)
{
    return adapt_fail(ADAPT_ERR_FORMAT, "LoRA config: the regular expression \"%.80s\" could not be matched against \"%s\" "
                      "(it does not compile, or backtracks past PCRE2's match limit)", re, name);
}

/* The first pattern whose key matches the name as "(.*\.)?(key)", or NULL. */
static adapt_status pattern_for(const lora_pattern *ps, int n, const char *name, const lora_pattern **out)
{
    *out = NULL;
    for (int i = 0; i < n && !*out; i++) {
        char re[sizeof ps[i].key + 16];
        snprintf(re, sizeof re, "(.*\\.)?(%s)", ps[i].key);
        int rc = match(re, name, true, NULL);
        if (rc < 0) return unmatchable(ps[i].key, name);
        if (rc) *out = &ps[i];
    }
    return ADAPT_OK;
}

/* Whether a module list names `name`: the regex (when set) matching all of it, else an entry equal
 * to it or ending it, after a '.' when `after_dot` (exclude_modules) or anyhow (IA3's
 * feedforward_modules, PEFT's plain endswith). */
static adapt_status named_by(const char *regex, const char (*names)[64], int n, const char *name, bool after_dot, bool *out)
{
    *out = false;
    if (regex[0]) {
        int rc = match(regex, name, true, NULL);
        if (rc < 0) return unmatchable(regex, name);
        *out = rc;
        return ADAPT_OK;
    }
    size_t len = strlen(name);
    for (int i = 0; i < n && !*out; i++) {
        size_t k = strlen(names[i]);
        *out = !strcmp(name, names[i]) || (len > k && !strcmp(name + len - k, names[i]) && (!after_dot || name[len - k - 1] == '.'));
    }
    return ADAPT_OK;
}

/* layers_to_transform: whether the layer index in the name is listed. */
static adapt_status layer_selected(const lora_config *cfg, const char *name, bool *selected)
{
    long index = -1;
    int found = 0;
    if (!cfg->n_layers_pattern) found = match(".*\\.[^.]*\\.(\\d+)\\.", name, false, &index);
    for (int i = 0; !found && i < cfg->n_layers_pattern; i++) {
        char re[64];
        snprintf(re, sizeof re, ".*\\.%s\\.(\\d+)\\.", cfg->layers_pattern[i]);
        found = match(re, name, false, &index);
    }
    if (found < 0) return unmatchable("layers_pattern", name);
    *selected = false;
    for (int i = 0; found && i < cfg->n_layers; i++) *selected |= cfg->layers[i] == index;
    return ADAPT_OK;
}

adapt_status lora_module_settings_of(const lora_config *cfg, const char *module_name, lora_module_settings *out)
{
    const char *name = module_name; /* as the file's PEFT model named it */
    if (cfg->names_without_root && strchr(module_name, '.')) name = strchr(module_name, '.') + 1;
    *out = (lora_module_settings){false, false, cfg->r, cfg->alpha};
    bool excluded = false;
    TRY(named_by(cfg->exclude_regex, (const char (*)[64])cfg->exclude, cfg->n_exclude, name, true, &excluded));
    if (excluded) return ADAPT_OK;
    if (cfg->target_regex[0]) {
        int rc = match(cfg->target_regex, name, true, NULL);
        if (rc < 0) return unmatchable(cfg->target_regex, name);
        out->targeted = rc;
    } else {
        size_t n = strlen(name);
        for (int i = 0; i < cfg->n_targets && !out->targeted; i++) { /* an exact name needs no layer filter */
            if (!strcmp(name, cfg->targets[i])) goto found;
            size_t k = strlen(cfg->targets[i]);
            out->targeted = n > k && name[n - k - 1] == '.' && !strcmp(name + n - k, cfg->targets[i]);
        }
        if (out->targeted && cfg->layers_set) TRY(layer_selected(cfg, name, &out->targeted));
    }
    if (!out->targeted) return ADAPT_OK;
found:
    out->targeted = true;
    if (cfg->ia3) /* PEFT's feedforward_modules: a full-match regex, or names the module's name ends with */
        TRY(named_by(cfg->feedforward_regex, (const char (*)[64])cfg->feedforward, cfg->n_feedforward, name, false, &out->scales_input));
    const lora_pattern *rank, *alpha;
    TRY(pattern_for(cfg->rank_pattern, cfg->n_rank_pattern, name, &rank));
    TRY(pattern_for(cfg->alpha_pattern, cfg->n_alpha_pattern, name, &alpha));
    if (rank) out->r = (int)rank->value;
    if (alpha) out->alpha = alpha->value;
    return ADAPT_OK;
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
        int at = 0;
        while (at < *n && strcmp(out[at].key, e->string)) at++;
        if (at < *n) { /* a repeated key: Python's json keeps the last value at the first place */
            out[at].value = v;
            continue;
        }
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
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble <= 100000) || e->valuedouble != (double)e->valueint ||
            cfg->n_layers == LORA_MAX_LAYER_LIST)
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"layers_to_transform\" must be at most %d layer indices (whole numbers)", what,
                              LORA_MAX_LAYER_LIST);
        cfg->layers[cfg->n_layers++] = e->valueint;
    }
    if (!one_layer && !cfg->n_layers) cfg->layers_set = false; /* [] as PEFT reads it: every layer */
    if (cfg->layers_set && cfg->target_regex[0]) /* PEFT's LoraConfig refuses it too */
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"layers_to_transform\" cannot be used when \"target_modules\" is a regular expression", what);
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(root, "layers_pattern");
    cfg->n_layers_pattern = 0;
    const cJSON *one = cJSON_IsString(pat) ? pat : NULL, *list = cJSON_IsArray(pat) ? pat->child : NULL;
    if (pat && !cJSON_IsNull(pat) && !one && !cJSON_IsArray(pat))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"layers_pattern\" must be a name or a list of names", what);
    for (const cJSON *e = one ? one : list; e; e = one ? NULL : e->next) {
        if (cJSON_IsString(e) && !*e->valuestring) continue; /* "": no pattern, as PEFT reads it */
        bool plain = cJSON_IsString(e) && strlen(e->valuestring) < sizeof cfg->layers_pattern[0];
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
