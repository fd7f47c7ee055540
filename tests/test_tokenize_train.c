/* `adapt tokenizer train`: a byte-level BPE and a WordPiece trained on a small corpus from the
 * shared data are written in the HF schema, reload, and round-trip texts through encode/decode. */
#include "testutil.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first n lines of en.txt and qu.txt in one file (and an .xz copy when xz exists). */
static char *make_corpus(const char *dir, int n)
{
    char *path = malloc(512);
    snprintf(path, 512, "%s/corpus.txt", dir);
    assert_int_equal(run_command("head -n %d %s > %s && head -n %d %s >> %s", n, shared_path("data/text/en.txt"), path,
                                 n, shared_path("data/text/qu.txt"), path), 0);
    return path;
}

static cJSON *read_json(const char *path)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    buf[n] = 0;
    fclose(fp);
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    assert_non_null(j);
    return j;
}

static void test_bpe_round_trip(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    char *corpus = make_corpus(dir, 3000);
    bool have_xz = run_command("xz -k -T1 %s 2>/dev/null", corpus) == 0;
    assert_int_equal(run_command("%s tokenizer train --type bpe --vocab-size 1200 --output %s/out %s%s", build_path("adapt"), dir,
                                 corpus, have_xz ? ".xz" : ""), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/out/tokenizer.json", dir);
    /* the HF schema, as RoBERTa's tokenizer.json */
    cJSON *j = read_json(path);
    const cJSON *model = cJSON_GetObjectItem(j, "model");
    assert_string_equal(cJSON_GetObjectItem(model, "type")->valuestring, "BPE");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(model, "vocab")), 1200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(model, "merges")), 1200 - 5 - 256);
    assert_true(cJSON_IsArray(cJSON_GetArrayItem(cJSON_GetObjectItem(model, "merges"), 0)));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "pre_tokenizer"), "type")->valuestring, "ByteLevel");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "post_processor"), "type")->valuestring, "RobertaProcessing");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "decoder"), "type")->valuestring, "ByteLevel");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "added_tokens")), 5);
    cJSON_Delete(j);

    adapt_tokenizer *t;
    assert_int_equal(adapt_tokenizer_load(path, &t), ADAPT_OK);
    assert_int_equal(adapt_tokenizer_vocab_size(t), 1200);
    const char *names[] = {"<s>", "<pad>", "</s>", "<unk>", "<mask>"};
    for (int i = 0; i < 5; i++) assert_int_equal(adapt_tokenizer_token_to_id(t, names[i]), i);
    const char *texts[] = {"the people of the land", "Ñuqanchikpa p'unchawninchik, ch'aska.", "Emoji 😀 and ÿ \t tabs\n",
                           "  leading spaces", ""};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        adapt_encoding e;
        assert_int_equal(adapt_tokenizer_encode(t, texts[i], strlen(texts[i]), NULL, 0, true, &e), ADAPT_OK);
        assert_int_equal(e.ids[0], 0);
        assert_int_equal(e.ids[e.length - 1], 2);
        char *d;
        assert_int_equal(adapt_tokenizer_decode(t, e.ids, e.length, true, &d), ADAPT_OK);
        assert_string_equal(d, texts[i]); /* byte-level BPE is lossless */
        free(d);
        if (i == 0) assert_true(e.length <= 2 + 6); /* frequent English words are merged */
        adapt_encoding_free(&e);
    }
    adapt_tokenizer_free(t);
    free(corpus);
    remove_tree(dir);
    free(dir);
}

static void test_wordpiece_round_trip(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    char *corpus = make_corpus(dir, 2000);
    assert_int_equal(run_command("%s tokenizer train --type wordpiece --vocab-size 900 --lowercase --output %s/wp %s",
                                 build_path("adapt"), dir, corpus), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/wp/tokenizer.json", dir);
    cJSON *j = read_json(path);
    const cJSON *model = cJSON_GetObjectItem(j, "model");
    assert_string_equal(cJSON_GetObjectItem(model, "type")->valuestring, "WordPiece");
    assert_string_equal(cJSON_GetObjectItem(model, "continuing_subword_prefix")->valuestring, "##");
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(model, "vocab")) <= 900);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "normalizer"), "type")->valuestring, "BertNormalizer");
    cJSON_Delete(j);
    adapt_tokenizer *t;
    assert_int_equal(adapt_tokenizer_load(path, &t), ADAPT_OK);
    assert_int_equal(adapt_tokenizer_token_to_id(t, "[CLS]"), 2);
    const char *text = "The LORD said unto Moses, runaqa llaqtapi.";
    adapt_encoding e;
    assert_int_equal(adapt_tokenizer_encode(t, text, strlen(text), NULL, 0, true, &e), ADAPT_OK);
    assert_string_equal(e.tokens[0], "[CLS]");
    assert_string_equal(e.tokens[1], "the");  /* lowercased, frequent: one token */
    assert_int_equal(e.offsets[1][0], 0);
    assert_int_equal(e.offsets[1][1], 3);
    int32_t unk = adapt_tokenizer_token_to_id(t, "[UNK]");
    for (size_t i = 0; i < e.length; i++) assert_int_not_equal(e.ids[i], unk);
    char *d;
    assert_int_equal(adapt_tokenizer_decode(t, e.ids, e.length, true, &d), ADAPT_OK);
    assert_string_equal(d, "the lord said unto moses, runaqa llaqtapi.");
    free(d);
    adapt_encoding_free(&e);
    adapt_tokenizer_free(t);
    assert_int_not_equal(run_command("%s tokenizer train --type unigram --vocab-size 900 %s 2>/dev/null", build_path("adapt"), corpus), 0);
    /* a number that is not one is named (strtol read "3e2" as 3 and "abc" as 0 before) */
    assert_int_equal(run_command("%s tokenizer train --type bpe --vocab-size 3e2 %s 2> %s/err; test $? -eq 2 && "
                                 "grep -q -- '--vocab-size needs an integer' %s/err", build_path("adapt"), corpus, dir, dir), 0);
    assert_int_equal(run_command("echo '{\"text\": \"hi\"}' | %s tokenize %s/wp/tokenizer.json --max-length abc 2> %s/err; test $? -eq 2 && "
                                 "grep -q -- '--max-length needs an integer' %s/err", build_path("adapt"), dir, dir, dir), 0);
    free(corpus);
    remove_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bpe_round_trip),
        cmocka_unit_test(test_wordpiece_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
