#include "adapters/prefix_tuning.h"
#include "adapters/adapter_params.h"
#include "adapters/config_string.h"
#include "core/error.h"
#include "core/json.h"
#include "model/layers.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void prefix_config_defaults(prefix_config *c)
{
    memset(c, 0, sizeof *c);
    c->prefix_length = 30;
    c->bottleneck_size = 512;
    c->non_linearity = ACT_TANH;
    snprintf(c->non_linearity_name, sizeof c->non_linearity_name, "tanh");
    c->encoder_prefix = c->cross_prefix = c->shared_gating = true;
}

/* The named configs of the library's ADAPTER_CONFIG_MAP. */
static bool named(const char *name, bool *flat)
{
    if (!strcmp(name, "prefix_tuning")) *flat = false;
    else if (!strcmp(name, "prefix_tuning_flat")) *flat = true;
    else return false;
    return true;
}

bool prefix_config_is_prefix_string(const char *s)
{
    if (!s) return false;
    size_t n = strcspn(s, "[");
    char name[32];
    bool flat;
    if (n >= sizeof name) return false;
    memcpy(name, s, n);
    name[n] = 0;
    return named(name, &flat);
}

bool prefix_config_is_prefix_json(const cJSON *config)
{
    const cJSON *arch = cJSON_IsObject(config) ? cJSON_GetObjectItemCaseSensitive(config, "architecture") : NULL;
    return cJSON_IsString(arch) && !strcmp(arch->valuestring, "prefix_tuning");
}

static adapt_status read_int(const cJSON *c, const char *key, long long hi, const char *what, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);
    double d;
    if (!v) return ADAPT_OK;
    if (!config_number(v, &d) || d != floor(d) || d < 1 || d > (double)hi)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" must be a whole number from 1 to %lld", what, key, hi);
    *out = (int)d;
    return ADAPT_OK;
}

adapt_status prefix_config_from_json(const cJSON *config, const char *what, bool has_version, prefix_config *c)
{
    prefix_config_defaults(c);
    if (!prefix_config_is_prefix_json(config))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: not a prefix tuning config (architecture \"prefix_tuning\")", what);
    TRY(read_int(config, "prefix_length", 4096, what, &c->prefix_length));
    TRY(read_int(config, "bottleneck_size", 1 << 16, what, &c->bottleneck_size));
    TRY(config_non_linearity(config, what, has_version, &c->non_linearity, c->non_linearity_name, sizeof c->non_linearity_name));
    TRY(json_get_bool_opt(config, "flat", what, &c->flat));
    TRY(json_get_bool_opt(config, "encoder_prefix", what, &c->encoder_prefix));
    TRY(json_get_bool_opt(config, "cross_prefix", what, &c->cross_prefix));
    TRY(json_get_bool_opt(config, "shared_gating", what, &c->shared_gating));
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(config, "dropout");
    if (drop && (!config_number(drop, &c->dropout) || !(c->dropout >= 0 && c->dropout < 1)))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"dropout\" must be a number in [0, 1)", what);
    TRY(config_leave_out(config, what, PREFIX_MAX_LEAVE_OUT, c->leave_out, &c->n_leave_out));
    TRY(config_init_weights_seed(config, what, &c->has_init_weights_seed, &c->init_weights_seed));
    bool gating = false;
    TRY(json_get_bool_opt(config, "use_gating", what, &gating));
    if (gating) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: use_gating (UniPELT gates on the prefix) is not supported", what);
    return ADAPT_OK;
}

cJSON *prefix_config_to_json(const prefix_config *c)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "architecture", "prefix_tuning");
    cJSON_AddNumberToObject(o, "bottleneck_size", c->bottleneck_size);
    cJSON_AddBoolToObject(o, "cross_prefix", c->cross_prefix);
    cJSON_AddItemToObject(o, "dropout", config_py_float(c->dropout));
    cJSON_AddBoolToObject(o, "encoder_prefix", c->encoder_prefix);
    cJSON_AddBoolToObject(o, "flat", c->flat);
    cJSON_AddItemToObject(o, "init_weights_seed",
                          c->has_init_weights_seed ? cJSON_CreateNumber((double)c->init_weights_seed) : cJSON_CreateNull());
    cJSON *leave = cJSON_AddArrayToObject(o, "leave_out");
    for (int i = 0; leave && i < c->n_leave_out; i++) cJSON_AddItemToArray(leave, cJSON_CreateNumber(c->leave_out[i]));
    cJSON_AddStringToObject(o, "non_linearity", c->non_linearity_name);
    cJSON_AddNumberToObject(o, "prefix_length", c->prefix_length);
    cJSON_AddBoolToObject(o, "shared_gating", c->shared_gating);
    cJSON_AddBoolToObject(o, "use_gating", false);
    return o;
}

adapt_status prefix_config_parse_string(const char *s, prefix_config *out)
{
    char name[64];
    cJSON *overrides = NULL;
    TRY(config_string_split(s, name, sizeof name, &overrides));
    bool flat;
    if (!named(name, &flat)) {
        cJSON_Delete(overrides);
        return adapt_fail(ADAPT_ERR_ARG, "config \"%s\": not a prefix tuning config (prefix_tuning, prefix_tuning_flat)", s);
    }
    prefix_config d;
    prefix_config_defaults(&d);
    d.flat = flat;
    cJSON *obj = prefix_config_to_json(&d);
    adapt_status st = obj ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!st && overrides) st = config_apply_overrides(obj, overrides);
    char what[160];
    snprintf(what, sizeof what, "config \"%.120s\"", s);
    if (!st) st = prefix_config_from_json(obj, what, true, out);
    cJSON_Delete(obj);
    cJSON_Delete(overrides);
    return st;
}

typedef adapt_status (*tensor_fn)(param_store *, const char *, const char *, int64_t, int64_t, param **);

static adapt_status bind_fn(param_store *s, const char *prefix, const char *suffix, int64_t d0, int64_t d1, param **out)
{
    return adapter_param_bind(s, prefix, suffix, d0, d1, out);
}

static adapt_status tensors(param_store *s, const char *prefix, const prefix_config *c, prefix_weights *w, tensor_fn fn)
{
    int64_t out = (int64_t)w->n_slots * 2 * w->hidden;
    if (c->flat) return fn(s, prefix, ".control_trans", (int64_t)c->prefix_length * out, 0, &w->flat);
    TRY(fn(s, prefix, ".wte.weight", c->prefix_length, w->hidden, &w->wte));
    TRY(fn(s, prefix, ".control_trans.0.weight", c->bottleneck_size, w->hidden, &w->w0));
    TRY(fn(s, prefix, ".control_trans.0.bias", c->bottleneck_size, 0, &w->b0));
    TRY(fn(s, prefix, ".control_trans.2.weight", out, c->bottleneck_size, &w->w2));
    return fn(s, prefix, ".control_trans.2.bias", out, 0, &w->b2);
}

adapt_status prefix_weights_make(param_store *s, const char *prefix, const prefix_config *c, int layers, int hidden,
                                 bool create, uint64_t *rng, prefix_weights *w)
{
    memset(w, 0, sizeof *w);
    w->hidden = hidden;
    w->length = c->prefix_length;
    w->slot = malloc((size_t)(layers > 0 ? layers : 1) * sizeof *w->slot);
    if (!w->slot) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (int l = 0; l < layers; l++) w->slot[l] = config_leaves_out(c->leave_out, c->n_leave_out, l) ? -1 : w->n_slots++;
    if (!w->n_slots) return adapt_fail(ADAPT_ERR_ARG, "prefix tuning: leave_out leaves no layer with a prefix");
    /* Bounds far above any published setup (BERT-large, P 30, bottleneck 512: 1.5 M values, a
     * 25 M weight) that keep a hostile config from asking for gigabytes per pass. */
    double values = (double)c->prefix_length * w->n_slots * 2 * hidden;
    if (values > PREFIX_MAX_VALUES)
        return adapt_fail(ADAPT_ERR_ARG, "prefix tuning: %d positions x %d layers x 2 x %d = %.0f keys and values, more than %d",
                          c->prefix_length, w->n_slots, hidden, values, PREFIX_MAX_VALUES);
    if (!c->flat && (double)c->bottleneck_size * w->n_slots * 2 * hidden > PREFIX_MAX_WEIGHT)
        return adapt_fail(ADAPT_ERR_ARG, "prefix tuning: bottleneck_size %d gives an output layer of more than %d weights",
                          c->bottleneck_size, PREFIX_MAX_WEIGHT);
    if (!create) return tensors(s, prefix, c, w, bind_fn);
    TRY(tensors(s, prefix, c, w, adapter_param_add));
    uint64_t seeded = (uint64_t)c->init_weights_seed, *r = c->has_init_weights_seed ? &seeded : rng;
    if (c->flat) {
        init_normal(w->flat->data, w->flat->numel, 1.0, r);
        return ADAPT_OK;
    }
    init_normal(w->wte->data, w->wte->numel, 1.0, r);
    init_kaiming_uniform_sqrt5(w->w0->data, c->bottleneck_size, hidden, r);
    init_uniform(w->b0->data, w->b0->numel, 1.0 / sqrt((double)hidden), r);
    init_kaiming_uniform_sqrt5(w->w2->data, w->w2->shape[0], c->bottleneck_size, r);
    init_uniform(w->b2->data, w->b2->numel, 1.0 / sqrt((double)c->bottleneck_size), r);
    return ADAPT_OK;
}

void prefix_weights_free(prefix_weights *w)
{
    free(w->slot);
    w->slot = NULL;
}

bool prefix_weights_use(const prefix_weights *w, const param *p)
{
    return p && (p == w->wte || p == w->w0 || p == w->b0 || p == w->w2 || p == w->b2 || p == w->flat);
}

bool prefix_weights_trainable(const prefix_weights *w)
{
    const param *all[] = {w->wte, w->w0, w->b0, w->w2, w->b2, w->flat};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i] && all[i]->grad) return true;
    return false;
}

static size_t kv_width(const prefix_weights *w) { return (size_t)w->n_slots * 2 * w->hidden; }

adapt_status prefix_forward(arena *a, const prefix_weights *w, const prefix_config *c, bool for_backward, prefix_cache *out)
{
    memset(out, 0, sizeof *out);
    size_t P = (size_t)w->length, width = kv_width(w);
    if (c->flat) { /* the keys and values are the tensor, and their gradient its gradient */
        TRY(param_require_fp32(w->flat, "prefix tuning"));
        out->kv = w->flat->data;
        out->d_kv = for_backward ? w->flat->grad : NULL;
        return ADAPT_OK;
    }
    if (for_backward && prefix_weights_trainable(w) && !(out->d_kv = arena_floats(a, P * width)))
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for prefix gradients");
    const param *all[] = {w->wte, w->w0, w->b0, w->w2, w->b2};
    for (size_t i = 0; i < 5; i++) TRY(param_require_fp32(all[i], "prefix tuning"));
    size_t bn = (size_t)c->bottleneck_size;
    float *kv = arena_floats_raw(a, P * width);
    out->pre = arena_floats_raw(a, P * bn);
    out->act = arena_floats_raw(a, P * bn);
    if (!kv || !out->pre || !out->act) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for prefix activations");
    linear_forward(out->pre, w->wte->data, w->w0->data, w->b0->data, (int)P, w->hidden, (int)bn);
    activation_forward(out->act, out->pre, P * bn, c->non_linearity);
    linear_forward(kv, out->act, w->w2->data, w->b2->data, (int)P, (int)bn, (int)width);
    out->kv = kv;
    return ADAPT_OK;
}

adapt_status prefix_backward(arena *a, const prefix_weights *w, const prefix_config *c, const prefix_cache *cache)
{
    if (!cache->d_kv || c->flat) return ADAPT_OK; /* flat: the layers' backward wrote its gradient */
    size_t P = (size_t)w->length, width = kv_width(w), bn = (size_t)c->bottleneck_size;
    float *d_act = arena_floats(a, P * bn), *d_pre = arena_floats(a, P * bn);
    if (!d_act || !d_pre) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for prefix gradients");
    linear_backward(d_act, w->w2->grad, w->b2->grad, cache->d_kv, cache->act, w->w2->data, (int)P, (int)bn, (int)width);
    activation_backward(d_pre, d_act, cache->pre, P * bn, c->non_linearity);
    /* The embedding's rows are the MLP's inputs 0..P-1 in order: its gradient is the input gradient,
     * accumulated into it directly (linear_backward adds to d_in). */
    linear_backward(w->wte->grad, w->w0->grad, w->b0->grad, d_pre, w->wte->data, w->w0->data, (int)P, w->hidden, (int)bn);
    return ADAPT_OK;
}

void prefix_layer_rows(const prefix_weights *w, const prefix_cache *cache, int layer, float *k, float *v, int row0)
{
    size_t H = (size_t)w->hidden, width = kv_width(w), s = (size_t)w->slot[layer];
    for (int p = 0; p < w->length; p++) {
        const float *row = cache->kv + (size_t)p * width + 2 * s * H;
        memcpy(k + (size_t)(row0 + p) * H, row, H * sizeof(float));
        memcpy(v + (size_t)(row0 + p) * H, row + H, H * sizeof(float));
    }
}

void prefix_layer_grads(const prefix_weights *w, prefix_cache *cache, int layer, const float *dk, const float *dv, int row0)
{
    if (!cache->d_kv) return;
    size_t H = (size_t)w->hidden, width = kv_width(w), s = (size_t)w->slot[layer];
    for (int p = 0; p < w->length; p++) {
        float *row = cache->d_kv + (size_t)p * width + 2 * s * H;
        const float *gk = dk + (size_t)(row0 + p) * H, *gv = dv + (size_t)(row0 + p) * H;
        for (size_t i = 0; i < H; i++) {
            row[i] += gk[i];
            row[H + i] += gv[i];
        }
    }
}
