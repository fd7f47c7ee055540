/* Placeholder until the tokenizer lands (issue 3). */
#include "cli/commands.h"
#include <stdio.h>
static int not_yet(const char *name) { fprintf(stderr, "adapt %s: not implemented yet\n", name); return 1; }
int cmd_tokenize(int argc, char **argv) { (void)argc; return not_yet(argv[0]); }
int cmd_detokenize(int argc, char **argv) { (void)argc; return not_yet(argv[0]); }
int cmd_tokenizer(int argc, char **argv) { (void)argc; return not_yet(argv[0]); }
