/* (IA)^3 (Liu et al. 2022): a learnt vector l per targeted linear layer rescales its output,
 * y = (W x + b) * s l (AdapterHub's composition_mode "scale", PEFT's IA3 outside
 * feedforward_modules), or, on PEFT's feedforward_modules, its input, y = W (x * s l) + b. It rides
 * in a LoRA state: no A, l in the pair's B ([out, 1] or [1, in]), s = alpha (1 for PEFT). */
#include "adapters/lora.h"
#include "core/error.h"
#include "core/json.h"
#include "model/model.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

adapt_status ia3_config_from_json(const cJSON *root, const char *what, lora_config *cfg)
{
    cfg->ia3 = true;
    cfg->r = 1;
    cfg->alpha = 1; /* PEFT's IA3 has no scale of its own */
    TRY(lora_common_from_json(root, what, cfg));
    bool given;
    TRY(lora_modules_from_json(root, "feedforward_modules", what, cfg->feedforward_regex, sizeof cfg->feedforward_regex, cfg->feedforward,
                               LORA_MAX_TARGETS, &cfg->n_feedforward, &given));
    if (!given)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: missing \"feedforward_modules\" (PEFT fills in a default per model type; "
                          "write the list out, [] for none)", what);
    for (int i = 0; !cfg->target_regex[0] && !cfg->feedforward_regex[0] && i < cfg->n_feedforward; i++) {
        bool listed = false; /* PEFT's IA3Config refuses a feedforward module that is not a target */
        for (int k = 0; k < cfg->n_targets && !listed; k++) listed = !strcmp(cfg->feedforward[i], cfg->targets[k]);
        if (!listed)
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: feedforward_modules entry \"%s\" is not in target_modules", what, cfg->feedforward[i]);
    }
    return ADAPT_OK;
}

cJSON *ia3_config_to_json(const lora_config *cfg, const char *task_type)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "base_model_name_or_path", "");
    if (cfg->n_exclude || cfg->exclude_regex[0])
        lora_modules_to_json(root, "exclude_modules", cfg->exclude_regex, (const char (*)[64])cfg->exclude, cfg->n_exclude);
    cJSON_AddFalseToObject(root, "fan_in_fan_out");
    lora_modules_to_json(root, "feedforward_modules", cfg->feedforward_regex, (const char (*)[64])cfg->feedforward, cfg->n_feedforward);
    cJSON_AddTrueToObject(root, "inference_mode");
    cJSON_AddTrueToObject(root, "init_ia3_weights");
    cJSON *save = cJSON_AddArrayToObject(root, "modules_to_save");
    for (int i = 0; save && i < cfg->n_modules_to_save; i++) cJSON_AddItemToArray(save, cJSON_CreateString(cfg->modules_to_save[i]));
    cJSON_AddStringToObject(root, "peft_type", "IA3");
    lora_modules_to_json(root, "target_modules", cfg->target_regex, (const char (*)[64])cfg->targets, cfg->n_targets);
    if (!task_type && !cfg->task_type[0]) cJSON_AddNullToObject(root, "task_type");
    else cJSON_AddStringToObject(root, "task_type", task_type ? task_type : cfg->task_type);
    return root;
}

adapt_status ia3_forward(arena *a, float *y, float **kept, const lora_pair *p, float s, int N)
{
    int out = (int)p->B->shape[0];
    size_t n = (size_t)N * out;
    if (kept) {
        if (!(*kept = arena_floats_raw(a, n))) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for (IA)^3 activations");
        memcpy(*kept, y, n * sizeof(float));
    }
    for (int i = 0; i < N; i++)
        for (int o = 0; o < out; o++) y[(size_t)i * out + o] *= s * p->B->data[o];
    return ADAPT_OK;
}

void ia3_backward(const lora_pair *p, float s, float *dy, const float *kept, int N)
{
    int out = (int)p->B->shape[0];
    for (int i = 0; i < N; i++)
        for (int o = 0; o < out; o++) {
            float *d = &dy[(size_t)i * out + o];
            if (p->B->grad) p->B->grad[o] += s * *d * kept[(size_t)i * out + o];
            *d *= s * p->B->data[o];
        }
}

void ia3_scale_input(float *xs, const float *x, const lora_pair *p, float s, int N)
{
    int in = (int)p->B->shape[1];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < in; j++) xs[(size_t)i * in + j] = x[(size_t)i * in + j] * (s * p->B->data[j]);
}

void ia3_input_backward(const lora_pair *p, float s, float *d_x, const float *d_xs, const float *x, int N)
{
    int in = (int)p->B->shape[1];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < in; j++) {
            float g = d_xs[(size_t)i * in + j];
            if (p->B->grad) p->B->grad[j] += s * g * x[(size_t)i * in + j];
            if (d_x) d_x[(size_t)i * in + j] += s * p->B->data[j] * g;
        }
}

/* W's rows and b times s l (output scaling) or W's columns times s l (input scaling); divided by
 * it to unmerge. All scales are checked first: a zero one could not be undone. */
adapt_status ia3_merge(adapt_model *m, lora_state *s, bool want_merged)
{
    for (int l = 0; l < m->cfg.layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!s->has[l][k]) continue;
            const lora_pair *p = &s->pairs[l][k];
            TRY(param_require_fp32(linear_bias(&m->layers[l], (lora_linear)k), want_merged ? "merging (IA)^3" : "unmerging (IA)^3"));
            for (size_t o = 0; o < p->B->numel; o++)
                if (!isnormal(p->scaling * p->B->data[o]))
                    return adapt_fail(ADAPT_ERR_NUMERIC, "(IA)^3 \"%s\": layer %d %s %s %zu scales by %g: merging could not be undone",
                                      s->name, l, lora_module_names[k], p->scales_input ? "input" : "row", o,
                                      (double)(p->scaling * p->B->data[o]));
        }
    for (int l = 0; l < m->cfg.layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!s->has[l][k]) continue;
            const lora_pair *p = &s->pairs[l][k];
            param *W = linear_weight(&m->layers[l], (lora_linear)k), *b = linear_bias(&m->layers[l], (lora_linear)k);
            int64_t out = W->shape[0], in = W->shape[1];
            for (int64_t o = 0; o < out; o++)
                for (int64_t i = 0; i < in; i++) {
                    float c = p->scaling * p->B->data[p->scales_input ? i : o];
                    W->data[o * in + i] *= want_merged ? c : 1.0f / c;
                }
            for (int64_t o = 0; !p->scales_input && o < out; o++) {
                float c = p->scaling * p->B->data[o];
                b->data[o] *= want_merged ? c : 1.0f / c;
            }
        }
    s->merged = want_merged;
    return ADAPT_OK;
}

/* ".*\.layer\.\d+\.(?:a|b)" over the module kinds flagged in `kinds` (dots escaped), "" for none:
 * a full-match regex both PCRE2 and Python's re read the same way. */
static void kinds_regex(const bool *kinds, char *out, size_t size)
{
    size_t at = 0;
    out[0] = '\0';
    for (int k = 0; k < LIN_COUNT; k++) {
        if (!kinds[k]) continue;
        at += (size_t)snprintf(out + at, size - at, "%s", at ? "|" : ".*\\.layer\\.\\d+\\.(?:");
        for (const char *c = lora_module_names[k]; *c && at + 3 < size; c++) {
            if (*c == '.') out[at++] = '\\';
            out[at++] = *c;
        }
        out[at] = '\0';
    }
    if (at) snprintf(out + at, size - at, ")");
}

adapt_status ia3_combine(adapt_model *m, lora_state *const *in, const double *weights, int n, const char *name)
{
    bool kinds[LIN_COUNT] = {false}, inputs[LIN_COUNT] = {false};
    for (int i = 0; i < n; i++) {
        if (!in[i]->cfg.ia3) return adapt_fail(ADAPT_ERR_ARG, "\"%s\" is a LoRA, \"%s\" an (IA)^3: they do not combine", in[i]->name, in[0]->name);
        if (in[i]->merged) return adapt_fail(ADAPT_ERR_ARG, "(IA)^3 \"%s\" is merged into the weights: unmerge it first", in[i]->name);
        if (!isfinite(weights[i])) return adapt_fail(ADAPT_ERR_ARG, "(IA)^3 \"%s\": weight %g is not finite", in[i]->name, weights[i]);
        for (int l = 0; l < m->cfg.layers; l++)
            for (int k = 0; k < LIN_COUNT; k++) {
                if (!in[i]->has[l][k]) continue;
                bool input = in[i]->pairs[l][k].scales_input;
                if (kinds[k] && inputs[k] != input)
                    return adapt_fail(ADAPT_ERR_UNSUPPORTED, "(IA)^3s scale %s's %s in one and its %s in another: no sum of them", lora_module_names[k],
                                      input ? "input" : "output", input ? "output" : "input");
                kinds[k] = true;
                inputs[k] = input;
            }
    }
    /* PEFT's IA3 add_weighted_adapter: each module's l the weighted sum of the inputs' that have it
     * (their scales folded in: the result has alpha 1). The result covers every layer of the kinds
     * the inputs scale: a module none has stays at ones, no change (PEFT's sum would be zero there,
     * reachable only when its own union of targets names a module no input has). The first input's
     * config otherwise (task_type, names without the model's root), as PEFT's replace() keeps it. */
    lora_config cfg = in[0]->cfg;
    cfg.r = 1, cfg.alpha = 1, cfg.dropout = 0;
    cfg.from_adapterhub = false;
    cfg.n_targets = cfg.n_feedforward = cfg.n_exclude = cfg.n_modules_to_save = 0;
    cfg.n_rank_pattern = cfg.n_alpha_pattern = cfg.n_layers_pattern = 0;
    cfg.layers_set = false;
    cfg.exclude_regex[0] = cfg.bias[0] = '\0';
    kinds_regex(kinds, cfg.target_regex, sizeof cfg.target_regex);
    kinds_regex(inputs, cfg.feedforward_regex, sizeof cfg.feedforward_regex);
    uint64_t rng = 1;
    lora_state *s;
    TRY(lora_attach(m, &cfg, name, true, &rng, &s));
    for (int l = 0; l < m->cfg.layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!s->has[l][k]) continue;
            param *B = s->pairs[l][k].B;
            bool any = false;
            for (int i = 0; i < n; i++) any |= in[i]->has[l][k];
            for (size_t o = 0; any && o < B->numel; o++) {
                double sum = 0;
                for (int i = 0; i < n; i++)
                    if (in[i]->has[l][k]) sum += weights[i] * in[i]->pairs[l][k].scaling * in[i]->pairs[l][k].B->data[o];
                B->data[o] = (float)sum;
            }
            store_set_trainable(B, false); /* frozen, as PEFT leaves it; cannot fail on fp32 */
        }
    return ADAPT_OK;
}
