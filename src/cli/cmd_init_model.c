/* adapt init-model --config CONFIG.json --output DIR [--tokenizer PATH] [--seed N]
 * A randomly initialised model (with its MLM head) in Hugging Face layout, to pretrain from
 * scratch; the tokenizer (if given) is copied beside it and must fit the vocabulary. */
#include "adapt.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "model/model.h"
#include "tokenize/files.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_init_model(int argc, char **argv)
{
    const char *config = NULL, *output = NULL, *tok_path = NULL;
    long seed = 42;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--config") && v) config = argv[++i];
        else if (!strcmp(argv[i], "--output") && v) output = argv[++i];
        else if (!strcmp(argv[i], "--tokenizer") && v) tok_path = argv[++i];
        else if (!strcmp(argv[i], "--seed") && v) {
            if (!arg_long("init-model", "--seed", argv[++i], 0, 0x7fffffff, &seed)) return 2;
        } else {
            fprintf(stderr, "usage: adapt init-model --config CONFIG.json --output DIR [--tokenizer PATH] [--seed N]\n");
            return 2;
        }
    }
    if (!config || !output) {
        fprintf(stderr, "usage: adapt init-model --config CONFIG.json --output DIR [--tokenizer PATH] [--seed N]\n");
        return 2;
    }
    adapt_model *m = NULL;
    adapt_status s = model_create_random(config, (uint64_t)seed, &m);
    adapt_tokenizer *tok = NULL;
    if (!s && tok_path) {
        s = adapt_tokenizer_load(tok_path, &tok);
        if (!s && adapt_tokenizer_vocab_size(tok) > (size_t)m->cfg.vocab)
            s = adapt_fail(ADAPT_ERR_ARG, "%s: %zu tokens do not fit vocab_size %d", tok_path, adapt_tokenizer_vocab_size(tok), m->cfg.vocab);
    }
    if (!s) s = model_save(m, output, MODEL_SHARD_BYTES);
    if (!s && tok_path) s = tokenizer_copy_files(tok_path, output);
    adapt_tokenizer_free(tok);
    adapt_model_free(m);
    if (s) return cli_report_error("init-model");
    printf("%s: randomly initialised model\n", output);
    return 0;
}
