#include "adapters/adapter_spec.h"
#include "core/error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNION_MAX_PARTS 4

static void spec_empty(adapter_spec *s)
{
    memset(s, 0, sizeof *s);
    bn_config_defaults(&s->bn);
    prefix_config_defaults(&s->prefix);
}

/* Adds one part to a union, refusing a second of a kind (adapt keeps one of each per adapter). */
static adapt_status add_part(adapter_spec *s, bool prefix, const char *what)
{
    if (prefix ? s->has_prefix : s->has_bn)
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: a union of two %s is not supported (one bottleneck adapter and one prefix tuning)",
                          what, prefix ? "prefix tunings" : "bottleneck configs");
    if (prefix) s->prefix_first = !s->has_bn;
    *(prefix ? &s->has_prefix : &s->has_bn) = true;
    return ADAPT_OK;
}

static adapt_status refuse_named(const char *name, const char *what)
{
    if (!strcmp(name, "unipelt"))
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: UniPELT (gated LoRA, prefix tuning and adapter) is not supported", what);
    if (!strcmp(name, "lora") || !strcmp(name, "ia3"))
        return adapt_fail(ADAPT_ERR_ARG, "%s: a %s is not a bottleneck adapter: train it with --method lora%s", what, name,
                          !strcmp(name, "ia3") ? " --ia3" : "");
    if (!strcmp(name, "prompt_tuning") || !strncmp(name, "compacter", 9))
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: %s is not supported", what, name);
    return ADAPT_OK;
}

/* One config of len bytes at text (a union's part, or a whole string). */
static adapt_status parse_part(const char *text, size_t len, const char *what, adapter_spec *s)
{
    /* the library strips each part of a union ("prefix_tuning | par_bn") */
    while (len && (*text == ' ' || *text == '\t')) text++, len--;
    while (len && (text[len - 1] == ' ' || text[len - 1] == '\t')) len--;
    if (!len) return adapt_fail(ADAPT_ERR_ARG, "%s: an empty part", what);
    char *part = malloc(len + 1);
    if (!part) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    memcpy(part, text, len);
    part[len] = 0;
    char name[64];
    size_t n = strcspn(part, "[");
    snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), part);
    adapt_status st = refuse_named(name, what);
    if (!st && !strcmp(name, "mam")) {
        if (part[n]) st = adapt_fail(ADAPT_ERR_ARG, "%s: \"mam\" takes no overrides (write its union: prefix_tuning[...]|par_bn[...])", what);
        if (!st) st = add_part(s, true, what);
        if (!st) st = prefix_config_parse_string("prefix_tuning[bottleneck_size=800]", &s->prefix);
        if (!st) st = add_part(s, false, what);
        if (!st) st = bn_config_parse_string("par_bn", &s->bn);
    } else if (!st && prefix_config_is_prefix_string(part)) {
        st = add_part(s, true, what);
        if (!st) st = prefix_config_parse_string(part, &s->prefix);
    } else if (!st) {
        st = add_part(s, false, what);
        if (!st) st = bn_config_parse_string(part, &s->bn);
    }
    free(part);
    return st;
}

adapt_status adapter_spec_parse_string(const char *s, adapter_spec *out)
{
    spec_empty(out);
    char what[160];
    snprintf(what, sizeof what, "config \"%.120s\"", s);
    /* "a|b": split at every '|', as the library's parse_adapter_config_string does */
    int parts = 0;
    for (const char *start = s;; parts++) {
        if (parts == UNION_MAX_PARTS) return adapt_fail(ADAPT_ERR_ARG, "%s: more than %d parts", what, UNION_MAX_PARTS);
        size_t len = strcspn(start, "|");
        TRY(parse_part(start, len, what, out));
        if (!start[len]) return ADAPT_OK;
        start += len + 1;
    }
}

static adapt_status part_from_json(const cJSON *c, const char *what, bool has_version, adapter_spec *s)
{
    if (cJSON_IsString(c)) {
        if (strchr(c->valuestring, '|') || !strcmp(c->valuestring, "mam"))
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: a union inside a union", what);
        return parse_part(c->valuestring, strlen(c->valuestring), what, s);
    }
    if (!cJSON_IsObject(c)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: the adapter \"config\" must be an object or a name", what);
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(c, "architecture");
    const char *a = cJSON_IsString(arch) ? arch->valuestring : NULL;
    if (a && !strcmp(a, "union")) return adapt_fail(ADAPT_ERR_FORMAT, "%s: a union inside a union", what);
    if (a && (!strcmp(a, "lora") || !strcmp(a, "prompt_tuning") || !strcmp(a, "reft")))
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: a union with %s is not supported (one bottleneck adapter and one prefix tuning)",
                          what, a);
    if (prefix_config_is_prefix_json(c)) {
        TRY(add_part(s, true, what));
        return prefix_config_from_json(c, what, has_version, &s->prefix);
    }
    TRY(add_part(s, false, what));
    return bn_config_from_json(c, what, has_version, &s->bn);
}

adapt_status adapter_spec_from_json(const cJSON *config, const char *what, bool has_version, adapter_spec *out)
{
    spec_empty(out);
    if (cJSON_IsString(config)) return adapter_spec_parse_string(config->valuestring, out);
    const cJSON *arch = cJSON_IsObject(config) ? cJSON_GetObjectItemCaseSensitive(config, "architecture") : NULL;
    if (!(cJSON_IsString(arch) && !strcmp(arch->valuestring, "union"))) return part_from_json(config, what, has_version, out);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(config, "configs");
    if (!cJSON_IsArray(list) || !cJSON_GetArraySize(list))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: a union needs a non-empty \"configs\" list", what);
    if (cJSON_GetArraySize(list) > UNION_MAX_PARTS) return adapt_fail(ADAPT_ERR_FORMAT, "%s: a union of more than %d configs", what, UNION_MAX_PARTS);
    for (const cJSON *c = list->child; c; c = c->next) TRY(part_from_json(c, what, has_version, out));
    return ADAPT_OK;
}

cJSON *adapter_spec_to_json(const adapter_spec *s)
{
    if (!s->has_prefix) return bn_config_to_json(&s->bn);
    if (!s->has_bn) return prefix_config_to_json(&s->prefix);
    cJSON *o = cJSON_CreateObject(), *list = cJSON_CreateArray();
    cJSON *prefix = prefix_config_to_json(&s->prefix), *bn = bn_config_to_json(&s->bn);
    if (!o || !list || !prefix || !bn) {
        cJSON_Delete(o), cJSON_Delete(list), cJSON_Delete(prefix), cJSON_Delete(bn);
        return NULL;
    }
    cJSON_AddStringToObject(o, "architecture", "union");
    cJSON_AddItemToArray(list, s->prefix_first ? prefix : bn);
    cJSON_AddItemToArray(list, s->prefix_first ? bn : prefix);
    cJSON_AddItemToObject(o, "configs", list);
    return o;
}
