/* Tokenizers under hostile input: random bytes and random Unicode never crash and always give
 * consistent encodings (run under ASan/UBSan with `make SAN=1 test`); invalid UTF-8 is replaced
 * like Rust's from_utf8_lossy; malformed tokenizer.json files give clear errors. */
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *NAMES[] = {"bert-base-uncased", "wordpiece-cased", "unigram-xlmr", "bytelevel-bpe"};

static adapt_tokenizer *load_fixture(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/tokenizers/%s/tokenizer.json", name);
    adapt_tokenizer *t = NULL;
    assert_int_equal(adapt_tokenizer_load(shared_path(rel), &t), ADAPT_OK);
    return t;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t next_rand(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (uint32_t)(rng >> 16); }

static size_t count_chars(const char *s, size_t len)
{
    /* code points after lossy decoding = the offsets' range; an upper bound is the byte count */
    (void)s;
    return len;
}

static void check_encoding(adapt_tokenizer *t, const adapt_encoding *e, size_t bound)
{
    size_t vocab = adapt_tokenizer_vocab_size(t);
    for (size_t i = 0; i < e->length; i++) {
        assert_true(e->ids[i] >= 0 && (size_t)e->ids[i] < vocab);
        assert_true(e->offsets[i][0] >= 0 && e->offsets[i][0] <= e->offsets[i][1]);
        assert_true((size_t)e->offsets[i][1] <= bound);
        assert_true(e->special_tokens_mask[i] <= 1);
        assert_int_equal(strlen(e->tokens[i]) <= e->token_lengths[i], 1);
    }
}

static void encode_and_check(adapt_tokenizer *t, const char *s, size_t len, const char *pair, size_t plen)
{
    adapt_encoding e;
    assert_int_equal(adapt_tokenizer_encode(t, s, len, pair, plen, true, &e), ADAPT_OK);
    check_encoding(t, &e, count_chars(s, len) > plen ? count_chars(s, len) : plen);
    char *d;
    assert_int_equal(adapt_tokenizer_decode(t, e.ids, e.length, true, &d), ADAPT_OK);
    free(d);
    adapt_encoding_free(&e);
}

static void test_random_bytes(void **state)
{
    (void)state;
    char buf[300];
    for (int k = 0; k < 4; k++) {
        adapt_tokenizer *t = load_fixture(NAMES[k]);
        for (int it = 0; it < 400; it++) {
            size_t len = next_rand() % sizeof buf;
            for (size_t i = 0; i < len; i++) buf[i] = (char)next_rand();
            size_t split = len ? next_rand() % len : 0;
            encode_and_check(t, buf, len, NULL, 0);
            encode_and_check(t, buf, split, buf + split, len - split);
        }
        /* decoding arbitrary ids, in and out of range */
        int32_t ids[64];
        for (int it = 0; it < 50; it++) {
            for (int i = 0; i < 64; i++) ids[i] = (int32_t)(next_rand() % 40000) - 100;
            char *d;
            assert_int_equal(adapt_tokenizer_decode(t, ids, 64, it % 2, &d), ADAPT_OK);
            free(d);
        }
        adapt_tokenizer_free(t);
    }
}

/* Valid UTF-8 drawn from many scripts, marks, emoji, controls, private use and specials. */
static void test_random_unicode(void **state)
{
    (void)state;
    static const uint32_t ranges[][2] = {
        {0x20, 0x7E}, {0x0, 0x1F}, {0xA0, 0x24F}, {0x300, 0x36F}, {0x370, 0x3FF}, {0x400, 0x4FF}, {0x590, 0x6FF},
        {0x900, 0x97F}, {0xE00, 0xE7F}, {0x1100, 0x11FF}, {0x2000, 0x206F}, {0x3000, 0x30FF}, {0x4E00, 0x4F00},
        {0xAC00, 0xAD00}, {0xE000, 0xE010}, {0xFB00, 0xFB06}, {0xFE00, 0xFE0F}, {0xFF00, 0xFFEF}, {0xFFF0, 0xFFFF},
        {0x1F300, 0x1F6FF}, {0x1F1E6, 0x1F1FF}, {0x20000, 0x20100}, {0xE0000, 0xE007F}, {0x10FFF0, 0x10FFFF}};
    static const char *specials[] = {"[CLS]", "<s>", "</s>", " <mask> ", "[MASK]", "\xE2\x96\x81", "##"};
    char buf[1024];
    for (int k = 0; k < 4; k++) {
        adapt_tokenizer *t = load_fixture(NAMES[k]);
        for (int it = 0; it < 400; it++) {
            size_t len = 0, n = next_rand() % 60;
            for (size_t i = 0; i < n; i++) {
                if (next_rand() % 10 == 0) {
                    const char *s = specials[next_rand() % 7];
                    memcpy(buf + len, s, strlen(s)); len += strlen(s);
                    continue;
                }
                const uint32_t *r = ranges[next_rand() % (sizeof ranges / sizeof ranges[0])];
                uint32_t c = r[0] + next_rand() % (r[1] - r[0] + 1);
                if (c >= 0xD800 && c <= 0xDFFF) c = 'x';
                unsigned char *u = (unsigned char *)buf + len;
                if (c < 0x80) { u[0] = (unsigned char)c; len += 1; }
                else if (c < 0x800) { u[0] = (unsigned char)(0xC0 | (c >> 6)); u[1] = (unsigned char)(0x80 | (c & 0x3F)); len += 2; }
                else if (c < 0x10000) { u[0] = (unsigned char)(0xE0 | (c >> 12)); u[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F)); u[2] = (unsigned char)(0x80 | (c & 0x3F)); len += 3; }
                else { u[0] = (unsigned char)(0xF0 | (c >> 18)); u[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F)); u[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F)); u[3] = (unsigned char)(0x80 | (c & 0x3F)); len += 4; }
            }
            encode_and_check(t, buf, len, NULL, 0);
            encode_and_check(t, buf, len / 2, buf, len);
        }
        adapt_tokenizer_free(t);
    }
}

/* "a\xFFb\xE2\x82" reads as "a\uFFFDb\uFFFD" (one replacement per maximal ill-formed subpart). */
static void test_invalid_utf8_is_replaced(void **state)
{
    (void)state;
    adapt_tokenizer *t = load_fixture("bytelevel-bpe");
    adapt_encoding a, b;
    const char bad[] = "a\xFF" "b\xE2\x82", good[] = "a\xEF\xBF\xBD" "b\xEF\xBF\xBD";
    assert_int_equal(adapt_tokenizer_encode(t, bad, sizeof bad - 1, NULL, 0, true, &a), ADAPT_OK);
    assert_int_equal(adapt_tokenizer_encode(t, good, sizeof good - 1, NULL, 0, true, &b), ADAPT_OK);
    assert_int_equal(a.length, b.length);
    assert_memory_equal(a.ids, b.ids, a.length * sizeof *a.ids);
    assert_memory_equal(a.offsets, b.offsets, a.length * sizeof *a.offsets);
    assert_int_equal(a.offsets[a.length - 2][1], 4); /* four code points */
    adapt_encoding_free(&a); adapt_encoding_free(&b);
    adapt_tokenizer_free(t);
}

static void expect_error(const char *dir, const char *json, const char *fragment)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    write_file(path, json, strlen(json));
    adapt_tokenizer *t = (adapt_tokenizer *)1;
    adapt_status st = adapt_tokenizer_load(path, &t);
    if (st == ADAPT_OK || !strstr(adapt_error(), fragment))
        print_error("json %s\n -> status %d, error \"%s\" (wanted \"%s\")\n", json, st, adapt_error(), fragment);
    assert_int_not_equal(st, ADAPT_OK);
    assert_null(t);
    assert_non_null(strstr(adapt_error(), fragment));
    assert_non_null(strstr(adapt_error(), "tokenizer.json"));
}

static void test_hostile_json(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    expect_error(dir, "{\"added_tokens\": []}", "model");
    expect_error(dir, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 1e12}}}", "vocabulary id");
    expect_error(dir, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": -1}}}", "vocabulary id");
    expect_error(dir, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0.5}}}", "vocabulary id");
    expect_error(dir, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": \"x\"}}", "vocab");
    expect_error(dir, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": \"1\"}}}", "not a number");
    expect_error(dir, "{\"model\": {\"type\": \"Quantum\", \"vocab\": {}}}", "Quantum");
    expect_error(dir, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}", "merge 0");
    expect_error(dir, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [42]}}", "merge 0");
    expect_error(dir, "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\"]]}}", "Unigram vocab entry 0");
    expect_error(dir, "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 5, \"vocab\": [[\"a\", -1.0]]}}", "unk_id");
    expect_error(dir, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}", "malformed JSON");
    expect_error(dir, "[1, 2]", "not an object");
    expect_error(dir, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}, \"normalizer\": {\"type\": \"Fancy\"}}", "Fancy");
    expect_error(dir, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}, \"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"AAAA\"}}", "precompiled_charsmap");
    expect_error(dir, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}, \"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"/////w==\"}}", "precompiled_charsmap");
    expect_error(dir, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}, \"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"Regex\": \"(\"}, \"content\": \"\"}}", "regular expression");
    expect_error(dir, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}, \"added_tokens\": [{\"id\": 99999999999, \"content\": \"x\"}]}", "id");
    expect_error(dir, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}, \"added_tokens\": [{\"id\": 1}]}", "content");
    expect_error(dir, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}, \"post_processor\": {\"type\": \"BertProcessing\", \"sep\": [\"[SEP]\"], \"cls\": [\"[CLS]\", 1]}}", "sep");
    expect_error(dir, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}, \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"X\", \"type_id\": 0}}], \"pair\": [], \"special_tokens\": {}}}", "X");
    expect_error(dir, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}, \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"ab\"}}", "replacement");
    expect_error(dir, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}, \"truncation\": {\"max_length\": \"many\"}}", "max_length");
    /* deeply nested sequences: refused, not a stack overflow */
    char *deep = malloc(64 * 1024);
    strcpy(deep, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}, \"normalizer\": ");
    for (int i = 0; i < 200; i++) strcat(deep, "{\"type\": \"Sequence\", \"normalizers\": [");
    for (int i = 0; i < 200; i++) strcat(deep, "]}");
    strcat(deep, "}");
    expect_error(dir, deep, "nested");
    free(deep);
    adapt_tokenizer *t;
    assert_int_not_equal(adapt_tokenizer_load("/nonexistent/tokenizer.json", &t), ADAPT_OK);
    assert_non_null(strstr(adapt_error(), "/nonexistent"));
    remove_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_random_unicode),
        cmocka_unit_test(test_invalid_utf8_is_replaced),
        cmocka_unit_test(test_hostile_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
