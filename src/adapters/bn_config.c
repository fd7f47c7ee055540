#include "adapters/bn_config.h"
#include "adapters/config_string.h"
#include "core/error.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bn_config_defaults(bn_config *c)
{
    memset(c, 0, sizeof *c);
    c->reduction_factor = 16;
    c->non_linearity = ACT_RELU;
    snprintf(c->non_linearity_name, sizeof c->non_linearity_name, "relu");
    c->original_ln_after = true;
    c->residual_before_ln = BN_RESIDUAL_BEFORE_LN;
    c->scaling_kind = BN_SCALING_FIXED;
    c->scaling = 1.0;
    c->init_weights = BN_INIT_BERT;
    c->inv_adapter = BN_INV_NONE;
    c->phm_dim = 4;
    c->phm_rank = 1;
    c->factorized_phm_W = true;
    c->shared_phm_rule = true;
    c->learn_phm = true;
    c->phm_bias = true;
    snprintf(c->phm_c_init, sizeof c->phm_c_init, "normal");
    snprintf(c->hypercomplex_nonlinearity, sizeof c->hypercomplex_nonlinearity, "glorot-uniform");
    c->phm_init_range = 0.0001;
}

/* ------------------------------------------------------------------ reading */

static const cJSON *item(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return (v && !cJSON_IsNull(v)) ? v : NULL;
}

static adapt_status get_bool(const cJSON *obj, const char *key, const char *what, bool required, bool *out)
{
    const cJSON *v = item(obj, key);
    if (!v) return required ? adapt_fail(ADAPT_ERR_FORMAT, "%s: missing \"%s\"", what, key) : ADAPT_OK;
    if (!cJSON_IsBool(v)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" must be true or false", what, key);
    *out = cJSON_IsTrue(v);
    return ADAPT_OK;
}

static adapt_status get_num(const cJSON *obj, const char *key, const char *what, double lo, double hi, double *out)
{
    const cJSON *v = item(obj, key);
    if (!v) return ADAPT_OK;
    double d;
    if (!config_number(v, &d)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" must be a number", what, key);
    if (d < lo || d > hi) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" = %g is outside [%g, %g]", what, key, d, lo, hi);
    *out = d;
    return ADAPT_OK;
}

static adapt_status get_int(const cJSON *obj, const char *key, const char *what, int lo, int hi, int *out)
{
    double d = *out;
    TRY(get_num(obj, key, what, lo, hi, &d));
    if (d != (int)d) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" must be an integer", what, key);
    *out = (int)d;
    return ADAPT_OK;
}

static adapt_status get_str(const cJSON *obj, const char *key, const char *what, char *buf, size_t size)
{
    const cJSON *v = item(obj, key);
    if (!v) return ADAPT_OK;
    if (!cJSON_IsString(v)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" must be a string", what, key);
    if (strlen(v->valuestring) >= size) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" is too long", what, key);
    snprintf(buf, size, "%s", v->valuestring);
    return ADAPT_OK;
}

static adapt_status read_reduction_factor(const cJSON *obj, const char *what, bn_config *c)
{
    const cJSON *v = item(obj, "reduction_factor");
    if (!v) return adapt_fail(ADAPT_ERR_FORMAT, "%s: missing \"reduction_factor\"", what);
    double d;
    if (config_number(v, &d)) {
        if (!(d > 0)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"reduction_factor\" must be > 0, got %g", what, d);
        c->rf_is_map = false;
        c->reduction_factor = d;
        c->n_rf_layers = 0;
        return ADAPT_OK;
    }
    if (!cJSON_IsObject(v))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"reduction_factor\" must be a number or a map of layer -> number", what);
    c->rf_is_map = true;
    c->reduction_factor = 0;
    c->n_rf_layers = 0;
    for (const cJSON *e = v->child; e; e = e->next) {
        if (!config_number(e, &d) || !(d > 0))
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"reduction_factor\"[\"%s\"] must be a number > 0", what, e->string);
        if (!strcmp(e->string, "default")) {
            c->reduction_factor = d;
            continue;
        }
        char *end;
        long layer = strtol(e->string, &end, 10);
        if (!*e->string || *end || layer < 0 || layer > 1000000)
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"reduction_factor\" key \"%s\" is neither a layer index nor \"default\"",
                              what, e->string);
        if (c->n_rf_layers == BN_MAX_LAYER_ENTRIES)
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: more than %d per-layer reduction factors", what, BN_MAX_LAYER_ENTRIES);
        c->rf_layer[c->n_rf_layers] = (int)layer;
        c->rf_value[c->n_rf_layers++] = d;
    }
    return ADAPT_OK;
}

static adapt_status read_non_linearity(const cJSON *obj, const char *what, bool has_version, bn_config *c)
{
    if (!item(obj, "non_linearity")) return adapt_fail(ADAPT_ERR_FORMAT, "%s: missing \"non_linearity\"", what);
    return config_non_linearity(obj, what, has_version, &c->non_linearity, c->non_linearity_name, sizeof c->non_linearity_name);
}

static adapt_status read_enums(const cJSON *obj, const char *what, bn_config *c)
{
    const cJSON *v = item(obj, "residual_before_ln");
    if (v) {
        if (cJSON_IsBool(v)) c->residual_before_ln = cJSON_IsTrue(v) ? BN_RESIDUAL_BEFORE_LN : BN_RESIDUAL_AFTER_LN;
        else if (cJSON_IsString(v) && !strcmp(v->valuestring, "post_add")) c->residual_before_ln = BN_RESIDUAL_POST_ADD;
        else return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"residual_before_ln\" must be true, false or \"post_add\"", what);
    }
    v = item(obj, "scaling");
    double d;
    if (v && config_number(v, &d)) {
        c->scaling_kind = BN_SCALING_FIXED;
        c->scaling = d;
    } else if (v && cJSON_IsString(v) && !strcmp(v->valuestring, "learned")) {
        c->scaling_kind = BN_SCALING_LEARNED;
    } else if (v && cJSON_IsString(v) && !strcmp(v->valuestring, "channel")) {
        c->scaling_kind = BN_SCALING_CHANNEL;
    } else if (v) {
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"scaling\" must be a number, \"learned\" or \"channel\"", what);
    }
    v = item(obj, "init_weights");
    if (v) {
        const char *s = cJSON_IsString(v) ? v->valuestring : "";
        if (!strcmp(s, "bert")) c->init_weights = BN_INIT_BERT;
        else if (!strcmp(s, "houlsby")) c->init_weights = BN_INIT_HOULSBY;
        else if (!strcmp(s, "mam_adapter")) c->init_weights = BN_INIT_MAM;
        else return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"init_weights\" must be \"bert\", \"houlsby\" or \"mam_adapter\"", what);
    }
    /* v1 files nest the invertible adapter: {"invertible_adapter": {"block_type", "reduction_factor"}}. */
    const cJSON *legacy = item(obj, "invertible_adapter");
    const cJSON *inv = legacy && cJSON_IsObject(legacy) ? item(legacy, "block_type") : item(obj, "inv_adapter");
    if (inv) {
        if (!cJSON_IsString(inv)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"inv_adapter\" must be a string or null", what);
        if (!strcmp(inv->valuestring, "nice")) c->inv_adapter = BN_INV_NICE;
        else if (!strcmp(inv->valuestring, "glow"))
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: GLOW invertible adapters are not supported (use \"nice\")", what);
        else return adapt_fail(ADAPT_ERR_FORMAT, "%s: unknown inv_adapter \"%s\"", what, inv->valuestring);
        TRY(get_num(legacy && cJSON_IsObject(legacy) ? legacy : obj,
                    legacy && cJSON_IsObject(legacy) ? "reduction_factor" : "inv_adapter_reduction_factor", what, 1e-9,
                    1e9, &c->inv_adapter_reduction_factor));
        if (!(c->inv_adapter_reduction_factor > 0))
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: inv_adapter \"nice\" needs inv_adapter_reduction_factor", what);
    } else {
        TRY(get_num(obj, "inv_adapter_reduction_factor", what, 1e-9, 1e9, &c->inv_adapter_reduction_factor));
    }
    return ADAPT_OK;
}

static adapt_status read_carried(const cJSON *obj, const char *what, bn_config *c)
{
    TRY(get_bool(obj, "use_gating", what, false, &c->use_gating));
    TRY(get_bool(obj, "cross_adapter", what, false, &c->cross_adapter));
    TRY(get_bool(obj, "phm_layer", what, false, &c->phm_layer));
    TRY(get_int(obj, "phm_dim", what, 1, 1 << 20, &c->phm_dim));
    TRY(get_int(obj, "phm_rank", what, 1, 1 << 20, &c->phm_rank));
    TRY(get_bool(obj, "factorized_phm_W", what, false, &c->factorized_phm_W));
    TRY(get_bool(obj, "shared_W_phm", what, false, &c->shared_W_phm));
    TRY(get_bool(obj, "shared_phm_rule", what, false, &c->shared_phm_rule));
    TRY(get_bool(obj, "factorized_phm_rule", what, false, &c->factorized_phm_rule));
    TRY(get_bool(obj, "learn_phm", what, false, &c->learn_phm));
    TRY(get_bool(obj, "phm_bias", what, false, &c->phm_bias));
    TRY(get_str(obj, "phm_c_init", what, c->phm_c_init, sizeof c->phm_c_init));
    TRY(get_str(obj, "hypercomplex_nonlinearity", what, c->hypercomplex_nonlinearity, sizeof c->hypercomplex_nonlinearity));
    TRY(get_num(obj, "phm_init_range", what, 0, 1e9, &c->phm_init_range));
    TRY(get_num(obj, "stochastic_depth", what, 0, 1, &c->stochastic_depth));
    TRY(config_init_weights_seed(obj, what, &c->has_init_weights_seed, &c->init_weights_seed));
    if (c->use_gating) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: use_gating (UniPELT gates) is not supported", what);
    if (c->phm_layer) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: phm_layer (Compacter) is not supported", what);
    return ADAPT_OK;
}

adapt_status bn_config_from_json(const cJSON *obj, const char *what, bool has_version, bn_config *out)
{
    if (!cJSON_IsObject(obj)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: the adapter \"config\" must be an object", what);
    const cJSON *arch = item(obj, "architecture");
    if (arch && !(cJSON_IsString(arch) && !strcmp(arch->valuestring, "bottleneck")))
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: architecture \"%s\" is not a bottleneck adapter", what,
                          cJSON_IsString(arch) ? arch->valuestring : "?");
    bn_config c;
    bn_config_defaults(&c);
    TRY(get_bool(obj, "mh_adapter", what, true, &c.mh_adapter));
    TRY(get_bool(obj, "output_adapter", what, true, &c.output_adapter));
    TRY(read_reduction_factor(obj, what, &c));
    TRY(read_non_linearity(obj, what, has_version, &c));
    TRY(get_bool(obj, "original_ln_before", what, false, &c.original_ln_before));
    TRY(get_bool(obj, "original_ln_after", what, false, &c.original_ln_after));
    TRY(get_bool(obj, "adapter_residual_before_ln", what, false, &c.adapter_residual_before_ln));
    TRY(get_bool(obj, "ln_before", what, false, &c.ln_before));
    TRY(get_bool(obj, "ln_after", what, false, &c.ln_after));
    TRY(get_bool(obj, "is_parallel", what, false, &c.is_parallel));
    TRY(get_num(obj, "dropout", what, 0, 0.999999, &c.dropout));
    TRY(read_enums(obj, what, &c));
    TRY(config_leave_out(obj, what, BN_MAX_LAYER_ENTRIES, c.leave_out, &c.n_leave_out));
    TRY(read_carried(obj, what, &c));
    *out = c;
    return ADAPT_OK;
}

/* ------------------------------------------------------------------ named configs */

static void seq_bn(bn_config *c)
{
    bn_config_defaults(c);
    c->original_ln_before = true;
    c->output_adapter = true;
}

static void double_seq_bn(bn_config *c)
{
    bn_config_defaults(c);
    c->mh_adapter = c->output_adapter = true;
    c->non_linearity = ACT_SILU;
    snprintf(c->non_linearity_name, sizeof c->non_linearity_name, "swish");
}

static void par_bn(bn_config *c)
{
    bn_config_defaults(c);
    c->output_adapter = true;
    c->reduction_factor = 2;
    c->init_weights = BN_INIT_MAM;
    c->is_parallel = true;
    c->scaling = 4.0;
}

static bool named_config(const char *name, bn_config *c)
{
    if (!strcmp(name, "seq_bn") || !strcmp(name, "pfeiffer")) seq_bn(c);
    else if (!strcmp(name, "double_seq_bn") || !strcmp(name, "houlsby")) double_seq_bn(c);
    else if (!strcmp(name, "par_bn") || !strcmp(name, "parallel")) par_bn(c);
    else if (!strcmp(name, "scaled_par_bn") || !strcmp(name, "scaled_parallel")) {
        par_bn(c);
        c->scaling_kind = BN_SCALING_LEARNED;
    } else if (!strcmp(name, "seq_bn_inv") || !strcmp(name, "pfeiffer+inv")) {
        seq_bn(c);
        c->inv_adapter = BN_INV_NICE;
        c->inv_adapter_reduction_factor = 2;
    } else if (!strcmp(name, "double_seq_bn_inv") || !strcmp(name, "houlsby+inv")) {
        double_seq_bn(c);
        c->inv_adapter = BN_INV_NICE;
        c->inv_adapter_reduction_factor = 2;
    } else return false;
    return true;
}

adapt_status bn_config_parse_string(const char *s, bn_config *out)
{
    char name[64];
    cJSON *over = NULL;
    TRY(config_string_split(s, name, sizeof name, &over));
    bn_config base;
    if (!named_config(name, &base)) {
        cJSON_Delete(over);
        return adapt_fail(ADAPT_ERR_ARG,
                          "unknown adapter config \"%s\" (known: seq_bn, double_seq_bn, par_bn, scaled_par_bn, seq_bn_inv, "
                          "double_seq_bn_inv, and pfeiffer, houlsby, parallel, scaled_parallel, pfeiffer+inv, houlsby+inv)",
                          name);
    }
    if (!over) {
        *out = base;
        return ADAPT_OK;
    }
    /* Overrides go through the JSON reader, so they get the same validation as a file. */
    cJSON *obj = bn_config_to_json(&base);
    adapt_status st = obj ? config_apply_overrides(obj, over) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (st == ADAPT_OK) st = bn_config_from_json(obj, s, true, out);
    cJSON_Delete(obj);
    cJSON_Delete(over);
    return st;
}

/* ------------------------------------------------------------------ writing */

static cJSON *rf_json(const bn_config *c)
{
    if (!c->rf_is_map) return config_py_number(c->reduction_factor);
    cJSON *m = cJSON_CreateObject();
    for (int i = 0; m && i < c->n_rf_layers; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", c->rf_layer[i]);
        cJSON_AddItemToObject(m, key, config_py_number(c->rf_value[i]));
    }
    if (m && c->reduction_factor > 0) cJSON_AddItemToObject(m, "default", config_py_number(c->reduction_factor));
    return m;
}

static cJSON *residual_json(bn_residual_mode m)
{
    return m == BN_RESIDUAL_POST_ADD ? cJSON_CreateString("post_add") : cJSON_CreateBool(m == BN_RESIDUAL_BEFORE_LN);
}

static cJSON *scaling_json(const bn_config *c)
{
    if (c->scaling_kind == BN_SCALING_LEARNED) return cJSON_CreateString("learned");
    if (c->scaling_kind == BN_SCALING_CHANNEL) return cJSON_CreateString("channel");
    return config_py_float(c->scaling);
}

static const char *init_name(bn_init_kind k)
{
    return k == BN_INIT_HOULSBY ? "houlsby" : k == BN_INIT_MAM ? "mam_adapter" : "bert";
}

cJSON *bn_config_to_json(const bn_config *c)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON *leave = cJSON_CreateArray();
    for (int i = 0; leave && i < c->n_leave_out; i++) cJSON_AddItemToArray(leave, cJSON_CreateNumber(c->leave_out[i]));
    /* Key order: Python's json.dump(sort_keys=True) (code-point order, so "W" sorts before "r"). */
    cJSON_AddItemToObject(o, "adapter_residual_before_ln", cJSON_CreateBool(c->adapter_residual_before_ln));
    cJSON_AddItemToObject(o, "cross_adapter", cJSON_CreateBool(c->cross_adapter));
    cJSON_AddItemToObject(o, "dropout", config_py_float(c->dropout));
    cJSON_AddItemToObject(o, "factorized_phm_W", cJSON_CreateBool(c->factorized_phm_W));
    cJSON_AddItemToObject(o, "factorized_phm_rule", cJSON_CreateBool(c->factorized_phm_rule));
    cJSON_AddItemToObject(o, "hypercomplex_nonlinearity", cJSON_CreateString(c->hypercomplex_nonlinearity));
    cJSON_AddItemToObject(o, "init_weights", cJSON_CreateString(init_name(c->init_weights)));
    cJSON_AddItemToObject(o, "init_weights_seed",
                          c->has_init_weights_seed ? cJSON_CreateNumber((double)c->init_weights_seed) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "inv_adapter", c->inv_adapter == BN_INV_NICE ? cJSON_CreateString("nice") : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "inv_adapter_reduction_factor",
                          c->inv_adapter_reduction_factor > 0 ? config_py_number(c->inv_adapter_reduction_factor)
                                                              : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "is_parallel", cJSON_CreateBool(c->is_parallel));
    cJSON_AddItemToObject(o, "learn_phm", cJSON_CreateBool(c->learn_phm));
    cJSON_AddItemToObject(o, "leave_out", leave);
    cJSON_AddItemToObject(o, "ln_after", cJSON_CreateBool(c->ln_after));
    cJSON_AddItemToObject(o, "ln_before", cJSON_CreateBool(c->ln_before));
    cJSON_AddItemToObject(o, "mh_adapter", cJSON_CreateBool(c->mh_adapter));
    cJSON_AddItemToObject(o, "non_linearity", cJSON_CreateString(c->non_linearity_name));
    cJSON_AddItemToObject(o, "original_ln_after", cJSON_CreateBool(c->original_ln_after));
    cJSON_AddItemToObject(o, "original_ln_before", cJSON_CreateBool(c->original_ln_before));
    cJSON_AddItemToObject(o, "output_adapter", cJSON_CreateBool(c->output_adapter));
    cJSON_AddItemToObject(o, "phm_bias", cJSON_CreateBool(c->phm_bias));
    cJSON_AddItemToObject(o, "phm_c_init", cJSON_CreateString(c->phm_c_init));
    cJSON_AddItemToObject(o, "phm_dim", cJSON_CreateNumber(c->phm_dim));
    cJSON_AddItemToObject(o, "phm_init_range", config_py_float(c->phm_init_range));
    cJSON_AddItemToObject(o, "phm_layer", cJSON_CreateBool(c->phm_layer));
    cJSON_AddItemToObject(o, "phm_rank", cJSON_CreateNumber(c->phm_rank));
    cJSON_AddItemToObject(o, "reduction_factor", rf_json(c));
    cJSON_AddItemToObject(o, "residual_before_ln", residual_json(c->residual_before_ln));
    cJSON_AddItemToObject(o, "scaling", scaling_json(c));
    cJSON_AddItemToObject(o, "shared_W_phm", cJSON_CreateBool(c->shared_W_phm));
    cJSON_AddItemToObject(o, "shared_phm_rule", cJSON_CreateBool(c->shared_phm_rule));
    cJSON_AddItemToObject(o, "stochastic_depth", config_py_float(c->stochastic_depth));
    cJSON_AddItemToObject(o, "use_gating", cJSON_CreateBool(c->use_gating));
    return o;
}

/* ------------------------------------------------------------------ per-layer queries */

double bn_reduction_factor(const bn_config *c, int layer)
{
    for (int i = 0; c->rf_is_map && i < c->n_rf_layers; i++)
        if (c->rf_layer[i] == layer) return c->rf_value[i];
    return c->reduction_factor; /* 0 when a map has no default and no entry: bn_bottleneck_dim gives 1 */
}

int bn_bottleneck_dim(const bn_config *c, int layer, int hidden)
{
    double rf = bn_reduction_factor(c, layer);
    if (!(rf > 0)) return 1;
    double d = py_floordiv((double)hidden, rf);
    if (d > 1e9) d = 1e9;
    return d < 1 ? 1 : (int)d;
}

int bn_inv_dim(const bn_config *c, int half)
{
    double rf = c->inv_adapter_reduction_factor;
    if (!(rf > 0)) return half;
    double d = py_floordiv((double)half, rf);
    return d < 0 ? 0 : d > 1e9 ? 1000000000 : (int)d;
}

bool bn_config_has_location(const bn_config *c, int layer, bool attention_output)
{
    if (config_leaves_out(c->leave_out, c->n_leave_out, layer)) return false;
    return attention_output ? c->mh_adapter : c->output_adapter;
}
