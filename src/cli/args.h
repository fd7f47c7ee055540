/* Checked conversions of command-line values; each prints "adapt CMD: --opt ..." on failure. */
#ifndef ADAPT_CLI_ARGS_H
#define ADAPT_CLI_ARGS_H
#include "adapt.h"
#include <stdbool.h>

bool arg_long(const char *cmd, const char *opt, const char *value, long lo, long hi, long *out);
bool arg_double(const char *cmd, const char *opt, const char *value, double lo, double hi, double *out);
/* --dtype fp32|bf16: how the encoder's frozen linear weights are held (weight-only bf16, adapt.h). */
bool arg_weight_dtype(const char *cmd, const char *opt, const char *value, adapt_weight_dtype *out);
/* "DIR=WEIGHT" -> DIR (cut in place) and its weight; a plain DIR (or an existing path with '=' in
 * its name) has weight 1. False when the text after the last '=' is not a finite number. */
bool arg_split_weight(char *spec, double *weight);

#endif
