/* Crash-safe training checkpoints for `adapt train --checkpoint-every N` / `--resume`.
 *
 * OUT/checkpoint/ holds tensors.safetensors (every trainable tensor as "param/<name>", its AdamW
 * moments as "adam_m/<name>" and "adam_v/<name>") and state.json (step, data position, RNG states,
 * best metric, the per-step losses so far, and a fingerprint of the options that must match).
 * A new checkpoint is written into OUT/checkpoint.tmp/ (every file fsynced), then swapped with the
 * old folder in one renameat2(RENAME_EXCHANGE) (or, where the file system lacks it, two renames with
 * OUT/checkpoint.old as the fallback) and the parent folder is fsynced: a SIGKILL at any moment
 * leaves the previous complete checkpoint or the new one. */
#ifndef ADAPT_TRAIN_RESUME_H
#define ADAPT_TRAIN_RESUME_H
#include "core/store.h"

#define CKPT_MAX_TEMPS 64

typedef struct train_state {
    long step, micro, best_step, skipped;
    int bad_evals;
    uint64_t rng;         /* the run's RNG (shuffles, MLM masks) now */
    uint64_t epoch_rng;   /* the RNG before this epoch's shuffle: regenerates the order */
    uint64_t dropout_rng; /* the model's dropout stream */
    size_t cursor, n_train;
    double best, elapsed, tokens;
    double *losses;       /* one per optimizer step (non-finite for faulty steps) */
    size_t n_losses;
    double *eval_x, *eval_y;
    size_t n_eval;
    double temps[CKPT_MAX_TEMPS]; /* AdapterFusion temperatures, in setup order */
    int n_temps;
    char fingerprint[2048];       /* options that must match on resume */
} train_state;

/* Writes OUT/checkpoint/ atomically (see above). */
adapt_status ckpt_save(const char *out_dir, param_store *s, const train_state *st);

/* Restores the trainable tensors and moments into the store and fills *st (its arrays malloc'd;
 * free with train_state_free). *found = false (and nothing changes) when there is no checkpoint.
 * Recovers from an interrupted swap and removes leftovers of an interrupted write. */
adapt_status ckpt_load(const char *out_dir, param_store *s, train_state *st, bool *found);

void train_state_free(train_state *st);

#endif
