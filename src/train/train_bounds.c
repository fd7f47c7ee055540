#include "train/train_bounds.h"

const train_bound train_bounds[TRAIN_BOUND_COUNT] = {
    [TRAIN_BOUND_EPOCHS] = {"epochs", 1, 100000},
    [TRAIN_BOUND_MAX_STEPS] = {"max_steps", 1, 1e9},
    [TRAIN_BOUND_BATCH_SIZE] = {"batch_size", 1, 65536},
    [TRAIN_BOUND_MAX_LENGTH] = {"max_length", 8, 65536},
    [TRAIN_BOUND_GRAD_ACCUM] = {"grad_accum", 1, 4096},
    [TRAIN_BOUND_LR] = {"lr", 1e-12, 10},
    [TRAIN_BOUND_WEIGHT_DECAY] = {"weight_decay", 0, 10},
    [TRAIN_BOUND_WARMUP] = {"warmup_ratio", 0, 1},
    [TRAIN_BOUND_GRAD_CLIP] = {"grad_clip", 0, 1e9},
    [TRAIN_BOUND_EVAL_EVERY] = {"eval_every", 1, 1e9},
    [TRAIN_BOUND_PATIENCE] = {"patience", 0, 1000000},
    [TRAIN_BOUND_MAX_SECONDS] = {"max_seconds", 0, 1e9},
    [TRAIN_BOUND_MAX_TRAIN_EXAMPLES] = {"max_train_examples", 1, 1e9},
    [TRAIN_BOUND_MAX_DEV_EXAMPLES] = {"max_dev_examples", 1, 1e9},
    [TRAIN_BOUND_CHECKPOINT_EVERY] = {"checkpoint_every", 1, 1e9},
    [TRAIN_BOUND_SEED] = {"seed", 0, 0x7fffffff},
    [TRAIN_BOUND_TOP_K] = {"top_k", 1, 1000},
    [TRAIN_BOUND_LORA_R] = {"lora_r", 1, 4096},
    [TRAIN_BOUND_LORA_ALPHA] = {"lora_alpha", 1e-6, 1e6},
    [TRAIN_BOUND_LORA_DROPOUT] = {"lora_dropout", 0, 0.95},
};
