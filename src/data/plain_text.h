/* Raw sentences as tagging input: one sentence per line, split into words as CoNLL files have
 * them (data/words.h); blank lines are skipped. Unlabelled: for `adapt predict --format text`. */
#ifndef ADAPT_DATA_PLAIN_TEXT_H
#define ADAPT_DATA_PLAIN_TEXT_H
#include "data/dataset.h"

/* Reads `path` (plain or xz) into `out`, a DATASET_TAGGING set already initialised by the caller. */
adapt_status plain_text_read(const char *path, dataset *out);

#endif
