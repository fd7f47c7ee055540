/* One bottleneck adapter block (AdapterHub Adapter / ParallelAdapter .forward), as a
 * forward/backward pair over [N,H] row-major buffers:
 *
 *   z   = ln_before ? LN_before(h) : h
 *   up  = (act(z Wd^T + bd) Wu^T + bu) * scaling          (up_out; the Fuse input)
 *   o   = dropout(up)                                       (training only)
 *   sequential: o += residual if adapter_residual_before_ln; o = LN_after(o) if ln_after;
 *               o += residual otherwise
 *   parallel:   out = (ln_after ? LN_after(o) : o) + residual   (the library adds the residual in
 *               post_forward; adapter_residual_before_ln does not apply)
 *
 * pre_forward / post_forward (the sub-layer's own LayerNorm and residuals) belong to the caller.
 * Backward ACCUMULATES into d_h, d_residual and every non-NULL param->grad, like src/model/layers.h. */
#ifndef ADAPT_ADAPTERS_BOTTLENECK_H
#define ADAPT_ADAPTERS_BOTTLENECK_H
#include "adapters/bn_config.h"
#include "core/arena.h"
#include "core/store.h"

/* Tensors under AdapterHub names, relative to the prefix
 * "<base>.encoder.layer.<i>.<output|attention.output>.adapters.<name>":
 *   .adapter_norm_before.{weight,bias} [H]        (ln_before)
 *   .adapter_down.0.{weight [m,H], bias [m]}       (.adapter_down.1 when ln_before: the Sequential
 *                                                   holds the LayerNorm at index 0)
 *   .adapter_up.{weight [H,m], bias [H]}
 *   .adapter_norm_after.{weight,bias} [H]          (ln_after)
 *   .scaling [1] ("learned") or [H] ("channel")
 * A file the Python library saves with ln_before also holds the LayerNorm a second time as
 * .adapter_down.0.{weight,bias} [H]; bind accepts either name. */
typedef struct bn_weights {
    param *norm_before_w, *norm_before_b;
    param *down_w, *down_b;
    param *up_w, *up_b;
    param *norm_after_w, *norm_after_b;
    param *scale;
    /* The adapter's own copy of the sublayer's LayerNorm at this point (adapters/ln_copies.h), used
     * by the composition (compose.c), not by the block; NULL: the model's own LayerNorm. */
    param *ln_w, *ln_b;
    int hidden, bottleneck;
} bn_weights;

/* What backward needs; every buffer comes from the forward arena (keep it until backward). */
typedef struct bn_cache {
    const float *x;             /* [N,H] the adapter input h (the caller's buffer) */
    float *z, *nb_mean, *nb_rstd; /* ln_before: normalised input and its statistics */
    float *pre;                 /* [N,m] down projection before the activation */
    float *act;                 /* [N,m] after the activation */
    float *up_raw;              /* [N,H] up projection before scaling (learned / channel scaling only) */
    float *na_in, *na_mean, *na_rstd; /* ln_after: its input and statistics */
    float *drop_mask;           /* [N,H] 0 or 1/(1-p) when dropout ran, else NULL */
    int N;
} bn_cache;

/* Adds the tensors (frozen; mark them trainable with store_set_trainable) and initialises them as
 * the library does: "bert" N(0, 0.02) weights, zero biases; "houlsby" trunc-normal(0, 1e-2,
 * +-2e-2) down and up, zero biases; "mam_adapter" kaiming-uniform(a=sqrt(5)) down, zero bias,
 * zero up. LayerNorms start at 1 / 0, learned / channel scaling at 1. */
adapt_status bn_adapter_create(param_store *s, const char *prefix, const bn_config *cfg, int hidden, int layer,
                               uint64_t *rng_state, bn_weights *w);
/* Binds tensors already in the store (e.g. loaded from adapter.safetensors), checking shapes. */
adapt_status bn_adapter_bind(param_store *s, const char *prefix, const bn_config *cfg, int layer, int hidden,
                             bn_weights *w);

/* out[N,H] = the block output; up_out[N,H] (may be NULL) = the scaled up projection.
 * rng != NULL turns on training-mode dropout with p = cfg->dropout (NULL: evaluation).
 * h must stay unchanged until backward (it is not copied) and out must not alias it; out may
 * alias residual. Aborts if the arena cannot grow (out of memory). */
void bn_adapter_forward(arena *a, bn_cache *c, float *out, float *up_out, const float *h, const float *residual,
                        const bn_weights *w, const bn_config *cfg, int N, int H, uint64_t *rng);

/* d_out (may be NULL: the block output unused, e.g. inside Fuse) and d_up (may be NULL: gradient
 * reaching up_out) flow back into d_h, d_residual (either may be NULL) and the weight gradients.
 * Scratch comes from `a`. */
void bn_adapter_backward(arena *a, float *d_h, float *d_residual, const float *d_out, const float *d_up,
                         const bn_cache *c, const bn_weights *w, const bn_config *cfg, int N, int H);

#endif
