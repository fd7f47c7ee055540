/* The ranges of the trainer's numeric options: one table read by `adapt train` / `adapt pretrain`
 * (src/cli/train_args.c) and by adapt_train (train_api.c), so the two cannot drift apart. */
#ifndef ADAPT_TRAIN_TRAIN_BOUNDS_H
#define ADAPT_TRAIN_TRAIN_BOUNDS_H

typedef enum train_bound_id {
    TRAIN_BOUND_EPOCHS, TRAIN_BOUND_MAX_STEPS, TRAIN_BOUND_BATCH_SIZE, TRAIN_BOUND_MAX_LENGTH, TRAIN_BOUND_GRAD_ACCUM,
    TRAIN_BOUND_LR, TRAIN_BOUND_WEIGHT_DECAY, TRAIN_BOUND_WARMUP, TRAIN_BOUND_GRAD_CLIP, TRAIN_BOUND_EVAL_EVERY,
    TRAIN_BOUND_PATIENCE, TRAIN_BOUND_MAX_SECONDS, TRAIN_BOUND_MAX_TRAIN_EXAMPLES, TRAIN_BOUND_MAX_DEV_EXAMPLES,
    TRAIN_BOUND_CHECKPOINT_EVERY, TRAIN_BOUND_SEED, TRAIN_BOUND_TOP_K, TRAIN_BOUND_LORA_R, TRAIN_BOUND_LORA_ALPHA,
    TRAIN_BOUND_LORA_DROPOUT, TRAIN_BOUND_COUNT
} train_bound_id;

typedef struct train_bound {
    const char *field; /* adapt_train_options' name for it (adapt.h) */
    double lo, hi;     /* the flag's range; a few fields of the API also take 0 for "unset" */
} train_bound;

extern const train_bound train_bounds[TRAIN_BOUND_COUNT];

#endif
