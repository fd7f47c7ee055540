#include "train/examples.h"
#include "core/error.h"
#include <stdlib.h>
#include <utf8proc.h>
#include <string.h>

static size_t utf8_code_points(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* A word as the model reads it: in Unicode NFC, the form of its training text ("Perú" with a
 * combining accent, NFD, is other bytes to a byte-level tokenizer: the shipped NER setup left it
 * untagged). Returns `word` itself when it is NFC already or not valid UTF-8, else a malloc'd copy. */
static const char *nfc_word(const char *word)
{
    char *nfc = (char *)utf8proc_NFC((const utf8proc_uint8_t *)word);
    if (nfc && strcmp(nfc, word) == 0) free(nfc), nfc = NULL;
    return nfc ? nfc : word;
}

/* The words (in NFC) joined by spaces, and each word's [start, end) in code points of that text.
 * Only the encoding sees the normalised words: the examples, and what is written from them, keep
 * the input's. */
static char *join_words(const data_example *e, int32_t (*span)[2])
{
    const char **words = malloc((e->n_tokens + 1) * sizeof *words);
    if (!words) return NULL;
    size_t bytes = 1;
    for (size_t w = 0; w < e->n_tokens; w++) {
        words[w] = nfc_word(e->tokens[w]);
        bytes += strlen(words[w]) + 1;
    }
    char *text = malloc(bytes), *p = text;
    int32_t cp = 0;
    for (size_t w = 0; text && w < e->n_tokens; w++) {
        if (w) {
            *p++ = ' ';
            cp++;
        }
        size_t len = strlen(words[w]);
        memcpy(p, words[w], len);
        p += len;
        span[w][0] = cp;
        cp += (int32_t)utf8_code_points(words[w]);
        span[w][1] = cp;
    }
    if (text) *p = 0;
    for (size_t w = 0; w < e->n_tokens; w++)
        if (words[w] != e->tokens[w]) free((char *)words[w]);
    free(words);
    return text;
}

/* Word containing code point `at` (words are sorted, non-overlapping); -1 if none. */
static int word_at(const int32_t (*span)[2], int n, int32_t at)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (at < span[mid][0]) hi = mid - 1;
        else if (at >= span[mid][1]) lo = mid + 1;
        else return mid;
    }
    return -1;
}

static adapt_status encode_tagging(adapt_tokenizer *tok, const data_example *e, encoded_example *x)
{
    int n = (int)e->n_tokens;
    int32_t (*span)[2] = malloc((size_t)(n ? n : 1) * sizeof *span);
    char *text = span ? join_words(e, span) : NULL;
    if (!text) {
        free(span);
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    adapt_encoding enc;
    adapt_status s = adapt_tokenizer_encode(tok, text, strlen(text), NULL, 0, true, &enc);
    free(text);
    if (s) {
        free(span);
        return s;
    }
    x->len = (int)enc.length;
    x->n_words = n;
    x->ids = malloc(enc.length * sizeof(int32_t) + 4);
    x->type_ids = calloc(enc.length + 1, sizeof(int32_t));
    x->labels = malloc(enc.length * sizeof(int32_t) + 4);
    x->word_start = malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    if (!x->ids || !x->type_ids || !x->labels || !x->word_start) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (int w = 0; !s && w < n; w++) x->word_start[w] = -1;
    int prev_word = -1;
    for (size_t i = 0; !s && i < enc.length; i++) {
        x->ids[i] = enc.ids[i];
        x->labels[i] = DATA_IGNORE_INDEX;
        if (enc.special_tokens_mask[i]) {
            prev_word = -1;
            continue;
        }
        int w = word_at((const int32_t (*)[2])span, n, enc.offsets[i][0]);
        if (w >= 0 && w != prev_word && x->word_start[w] < 0) {
            x->word_start[w] = (int32_t)i;
            x->labels[i] = e->tag_ids ? e->tag_ids[w] : DATA_IGNORE_INDEX;
        }
        prev_word = w;
    }
    adapt_encoding_free(&enc);
    free(span);
    return s;
}

static adapt_status encode_sequence(adapt_tokenizer *tok, const data_example *e, encoded_example *x)
{
    adapt_encoding enc;
    TRY(adapt_tokenizer_encode(tok, e->text, strlen(e->text), e->text_pair, e->text_pair ? strlen(e->text_pair) : 0, true, &enc));
    x->len = (int)enc.length;
    x->ids = malloc(enc.length * sizeof(int32_t) + 4);
    x->type_ids = malloc(enc.length * sizeof(int32_t) + 4);
    adapt_status s = x->ids && x->type_ids ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !s && i < enc.length; i++) {
        x->ids[i] = enc.ids[i];
        x->type_ids[i] = enc.type_ids[i];
    }
    x->label = e->label;
    x->target = (float)e->target;
    adapt_encoding_free(&enc);
    return s;
}

adapt_status encode_dataset(adapt_tokenizer *tok, const dataset *ds, int max_len, encoded_set *out)
{
    memset(out, 0, sizeof *out);
    out->tagging = ds->kind == DATASET_TAGGING;
    out->regression = ds->kind == DATASET_REGRESSION;
    out->ex = calloc(ds->n ? ds->n : 1, sizeof *out->ex);
    if (!out->ex) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    adapt_tokenizer_set_truncation(tok, (size_t)max_len, ADAPT_TRUNCATE_LONGEST_FIRST, false);
    adapt_tokenizer_set_padding(tok, false, 0, 0, false, 0, 0, NULL);
    for (size_t i = 0; i < ds->n; i++) {
        adapt_status s = out->tagging ? encode_tagging(tok, &ds->examples[i], &out->ex[i])
                                      : encode_sequence(tok, &ds->examples[i], &out->ex[i]);
        out->n = i + 1;
        if (s) return s;
        out->n_tokens += (size_t)out->ex[i].len;
    }
    return ADAPT_OK;
}

adapt_status encoded_set_append(encoded_set *dst, encoded_set *src)
{
    encoded_example *ex = realloc(dst->ex, (dst->n + src->n) * sizeof *ex + 1);
    if (!ex) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    memcpy(ex + dst->n, src->ex, src->n * sizeof *ex);
    dst->ex = ex;
    dst->n += src->n;
    dst->n_tokens += src->n_tokens;
    free(src->ex);
    memset(src, 0, sizeof *src);
    return ADAPT_OK;
}

void encoded_set_truncate(encoded_set *s, size_t n)
{
    for (size_t i = n; i < s->n; i++) {
        free(s->ex[i].ids);
        free(s->ex[i].type_ids);
        free(s->ex[i].labels);
        free(s->ex[i].word_start);
    }
    if (n < s->n) s->n = n;
}

int encoded_set_most_words(const encoded_set *s)
{
    int most = 1;
    for (size_t i = 0; i < s->n; i++) most = s->ex[i].n_words > most ? s->ex[i].n_words : most;
    return most;
}

void encoded_word_rows(const encoded_example *x, const float *example_logits, int C, const float **rows)
{
    for (int w = 0; w < x->n_words; w++) rows[w] = x->word_start[w] >= 0 ? example_logits + (size_t)x->word_start[w] * C : NULL;
}

size_t encoded_words_kept(const encoded_example *x)
{
    size_t kept = 0;
    for (int w = 0; w < x->n_words; w++)
        if (x->word_start[w] >= 0) kept = (size_t)w + 1;
    return kept;
}

bool encoded_was_cut(const encoded_example *x, int max_len)
{
    return x->len >= max_len && x->n_words > 0 && x->word_start[x->n_words - 1] < 0;
}

void encoded_set_free(encoded_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->ex[i].ids);
        free(s->ex[i].type_ids);
        free(s->ex[i].labels);
        free(s->ex[i].word_start);
    }
    free(s->ex);
    memset(s, 0, sizeof *s);
}

adapt_status batch_build(const encoded_set *s, const size_t *order, int B, int32_t pad_id, batch *b)
{
    memset(b, 0, sizeof *b);
    int T = 1;
    for (int r = 0; r < B; r++)
        if (s->ex[order[r]].len > T) T = s->ex[order[r]].len;
    b->B = B;
    b->T = T;
    size_t n = (size_t)B * T;
    b->ids = malloc(n * sizeof(int32_t));
    b->mask = calloc(n, sizeof(int32_t));
    b->type_ids = calloc(n, sizeof(int32_t));
    b->label_rows = s->tagging ? (int)n : B;
    b->labels = malloc((size_t)b->label_rows * sizeof(int64_t));
    b->targets = s->regression ? malloc((size_t)B * sizeof(float)) : NULL;
    if (!b->ids || !b->mask || !b->type_ids || !b->labels || (s->regression && !b->targets)) {
        batch_free(b);
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for a batch");
    }
    for (size_t i = 0; i < n; i++) b->ids[i] = pad_id;
    for (int i = 0; i < b->label_rows; i++) b->labels[i] = DATA_IGNORE_INDEX;
    for (int r = 0; r < B; r++) {
        const encoded_example *x = &s->ex[order[r]];
        for (int t = 0; t < x->len; t++) {
            size_t k = (size_t)r * T + t;
            b->ids[k] = x->ids[t];
            b->mask[k] = 1;
            b->type_ids[k] = x->type_ids[t];
            if (s->tagging) b->labels[k] = x->labels ? x->labels[t] : DATA_IGNORE_INDEX;
        }
        if (!s->tagging) b->labels[r] = x->label >= 0 ? x->label : DATA_IGNORE_INDEX;
        if (s->regression) b->targets[r] = x->target;
    }
    return ADAPT_OK;
}

void batch_free(batch *b)
{
    free(b->ids);
    free(b->mask);
    free(b->type_ids);
    free(b->labels);
    free(b->targets);
    memset(b, 0, sizeof *b);
}
