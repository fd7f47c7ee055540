/* Tokenizers against the Hugging Face `tokenizers` reference encodings of the four fixtures:
 * every field of every record, through the library and through `adapt tokenize`; the same
 * tokenizers built from vocab.txt and the SentencePiece .model; truncation, padding, decoding. */
#include "testutil.h"
#include "tokenize_fixture.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *NAMES[] = {"bert-base-uncased", "wordpiece-cased", "unigram-xlmr", "bytelevel-bpe"};

static const char *tok_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/fixtures/tokenizers/%s/tokenizer.json", shared_dir(), name);
    return buf[k];
}

static adapt_tokenizer *load(const char *path)
{
    adapt_tokenizer *t = NULL;
    adapt_status st = adapt_tokenizer_load(path, &t);
    if (st) print_error("load %s: %s\n", path, adapt_error());
    assert_int_equal(st, ADAPT_OK);
    return t;
}

/* Every field of every record of `name`'s encodings.jsonl, through tokenizer t. */
static void check_records(adapt_tokenizer *t, const char *name)
{
    fx_record *r;
    size_t n = fx_load(name, &r);
    assert_int_equal(n, 67);
    for (size_t i = 0; i < n; i++) {
        adapt_encoding e;
        assert_int_equal(adapt_tokenizer_encode(t, r[i].text.p, r[i].text.n, r[i].has_pair ? r[i].pair.p : NULL,
                                                r[i].pair.n, true, &e), ADAPT_OK);
        if (e.length != r[i].n) print_error("%s record %zu: %zu tokens, expected %zu\n", name, i, e.length, r[i].n);
        assert_int_equal(e.length, r[i].n);
        for (size_t k = 0; k < e.length; k++) {
            if (e.ids[k] != r[i].ids[k] || e.offsets[k][0] != r[i].offsets[k][0] || e.offsets[k][1] != r[i].offsets[k][1])
                print_error("%s record %zu token %zu: id %d (%d) offsets %d..%d (%d..%d)\n", name, i, k, e.ids[k], r[i].ids[k],
                            e.offsets[k][0], e.offsets[k][1], r[i].offsets[k][0], r[i].offsets[k][1]);
            assert_int_equal(e.ids[k], r[i].ids[k]);
            assert_int_equal(e.token_lengths[k], r[i].tokens[k].n);
            assert_memory_equal(e.tokens[k], r[i].tokens[k].p, r[i].tokens[k].n);
            assert_int_equal(e.offsets[k][0], r[i].offsets[k][0]);
            assert_int_equal(e.offsets[k][1], r[i].offsets[k][1]);
            assert_int_equal(e.type_ids[k], r[i].type_ids[k]);
            assert_int_equal(e.special_tokens_mask[k], r[i].special[k]);
            assert_int_equal(e.word_ids[k], r[i].word_ids[k]);
            assert_int_equal(e.attention_mask[k], 1);
        }
        adapt_encoding_free(&e);
    }
    fx_free(r, n);
}

static void test_fixture(void **state, int which)
{
    (void)state;
    adapt_tokenizer *t = load(tok_path(NAMES[which]));
    check_records(t, NAMES[which]);
    adapt_tokenizer_free(t);
}
static void test_bert_uncased(void **s) { test_fixture(s, 0); }
static void test_wordpiece_cased(void **s) { test_fixture(s, 1); }
static void test_unigram_xlmr(void **s) { test_fixture(s, 2); }
static void test_bytelevel_bpe(void **s) { test_fixture(s, 3); }

/* The CLI writes exactly the fixture lines (same fields, order and escaping). */
static void test_cli_matches_fixtures(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    for (int i = 0; i < 4; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "fixtures/tokenizers/%s/encodings.jsonl", NAMES[i]);
        const char *enc = shared_path(rel);
        /* input lines: the text (or text + pair) of each record, as JSON */
        assert_int_equal(run_command("python3 -c 'import json,sys\nfor l in open(sys.argv[1]):\n r=json.loads(l)\n print(json.dumps({\"text\":r[\"text\"],\"text_pair\":r[\"text_pair\"]} if \"text_pair\" in r else r[\"text\"]))' %s > %s/in.jsonl", enc, dir), 0);
        assert_int_equal(run_command("%s tokenize %s < %s/in.jsonl > %s/out.jsonl", build_path("adapt"), tok_path(NAMES[i]), dir, dir), 0);
        assert_int_equal(run_command("cmp -s %s %s/out.jsonl", enc, dir), 0);
    }
    remove_tree(dir);
    free(dir);
}

/* Same encodings from the SentencePiece .model, converted as transformers converts XLM-R. */
static void test_sentencepiece_model(void **state)
{
    (void)state;
    adapt_tokenizer *t = load(shared_path("fixtures/tokenizers/unigram-xlmr/sentencepiece.bpe.model"));
    check_records(t, "unigram-xlmr");
    adapt_tokenizer_free(t);
}

/* A folder with only vocab.txt (written from the bert-base-uncased vocabulary) acts as BERT uncased. */
static void test_vocab_txt_folder(void **state)
{
    (void)state;
    adapt_tokenizer *ref = load(tok_path(NAMES[0]));
    char *dir = make_temp_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    size_t n = adapt_tokenizer_vocab_size(ref);
    assert_int_equal(n, 30522);
    for (size_t i = 0; i < n; i++) fprintf(fp, "%s\n", adapt_tokenizer_id_to_token(ref, (int32_t)i));
    fclose(fp);
    adapt_tokenizer *t = load(dir);
    check_records(t, NAMES[0]);
    adapt_tokenizer_free(t);
    adapt_tokenizer_free(ref);
    remove_tree(dir);
    free(dir);
}

/* Values from the HF library (node binding 0.23) with the same settings. */
static void test_truncation_and_padding(void **state)
{
    (void)state;
    adapt_tokenizer *t = load(tok_path(NAMES[0]));
    adapt_tokenizer_set_truncation(t, 8, ADAPT_TRUNCATE_LONGEST_FIRST, false);
    const char *fox = "The quick brown fox jumps over the lazy dog.";
    adapt_encoding e;
    assert_int_equal(adapt_tokenizer_encode(t, fox, strlen(fox), NULL, 0, true, &e), ADAPT_OK);
    const int32_t ids1[] = {101, 1996, 4248, 2829, 4419, 14523, 2058, 102};
    const int32_t off1[][2] = {{0, 0}, {0, 3}, {4, 9}, {10, 15}, {16, 19}, {20, 25}, {26, 30}, {0, 0}};
    assert_int_equal(e.length, 8);
    assert_memory_equal(e.ids, ids1, sizeof ids1);
    assert_memory_equal(e.offsets, off1, sizeof off1);
    adapt_encoding_free(&e);
    assert_int_equal(adapt_tokenizer_encode(t, fox, strlen(fox), "Hello world", 11, true, &e), ADAPT_OK);
    const int32_t ids2[] = {101, 1996, 4248, 2829, 102, 7592, 2088, 102}, types2[] = {0, 0, 0, 0, 0, 1, 1, 1};
    assert_int_equal(e.length, 8);
    assert_memory_equal(e.ids, ids2, sizeof ids2);
    assert_memory_equal(e.type_ids, types2, sizeof types2);
    adapt_encoding_free(&e);
    adapt_tokenizer_set_truncation(t, 0, ADAPT_TRUNCATE_LONGEST_FIRST, false);
    adapt_tokenizer_set_padding(t, true, 12, 0, false, 0, 0, "[PAD]");
    assert_int_equal(adapt_tokenizer_encode(t, "Hello world", 11, NULL, 0, true, &e), ADAPT_OK);
    const int32_t ids3[] = {101, 7592, 2088, 102, 0, 0, 0, 0, 0, 0, 0, 0}, words3[] = {-1, 0, 1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
    const uint8_t att3[] = {1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0}, spec3[] = {1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(e.length, 12);
    assert_memory_equal(e.ids, ids3, sizeof ids3);
    assert_memory_equal(e.word_ids, words3, sizeof words3);
    assert_memory_equal(e.attention_mask, att3, sizeof att3);
    assert_memory_equal(e.special_tokens_mask, spec3, sizeof spec3);
    assert_string_equal(e.tokens[11], "[PAD]");
    adapt_encoding_free(&e);
    /* batch padding to the longest */
    adapt_tokenizer_set_padding(t, true, 0, 0, true, 0, 0, "[PAD]");
    const char *texts[] = {"Hello world", fox};
    adapt_encoding b[2];
    assert_int_equal(adapt_tokenizer_encode_batch(t, 2, texts, NULL, true, b), ADAPT_OK);
    assert_int_equal(b[0].length, 12);
    assert_int_equal(b[1].length, 12);
    assert_int_equal(b[0].ids[0], 0);           /* left padding */
    assert_int_equal(b[0].ids[8], 101);
    assert_int_equal(b[1].ids[0], 101);
    adapt_encoding_free(&b[0]); adapt_encoding_free(&b[1]);
    adapt_tokenizer_free(t);
}

static void test_decode(void **state)
{
    (void)state;
    adapt_tokenizer *t = load(tok_path(NAMES[0]));
    const int32_t ids[] = {101, 7592, 1010, 2088, 999, 2023, 2003, 1037, 3231, 1012, 102};
    char *s;
    assert_int_equal(adapt_tokenizer_decode(t, ids, 11, true, &s), ADAPT_OK);
    assert_string_equal(s, "hello, world! this is a test.");
    free(s);
    assert_int_equal(adapt_tokenizer_decode(t, ids, 11, false, &s), ADAPT_OK);
    assert_string_equal(s, "[CLS] hello, world! this is a test. [SEP]");
    free(s);
    adapt_tokenizer_free(t);

    /* byte-level BPE and the unigram model give back the texts of the fixture */
    for (int which = 2; which < 4; which++) {
        t = load(tok_path(NAMES[which]));
        fx_record *r;
        size_t n = fx_load(NAMES[which], &r);
        for (size_t i = 0; i < n; i++) {
            if (r[i].has_pair || strstr(r[i].text.p, "<s>")) continue; /* special tokens are skipped */
            assert_int_equal(adapt_tokenizer_decode(t, r[i].ids, r[i].n, true, &s), ADAPT_OK);
            if (which == 3) assert_string_equal(s, r[i].text.p); /* lossless */
            else if (!strcmp(r[i].text.p, "Ñuqanchikpa p'unchawninchik, ch'aska, qhapaq ñan."))
                assert_string_equal(s, r[i].text.p);
            free(s);
        }
        fx_free(r, n);
        adapt_tokenizer_free(t);
    }
    /* the detokenize command */
    char *dir = make_temp_dir();
    assert_int_equal(run_command("echo '[0, 31414, 6, 232, 2]' | %s detokenize %s > %s/d.txt && grep -qx '\"Hello, world\"' %s/d.txt",
                                 build_path("adapt"), tok_path(NAMES[3]), dir, dir) == 0 ||
                     run_command("echo '[0, 20920, 2]' | %s detokenize %s > %s/d.txt && test -s %s/d.txt", build_path("adapt"), tok_path(NAMES[3]), dir, dir) == 0, 1);
    remove_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bert_uncased),
        cmocka_unit_test(test_wordpiece_cased),
        cmocka_unit_test(test_unigram_xlmr),
        cmocka_unit_test(test_bytelevel_bpe),
        cmocka_unit_test(test_cli_matches_fixtures),
        cmocka_unit_test(test_sentencepiece_model),
        cmocka_unit_test(test_vocab_txt_folder),
        cmocka_unit_test(test_truncation_and_padding),
        cmocka_unit_test(test_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
