/* MLM data: plain token masking (unchanged, pinned by a hash), whole-word masking (words masked
 * whole, the 15% rate, the 80/10/10 split, word starts for each tokenizer family), and the row
 * budget shared by several text files. */
#include "testutil.h"
#include "train/mlm_data.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct text_batch {
    adapt_tokenizer *tok;
    mlm_special sp;
    encoded_set rows;
    batch b;
    int32_t *original; /* the ids before masking */
} text_batch;

/* 64 rows of 128 tokens of English text with the shipped byte-level BPE tokenizer. */
static void text_batch_load(text_batch *t)
{
    memset(t, 0, sizeof *t);
    assert_int_equal(adapt_tokenizer_load("models/default/tokenizer.json", &t->tok), ADAPT_OK);
    assert_int_equal(mlm_special_ids(t->tok, 16000, &t->sp), ADAPT_OK);
    const char *paths[1] = {shared_path("data/text/en.txt")};
    assert_int_equal(mlm_pack_files(t->tok, paths, 1, 128, 64, &t->sp, &t->rows), ADAPT_OK);
    assert_int_equal(t->rows.n, 64);
    size_t order[64];
    for (size_t i = 0; i < 64; i++) order[i] = i;
    t->rows.tagging = true;
    assert_int_equal(batch_build(&t->rows, order, 64, t->sp.pad, &t->b), ADAPT_OK);
    size_t n = (size_t)t->b.B * t->b.T;
    t->original = malloc(n * sizeof(int32_t));
    assert_non_null(t->original);
    memcpy(t->original, t->b.ids, n * sizeof(int32_t));
}

static void text_batch_free(text_batch *t)
{
    batch_free(&t->b);
    encoded_set_free(&t->rows);
    adapt_tokenizer_free(t->tok);
    free(t->original);
}

static bool is_special(const mlm_special *sp, int32_t id) { return id == sp->bos || id == sp->eos || id == sp->pad; }

static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Plain masking draws exactly what it drew before whole-word masking existed (the numbers were
 * taken from that code): runs and checkpoints of before get the same masks. */
static void test_plain_masking_unchanged(void **state)
{
    (void)state;
    text_batch t;
    text_batch_load(&t);
    uint64_t rng = 7;
    size_t masked = mlm_mask_batch(&t.b, &t.sp, 0.15, &rng);
    size_t n = (size_t)t.b.B * t.b.T;
    uint64_t h = fnv(0xcbf29ce484222325ull, t.b.ids, n * sizeof(int32_t));
    h = fnv(h, t.b.labels, n * sizeof(int64_t));
    assert_int_equal(masked, 1158);
    assert_int_equal(h, 0xeb057d9e887e0a7aull);
    assert_int_equal(rng, 0x8c07a65352145dc6ull);
    text_batch_free(&t);
}

/* A word, from the token strings themselves: "Ġ" starts one, and so does the token after a
 * special token or the row start. */
static bool starts_word(const text_batch *t, size_t i, int pos)
{
    const char *tok = adapt_tokenizer_id_to_token(t->tok, t->original[i]);
    return pos == 0 || is_special(&t->sp, t->original[i - 1]) || !strncmp(tok, "\xc4\xa0", 2);
}

typedef struct mask_counts {
    size_t candidates, masked, to_mask, unchanged, random, multi_token_words;
} mask_counts;

/* Masks the batch by whole words and checks that each word is masked whole or not at all. */
static void mask_and_check_words(text_batch *t, const uint8_t *ws, uint64_t seed, mask_counts *c)
{
    size_t n = (size_t)t->b.B * t->b.T, masked;
    memcpy(t->b.ids, t->original, n * sizeof(int32_t));
    uint64_t rng = seed;
    assert_int_equal(mlm_mask_batch_words(&t->b, &t->sp, ws, 0.15, &rng, &masked), ADAPT_OK);
    size_t labelled = 0;
    for (int r = 0; r < t->b.B; r++) {
        for (int p = 0; p < t->b.T;) {
            size_t i = (size_t)r * t->b.T + p;
            if (!t->b.mask[i] || is_special(&t->sp, t->original[i])) {
                assert_int_equal(t->b.labels[i], -100);
                assert_int_equal(t->b.ids[i], t->original[i]);
                p++;
                continue;
            }
            int len = 1, hit = t->b.labels[i] != -100;
            while (p + len < t->b.T && t->b.mask[i + len] && !is_special(&t->sp, t->original[i + len]) && !starts_word(t, i + len, p + len)) {
                hit += t->b.labels[i + len] != -100;
                len++;
            }
            assert_true(hit == 0 || hit == len); /* the whole word or nothing */
            c->multi_token_words += hit && len > 1;
            for (int k = 0; k < len; k++) {
                size_t j = i + (size_t)k;
                c->candidates++;
                if (t->b.labels[j] == -100) continue;
                labelled++;
                assert_int_equal(t->b.labels[j], t->original[j]);
                if (t->b.ids[j] == t->sp.mask) c->to_mask++;
                else if (t->b.ids[j] == t->original[j]) c->unchanged++;
                else c->random++;
            }
            p += len;
        }
    }
    assert_int_equal(labelled, masked);
    c->masked += masked;
}

static void test_whole_words(void **state)
{
    (void)state;
    text_batch t;
    text_batch_load(&t);
    uint8_t *ws;
    assert_int_equal(mlm_word_starts(t.tok, 16000, &ws), ADAPT_OK);
    mask_counts c = {0};
    for (uint64_t seed = 1; seed <= 12; seed++) mask_and_check_words(&t, ws, seed, &c);
    /* 12 x 64 rows of ~125 maskable tokens: ~15% masked, 80/10/10 within a few standard deviations */
    double rate = (double)c.masked / (double)c.candidates;
    printf("whole-word: %zu of %zu masked (%.4f): <mask> %.4f, unchanged %.4f, random %.4f; %zu multi-token words\n", c.masked,
           c.candidates, rate, (double)c.to_mask / c.masked, (double)c.unchanged / c.masked, (double)c.random / c.masked,
           c.multi_token_words);
    assert_true(rate > 0.14 && rate < 0.16);
    assert_true(fabs((double)c.to_mask / c.masked - 0.8) < 0.02);
    assert_true(fabs((double)c.unchanged / c.masked - 0.1) < 0.015);
    assert_true(fabs((double)c.random / c.masked - 0.1) < 0.015);
    assert_true(c.multi_token_words > 500); /* words of several tokens were masked together */
    /* the same seed gives the same masks */
    size_t n = (size_t)t.b.B * t.b.T, m1, m2;
    uint64_t r1 = 99, r2 = 99;
    memcpy(t.b.ids, t.original, n * sizeof(int32_t));
    assert_int_equal(mlm_mask_batch_words(&t.b, &t.sp, ws, 0.15, &r1, &m1), ADAPT_OK);
    uint64_t h1 = fnv(fnv(0, t.b.ids, n * sizeof(int32_t)), t.b.labels, n * sizeof(int64_t));
    memcpy(t.b.ids, t.original, n * sizeof(int32_t));
    assert_int_equal(mlm_mask_batch_words(&t.b, &t.sp, ws, 0.15, &r2, &m2), ADAPT_OK);
    assert_int_equal(h1, fnv(fnv(0, t.b.ids, n * sizeof(int32_t)), t.b.labels, n * sizeof(int64_t)));
    assert_int_equal(m1, m2);
    free(ws);
    text_batch_free(&t);
}

/* <s> A Ġb </s> c d Ġe </s>: the words are A, Ġb, "c d" (it starts after </s> without "Ġ") and Ġe.
 * The goal is round(8 x 0.15) = 1 token, so only one-token words can be chosen: never c or d. */
static void test_word_after_special(void **state)
{
    (void)state;
    adapt_tokenizer *tok;
    assert_int_equal(adapt_tokenizer_load("models/default/tokenizer.json", &tok), ADAPT_OK);
    mlm_special sp;
    assert_int_equal(mlm_special_ids(tok, 16000, &sp), ADAPT_OK);
    uint8_t *ws;
    assert_int_equal(mlm_word_starts(tok, 16000, &ws), ADAPT_OK);
    const char *names[8] = {"<s>", "A", "\xc4\xa0" "b", "</s>", "c", "d", "\xc4\xa0" "e", "</s>"};
    int32_t row[8];
    for (int i = 0; i < 8; i++) {
        row[i] = adapt_tokenizer_token_to_id(tok, names[i]);
        assert_true(row[i] >= 0);
    }
    assert_int_equal(ws[row[1]], 0); /* "A" is no word start by itself: the rule after <s> makes it one */
    assert_int_equal(ws[row[2]], 1);
    int chosen[8] = {0};
    for (uint64_t seed = 1; seed <= 300; seed++) {
        int32_t ids[8], mask[8], types[8] = {0};
        int64_t labels[8];
        memcpy(ids, row, sizeof ids);
        for (int i = 0; i < 8; i++) mask[i] = 1;
        batch b = {.B = 1, .T = 8, .ids = ids, .mask = mask, .type_ids = types, .labels = labels, .label_rows = 8};
        uint64_t rng = seed;
        size_t masked;
        assert_int_equal(mlm_mask_batch_words(&b, &sp, ws, 0.15, &rng, &masked), ADAPT_OK);
        assert_int_equal(masked, 1);
        for (int i = 0; i < 8; i++) chosen[i] += labels[i] != -100;
    }
    assert_int_equal(chosen[0] + chosen[3] + chosen[4] + chosen[5] + chosen[7], 0);
    assert_true(chosen[1] > 50 && chosen[2] > 50 && chosen[6] > 50); /* each 1 in 3 */
    free(ws);
    adapt_tokenizer_free(tok);
}

static void check_starts(const char *tokenizer, const char *start, const char *inside)
{
    adapt_tokenizer *tok;
    assert_int_equal(adapt_tokenizer_load(shared_path(tokenizer), &tok), ADAPT_OK);
    int32_t V = (int32_t)adapt_tokenizer_vocab_size(tok), a = adapt_tokenizer_token_to_id(tok, start),
            b = adapt_tokenizer_token_to_id(tok, inside);
    assert_true(a >= 0 && b >= 0);
    uint8_t *ws;
    assert_int_equal(mlm_word_starts(tok, V, &ws), ADAPT_OK);
    assert_int_equal(ws[a], 1);
    assert_int_equal(ws[b], 0);
    free(ws);
    adapt_tokenizer_free(tok);
}

/* The word-start rule of each tokenizer family, and a vocabulary without any marker refused. */
static void test_word_start_tables(void **state)
{
    (void)state;
    check_starts("fixtures/tokenizers/bert-base-uncased/tokenizer.json", "the", "##ing");  /* WordPiece */
    check_starts("fixtures/tokenizers/wordpiece-cased/tokenizer.json", "The", "##a");
    check_starts("fixtures/tokenizers/unigram-xlmr/tokenizer.json", "\xe2\x96\x81the", "lo"); /* SentencePiece */
    check_starts("fixtures/tokenizers/bytelevel-bpe/tokenizer.json", "\xc4\xa0the", "ing"); /* byte-level BPE */
    char *tmp = make_temp_dir(), path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", tmp);
    const char *json = "{\"version\": \"1.0\", \"added_tokens\": [], \"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Whitespace\"}, "
                       "\"post_processor\": null, \"decoder\": null, \"model\": {\"type\": \"WordLevel\", "
                       "\"vocab\": {\"a\": 0, \"b\": 1, \"[UNK]\": 2}, \"unk_token\": \"[UNK]\"}}";
    write_file(path, json, strlen(json));
    adapt_tokenizer *tok;
    assert_int_equal(adapt_tokenizer_load(path, &tok), ADAPT_OK);
    uint8_t *ws = (uint8_t *)1;
    assert_int_equal(mlm_word_starts(tok, 3, &ws), ADAPT_ERR_ARG);
    assert_null(ws);
    assert_non_null(strstr(adapt_error(), "--whole-word-mask"));
    adapt_tokenizer_free(tok);
    remove_tree(tmp);
    free(tmp);
}

static int count_words(const char *text, const char *const *words, int n)
{
    int count = 0;
    for (int k = 0; k < n; k++)
        for (const char *p = text; (p = strstr(p, words[k])); p++) count++;
    return count;
}

/* --max-train-examples over English + Spanish: half the rows from each file, the English ones as
 * English alone gives them. */
static void test_pack_shares_rows(void **state)
{
    (void)state;
    adapt_tokenizer *tok;
    assert_int_equal(adapt_tokenizer_load("models/default/tokenizer.json", &tok), ADAPT_OK);
    mlm_special sp;
    assert_int_equal(mlm_special_ids(tok, 16000, &sp), ADAPT_OK);
    char *tmp = make_temp_dir();
    const char *es = path_in(tmp, "es.txt.xz");
    assert_int_equal(run_command("xz -dc '%s' | head -n 200 | xz > '%s'", shared_path("data/text/pretrain/es.txt.xz"), es), 0);
    const char *both[2] = {shared_path("data/text/en.txt"), es}, *en[1] = {both[0]};
    encoded_set mixed, english;
    assert_int_equal(mlm_pack_files(tok, both, 2, 64, 40, &sp, &mixed), ADAPT_OK);
    assert_int_equal(mlm_pack_files(tok, en, 1, 64, 20, &sp, &english), ADAPT_OK);
    assert_int_equal(mixed.n, 40);
    assert_int_equal(english.n, 20);
    for (size_t r = 0; r < 20; r++) {
        assert_int_equal(mixed.ex[r].len, english.ex[r].len);
        assert_memory_equal(mixed.ex[r].ids, english.ex[r].ids, (size_t)english.ex[r].len * sizeof(int32_t));
    }
    static const char *const spanish[] = {" de ", " la ", " que ", " el ", " en "};
    char *first = NULL, *last = NULL;
    assert_int_equal(adapt_tokenizer_decode(tok, mixed.ex[0].ids, (size_t)mixed.ex[0].len, true, &first), ADAPT_OK);
    assert_int_equal(adapt_tokenizer_decode(tok, mixed.ex[39].ids, (size_t)mixed.ex[39].len, true, &last), ADAPT_OK);
    printf("spanish words: first row %d, last row %d\n", count_words(first, spanish, 5), count_words(last, spanish, 5));
    assert_true(count_words(last, spanish, 5) >= 3);
    assert_true(count_words(first, spanish, 5) <= 1);
    free(first);
    free(last);
    encoded_set_free(&mixed);
    encoded_set_free(&english);
    adapt_tokenizer_free(tok);
    remove_tree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_masking_unchanged),
        cmocka_unit_test(test_whole_words),
        cmocka_unit_test(test_word_after_special),
        cmocka_unit_test(test_word_start_tables),
        cmocka_unit_test(test_pack_shares_rows),
    };
    return cmocka_run_group_tests_name("mlm data", tests, NULL, NULL);
}
