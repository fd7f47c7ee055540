/* AdamW with torch.optim.AdamW semantics (decoupled weight decay applied before the moment
 * update, bias-corrected moments, eps added after the square root). Only trainable tensors have
 * moments; frozen tensors cost nothing. */
#ifndef ADAPT_TRAIN_ADAMW_H
#define ADAPT_TRAIN_ADAMW_H
#include "core/store.h"

typedef struct adamw_config {
    double lr, beta1, beta2, eps, weight_decay;
} adamw_config;

/* One step over every trainable tensor of the store (step counts from 1). */
adapt_status adamw_step(param_store *s, const adamw_config *cfg, double lr, long step);

#endif
