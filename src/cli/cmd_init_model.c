/* adapt init-model --config CONFIG.json --output DIR [--tokenizer PATH] [--seed N]
 * A randomly initialised model (with its MLM head) in Hugging Face layout, to pretrain from
 * scratch; the tokenizer (if given) is copied beside it and must fit the vocabulary. */
#include "adapt.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/fileio.h"
#include "model/model.h"
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
    model_config cfg;
    if (hf_config_load(config, &cfg)) return cli_report_error("init-model");
    adapt_model *m = NULL;
    adapt_status s = model_create(&cfg, &m);
    hf_config_free(&cfg);
    if (!s) s = model_add_mlm_head(m, false);
    adapt_tokenizer *tok = NULL;
    if (!s && tok_path) {
        s = adapt_tokenizer_load(tok_path, &tok);
        if (!s && adapt_tokenizer_vocab_size(tok) > (size_t)m->cfg.vocab)
            s = adapt_fail(ADAPT_ERR_ARG, "%s: %zu tokens do not fit vocab_size %d", tok_path, adapt_tokenizer_vocab_size(tok), m->cfg.vocab);
    }
    if (!s) {
        model_init_random(m, 0.02, (uint64_t)seed);
        s = model_save(m, output, (size_t)16 << 20);
    }
    if (!s && tok_path) {
        char *text = NULL, *dst = path_join(output, "tokenizer.json");
        size_t len;
        char *src = NULL;
        if (path_exists(tok_path) && strstr(tok_path, ".json")) src = strdup(tok_path);
        else src = path_join(tok_path, "tokenizer.json");
        s = src && dst ? file_read_all(src, (size_t)256 << 20, &text, &len) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        if (!s) s = file_write_atomic(dst, text, len);
        free(text);
        free(src);
        free(dst);
    }
    adapt_tokenizer_free(tok);
    adapt_model_free(m);
    if (s) return cli_report_error("init-model");
    printf("%s: randomly initialised model\n", output);
    return 0;
}
