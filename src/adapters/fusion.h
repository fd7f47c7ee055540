/* AdapterFusion (AdapterHub BertFusion): attention over the up projections of n adapters.
 * Per row (token), with V_n = up_n (+ residual when residual_before):
 *   q = query ? Wq x + bq : x;   k_n = key ? Wk V_n + bk : V_n;
 *   v_n = (value && value_before_softmax) ? Wv V_n : V_n      (Wv has no bias)
 *   p = softmax(q . k_n / T)      (no 1/sqrt(d); T = 1, or 50 decaying with "temperature")
 *   ctx = sum_n p_n v_n;  ctx = Wv ctx when value && !value_before_softmax;
 *   ctx += residual unless residual_before.
 * Attention-score dropout (training) is not applied. Backward ACCUMULATES like src/model/layers.h. */
#ifndef ADAPT_ADAPTERS_FUSION_H
#define ADAPT_ADAPTERS_FUSION_H
#include "adapt.h"
#include "core/arena.h"
#include "core/store.h"
#include <cjson/cJSON.h>

typedef struct fusion_config {
    bool key, query, value, query_before_ln, regularization, residual_before, temperature, value_before_softmax,
        value_initialized;
    bool has_dropout_prob; /* dropout_prob: null unless set */
    double dropout_prob;
} fusion_config;

/* "dynamic" (query, key, value initialised to identity, regularisation) or "static" (no value),
 * with optional overrides: "dynamic[temperature=true]". */
adapt_status fusion_config_parse_string(const char *s, fusion_config *out);
/* The "config" object of adapter_fusion_config.json (every key required, as the dataclass does). */
adapt_status fusion_config_from_json(const cJSON *config_obj, const char *what, fusion_config *out);
/* The "config" object with the 10 keys AdapterHub writes, sorted. */
cJSON *fusion_config_to_json(const fusion_config *cfg);

/* Names relative to "<base>.encoder.layer.<i>.<loc>.adapter_fusion_layer.<a,b,c>":
 *   .query.{weight [H,H], bias [H]}  .key.{weight [H,H], bias [H]}  .value.weight [H,H]
 * (each only when its flag is on). */
typedef struct fusion_weights {
    param *query_w, *query_b, *key_w, *key_b, *value_w;
    int hidden;
} fusion_weights;

typedef struct fusion_cache {
    int N, n;
    float *x;     /* [N,H] query input (copy; for Wq's gradient) */
    float *q;     /* [N,H] projected query */
    float **V;    /* n x [N,H] adapter outputs (+ residual) */
    float **k;    /* n x [N,H] keys (== V[i] when no key projection) */
    float **v;    /* n x [N,H] values before the weighted sum */
    float *probs; /* [N,n] */
    float *ctx;   /* [N,H] weighted sum before a value-after-softmax projection */
    float T;
} fusion_cache;

/* Adds the tensors (frozen): N(0, 0.02) weights and zero biases (init_bert_weights); with
 * value_initialized the value weight is 1 on the diagonal and 1e-6 elsewhere. */
adapt_status fusion_create(param_store *s, const char *prefix, const fusion_config *cfg, int hidden,
                           uint64_t *rng_state, fusion_weights *w);
adapt_status fusion_bind(param_store *s, const char *prefix, const fusion_config *cfg, int hidden, fusion_weights *w);

/* The temperature of the first forward (50 with "temperature", else 1) and of the next one: the
 * library lowers T by T0/1000 after every forward, down to 1. */
double fusion_initial_temperature(const fusion_config *cfg);
double fusion_next_temperature(const fusion_config *cfg, double T);

/* query [N,H] (the adapter input after pre_forward), ups: n pointers to [N,H] scaled up
 * projections, residual [N,H]. Writes ctx [N,H] (may alias query or residual) and probs [N,n]
 * (may be NULL). */
void fusion_forward(arena *a, fusion_cache *c, float *ctx, float *probs, const float *query, const float *const *ups,
                    int n_adapters, const float *residual, const fusion_weights *w, const fusion_config *cfg, float T,
                    int N);
/* d_query, d_ups[i] (the array or any entry may be NULL) and d_residual receive gradients. */
void fusion_backward(arena *a, float *d_query, float *const *d_ups, float *d_residual, const float *d_ctx,
                     const fusion_cache *c, const fusion_weights *w, const fusion_config *cfg, int N);

/* 0.01 * ||I - Wv||_F^2 (0 without a value matrix); when grad_scale != 0 and Wv is trainable,
 * adds grad_scale * d/dWv = grad_scale * 0.02 * (Wv - I) to its gradient. */
double fusion_regularization(const fusion_weights *w, float grad_scale);

#endif
