#include "adapters/config_string.h"
#include "core/error.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double py_floordiv(double a, double b)
{
    /* CPython float_floor_div: go through fmod so e.g. 32 // 0.1 gives 319, not 320. */
    double mod = fmod(a, b);
    double div = (a - mod) / b;
    if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1.0;
    if (div == 0) return copysign(0.0, a / b);
    double fl = floor(div);
    if (div - fl > 0.5) fl += 1.0;
    return fl;
}

cJSON *config_py_float(double v)
{
    char buf[40];
    if (!isfinite(v)) return cJSON_CreateNull();
    for (int prec = 1; prec <= 17; prec++) { /* shortest text that reads back exactly, as repr() */
        snprintf(buf, sizeof buf - 2, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".e")) strcat(buf, ".0");
    return cJSON_CreateRaw(buf);
}

cJSON *config_py_number(double v)
{
    if (isfinite(v) && v == floor(v) && fabs(v) < 1e15) return cJSON_CreateNumber(v);
    return config_py_float(v);
}

adapt_status config_leave_out(const cJSON *obj, const char *what, int max, int *out, int *n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "leave_out");
    *n = 0;
    if (!v || cJSON_IsNull(v)) return ADAPT_OK;
    if (!cJSON_IsArray(v)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"leave_out\" must be a list of layer indices", what);
    for (const cJSON *e = v->child; e; e = e->next) {
        double d;
        if (!config_number(e, &d) || !(fabs(d) <= 1000000) || d != floor(d)) /* range first: (int)d is UB past INT_MAX */
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"leave_out\" must hold layer indices (whole numbers within +-1000000)", what);
        if (*n == max) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: more than %d leave_out entries", what, max);
        out[(*n)++] = (int)d;
    }
    return ADAPT_OK;
}

bool config_leaves_out(const int *leave_out, int n, int layer)
{
    for (int i = 0; i < n; i++)
        if (leave_out[i] == layer) return true;
    return false;
}

adapt_status config_init_weights_seed(const cJSON *obj, const char *what, bool *has, long long *seed)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "init_weights_seed");
    if (!v || cJSON_IsNull(v)) return ADAPT_OK;
    double d;
    if (!config_number(v, &d) || !(d > -9.2e18 && d < 9.2e18) || d != floor(d))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"init_weights_seed\" must be an integer or null", what);
    *has = true;
    *seed = (long long)d;
    return ADAPT_OK;
}

bool config_number(const cJSON *item, double *out)
{
    if (cJSON_IsNumber(item)) {
        *out = item->valuedouble;
        return isfinite(*out);
    }
    if (cJSON_IsRaw(item) && item->valuestring) {
        char *end;
        double v = strtod(item->valuestring, &end);
        if (end == item->valuestring || *end || !isfinite(v)) return false;
        *out = v;
        return true;
    }
    return false;
}

static const char *skip_ws(const char *p)
{
    while (isspace((unsigned char)*p)) p++;
    return p;
}

/* Python literal text -> JSON text: single-quoted strings become double-quoted, True/False/None
 * become true/false/null (outside strings). */
static char *literal_to_json(const char *s, size_t n)
{
    char *out = malloc(2 * n + 1), *o = out;
    if (!out) return NULL;
    char quote = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (quote) {
            if (ch == '\\' && i + 1 < n) {
                *o++ = ch;
                *o++ = s[++i];
                continue;
            }
            if (ch == quote) {
                *o++ = '"';
                quote = 0;
            } else if (ch == '"') {
                *o++ = '\\';
                *o++ = '"';
            } else {
                *o++ = ch;
            }
            continue;
        }
        if (ch == '\'' || ch == '"') {
            quote = ch;
            *o++ = '"';
        } else if (!strncmp(s + i, "True", 4) && (i + 4 >= n || !isalnum((unsigned char)s[i + 4]))) {
            memcpy(o, "true", 4), o += 4, i += 3;
        } else if (!strncmp(s + i, "False", 5) && (i + 5 >= n || !isalnum((unsigned char)s[i + 5]))) {
            memcpy(o, "false", 5), o += 5, i += 4;
        } else if (!strncmp(s + i, "None", 4) && (i + 4 >= n || !isalnum((unsigned char)s[i + 4]))) {
            memcpy(o, "null", 4), o += 4, i += 3;
        } else {
            *o++ = ch;
        }
    }
    *o = 0;
    return out;
}

static adapt_status parse_value(const char *s, size_t n, const char *whole, cJSON **out)
{
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (!n) return adapt_fail(ADAPT_ERR_ARG, "config string \"%s\": empty value", whole);
    char *text = malloc(n + 1);
    if (!text) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    memcpy(text, s, n);
    text[n] = 0;
    cJSON *v = NULL;
    if ((text[0] == '\'' || text[0] == '"') && n >= 2 && text[n - 1] == text[0]) {
        text[n - 1] = 0;
        v = cJSON_CreateString(text + 1);
    } else if (!strcmp(text, "true") || !strcmp(text, "True")) {
        v = cJSON_CreateTrue();
    } else if (!strcmp(text, "false") || !strcmp(text, "False")) {
        v = cJSON_CreateFalse();
    } else if (!strcmp(text, "null") || !strcmp(text, "None")) {
        v = cJSON_CreateNull();
    } else if (text[0] == '[' || text[0] == '{') {
        char *json = literal_to_json(text, n);
        v = json ? cJSON_Parse(json) : NULL;
        free(json);
        if (!v) {
            adapt_status st = adapt_fail(ADAPT_ERR_ARG, "config string \"%s\": cannot read value %s", whole, text);
            free(text);
            return st;
        }
    } else {
        char *end;
        double d = strtod(text, &end);
        v = (*end == 0 && isfinite(d)) ? cJSON_CreateNumber(d) : cJSON_CreateString(text);
    }
    free(text);
    if (!v) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    *out = v;
    return ADAPT_OK;
}

static adapt_status parse_overrides(const char *p, const char *end, const char *whole, cJSON *obj)
{
    while (p < end) {
        p = skip_ws(p);
        if (p >= end) break;
        const char *key = p;
        while (p < end && (isalnum((unsigned char)*p) || *p == '_')) p++;
        size_t klen = (size_t)(p - key);
        p = skip_ws(p);
        if (!klen || p >= end || *p != '=')
            return adapt_fail(ADAPT_ERR_ARG, "config string \"%s\": expected key=value", whole);
        const char *val = ++p;
        int depth = 0;
        char quote = 0;
        for (; p < end; p++) { /* the value ends at a comma outside brackets and quotes */
            if (quote) {
                if (*p == '\\' && p + 1 < end) p++;
                else if (*p == quote) quote = 0;
            } else if (*p == '\'' || *p == '"') {
                quote = *p;
            } else if (*p == '[' || *p == '{') {
                depth++;
            } else if (*p == ']' || *p == '}') {
                depth--;
            } else if (*p == ',' && depth == 0) {
                break;
            }
        }
        if (quote || depth) return adapt_fail(ADAPT_ERR_ARG, "config string \"%s\": unbalanced value", whole);
        char k[64];
        if (klen >= sizeof k) return adapt_fail(ADAPT_ERR_ARG, "config string \"%s\": key too long", whole);
        memcpy(k, key, klen);
        k[klen] = 0;
        cJSON *v = NULL;
        TRY(parse_value(skip_ws(val), (size_t)(p - skip_ws(val)), whole, &v));
        cJSON_DeleteItemFromObjectCaseSensitive(obj, k);
        cJSON_AddItemToObject(obj, k, v);
        if (p < end) p++; /* the comma */
    }
    return ADAPT_OK;
}

adapt_status config_string_split(const char *s, char *name, size_t name_size, cJSON **overrides)
{
    *overrides = NULL;
    if (strchr(s, '|')) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "config string \"%s\": unions (\"|\") are not supported", s);
    const char *p = skip_ws(s), *end = s + strlen(s);
    while (end > p && isspace((unsigned char)end[-1])) end--;
    const char *br = strchr(p, '[');
    if (br && br >= end) br = NULL;
    const char *name_end = br ? br : end;
    while (name_end > p && isspace((unsigned char)name_end[-1])) name_end--;
    size_t n = (size_t)(name_end - p);
    if (!n) return adapt_fail(ADAPT_ERR_ARG, "config string \"%s\": missing the config name", s);
    if (n >= name_size) return adapt_fail(ADAPT_ERR_ARG, "config string \"%s\": name too long", s);
    memcpy(name, p, n);
    name[n] = 0;
    for (size_t i = 0; i < n; i++) name[i] = (char)tolower((unsigned char)name[i]);
    if (!br) return ADAPT_OK;
    if (end[-1] != ']') return adapt_fail(ADAPT_ERR_ARG, "config string \"%s\": missing \"]\"", s);
    cJSON *obj = cJSON_CreateObject();
    if (!obj) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    adapt_status st = parse_overrides(br + 1, end - 1, s, obj);
    if (st != ADAPT_OK) {
        cJSON_Delete(obj);
        return st;
    }
    *overrides = obj;
    return ADAPT_OK;
}

adapt_status config_apply_overrides(cJSON *obj, const cJSON *overrides)
{
    for (const cJSON *it = overrides ? overrides->child : NULL; it; it = it->next) {
        cJSON *copy = cJSON_Duplicate(it, true);
        if (!copy) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        cJSON_DeleteItemFromObjectCaseSensitive(obj, it->string);
        cJSON_AddItemToObject(obj, it->string, copy);
    }
    return ADAPT_OK;
}

adapt_status config_non_linearity(const cJSON *obj, const char *what, bool has_version, activation_kind *kind, char *name,
                                  size_t name_size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "non_linearity");
    if (!v) return ADAPT_OK;
    if (!cJSON_IsString(v)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"non_linearity\" must be a string", what);
    char lower[32];
    size_t n = strlen(v->valuestring);
    if (n >= sizeof lower) return adapt_fail(ADAPT_ERR_FORMAT, "%s: unknown non_linearity \"%.40s\"", what, v->valuestring);
    for (size_t i = 0; i <= n; i++) lower[i] = (char)tolower((unsigned char)v->valuestring[i]); /* the library lowercases */
    if (!has_version) {
        if (!strcmp(lower, "gelu")) snprintf(lower, sizeof lower, "gelu_new");
        else if (!strcmp(lower, "gelu_orig")) snprintf(lower, sizeof lower, "gelu");
    }
    if (!activation_parse(lower, kind)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: unknown non_linearity \"%s\"", what, v->valuestring);
    snprintf(name, name_size, "%s", lower);
    return ADAPT_OK;
}
