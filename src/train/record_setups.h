/* Records that name their own composition or LoRA: an unlabelled JSON Lines record's "setup"
 * (e.g. {"tokens": [...], "setup": "Stack(qu, ner)"} beside {"tokens": [...], "setup": "Stack(en,
 * ner)"}) runs under it in `adapt predict`, and its "lora" under that loaded LoRA ("__base__":
 * none), the others under the command's. The examples are taken in groups of one composition
 * (however it is spelt) and one LoRA each, in the order each first appears, so every group still
 * runs in full batches. */
#ifndef ADAPT_TRAIN_RECORD_SETUPS_H
#define ADAPT_TRAIN_RECORD_SETUPS_H
#include "data/dataset.h"
#include "train/tagger.h"

/* Runs `group` on each group of examples (their indices in ds, ascending) with its composition and
 * LoRA (and that LoRA's head) active; the command's are active again afterwards. */
typedef adapt_status (*record_group_fn)(tagger *t, const size_t *examples, size_t n, void *ctx);
adapt_status for_each_record_setup(tagger *t, const dataset *ds, record_group_fn group, void *ctx);

#endif
