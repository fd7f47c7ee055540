/* Merging task tensors (PEFT's merge_utils: task arithmetic, magnitude pruning, TIES, DARE), the
 * element-wise step of combining LoRAs: n tensors of the same size and a weight each in, one
 * tensor out. Pruning keeps a fraction `density` of each input tensor: its largest magnitudes
 * (TIES, magnitude_prune), or a random subset rescaled by 1/density (DARE). TIES then elects a
 * sign per element (the sign of the sum of the pruned inputs, or of the count of their signs)
 * and averages the weighted inputs that agree with it. */
#ifndef ADAPT_ADAPTERS_TASK_MERGE_H
#define ADAPT_ADAPTERS_TASK_MERGE_H
#include "adapt.h"
#include <stddef.h>
#include <stdint.h>

typedef enum task_merge_kind {
    MERGE_TASK_ARITHMETIC, /* sum w_i t_i */
    MERGE_MAGNITUDE_PRUNE, /* sum w_i prune(t_i) */
    MERGE_TIES,            /* disjoint mean of the pruned inputs that agree with the elected sign */
    MERGE_DARE_LINEAR,     /* sum w_i drop(t_i) / density */
    MERGE_DARE_TIES,       /* TIES over the randomly dropped, rescaled inputs */
} task_merge_kind;

typedef enum majority_sign_method { MAJORITY_SIGN_TOTAL, MAJORITY_SIGN_FREQUENCY } majority_sign_method;

typedef struct task_merge_options {
    task_merge_kind kind;
    double density;                 /* kept fraction; at 1 or above nothing is pruned */
    majority_sign_method sign;      /* TIES: total (sum of values) or frequency (count of signs) */
    uint64_t *rng;                  /* DARE's random masks */
} task_merge_options;

/* out[j] = the merge of in[0..n)[j] with weights w (out may not alias an input; the inputs are
 * left unchanged). Fails only when out of memory. */
adapt_status task_merge(const float *const *in, const double *w, int n, size_t numel, const task_merge_options *o, float *out);

#endif
