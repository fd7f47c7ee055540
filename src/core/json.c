#include "core/json.h"
#include "core/error.h"
#include "core/fileio.h"
#include <math.h>
#include <stdlib.h>

adapt_status json_parse(const char *text, size_t len, const char *what, cJSON **out)
{
    *out = NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t at = end ? (size_t)(end - text) : 0;
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: malformed JSON near byte %zu", what, at);
    }
    *out = root;
    return ADAPT_OK;
}

adapt_status json_load_file(const char *path, cJSON **out)
{
    char *text;
    size_t len;
    TRY(file_read_all(path, JSON_MAX_FILE_BYTES, &text, &len));
    adapt_status s = json_parse(text, len, path, out);
    free(text);
    if (s == ADAPT_OK && !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: top-level JSON value is not an object", path);
    }
    return s;
}

static const cJSON *present(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return (v && !cJSON_IsNull(v)) ? v : NULL;
}

adapt_status json_get_int_opt(const cJSON *obj, const char *key, long long lo, long long hi, const char *what, long long *out)
{
    const cJSON *v = present(obj, key);
    if (!v) return ADAPT_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" must be a finite number", what, key);
    double d = v->valuedouble;
    if (d != floor(d)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" must be an integer, got %g", what, key, d);
    if (d < (double)lo || d > (double)hi)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" = %g is outside [%lld, %lld]", what, key, d, lo, hi);
    *out = (long long)d;
    return ADAPT_OK;
}

adapt_status json_get_int(const cJSON *obj, const char *key, long long lo, long long hi, const char *what, long long *out)
{
    if (!present(obj, key)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: missing \"%s\"", what, key);
    return json_get_int_opt(obj, key, lo, hi, what, out);
}

adapt_status json_get_num_opt(const cJSON *obj, const char *key, const char *what, double *out)
{
    const cJSON *v = present(obj, key);
    if (!v) return ADAPT_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" must be a finite number", what, key);
    *out = v->valuedouble;
    return ADAPT_OK;
}

adapt_status json_get_bool_opt(const cJSON *obj, const char *key, const char *what, bool *out)
{
    const cJSON *v = present(obj, key);
    if (!v) return ADAPT_OK;
    if (!cJSON_IsBool(v)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" must be true or false", what, key);
    *out = cJSON_IsTrue(v);
    return ADAPT_OK;
}

adapt_status json_get_str_opt(const cJSON *obj, const char *key, const char *what, const char **out)
{
    const cJSON *v = present(obj, key);
    if (!v) return ADAPT_OK;
    if (!cJSON_IsString(v)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" must be a string", what, key);
    *out = v->valuestring;
    return ADAPT_OK;
}

adapt_status json_get_str(const cJSON *obj, const char *key, const char *what, const char **out)
{
    if (!present(obj, key)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: missing \"%s\"", what, key);
    return json_get_str_opt(obj, key, what, out);
}

char *json_quote(const char *s)
{
    cJSON *item = cJSON_CreateString(s);
    char *text = item ? cJSON_PrintUnformatted(item) : NULL;
    cJSON_Delete(item);
    return text;
}
