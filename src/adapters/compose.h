/* Adapter points: what happens at the end of each sublayer (after attention's output dense, and
 * after the FFN's output dense). Without adapters this is LayerNorm(h + x); with an adapter setup
 * it runs the composition (Stack, Fuse, BatchSplit, Parallel, Average, ...) of bottleneck adapters
 * exactly as AdapterHub's BottleneckLayer does. The layer code knows nothing about adapter kinds.
 * An adapter with its own copies of the LayerNorms (adapters/ln_copies.h) brings its copy to the add
 * & LayerNorm steps its configuration decides: its pre_forward, and the last one when it is the
 * composition's last adapter. Blocks that split or average the rows (BatchSplit, Parallel, Split,
 * Average) take the first adapter's before the block and the last adapter's after it, the adapters
 * whose configuration AdapterHub uses there. */
#ifndef ADAPT_ADAPTERS_COMPOSE_H
#define ADAPT_ADAPTERS_COMPOSE_H
#include "model/model.h"

typedef enum point_loc { POINT_ATTENTION_OUTPUT = 0, POINT_OUTPUT = 1 } point_loc;

struct point_cache {
    float *sum, *mean, *rstd;   /* the final LayerNorm(sum) of this point */
    void *composition;          /* adapter activations, NULL without adapters */
};

/* h: sublayer output after its dense layer [N,H] (copied: the caller may reuse it); x: the
 * sublayer input (residual) [N,H], read again by backward, so unchanged until then.
 * *out receives the point's output: dest [N,H] (optional) when the point's last operation can
 * write there, otherwise a buffer in the model arena. */
adapt_status adapter_point_forward(adapt_model *m, int layer, point_loc loc, const float *h, const float *x, float *dest,
                                   float **out, point_cache **cache);
/* Accumulates into d_h and d_x (and the gradients of trainable LayerNorm / adapter tensors). */
adapt_status adapter_point_backward(adapt_model *m, int layer, point_loc loc, float *d_h, float *d_x, const float *d_out,
                            const point_cache *cache);

/* Whether backward through this point can reach a trainable tensor at it (its LayerNorm, or any
 * adapter of its composition, counted as trainable whether or not it is). */
bool adapter_point_needs_gradient(adapt_model *m, int layer, point_loc loc, const point_cache *cache);

/* The AdapterFusion attention weights [N, n] of the last fusion run at this point (NULL if none). */
const float *adapter_point_fusion_probs(const point_cache *cache, int *n);

#endif
