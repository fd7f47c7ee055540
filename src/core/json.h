/* JSON through cJSON, with checked accessors that name the file and key on failure. */
#ifndef ADAPT_CORE_JSON_H
#define ADAPT_CORE_JSON_H
#include "adapt.h"
#include <cjson/cJSON.h>

#define JSON_MAX_FILE_BYTES ((size_t)512 << 20)

/* Parses a JSON file (bounded size); the root must be an object. */
adapt_status json_load_file(const char *path, cJSON **out);
/* Parses a JSON text of `len` bytes; `what` names it in errors. */
adapt_status json_parse(const char *text, size_t len, const char *what, cJSON **out);

/* Typed getters. *_opt leave *out untouched when the key is absent (or null) and fail when it has
 * the wrong type; the plain ones also fail when the key is absent. `what` names the file. */
adapt_status json_get_int(const cJSON *obj, const char *key, long long lo, long long hi, const char *what, long long *out);
adapt_status json_get_int_opt(const cJSON *obj, const char *key, long long lo, long long hi, const char *what, long long *out);
adapt_status json_get_num_opt(const cJSON *obj, const char *key, const char *what, double *out);
adapt_status json_get_bool_opt(const cJSON *obj, const char *key, const char *what, bool *out);
adapt_status json_get_str(const cJSON *obj, const char *key, const char *what, const char **out);
adapt_status json_get_str_opt(const cJSON *obj, const char *key, const char *what, const char **out);
/* s as a JSON string literal, quotes included (malloc'd; NULL when out of memory). */
char *json_quote(const char *s);

#endif
