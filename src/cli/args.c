#include "cli/args.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool arg_long(const char *cmd, const char *opt, const char *value, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = value ? strtol(value, &end, 10) : 0;
    if (!value || !*value || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "adapt %s: %s needs an integer in [%ld, %ld]\n", cmd, opt, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool arg_double(const char *cmd, const char *opt, const char *value, double lo, double hi, double *out)
{
    char *end;
    double v = value ? strtod(value, &end) : NAN;
    if (!value || !*value || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "adapt %s: %s needs a number in [%g, %g]\n", cmd, opt, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool arg_weight_dtype(const char *cmd, const char *opt, const char *value, adapt_weight_dtype *out)
{
    if (value && !strcmp(value, "fp32")) *out = ADAPT_WEIGHTS_FP32;
    else if (value && !strcmp(value, "bf16")) *out = ADAPT_WEIGHTS_BF16;
    else {
        fprintf(stderr, "adapt %s: %s needs fp32 or bf16 (bf16: the frozen encoder weights stored as bf16, arithmetic in fp32)\n",
                cmd, opt);
        return false;
    }
    return true;
}

bool arg_split_weight(char *spec, double *w)
{
    *w = 1.0;
    char *eq = strrchr(spec, '=');
    if (!eq || access(spec, F_OK) == 0) return true; /* a folder named "lr=3e-4" is a folder */
    char *end;
    errno = 0;
    double v = strtod(eq + 1, &end);
    if (eq[1] == 0 || *end || errno || !isfinite(v)) return false;
    *eq = 0;
    *w = v;
    return true;
}
