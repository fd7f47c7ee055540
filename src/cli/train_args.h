/* The trainer options `adapt train` and `adapt pretrain` share (data, schedule, evaluation,
 * checkpoints, masking): one parser and one help text. */
#ifndef ADAPT_CLI_TRAIN_ARGS_H
#define ADAPT_CLI_TRAIN_ARGS_H
#include "train/train_bounds.h"
#include "train/trainer.h"
#include <stdio.h>

/* arg_long / arg_double (cli/args.h) over the range train_bounds gives the option. */
bool bounded_long(const char *cmd, const char *flag, const char *v, train_bound_id id, long *out);
bool bounded_double(const char *cmd, const char *flag, const char *v, train_bound_id id, double *out);

/* Handles argv[*i]; a value it takes moves *i past it. Returns 1 when handled, 0 when the option
 * is not a shared one, -1 on a missing or bad value (message printed). */
int parse_train_option(const char *cmd, int argc, char **argv, int *i, train_options *o);

/* The help lines of the shared options, with the defaults of `d`. */
void print_train_options_help(FILE *fp, const train_options *d);

#endif
