/* NICE invertible adapter (AdapterHub NICECouplingBlock) on the embedding output, with its inverse
 * before the tied MLM decoder (MAD-X). x = [x1 | x2], x1 = the first H/2 columns:
 *   forward:  y1 = x1 + F(x2);  y2 = x2 + G(y1)
 *   inverse:  y2 = x2 - G(x1);  y1 = x1 - F(y2)
 * F, G: Linear -> activation (the adapter's non_linearity) -> Linear, with hidden width
 * int(in // inv_adapter_reduction_factor). Backward ACCUMULATES like src/model/layers.h. */
#ifndef ADAPT_ADAPTERS_INVERTIBLE_H
#define ADAPT_ADAPTERS_INVERTIBLE_H
#include "adapters/bn_config.h"
#include "core/arena.h"
#include "core/store.h"

/* Names relative to "<base>.invertible_adapters.<name>" (s1 = H/2, s2 = H - s1):
 *   .F.0.weight [fm, s2]  .F.0.bias [fm]   .F.2.weight [s1, fm]  .F.2.bias [s1]   fm = s2 // rf
 *   .G.0.weight [gm, s1]  .G.0.bias [gm]   .G.2.weight [s2, gm]  .G.2.bias [s2]   gm = s1 // rf */
typedef struct nice_weights {
    param *f0_w, *f0_b, *f2_w, *f2_b;
    param *g0_w, *g0_b, *g2_w, *g2_b;
    int hidden, s1, s2, f_mid, g_mid;
    activation_kind act;
} nice_weights;

/* One subnet's saved activations. */
typedef struct nice_subnet_cache {
    float *in, *pre, *act; /* [N,in], [N,mid], [N,mid] */
} nice_subnet_cache;

typedef struct nice_cache {
    nice_subnet_cache f, g;
    bool rev;
    int N;
} nice_cache;

/* Adds the tensors (frozen) with the library's init: N(0, 0.02) weights, zero biases. */
adapt_status nice_create(param_store *s, const char *prefix, const bn_config *cfg, int hidden, uint64_t *rng_state,
                         nice_weights *w);
adapt_status nice_bind(param_store *s, const char *prefix, const bn_config *cfg, int hidden, nice_weights *w);

/* out[N,H] = NICE(x) (rev = false) or its inverse (rev = true). out may alias x. */
void nice_forward(arena *a, nice_cache *c, float *out, const float *x, const nice_weights *w, bool rev, int N);
/* d_x += J^T d_out for the direction the cache was made with; weight grads into param->grad. */
void nice_backward(arena *a, float *d_x, const float *d_out, const nice_cache *c, const nice_weights *w, int N);

#endif
