/* The state of one training run, shared by the trainer's files: trainer.c (data, what trains,
 * the loop, saving), trainer_step.c (a batch's loss and gradients), trainer_eval.c (the dev set). */
#ifndef ADAPT_TRAIN_TRAINER_RUN_H
#define ADAPT_TRAIN_TRAINER_RUN_H
#include "adapters/setup.h"
#include "data/dataset.h"
#include "data/glue.h"
#include "model/heads.h"
#include "train/examples.h"
#include "train/mlm_data.h"
#include "train/trainer.h"

typedef struct run {
    const train_options *o;
    adapt_model *m;
    adapt_tokenizer *tok;
    head h;
    const char *name;
    dataset train_ds, dev_ds;
    encoded_set train, dev;
    const glue_task *glue;
    bool tagging, mlm, regression;
    mlm_special sp;
    uint8_t *word_start;    /* --whole-word-mask: which ids begin a word; NULL: token masking */
    int32_t pad_id;
    uint64_t rng;
    /* several --train files (not MLM): each example's file; file i trains under --setup's i-th composition */
    uint8_t *source_of;
    int n_sources;
    /* METHOD_FUSION: the fused adapters and the composition "Fuse(a, b, c)" */
    char fusion_buf[FUSION_MAX_ADAPTERS][ADAPTER_NAME_MAX];
    const char *fusion_names[FUSION_MAX_ADAPTERS];
    int n_fusion;
    char fuse[FUSION_MAX_ADAPTERS * (ADAPTER_NAME_MAX + 2) + 8];
    /* data-parallel: the gradient sum's buffer */
    float *grad_sum;
    size_t grad_sum_n;
    /* curves */
    double *loss_x, *loss_y, *eval_x, *eval_y;
    size_t n_loss, n_eval;
} run;

/* Dynamic masking of a fresh batch (MLM): token by token, or by whole words. */
adapt_status trainer_mask_batch(const run *r, batch *b, uint64_t *rng);
/* Forward (and with train, backward) of a batch; the loss is the mean over its labelled rows,
 * weighted by share (see trainer_step.c); logits_out: the head's outputs (not for MLM). */
adapt_status trainer_forward_loss(run *r, const batch *b, bool train, double share, double *loss, float **logits_out);
/* A training forward and backward on this process's rows of the batch (all of them in one process). */
adapt_status trainer_forward_share(run *r, const batch *b, double *loss);
/* The dev set's metric (higher is better: entity F1, accuracy, ..., minus the MLM loss) and mean loss. */
adapt_status trainer_evaluate(run *r, double *metric, double *mean_loss);

#endif
