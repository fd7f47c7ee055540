/* The options every inference command shares (model, tokenizer, adapters, fusions, LoRA, head,
 * setup, lengths): one parser for `adapt eval` and `adapt fusion-attention`. */
#ifndef ADAPT_CLI_INFER_ARGS_H
#define ADAPT_CLI_INFER_ARGS_H
#include "train/infer.h"

/* Handles option `key` with `value` (non-NULL). Returns 1 when handled, 0 when the option is not
 * one of the shared ones, -1 on a bad value or too many of a repeatable option (message printed). */
int parse_infer_option(const char *cmd, const char *key, const char *value, infer_options *io, long *max_examples);

#endif
