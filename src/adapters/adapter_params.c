#include "adapters/adapter_params.h"
#include "core/error.h"
#include <math.h>
#include <stdio.h>

static adapt_status full_name(char *buf, size_t size, const char *prefix, const char *suffix)
{
    int n = snprintf(buf, size, "%s%s", prefix, suffix);
    if (n < 0 || (size_t)n >= size) return adapt_fail(ADAPT_ERR_ARG, "tensor name too long: %s%s", prefix, suffix);
    return ADAPT_OK;
}

adapt_status adapter_param_add(param_store *s, const char *prefix, const char *suffix, int64_t d0, int64_t d1,
                               param **out)
{
    char name[1024];
    TRY(full_name(name, sizeof name, prefix, suffix));
    int64_t shape[2] = {d0, d1};
    return store_add(s, name, d1 > 0 ? 2 : 1, shape, out);
}

void adapter_param_shape(char *buf, size_t size, const param *p)
{
    size_t at = 0;
    at += (size_t)snprintf(buf + at, size - at, "[");
    for (int i = 0; i < p->ndim && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, i ? ",%lld" : "%lld", (long long)p->shape[i]);
    if (at < size) snprintf(buf + at, size - at, "]");
}

adapt_status adapter_param_bind_opt(const param_store *s, const char *prefix, const char *suffix, int64_t d0,
                                    int64_t d1, param **out)
{
    char name[1024];
    TRY(full_name(name, sizeof name, prefix, suffix));
    param *p = store_get(s, name);
    *out = p;
    if (!p) return ADAPT_OK;
    int ndim = d1 > 0 ? 2 : 1;
    if (p->ndim != ndim || p->shape[0] != d0 || (ndim == 2 && p->shape[1] != d1)) {
        char got[96];
        adapter_param_shape(got, sizeof got, p);
        *out = NULL;
        if (ndim == 2)
            return adapt_fail(ADAPT_ERR_FORMAT, "tensor \"%s\" has shape %s, expected [%lld,%lld]", name, got,
                              (long long)d0, (long long)d1);
        return adapt_fail(ADAPT_ERR_FORMAT, "tensor \"%s\" has shape %s, expected [%lld]", name, got, (long long)d0);
    }
    return ADAPT_OK;
}

adapt_status adapter_param_bind(const param_store *s, const char *prefix, const char *suffix, int64_t d0, int64_t d1,
                                param **out)
{
    TRY(adapter_param_bind_opt(s, prefix, suffix, d0, d1, out));
    if (!*out) return adapt_fail(ADAPT_ERR_FORMAT, "missing tensor \"%s%s\"", prefix, suffix);
    return ADAPT_OK;
}

void init_fill(float *x, size_t n, float v)
{
    for (size_t i = 0; i < n; i++) x[i] = v;
}

void init_normal(float *x, size_t n, double std, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(std * adapt_rng_normal(rng));
}

void init_trunc_normal(float *x, size_t n, double std, double lo, double hi, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++) {
        double v;
        do v = std * adapt_rng_normal(rng);
        while (v < lo || v > hi);
        x[i] = (float)v;
    }
}

void init_uniform(float *x, size_t n, double bound, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)((2.0 * adapt_rng_uniform(rng) - 1.0) * bound);
}

void init_kaiming_uniform_sqrt5(float *w, int64_t out_dim, int64_t in_dim, uint64_t *rng)
{
    /* gain = sqrt(2 / (1 + a^2)) = sqrt(1/3); bound = gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in). */
    init_uniform(w, (size_t)(out_dim * in_dim), in_dim > 0 ? 1.0 / sqrt((double)in_dim) : 0.0, rng);
}
