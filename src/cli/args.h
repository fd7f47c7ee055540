/* Checked conversions of command-line values; each prints "adapt CMD: --opt ..." on failure. */
#ifndef ADAPT_CLI_ARGS_H
#define ADAPT_CLI_ARGS_H
#include <stdbool.h>

bool arg_long(const char *cmd, const char *opt, const char *value, long lo, long hi, long *out);
bool arg_double(const char *cmd, const char *opt, const char *value, double lo, double hi, double *out);

#endif
