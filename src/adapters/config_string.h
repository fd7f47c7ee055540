/* Helpers shared by the adapter and fusion configs: AdapterHub-style config strings
 * ("seq_bn[reduction_factor=8,non_linearity=gelu]"), Python-compatible number handling. */
#ifndef ADAPT_ADAPTERS_CONFIG_STRING_H
#define ADAPT_ADAPTERS_CONFIG_STRING_H
#include "adapt.h"
#include "formats/hf_config.h"
#include <cjson/cJSON.h>

/* Splits "name[k=v,...]" into the name and an object of overrides (*overrides is NULL when there
 * is no bracket part; the caller deletes it). Values: numbers, true/false/True/False, null/None,
 * quoted or bare strings, [lists] and {maps} (single quotes allowed, as in Python literals).
 * "a|b" (config unions) is refused as unsupported. */
adapt_status config_string_split(const char *s, char *name, size_t name_size, cJSON **overrides);

/* Replaces (or adds) every key of `overrides` in `obj`. */
adapt_status config_apply_overrides(cJSON *obj, const cJSON *overrides);

/* Python's float floor division a // b (b > 0): the value int(hidden // rf) starts from. */
double py_floordiv(double a, double b);

/* A JSON number that Python reads back as a float: 1.0 stays "1.0", not "1" (the adapters
 * library checks isinstance(scaling, float)). It is a cJSON raw item: it prints as written;
 * config_number() reads it back. */
cJSON *config_py_float(double v);
/* Integral values as ints ("16"), others as floats, the way Python wrote them. */
cJSON *config_py_number(double v);
/* A number item, plain or raw (from config_py_float); false when it is neither. */
bool config_number(const cJSON *item, double *out);
/* AdapterHub's "leave_out" (bottleneck and LoRA configs alike): absent or null, none; else a list
 * of at most `max` whole numbers within +-1e6. An entry naming no layer (negative, or past the
 * last) leaves nothing out, as in `adapters`, which asks `layer in leave_out`. */
adapt_status config_leave_out(const cJSON *obj, const char *what, int max, int *out, int *n);
/* Whether `layer` is in a leave_out list read by config_leave_out. */
bool config_leaves_out(const int *leave_out, int n, int layer);
/* "init_weights_seed": absent or null leaves *has untouched; else a whole number within +-9.2e18. */
adapt_status config_init_weights_seed(const cJSON *obj, const char *what, bool *has, long long *seed);

/* An adapter config's "non_linearity" (absent: *kind and name unchanged), lowercased as the library
 * does; files without a "version" (has_version false) come from releases where "gelu" meant the
 * tanh approximation: "gelu" -> gelu_new, "gelu_orig" -> gelu (adapters' ACTIVATION_RENAME).
 * `name` receives the spelling written back. */
adapt_status config_non_linearity(const cJSON *obj, const char *what, bool has_version, activation_kind *kind, char *name,
                                  size_t name_size);

#endif
