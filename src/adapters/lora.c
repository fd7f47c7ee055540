#include "adapters/lora.h"
#include "adapters/adapter_params.h"
#include "core/error.h"
#include "core/json.h"
#include "model/layers.h"
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const lora_module_names[LIN_COUNT] = {"attention.self.query", "attention.self.key", "attention.self.value",
                                                  "attention.output.dense", "intermediate.dense", "output.dense"};

adapt_status lora_modules_from_json(const cJSON *root, const char *key, const char *what, char *regex, size_t regex_size,
                                    char (*names)[64], int max, int *n, bool *given)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, key);
    *n = 0;
    regex[0] = '\0';
    *given = t && !cJSON_IsNull(t);
    if (cJSON_IsString(t)) {
        if (strlen(t->valuestring) >= regex_size) return adapt_fail(ADAPT_ERR_FORMAT, "%s: %s too long", what, key);
        snprintf(regex, regex_size, "%s", t->valuestring);
        return ADAPT_OK;
    }
    if (*given && !cJSON_IsArray(t)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: %s must be a regular expression or a list of module names", what, key);
    for (const cJSON *e = *given ? t->child : NULL; e; e = e->next) {
        if (!cJSON_IsString(e) || strlen(e->valuestring) >= 64 || *n == max)
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: %s must be at most %d module names of at most 63 characters", what, key, max);
        snprintf(names[(*n)++], 64, "%s", e->valuestring);
    }
    return ADAPT_OK;
}

/* What LoRA and (IA)^3 configs share: target_modules, exclude_modules, task_type, modules_to_save. */
adapt_status lora_common_from_json(const cJSON *root, const char *what, lora_config *cfg)
{
    bool given;
    TRY(lora_modules_from_json(root, "target_modules", what, cfg->target_regex, sizeof cfg->target_regex, cfg->targets, LORA_MAX_TARGETS,
                               &cfg->n_targets, &given));
    if (!given) return adapt_fail(ADAPT_ERR_FORMAT, "%s: missing \"target_modules\"", what);
    TRY(lora_modules_from_json(root, "exclude_modules", what, cfg->exclude_regex, sizeof cfg->exclude_regex, cfg->exclude, LORA_MAX_EXCLUDE,
                               &cfg->n_exclude, &given));
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(root, "task_type");
    if (cJSON_IsString(task) && strlen(task->valuestring) < sizeof cfg->task_type)
        snprintf(cfg->task_type, sizeof cfg->task_type, "%s", task->valuestring);
    const cJSON *save = cJSON_GetObjectItemCaseSensitive(root, "modules_to_save");
    for (const cJSON *e = cJSON_IsArray(save) ? save->child : NULL; e; e = e->next) {
        if (!cJSON_IsString(e) || strlen(e->valuestring) >= 64 || cfg->n_modules_to_save == 8)
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: modules_to_save must be at most 8 module names", what);
        snprintf(cfg->modules_to_save[cfg->n_modules_to_save++], 64, "%s", e->valuestring);
    }
    bool fan_in_fan_out = false;
    TRY(json_get_bool_opt(root, "fan_in_fan_out", what, &fan_in_fan_out));
    if (fan_in_fan_out) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: fan_in_fan_out (GPT-2's Conv1D layers) is not supported", what);
    return ADAPT_OK;
}

adapt_status lora_config_from_json(const cJSON *root, const char *what, lora_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    const char *type = NULL, *bias = "none";
    TRY(json_get_str(root, "peft_type", what, &type));
    if (!strcmp(type, "IA3")) return ia3_config_from_json(root, what, cfg);
    if (!strcmp(type, "PREFIX_TUNING"))
        return adapt_fail(ADAPT_ERR_ARG, "%s: a PEFT prefix tuning, not a LoRA: load it as an adapter (--load-adapter, adapt_model_load_adapter)", what);
    if (strcmp(type, "LORA")) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: peft_type \"%.40s\" is not supported (LORA, IA3)", what, type);
    long long r = 8;
    TRY(json_get_int_opt(root, "r", 1, 4096, what, &r));
    cfg->r = (int)r;
    cfg->alpha = 8;
    TRY(json_get_num_opt(root, "lora_alpha", what, &cfg->alpha));
    TRY(json_get_num_opt(root, "lora_dropout", what, &cfg->dropout));
    TRY(json_get_bool_opt(root, "use_rslora", what, &cfg->use_rslora));
    TRY(json_get_str_opt(root, "bias", what, &bias));
    TRY(json_get_bool_opt(root, "use_dora", what, &cfg->use_dora));
    /* "all" / "lora_only": PEFT trained biases too and saved them beside the factors; they load as
     * modules_to_save do (the LoRA's values while it is active) */
    if (strcmp(bias, "none") && strcmp(bias, "all") && strcmp(bias, "lora_only"))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: bias \"%.40s\" is none of none, all, lora_only", what, bias);
    snprintf(cfg->bias, sizeof cfg->bias, "%s", bias);
    if (!(cfg->dropout >= 0 && (float)cfg->dropout < 1.0f)) /* as a float too: 0.99999999 would keep nothing */
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: lora_dropout must be in [0, 1)", what);
    TRY(lora_common_from_json(root, what, cfg));
    return lora_patterns_from_json(root, what, cfg);
}

/* target_modules-like lists as PEFT writes them: a string (regex) or a list. */
void lora_modules_to_json(cJSON *root, const char *key, const char *regex, const char (*names)[64], int n)
{
    if (regex[0]) {
        cJSON_AddStringToObject(root, key, regex);
        return;
    }
    cJSON *t = cJSON_AddArrayToObject(root, key);
    for (int i = 0; t && i < n; i++) cJSON_AddItemToArray(t, cJSON_CreateString(names[i]));
}

cJSON *lora_config_to_json(const lora_config *cfg, const char *task_type)
{
    if (cfg->ia3) return ia3_config_to_json(cfg, task_type);
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "base_model_name_or_path", "");
    cJSON_AddStringToObject(root, "bias", cfg->bias[0] ? cfg->bias : "none");
    cJSON_AddFalseToObject(root, "fan_in_fan_out");
    cJSON_AddTrueToObject(root, "inference_mode");
    cJSON_AddTrueToObject(root, "init_lora_weights");
    cJSON_AddNumberToObject(root, "lora_alpha", cfg->alpha);
    cJSON_AddNumberToObject(root, "lora_dropout", cfg->dropout);
    cJSON *save = cJSON_AddArrayToObject(root, "modules_to_save");
    for (int i = 0; save && i < cfg->n_modules_to_save; i++) cJSON_AddItemToArray(save, cJSON_CreateString(cfg->modules_to_save[i]));
    cJSON_AddStringToObject(root, "peft_type", "LORA");
    cJSON_AddNumberToObject(root, "r", cfg->r);
    lora_modules_to_json(root, "target_modules", cfg->target_regex, (const char (*)[64])cfg->targets, cfg->n_targets);
    if (cfg->n_exclude || cfg->exclude_regex[0])
        lora_modules_to_json(root, "exclude_modules", cfg->exclude_regex, (const char (*)[64])cfg->exclude, cfg->n_exclude);
    if (!task_type && !cfg->task_type[0]) cJSON_AddNullToObject(root, "task_type");
    else cJSON_AddStringToObject(root, "task_type", task_type ? task_type : cfg->task_type);
    cJSON_AddBoolToObject(root, "use_dora", cfg->use_dora);
    lora_patterns_to_json(cfg, root);
    cJSON_AddBoolToObject(root, "use_rslora", cfg->use_rslora);
    return root;
}

int lora_module_count(const adapt_model *m) { return m->cfg.layers * LIN_COUNT + EMB_COUNT; }

int lora_module_path(const adapt_model *m, int j, char *out, size_t size)
{
    int l = j / LIN_COUNT;
    if (l < m->cfg.layers) return snprintf(out, size, "%s.encoder.layer.%d.%s", m->prefix, l, lora_module_names[j % LIN_COUNT]);
    return snprintf(out, size, "%s.%s", m->prefix, lora_embedding_names[j - m->cfg.layers * LIN_COUNT]);
}

bool lora_state_has(const lora_state *s, int j)
{
    int l = j / LIN_COUNT;
    return l < s->layers ? s->has[l][j % LIN_COUNT] : s->has_emb[j - s->layers * LIN_COUNT];
}

float lora_scaling(double alpha, int r, bool rslora) { return (float)(rslora ? alpha / sqrt((double)r) : alpha / r); }

static param *linear_param(encoder_layer *L, lora_linear which, bool bias)
{
    switch (which) {
    case LIN_QUERY: return bias ? L->q_b : L->q_w;
    case LIN_KEY: return bias ? L->k_b : L->k_w;
    case LIN_VALUE: return bias ? L->v_b : L->v_w;
    case LIN_ATTN_OUT: return bias ? L->attn_out_b : L->attn_out_w;
    case LIN_INTER: return bias ? L->inter_b : L->inter_w;
    default: return bias ? L->out_b : L->out_w;
    }
}

param *linear_weight(encoder_layer *L, lora_linear which) { return linear_param(L, which, false); }
param *linear_bias(encoder_layer *L, lora_linear which) { return linear_param(L, which, true); }

void lora_state_free(lora_state *s)
{
    if (!s) return;
    for (int l = 0; s->pairs && l < s->layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) free(s->pairs[l][k].merged_scale);
    free(s->pairs);
    free(s->has);
    free(s->modules);
    free(s);
}

bool lora_is_tensor(const char *name, const char *unused)
{
    (void)unused;
    return strstr(name, ".lora_A.") || strstr(name, ".lora_B.") || strstr(name, "." LORA_MAGNITUDE) || strstr(name, ".lora_embedding_A.") ||
           strstr(name, ".lora_embedding_B.");
}

void lora_magnitude_name(const char *lora, char *out, size_t size)
{
    if (!strcmp(lora, LORA_DEFAULT_NAME)) snprintf(out, size, LORA_MAGNITUDE);
    else snprintf(out, size, LORA_MAGNITUDE ".%s", lora);
}

void lora_factor_name(const char *lora, const char *factor, char *out, size_t size)
{
    if (!strcmp(lora, LORA_DEFAULT_NAME)) snprintf(out, size, "%s.weight", factor);
    else snprintf(out, size, "%s.%s.weight", factor, lora);
}

bool lora_tensor_of(const char *name, const char *lora)
{
    static const char *const factors[] = {"lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B", LORA_MAGNITUDE};
    for (int f = 0; f < 5; f++) {
        char suffix[LORA_NAME_MAX + 40];
        suffix[0] = '.';
        if (f < 4) lora_factor_name(lora, factors[f], suffix + 1, sizeof suffix - 1);
        else lora_magnitude_name(lora, suffix + 1, sizeof suffix - 1);
        size_t n = strlen(name), k = strlen(suffix);
        if (n > k && !strcmp(name + n - k, suffix)) return true;
    }
    return false;
}

adapt_status lora_check_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    /* a name that is also a tensor-name part ("weight", "lora_A", ...) would make one LoRA's tensor
     * names end like another's (lora_tensor_of matches by suffix) */
    bool ok = n > 0 && n < LORA_NAME_MAX && strcmp(name, "weight") && strcmp(name, "lora_A") && strcmp(name, "lora_B") &&
              strcmp(name, LORA_MAGNITUDE) && strcmp(name, "lora_embedding_A") && strcmp(name, "lora_embedding_B");
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    }
    if (!ok)
        return adapt_fail(ADAPT_ERR_ARG, "LoRA name \"%.80s\": use 1-%d letters, digits, '_' or '-' (not \"weight\", \"lora_A\", "
                          "\"lora_B\", \"lora_embedding_A\", \"lora_embedding_B\" or \"" LORA_MAGNITUDE "\")",
                          name ? name : "", LORA_NAME_MAX - 1);
    return ADAPT_OK;
}

adapt_status lora_bind_loaded(adapt_model *m, const char *prefix, const char *suffix, const char *module, const char *role, int64_t d0,
                              int64_t d1, param **out)
{
    char name[512];
    snprintf(name, sizeof name, "%s%s", prefix, suffix);
    param *p = store_get(&m->store, name);
    if (!p)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: the file has no %s for it (its target_modules name the module)", module, role);
    bool fits = p->ndim == (d1 ? 2 : 1) && p->shape[0] == d0 && (!d1 || p->shape[1] == d1);
    if (!fits) {
        char got[96], want[48];
        adapter_param_shape(got, sizeof got, p);
        if (d1) snprintf(want, sizeof want, "[%lld,%lld]", (long long)d0, (long long)d1);
        else snprintf(want, sizeof want, "[%lld]", (long long)d0);
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: its %s has shape %s, expected %s", module, role, got, want);
    }
    *out = p;
    return ADAPT_OK;
}

adapt_status lora_attach(adapt_model *m, const lora_config *cfg, const char *name, bool create, uint64_t *rng,
                         lora_state **out)
{
    TRY(lora_check_name(name));
    if (lora_find(m, name)) return adapt_fail(ADAPT_ERR_ARG, "the model already has a LoRA named \"%s\"", name);
    if (m->n_loras == ADAPT_MODEL_MAX_LORAS) return adapt_fail(ADAPT_ERR_ARG, "a model holds at most %d LoRAs", ADAPT_MODEL_MAX_LORAS);
    if (cfg->r < 1) return adapt_fail(ADAPT_ERR_ARG, "LoRA rank must be at least 1");
    if (cfg->ia3 && (cfg->r != 1 || cfg->use_dora || cfg->use_rslora || cfg->n_rank_pattern || cfg->n_alpha_pattern))
        return adapt_fail(ADAPT_ERR_ARG, "(IA)^3 takes r 1 and no DoRA, rsLoRA or rank / alpha patterns");
    char a_name[LORA_NAME_MAX + 32], b_name[LORA_NAME_MAX + 32], m_name[LORA_NAME_MAX + 32];
    lora_factor_name(name, "lora_A", a_name, sizeof a_name);
    lora_factor_name(name, "lora_B", b_name, sizeof b_name);
    lora_magnitude_name(name, m_name, sizeof m_name);
    lora_state *s = calloc(1, sizeof *s);
    int L = m->cfg.layers;
    if (s) {
        s->pairs = calloc((size_t)L + 1, sizeof *s->pairs);
        s->has = calloc((size_t)L + 1, sizeof *s->has);
    }
    if (!s || !s->pairs || !s->has) {
        lora_state_free(s);
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    s->cfg = *cfg;
    s->layers = L;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->scaling = cfg->ia3 ? (float)cfg->alpha : lora_scaling(cfg->alpha, cfg->r, cfg->use_rslora);
    adapt_status st = ADAPT_OK;
    int attached = 0;
    for (int l = 0; l < L && !st; l++)
        for (int k = 0; k < LIN_COUNT && !st; k++) {
            char module[256];
            lora_module_path(m, l * LIN_COUNT + k, module, sizeof module);
            lora_module_settings ms; /* target_modules, layers_to_transform, rank_pattern, alpha_pattern */
            st = lora_module_settings_of(cfg, module, &ms);
            if (st || !ms.targeted) continue;
            param *W = linear_weight(&m->layers[l], (lora_linear)k);
            int64_t out = W->shape[0], in = W->shape[1];
            char prefix[300];
            snprintf(prefix, sizeof prefix, "%s.", module);
            lora_pair *p = &s->pairs[l][k];
            char label[96];
            snprintf(label, sizeof label, "layer %d %s", l, lora_module_names[k]);
            int r = ms.r;
            p->scaling = cfg->ia3 ? (float)ms.alpha : lora_scaling(ms.alpha, r, cfg->use_rslora); /* (IA)^3: s = alpha (AdapterHub's) */
            if (!isfinite(p->scaling)) {
                st = adapt_fail(ADAPT_ERR_FORMAT, "LoRA %s: lora_alpha %g over r %d is no float scaling", module, ms.alpha, r);
                break;
            }
            if (cfg->ia3) { /* l [out, 1] ([1, in] on the input), starting at ones (the base model), as both libraries do */
                p->scales_input = ms.scales_input;
                int64_t rows = p->scales_input ? 1 : out, cols = p->scales_input ? in : 1;
                const char *role = p->scales_input ? "(IA)^3 vector (an input scale, [1, in]: feedforward_modules name the module)"
                                                   : "(IA)^3 vector (an output scale, [out, 1])";
                st = create ? adapter_param_add(&m->store, prefix, b_name, rows, cols, &p->B)
                            : lora_bind_loaded(m, prefix, b_name, label, role, rows, cols, &p->B);
                for (size_t o = 0; !st && create && o < p->B->numel; o++) p->B->data[o] = 1.0f;
                if (!st && create) st = store_set_trainable(p->B, true);
            } else if (create) {
                st = adapter_param_add(&m->store, prefix, a_name, r, in, &p->A);
                if (!st) st = adapter_param_add(&m->store, prefix, b_name, out, r, &p->B);
                if (!st) init_kaiming_uniform_sqrt5(p->A->data, r, in, rng);
                if (!st) st = store_set_trainable(p->A, true);
                if (!st) st = store_set_trainable(p->B, true);
                if (!st && cfg->use_dora) st = adapter_param_add(&m->store, prefix, m_name, out, 0, &p->magnitude);
                if (!st && cfg->use_dora) st = dora_init_magnitude(W, p); /* m = ||W + s B A|| = ||W|| while B = 0, as PEFT */
                if (!st && cfg->use_dora) st = store_set_trainable(p->magnitude, true);
            } else {
                st = lora_bind_loaded(m, prefix, a_name, label, "lora_A ([r, in])", r, in, &p->A);
                if (!st) st = lora_bind_loaded(m, prefix, b_name, label, "lora_B ([out, r])", out, r, &p->B);
                if (!st && cfg->use_dora) st = lora_bind_loaded(m, prefix, m_name, label, "DoRA magnitude (" LORA_MAGNITUDE ", [out])", out, 0, &p->magnitude);
                if (!st && cfg->use_dora) st = param_require_fp32(W, "DoRA (the norms of W + s B A)");
            }
            s->has[l][k] = !st;
            attached += !st;
        }
    if (!st) st = lora_embedding_attach(m, s, create, rng, &attached);
    if (!st && !attached) st = adapt_fail(ADAPT_ERR_ARG, "LoRA target_modules match no linear layer of the model");
    for (size_t i = 0; !st && !create && i < m->store.count; i++) { /* a loaded tensor no target binds */
        const param *t = m->store.items[i];
        if (!lora_tensor_of(t->name, name)) continue;
        bool bound = false;
        for (int l = 0; l < L && !bound; l++)
            for (int k = 0; k < LIN_COUNT && !bound; k++) {
                const lora_pair *p = &s->pairs[l][k];
                bound = s->has[l][k] && (p->A == t || p->B == t || (p->magnitude && p->magnitude == t));
            }
        for (int e = 0; e < EMB_COUNT && !bound; e++) bound = s->has_emb[e] && (s->emb[e].A == t || s->emb[e].B == t);
        if (!bound) st = adapt_fail(ADAPT_ERR_FORMAT, "tensor \"%s\" is in no module that target_modules names", t->name);
    }
    if (st) {
        if (create) lora_remove_tensors(m, name); /* the factors made before the failure */
        lora_state_free(s);
        return st;
    }
    if (!m->n_loras) m->lora = s;
    m->loras[m->n_loras++] = s;
    if (out) *out = s;
    return ADAPT_OK;
}

adapt_status lora_forward(arena *a, float *y, float **ax_out, const float *x, const lora_pair *p, float s, int N)
{
    int r = (int)p->A->shape[0], in = (int)p->A->shape[1], out = (int)p->B->shape[0];
    float *ax = arena_floats(a, (size_t)N * r);
    if (!ax) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for LoRA activations");
    linear_forward(ax, x, p->A->data, NULL, N, in, r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out, r, s, ax, r, p->B->data, r, 1.0f, y, out);
    *ax_out = ax;
    return ADAPT_OK;
}

adapt_status lora_backward(arena *a, float *d_x, const float *dy, const float *ax, const float *x, const lora_pair *p, float s, int N)
{
    int r = (int)p->A->shape[0], in = (int)p->A->shape[1], out = (int)p->B->shape[0];
    float *d_ax = arena_floats(a, (size_t)N * r);
    if (!d_ax) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for LoRA gradients");
    /* y += s * ax B^T: d_ax = s dy B, dB += s dy^T ax */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, r, out, s, dy, out, p->B->data, r, 0.0f, d_ax, r);
    if (p->B->grad) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, r, N, s, dy, out, ax, r, 1.0f, p->B->grad, r);
    linear_backward(d_x, p->A->grad, NULL, d_ax, x, p->A->data, N, in, r);
    return ADAPT_OK;
}

static adapt_status merge_sign(adapt_model *m, float sign, bool want_merged)
{
    lora_state *s = m->lora;
    if (!s) return adapt_fail(ADAPT_ERR_ARG, "the model has no LoRA weights");
    if (s->merged == want_merged) return adapt_fail(ADAPT_ERR_ARG, "the LoRA weights are already %s", want_merged ? "merged" : "unmerged");
    for (int l = 0; l < m->cfg.layers; l++) /* all or nothing: W += B A in fp32 only */
        for (int k = 0; k < LIN_COUNT; k++)
            if (s->has[l][k])
                TRY(param_require_fp32(linear_weight(&m->layers[l], (lora_linear)k),
                                       want_merged ? "merging LoRA into the base" : "unmerging LoRA"));
    TRY(lora_embedding_check(m, s, want_merged ? "merging LoRA into the base" : "unmerging LoRA"));
    if (s->cfg.ia3) return ia3_merge(m, s, want_merged);
    for (int l = 0; s->cfg.use_dora && want_merged && l < m->cfg.layers; l++) /* DoRA: c from the unmerged W, kept for unmerging */
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!s->has[l][k]) continue;
            lora_pair *p = &s->pairs[l][k];
            free(p->merged_scale); /* a failed earlier attempt's */
            if (!(p->merged_scale = malloc((size_t)p->B->shape[0] * sizeof(float)))) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
            TRY(dora_scale(linear_weight(&m->layers[l], (lora_linear)k), p, p->scaling, p->merged_scale));
            for (int64_t o = 0; o < p->B->shape[0]; o++) /* unmerging divides by c: a zero would lose the row */
                if (!isnormal(p->merged_scale[o]))
                    return adapt_fail(ADAPT_ERR_NUMERIC, "DoRA: layer %d %s row %lld scales W by %g: merging could not be undone", l,
                                      lora_module_names[k], (long long)o, (double)p->merged_scale[o]);
        }
    for (int l = 0; l < m->cfg.layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!s->has[l][k]) continue;
            param *W = linear_weight(&m->layers[l], (lora_linear)k);
            lora_pair *p = &s->pairs[l][k];
            int out = (int)W->shape[0], in = (int)W->shape[1], r = (int)p->A->shape[0];
            const float *c = p->merged_scale;
            for (int o = 0; c && !want_merged && o < out; o++) /* DoRA: W = W' / c - s B A */
                for (int i = 0; i < in; i++) W->data[(size_t)o * in + i] /= c[o];
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, out, in, r, sign * p->scaling, p->B->data, r, p->A->data, in,
                        1.0f, W->data, in);
            for (int o = 0; c && want_merged && o < out; o++) /* DoRA: W' = c (W + s B A) */
                for (int i = 0; i < in; i++) W->data[(size_t)o * in + i] *= c[o];
            if (!want_merged) {
                free(p->merged_scale);
                p->merged_scale = NULL;
            }
        }
    lora_embedding_merge(m, s, sign);
    s->merged = want_merged;
    return ADAPT_OK;
}

adapt_status lora_merge(adapt_model *m) { return merge_sign(m, 1.0f, true); }
adapt_status lora_unmerge(adapt_model *m) { return merge_sign(m, -1.0f, false); }
