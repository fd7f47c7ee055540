#include "train/mlm_data.h"
#include "core/error.h"
#include "core/random.h"
#include "data/text_reader.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int32_t find_first(const adapt_tokenizer *tok, const char *a, const char *b)
{
    int32_t id = adapt_tokenizer_token_to_id(tok, a);
    return id >= 0 ? id : adapt_tokenizer_token_to_id(tok, b);
}

adapt_status mlm_special_ids(const adapt_tokenizer *tok, int32_t model_vocab, mlm_special *sp)
{
    sp->bos = find_first(tok, "<s>", "[CLS]");
    sp->eos = find_first(tok, "</s>", "[SEP]");
    sp->pad = find_first(tok, "<pad>", "[PAD]");
    sp->mask = find_first(tok, "<mask>", "[MASK]");
    sp->vocab = model_vocab;
    if (sp->bos < 0 || sp->eos < 0 || sp->pad < 0 || sp->mask < 0 || sp->mask >= model_vocab)
        return adapt_fail(ADAPT_ERR_FORMAT, "tokenizer: masked LM needs <s> </s> <pad> <mask> (or [CLS] [SEP] [PAD] [MASK]) inside the model vocabulary");
    /* Special tokens sit at the start of the vocabulary in both layouts; random replacements skip them. */
    int32_t hi = sp->bos;
    const int32_t ids[3] = {sp->eos, sp->pad, sp->mask};
    for (int i = 0; i < 3; i++) hi = ids[i] > hi ? ids[i] : hi;
    sp->first_regular = hi < 1000 && hi + 1 < model_vocab ? hi + 1 : 0;
    return ADAPT_OK;
}

static adapt_status push_row(encoded_set *out, size_t *cap, const int32_t *ids, int len, const mlm_special *sp)
{
    if (out->n == *cap) {
        size_t nc = *cap ? 2 * *cap : 1024;
        encoded_example *p = realloc(out->ex, nc * sizeof *p);
        if (!p) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory packing MLM rows");
        out->ex = p;
        *cap = nc;
    }
    encoded_example *x = &out->ex[out->n];
    memset(x, 0, sizeof *x);
    x->len = len + 2;
    x->ids = malloc((size_t)x->len * sizeof(int32_t));
    x->type_ids = calloc((size_t)x->len, sizeof(int32_t));
    x->label = -1;
    if (!x->ids || !x->type_ids) {
        free(x->ids);
        free(x->type_ids);
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory packing MLM rows");
    }
    x->ids[0] = sp->bos;
    memcpy(x->ids + 1, ids, (size_t)len * sizeof(int32_t));
    x->ids[len + 1] = sp->eos;
    out->n++;
    out->n_tokens += (size_t)x->len;
    return ADAPT_OK;
}

adapt_status mlm_pack_files(adapt_tokenizer *tok, const char *const *paths, int n_paths, int row_len, size_t max_rows,
                            const mlm_special *sp, encoded_set *out)
{
    memset(out, 0, sizeof *out);
    if (row_len < 8) return adapt_fail(ADAPT_ERR_ARG, "MLM rows need at least 8 tokens");
    int body = row_len - 2, fill = 0;
    int32_t *pending = malloc((size_t)body * sizeof(int32_t));
    if (!pending) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    size_t cap = 0;
    adapt_tokenizer_set_truncation(tok, 0, ADAPT_TRUNCATE_LONGEST_FIRST, false);
    adapt_tokenizer_set_padding(tok, false, 0, 0, false, 0, 0, NULL);
    adapt_status s = ADAPT_OK;
    for (int f = 0; f < n_paths && !s && (!max_rows || out->n < max_rows); f++) {
        /* a row budget is shared by the files still to read, so that every language gets rows */
        size_t file_end = max_rows ? out->n + (max_rows - out->n + (size_t)(n_paths - f - 1)) / (size_t)(n_paths - f) : SIZE_MAX;
        text_reader *r = NULL;
        s = text_reader_open(paths[f], (size_t)1 << 20, &r);
        while (!s && out->n < file_end) {
            const char *line;
            size_t len;
            s = text_reader_next(r, &line, &len);
            if (s || !line) break;
            if (!len) continue;
            adapt_encoding enc;
            s = adapt_tokenizer_encode(tok, line, len, NULL, 0, false, &enc);
            if (s) break;
            for (size_t i = 0; !s && i < enc.length; i++)
                if (enc.ids[i] < 0 || enc.ids[i] >= sp->vocab)
                    s = adapt_fail(ADAPT_ERR_FORMAT, "%s: token id %d is outside the model's vocabulary of %d", paths[f], (int)enc.ids[i],
                                   (int)sp->vocab);
            for (size_t i = 0; !s && i <= enc.length; i++) {
                /* lines are joined with the end-of-sequence token, as the pretraining stream is */
                pending[fill++] = i < enc.length ? enc.ids[i] : sp->eos;
                if (fill == body) {
                    if (out->n < file_end) s = push_row(out, &cap, pending, body, sp);
                    fill = 0;
                }
            }
            adapt_encoding_free(&enc);
        }
        if (r) text_reader_close(r);
    }
    if (!s && fill > 16 && (!max_rows || out->n < max_rows)) s = push_row(out, &cap, pending, fill, sp);
    free(pending);
    if (!s && out->n == 0) s = adapt_fail(ADAPT_ERR_FORMAT, "%s: no text", n_paths ? paths[0] : "(none)");
    return s;
}

void mlm_corrupt(batch *b, size_t i, const mlm_special *sp, uint64_t *rng)
{
    b->labels[i] = b->ids[i];
    double u = adapt_rng_uniform(rng);
    if (u < 0.8) b->ids[i] = sp->mask;
    else if (u < 0.9) b->ids[i] = sp->first_regular + (int32_t)(adapt_rng_next(rng) % (uint64_t)(sp->vocab - sp->first_regular));
}

size_t mlm_mask_batch(batch *b, const mlm_special *sp, double probability, uint64_t *rng)
{
    size_t n = (size_t)b->B * b->T, masked = 0;
    for (size_t i = 0; i < n; i++) {
        b->labels[i] = -100;
        if (!b->mask[i] || mlm_is_special(sp, b->ids[i])) continue;
        if (adapt_rng_uniform(rng) >= probability) continue;
        mlm_corrupt(b, i, sp, rng);
        masked++;
    }
    if (!masked) { /* a batch without a single prediction would train nothing: mask one token */
        for (size_t i = 0; i < n; i++)
            if (b->mask[i] && !mlm_is_special(sp, b->ids[i])) {
                b->labels[i] = b->ids[i];
                b->ids[i] = sp->mask;
                return 1;
            }
    }
    return masked;
}
