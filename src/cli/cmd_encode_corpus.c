/* adapt encode-corpus --tokenizer PATH --output FILE.u16 [--max-tokens N] FILES...
 * Tokenizes raw text (plain or .xz, one paragraph per line) into a flat little-endian uint16 id
 * stream for MLM pretraining: each line's ids (no special tokens) followed by the tokenizer's
 * end-of-sequence id (</s> or [SEP]). Vocabularies above 65536 are refused. */
#include "adapt.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/fileio.h"
#include "data/text_reader.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: adapt encode-corpus --tokenizer PATH --output FILE.u16 [--max-tokens N] FILES...\n"
                "  writes each line's token ids followed by </s>, as little-endian uint16\n");
}

static int32_t end_of_sequence_id(const adapt_tokenizer *tok)
{
    int32_t id = adapt_tokenizer_token_to_id(tok, "</s>");
    return id >= 0 ? id : adapt_tokenizer_token_to_id(tok, "[SEP]");
}

int cmd_encode_corpus(int argc, char **argv)
{
    const char *tok_path = NULL, *out_path = NULL;
    long long max_tokens = -1;
    int first_file = argc;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) tok_path = argv[++i];
        else if (!strcmp(argv[i], "--output") && i + 1 < argc) out_path = argv[++i];
        else if (!strcmp(argv[i], "--max-tokens") && i + 1 < argc) {
            char *end;
            max_tokens = strtoll(argv[++i], &end, 10);
            if (*end || max_tokens <= 0) {
                fprintf(stderr, "adapt encode-corpus: --max-tokens must be a positive integer\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "adapt encode-corpus: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            first_file = i;
            break;
        }
    }
    if (!tok_path || !out_path || first_file >= argc) {
        usage(stderr);
        return 2;
    }
    adapt_tokenizer *tok;
    if (adapt_tokenizer_load(tok_path, &tok)) return cli_report_error("encode-corpus");
    int32_t eos = end_of_sequence_id(tok);
    if (adapt_tokenizer_vocab_size(tok) > 65536 || eos < 0) {
        adapt_tokenizer_free(tok);
        fprintf(stderr, "adapt encode-corpus: %s: needs a vocabulary of at most 65536 with </s> or [SEP]\n", tok_path);
        return 1;
    }
    atomic_file af;
    if (atomic_file_begin(&af, out_path)) {
        adapt_tokenizer_free(tok);
        return cli_report_error("encode-corpus");
    }
    long long total = 0;
    adapt_status s = ADAPT_OK;
    for (int f = first_file; f < argc && !s && (max_tokens < 0 || total < max_tokens); f++) {
        text_reader *r = NULL;
        s = text_reader_open(argv[f], (size_t)1 << 20, &r);
        const char *line;
        size_t len;
        while (!s && (max_tokens < 0 || total < max_tokens)) {
            s = text_reader_next(r, &line, &len);
            if (s || !line) break;
            if (!len) continue;
            adapt_encoding enc;
            s = adapt_tokenizer_encode(tok, line, len, NULL, 0, false, &enc);
            if (s) break;
            uint16_t buf[4096];
            size_t k = 0;
            for (size_t i = 0; i <= enc.length; i++) {
                buf[k++] = (uint16_t)(i < enc.length ? enc.ids[i] : eos);
                if (k == 4096 || i == enc.length) {
                    if (fwrite(buf, 2, k, af.fp) != k) s = adapt_fail(ADAPT_ERR_IO, "%s: write failed", out_path);
                    k = 0;
                }
            }
            total += (long long)enc.length + 1;
            adapt_encoding_free(&enc);
        }
        if (!s) fprintf(stderr, "encode-corpus: %s done, %lld tokens so far\n", argv[f], total);
        if (r) text_reader_close(r);
    }
    adapt_tokenizer_free(tok);
    if (s) {
        atomic_file_abort(&af);
        return cli_report_error("encode-corpus");
    }
    if (atomic_file_commit(&af)) return cli_report_error("encode-corpus");
    printf("%s: %lld tokens\n", out_path, total);
    return 0;
}
