/* Shared plumbing for the adapter modules: adding / binding named tensors in the parameter store
 * with shape checks, and the random initialisers the adapters library uses (torch.nn.init
 * equivalents driven by a caller-owned 64-bit RNG state, so runs are reproducible by seed). */
#ifndef ADAPT_ADAPTERS_ADAPTER_PARAMS_H
#define ADAPT_ADAPTERS_ADAPTER_PARAMS_H
#include "core/random.h"
#include "core/store.h"

/* Adds "<prefix><suffix>" with shape [d0] (d1 <= 0) or [d0,d1], zero-filled and frozen. */
adapt_status adapter_param_add(param_store *s, const char *prefix, const char *suffix, int64_t d0, int64_t d1,
                               param **out);
/* Looks "<prefix><suffix>" up and checks its shape; the error names the tensor. */
adapt_status adapter_param_bind(const param_store *s, const char *prefix, const char *suffix, int64_t d0, int64_t d1,
                                param **out);
/* Same lookup, but *out = NULL (and ADAPT_OK) when the tensor is absent. */
/* A tensor's shape as "[d0,d1]" (cut to size). */
void adapter_param_shape(char *buf, size_t size, const param *p);
adapt_status adapter_param_bind_opt(const param_store *s, const char *prefix, const char *suffix, int64_t d0,
                                    int64_t d1, param **out);


void init_fill(float *x, size_t n, float v);
void init_normal(float *x, size_t n, double std, uint64_t *rng);
/* trunc_normal_(mean 0, std, a=lo, b=hi): resample until inside [lo, hi]. */
void init_trunc_normal(float *x, size_t n, double std, double lo, double hi, uint64_t *rng);
void init_uniform(float *x, size_t n, double bound, uint64_t *rng); /* U(-bound, bound) */
/* kaiming_uniform_(a = sqrt(5)) on a [out, in] weight: U(+-1/sqrt(in)), torch's nn.Linear default. */
void init_kaiming_uniform_sqrt5(float *w, int64_t out_dim, int64_t in_dim, uint64_t *rng);

#endif
