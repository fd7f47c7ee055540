/* AdapterFusionConfig: named configs, adapter_fusion_config.json "config" object. */
#include "adapters/fusion.h"
#include "adapters/config_string.h"
#include "core/error.h"
#include <string.h>

static const char *const BOOL_KEYS[] = {"key", "query", "value", "query_before_ln", "regularization",
                                        "residual_before", "temperature", "value_before_softmax", "value_initialized"};

static bool *bool_field(fusion_config *c, int i)
{
    bool *fields[] = {&c->key, &c->query, &c->value, &c->query_before_ln, &c->regularization,
                      &c->residual_before, &c->temperature, &c->value_before_softmax, &c->value_initialized};
    return fields[i];
}

static void dynamic_config(fusion_config *c)
{
    memset(c, 0, sizeof *c);
    c->key = c->query = c->value = true;
    c->regularization = true;
    c->value_before_softmax = true;
    c->value_initialized = true;
}

adapt_status fusion_config_from_json(const cJSON *obj, const char *what, fusion_config *out)
{
    if (!cJSON_IsObject(obj)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: the fusion \"config\" must be an object", what);
    fusion_config c;
    memset(&c, 0, sizeof c);
    for (int i = 0; i < 9; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, BOOL_KEYS[i]);
        if (!v) return adapt_fail(ADAPT_ERR_FORMAT, "%s: missing \"%s\"", what, BOOL_KEYS[i]);
        if (cJSON_IsBool(v)) *bool_field(&c, i) = cJSON_IsTrue(v);
        else if (i == 8 && cJSON_IsString(v)) *bool_field(&c, i) = v->valuestring[0] != 0; /* typed str upstream */
        else return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" must be true or false", what, BOOL_KEYS[i]);
    }
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(obj, "dropout_prob");
    if (d && !cJSON_IsNull(d)) {
        if (!config_number(d, &c.dropout_prob) || c.dropout_prob < 0 || c.dropout_prob >= 1)
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"dropout_prob\" must be null or a number in [0, 1)", what);
        c.has_dropout_prob = true;
    }
    *out = c;
    return ADAPT_OK;
}

cJSON *fusion_config_to_json(const fusion_config *c)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddItemToObject(o, "dropout_prob", c->has_dropout_prob ? config_py_float(c->dropout_prob) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "key", cJSON_CreateBool(c->key));
    cJSON_AddItemToObject(o, "query", cJSON_CreateBool(c->query));
    cJSON_AddItemToObject(o, "query_before_ln", cJSON_CreateBool(c->query_before_ln));
    cJSON_AddItemToObject(o, "regularization", cJSON_CreateBool(c->regularization));
    cJSON_AddItemToObject(o, "residual_before", cJSON_CreateBool(c->residual_before));
    cJSON_AddItemToObject(o, "temperature", cJSON_CreateBool(c->temperature));
    cJSON_AddItemToObject(o, "value", cJSON_CreateBool(c->value));
    cJSON_AddItemToObject(o, "value_before_softmax", cJSON_CreateBool(c->value_before_softmax));
    cJSON_AddItemToObject(o, "value_initialized", cJSON_CreateBool(c->value_initialized));
    return o;
}

adapt_status fusion_config_parse_string(const char *s, fusion_config *out)
{
    char name[32];
    cJSON *over = NULL;
    TRY(config_string_split(s, name, sizeof name, &over));
    fusion_config base;
    dynamic_config(&base);
    if (!strcmp(name, "static")) {
        base.value = base.regularization = base.value_initialized = false;
    } else if (strcmp(name, "dynamic")) {
        cJSON_Delete(over);
        return adapt_fail(ADAPT_ERR_ARG, "unknown fusion config \"%s\" (known: dynamic, static)", name);
    }
    if (!over) {
        *out = base;
        return ADAPT_OK;
    }
    cJSON *obj = fusion_config_to_json(&base);
    adapt_status st = obj ? config_apply_overrides(obj, over) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (st == ADAPT_OK) st = fusion_config_from_json(obj, s, out);
    cJSON_Delete(obj);
    cJSON_Delete(over);
    return st;
}
