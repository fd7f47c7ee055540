/* Data readers: text/xz lines, CoNLL, GLUE TSV, JSONL, label alignment; small files written here
 * plus the real WikiANN, GLUE and pretraining files (expected counts taken with wc/awk). */
#include "testutil.h"
#include "data/align.h"
#include "data/conll.h"
#include "data/glue.h"
#include "data/jsonl.h"
#include "data/text_reader.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka here has no assert_double_equal; this one prints both values on failure. */
#define assert_near(a, b, eps) assert_near_at((a), (b), (eps), __FILE__, __LINE__)
static void assert_near_at(double a, double b, double eps, const char *file, int line)
{
    if (!(fabs(a - b) <= eps)) {
        print_error("%.17g != %.17g (eps %g)\n", a, b, eps);
        _fail(file, line);
    }
}

static char *tmp;

static int setup(void **state)
{
    (void)state;
    tmp = make_temp_dir();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    remove_tree(tmp);
    free(tmp);
    return 0;
}

/* tmp/name, in a rotating static buffer. */
static const char *tpath(const char *name)
{
    static char bufs[4][4096];
    static int next;
    char *p = bufs[next++ & 3];
    snprintf(p, 4096, "%s/%s", tmp, name);
    return p;
}

static const char *put(const char *name, const char *text)
{
    const char *p = tpath(name);
    write_file(p, text, strlen(text));
    return p;
}

/* The failing call's message names the file (and line, when given). */
static void expect_error_at(const char *path, const char *where)
{
    assert_non_null(strstr(adapt_error(), path));
    if (where) assert_non_null(strstr(adapt_error(), where));
}

/* Reads every line; returns the status of the first failure (or ADAPT_OK) and the line count. */
static adapt_status count_lines(const char *path, size_t max_line, size_t *n)
{
    text_reader *r;
    *n = 0;
    adapt_status st = text_reader_open(path, max_line, &r);
    if (st != ADAPT_OK) return st;
    for (;;) {
        const char *line;
        size_t len;
        st = text_reader_next(r, &line, &len);
        if (st != ADAPT_OK || !line) break;
        ++*n;
    }
    text_reader_close(r);
    return st;
}

/* ================================================================== text reader */

static void expect_lines(const char *path, const char *const *want, size_t n_want)
{
    text_reader *r;
    assert_int_equal(text_reader_open(path, 0, &r), ADAPT_OK);
    for (size_t i = 0; i < n_want; i++) {
        const char *line;
        size_t len;
        assert_int_equal(text_reader_next(r, &line, &len), ADAPT_OK);
        assert_non_null(line);
        assert_string_equal(line, want[i]);
        assert_int_equal(len, strlen(want[i]));
        assert_int_equal(text_reader_line_number(r), i + 1);
    }
    const char *line;
    size_t len;
    assert_int_equal(text_reader_next(r, &line, &len), ADAPT_OK);
    assert_null(line);
    /* Rewind starts over. */
    assert_int_equal(text_reader_rewind(r), ADAPT_OK);
    assert_int_equal(text_reader_next(r, &line, &len), ADAPT_OK);
    assert_string_equal(line, want[0]);
    text_reader_close(r);
}

static void test_text_plain(void **state)
{
    (void)state;
    const char *p = put("plain.txt", "\xEF\xBB\xBF" "first\nsecond\r\n\ncaf\xC3\xA9");
    const char *want[] = {"first", "second", "", "caf\xC3\xA9"};
    expect_lines(p, want, 4);
    text_reader *r;
    assert_int_equal(text_reader_open(p, 0, &r), ADAPT_OK);
    assert_false(text_reader_is_xz(r));
    text_reader_close(r);
    const char *empty = put("empty.txt", "");
    size_t n;
    assert_int_equal(count_lines(empty, 0, &n), ADAPT_OK);
    assert_int_equal(n, 0);
}

static void test_text_xz_small(void **state)
{
    (void)state;
    const char *p = put("small.txt", "alpha\nbeta\n\ngamma delta\n");
    assert_int_equal(run_command("xz -k -f '%s'", p), 0);
    const char *want[] = {"alpha", "beta", "", "gamma delta"};
    char xzp[4200];
    snprintf(xzp, sizeof xzp, "%s.xz", p);
    expect_lines(xzp, want, 4);
    /* Detected by magic bytes, not by name. */
    assert_int_equal(run_command("cp '%s' '%s'", xzp, tpath("compressed.bin")), 0);
    text_reader *r;
    assert_int_equal(text_reader_open(tpath("compressed.bin"), 0, &r), ADAPT_OK);
    assert_true(text_reader_is_xz(r));
    text_reader_close(r);
    expect_lines(tpath("compressed.bin"), want, 4);
    /* Two concatenated xz streams read as one text. */
    assert_int_equal(run_command("cat '%s' '%s' > '%s'", xzp, xzp, tpath("twice.xz")), 0);
    size_t n;
    assert_int_equal(count_lines(tpath("twice.xz"), 0, &n), ADAPT_OK);
    assert_int_equal(n, 8);
}

static void test_text_xz_truncated(void **state)
{
    (void)state;
    /* ~200 kB of varied text, compressed, then cut in the middle. */
    char p[4200];
    snprintf(p, sizeof p, "%s", tpath("big.txt"));
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    for (int i = 0; i < 20000; i++) fprintf(fp, "line %d of the test text %x\n", i, i * 2654435761u);
    fclose(fp);
    assert_int_equal(run_command("xz -k -f '%s' && head -c 20000 '%s.xz' > '%s'", p, p, tpath("cut.txt.xz")), 0);
    size_t n;
    assert_int_equal(count_lines(tpath("cut.txt.xz"), 0, &n), ADAPT_ERR_FORMAT);
    expect_error_at(tpath("cut.txt.xz"), "xz");
    /* Corrupt bytes in the middle: the CRC or the decoder catches it. */
    assert_int_equal(run_command("cp '%s.xz' '%s' && printf 'XXXXXXXX' | dd of='%s' bs=1 seek=5000 conv=notrunc 2>/dev/null",
                                 p, tpath("bad.xz"), tpath("bad.xz")), 0);
    assert_int_equal(count_lines(tpath("bad.xz"), 0, &n), ADAPT_ERR_FORMAT);
    expect_error_at(tpath("bad.xz"), NULL);
    /* The intact file reads fully. */
    char full[4300];
    snprintf(full, sizeof full, "%s.xz", p);
    assert_int_equal(count_lines(full, 0, &n), ADAPT_OK);
    assert_int_equal(n, 20000);
}

static void test_text_bad_input(void **state)
{
    (void)state;
    size_t n;
    const char *fake = put("fake.txt.xz", "plain text\n");
    assert_int_equal(count_lines(fake, 0, &n), ADAPT_ERR_FORMAT);
    expect_error_at(fake, "magic");
    const char *gz = put("data.gz", "\x1f\x8b\x08\x00rest");
    assert_int_equal(count_lines(gz, 0, &n), ADAPT_ERR_UNSUPPORTED);
    expect_error_at(gz, "gzip");
    const char *utf = put("latin1.txt", "ok\ncaf\xE9\n");
    assert_int_equal(count_lines(utf, 0, &n), ADAPT_ERR_FORMAT);
    expect_error_at(utf, ":2:");
    const char *nul = tpath("nul.txt");
    write_file(nul, "a\nb\0c\n", 6);
    assert_int_equal(count_lines(nul, 0, &n), ADAPT_ERR_FORMAT);
    expect_error_at(nul, ":2:");
    const char *lng = put("long.txt", "short\n0123456789012345678901234567890123456789\nshort\n");
    assert_int_equal(count_lines(lng, 16, &n), ADAPT_ERR_FORMAT);
    expect_error_at(lng, ":2:");
    assert_int_equal(count_lines(lng, 40, &n), ADAPT_OK);
    assert_int_equal(count_lines(tpath("missing.txt"), 0, &n), ADAPT_ERR_IO);
    expect_error_at(tpath("missing.txt"), NULL);
    /* Overlong encodings and surrogates are not UTF-8. */
    size_t bad;
    assert_false(utf8_is_valid("\xC0\xAF", 2, &bad));
    assert_false(utf8_is_valid("\xED\xA0\x80", 3, &bad));
    assert_false(utf8_is_valid("ab\xF4\x90\x80\x80", 6, &bad));
    assert_int_equal(bad, 2);
    assert_true(utf8_is_valid("\xF0\x9F\x98\x80 \xE2\x82\xAC", 8, &bad));
}

static void test_text_documents(void **state)
{
    (void)state;
    const char *p = put("docs.txt", "\n\na\nb\n\n\nc\n \t \nd\ne");
    text_reader *r;
    assert_int_equal(text_reader_open(p, 0, &r), ADAPT_OK);
    const char *want[] = {"a\nb", "c", "d\ne"};
    for (int i = 0; i < 3; i++) {
        const char *doc;
        size_t len;
        assert_int_equal(text_reader_next_document(r, 0, &doc, &len), ADAPT_OK);
        assert_non_null(doc);
        assert_string_equal(doc, want[i]);
        assert_int_equal(len, strlen(want[i]));
    }
    const char *doc;
    size_t len;
    assert_int_equal(text_reader_next_document(r, 0, &doc, &len), ADAPT_OK);
    assert_null(doc);
    text_reader_close(r);
    /* A document past the bound is an error. */
    assert_int_equal(text_reader_open(p, 0, &r), ADAPT_OK);
    assert_int_equal(text_reader_next_document(r, 2, &doc, &len), ADAPT_ERR_FORMAT);
    expect_error_at(p, "document");
    text_reader_close(r);
}

static void test_text_real_pretrain(void **state)
{
    (void)state;
    /* First lines of both pretraining files, then the whole Spanish file: 149150 lines
     * (xz -dc es.txt.xz | wc -l). */
    text_reader *r;
    assert_int_equal(text_reader_open(shared_path("data/text/pretrain/en-wiki.txt.xz"), 0, &r), ADAPT_OK);
    assert_true(text_reader_is_xz(r));
    const char *line;
    size_t len;
    assert_int_equal(text_reader_next(r, &line, &len), ADAPT_OK);
    assert_non_null(line);
    assert_true(strncmp(line, "Jarred Shaw (born September 28, 1990) is an American professional basketball", 76) == 0);
    for (int i = 0; i < 999; i++) {
        assert_int_equal(text_reader_next(r, &line, &len), ADAPT_OK);
        assert_non_null(line);
    }
    assert_int_equal(text_reader_line_number(r), 1000);
    assert_true(text_reader_bytes_consumed(r) < text_reader_file_size(r));   /* streamed, not slurped */
    text_reader_close(r);

    assert_int_equal(text_reader_open(shared_path("data/text/pretrain/es.txt.xz"), 0, &r), ADAPT_OK);
    assert_int_equal(text_reader_next(r, &line, &len), ADAPT_OK);
    assert_string_equal(line, "Lo hizo siguiendo las nuevas corrientes aprendidas en Apulia sobre todo haciendo "
                              "hincapi\xC3\xA9 en la forma cl\xC3\xA1sica del H\xC3\xA9rcules desnudo.");
    text_reader_close(r);
    size_t n;
    assert_int_equal(count_lines(shared_path("data/text/pretrain/es.txt.xz"), 0, &n), ADAPT_OK);
    assert_int_equal(n, 149150);
}

/* ================================================================== CoNLL */

static void test_conll_small(void **state)
{
    (void)state;
    const char *p = put("small.conll",
                        "-DOCSTART- -X- O O\n"
                        "\n"
                        "EU\tB-ORG\n"
                        "rejects\tO\n"
                        "\n"
                        "\n"
                        "Peter\tB-PER\n"
                        "Blackburn\tI-PER\n");   /* no blank line at the end */
    dataset ds;
    assert_int_equal(conll_read(p, NULL, &ds), ADAPT_OK);
    assert_int_equal(ds.kind, DATASET_TAGGING);
    assert_int_equal(ds.n, 2);
    assert_int_equal(ds.examples[0].n_tokens, 2);
    assert_string_equal(ds.examples[0].tokens[0], "EU");
    assert_string_equal(ds.examples[0].tags[0], "B-ORG");
    assert_int_equal(ds.examples[0].line, 3);
    assert_int_equal(ds.examples[1].line, 7);
    /* "O" first, then sorted; I-ORG and B-PER's partners are added. */
    const char *want[] = {"O", "B-ORG", "B-PER", "I-ORG", "I-PER"};
    assert_int_equal(ds.labels.n, 5);
    for (int i = 0; i < 5; i++) assert_string_equal(ds.labels.names[i], want[i]);
    assert_int_equal(ds.examples[0].tag_ids[0], 1);
    assert_int_equal(ds.examples[0].tag_ids[1], 0);
    assert_int_equal(ds.examples[1].tag_ids[0], 2);
    assert_int_equal(ds.examples[1].tag_ids[1], 4);
    dataset_free(&ds);
}

static void test_conll_spaces_iob1(void **state)
{
    (void)state;
    /* CoNLL-2003 style: space-separated, tag in the last column, IOB1. */
    const char *p = put("iob1.txt",
                        "EU NNP B-NP I-ORG\n"
                        "rejects VBZ B-VP O\n"
                        "German JJ B-NP I-MISC\n"
                        "call NN I-NP O\n"
                        "\n"
                        "Peter NNP B-NP I-PER\n"
                        "Blackburn NNP I-NP I-PER\n"
                        "Jane NNP I-NP B-PER\n"
                        "Doe NNP I-NP I-PER\n"
                        "London NNP I-NP I-LOC\n");
    conll_options opt = {CONLL_IOB1, NULL, 0, false};
    dataset ds;
    assert_int_equal(conll_read(p, &opt, &ds), ADAPT_OK);
    assert_int_equal(ds.n, 2);
    const char *s0[] = {"B-ORG", "O", "B-MISC", "O"};
    for (int i = 0; i < 4; i++) assert_string_equal(ds.examples[0].tags[i], s0[i]);
    const char *s1[] = {"B-PER", "I-PER", "B-PER", "I-PER", "B-LOC"};
    for (int i = 0; i < 5; i++) assert_string_equal(ds.examples[1].tags[i], s1[i]);
    assert_string_equal(ds.examples[1].tokens[4], "London");
    dataset_free(&ds);
    /* Read as IOB2, the same file keeps its tags. */
    assert_int_equal(conll_read(p, NULL, &ds), ADAPT_OK);
    assert_string_equal(ds.examples[0].tags[0], "I-ORG");
    dataset_free(&ds);
}

static void test_conll_given_labels_and_tokens_only(void **state)
{
    (void)state;
    const char *p = put("given.conll", "Paris\tB-LOC\nis\tO\n\nBob\tB-PER\n");
    const char *labels[] = {"O", "B-LOC", "I-LOC"};
    conll_options opt = {CONLL_IOB2, labels, 3, false};
    dataset ds;
    assert_int_equal(conll_read(p, &opt, &ds), ADAPT_ERR_FORMAT);
    expect_error_at(p, ":4:");
    assert_non_null(strstr(adapt_error(), "B-PER"));
    dataset_free(&ds);
    opt.n_labels = 2;
    const char *p2 = put("given2.conll", "Paris\tB-LOC\nis\tO\n");
    assert_int_equal(conll_read(p2, &opt, &ds), ADAPT_OK);
    assert_int_equal(ds.labels.n, 2);
    assert_int_equal(ds.examples[0].tag_ids[0], 1);
    dataset_free(&ds);
    /* Prediction input: one column. */
    const char *p3 = put("words.txt", "Paris\nis\n\nnice\n");
    conll_options words = {CONLL_IOB2, NULL, 0, true};
    assert_int_equal(conll_read(p3, &words, &ds), ADAPT_OK);
    assert_int_equal(ds.n, 2);
    assert_false(ds.has_labels);
    assert_null(ds.examples[0].tags);
    assert_string_equal(ds.examples[1].tokens[0], "nice");
    dataset_free(&ds);
}

static void test_conll_malformed(void **state)
{
    (void)state;
    dataset ds;
    const char *p = put("notag.conll", "EU\tB-ORG\nrejects\n");
    assert_int_equal(conll_read(p, NULL, &ds), ADAPT_ERR_FORMAT);
    expect_error_at(p, ":2:");
    assert_non_null(strstr(adapt_error(), "missing tag"));
    dataset_free(&ds);
    p = put("prefix.conll", "EU\tB-ORG\n\nrejects\tX-ORG\n");
    assert_int_equal(conll_read(p, NULL, &ds), ADAPT_ERR_FORMAT);
    expect_error_at(p, ":3:");
    assert_non_null(strstr(adapt_error(), "X-ORG"));
    dataset_free(&ds);
    p = put("prefix2.conll", "EU\tB-\n");
    assert_int_equal(conll_read(p, NULL, &ds), ADAPT_ERR_FORMAT);
    expect_error_at(p, ":1:");
    dataset_free(&ds);
    p = put("emptyword.conll", "\tO\n");
    assert_int_equal(conll_read(p, NULL, &ds), ADAPT_ERR_FORMAT);
    expect_error_at(p, ":1:");
    dataset_free(&ds);
    /* Plain scheme takes any tag. */
    conll_options plain = {CONLL_PLAIN, NULL, 0, false};
    p = put("pos.conll", "EU\tNNP\nrejects\tVBZ\n");
    assert_int_equal(conll_read(p, &plain, &ds), ADAPT_OK);
    assert_int_equal(ds.labels.n, 2);
    dataset_free(&ds);
    conll_scheme sc;
    assert_int_equal(conll_scheme_parse("BIO", &sc), ADAPT_OK);
    assert_int_equal(sc, CONLL_IOB2);
    assert_int_equal(conll_scheme_parse("iobes", &sc), ADAPT_ERR_ARG);
}

/* The original WikiANN files write every word with its language ("qu:Qusqu"): read without it
 * when the whole file has one prefix, kept for output in word_prefix; anything else is left. */
static void test_conll_language_prefix(void **state)
{
    (void)state;
    dataset ds;
    const char *p = put("pan-x.conll", "qu:Qusqu\tB-LOC\nqu:llaqtam\tO\n\nqu::\tO\nqu:Perú\tB-LOC\n");
    assert_int_equal(conll_read(p, NULL, &ds), ADAPT_OK);
    assert_string_equal(ds.word_prefix, "qu:");
    assert_string_equal(ds.examples[0].tokens[0], "Qusqu");
    assert_string_equal(ds.examples[0].tags[0], "B-LOC");
    assert_string_equal(ds.examples[1].tokens[0], ":");
    assert_string_equal(ds.examples[1].tokens[1], "Perú");
    dataset_free(&ds);
    p = put("pan-x-long.conll", "zh-min-nan:Tâi-oân\tB-LOC\n");
    assert_int_equal(conll_read(p, NULL, &ds), ADAPT_OK);
    assert_string_equal(ds.word_prefix, "zh-min-nan:");
    assert_string_equal(ds.examples[0].tokens[0], "Tâi-oân");
    dataset_free(&ds);
    /* One word without it, another language, a bare prefix, a URL: the words stay as written. */
    const char *kept[] = {"qu:Qusqu\tB-LOC\nLima\tB-LOC\n", "qu:Qusqu\tB-LOC\n\nes:Lima\tB-LOC\n", "qu:Qusqu\tB-LOC\nqu:\tO\n",
                          "http://a.org\tO\n", "Q:Qusqu\tB-LOC\n", "quechua:Qusqu\tB-LOC\n"};
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) {
        p = put("kept.conll", kept[i]);
        assert_int_equal(conll_read(p, NULL, &ds), ADAPT_OK);
        assert_string_equal(ds.word_prefix, "");
        assert_memory_equal(ds.examples[0].tokens[0], kept[i], strlen(ds.examples[0].tokens[0]));
        dataset_free(&ds);
    }
}

/* WikiANN-en dev: 10000 sentences, 80536 words; B-LOC 4834, B-ORG 4677, B-PER 4635, I-LOC 6357,
 * I-ORG 11638, I-PER 7520, O 40875 (cut -f2 dev.conll | sort | uniq -c). */
static void test_conll_wikiann_dev(void **state)
{
    (void)state;
    dataset ds;
    assert_int_equal(conll_read(shared_path("data/ner/wikiann-en/dev.conll"), NULL, &ds), ADAPT_OK);
    assert_int_equal(ds.n, 10000);
    const char *want[] = {"O", "B-LOC", "B-ORG", "B-PER", "I-LOC", "I-ORG", "I-PER"};
    size_t want_counts[] = {40875, 4834, 4677, 4635, 6357, 11638, 7520};
    assert_int_equal(ds.labels.n, 7);
    for (int i = 0; i < 7; i++) assert_string_equal(ds.labels.names[i], want[i]);
    size_t counts[7] = {0}, words = 0;
    for (size_t i = 0; i < ds.n; i++) {
        words += ds.examples[i].n_tokens;
        for (size_t j = 0; j < ds.examples[i].n_tokens; j++) counts[ds.examples[i].tag_ids[j]]++;
    }
    assert_int_equal(words, 80536);
    for (int i = 0; i < 7; i++) assert_int_equal(counts[i], want_counts[i]);
    /* The first sentence: Sioux Falls Arena ( Sioux Falls , South Dakota ) */
    assert_int_equal(ds.examples[0].n_tokens, 10);
    assert_string_equal(ds.examples[0].tokens[2], "Arena");
    assert_string_equal(ds.examples[0].tags[2], "I-ORG");
    assert_int_equal(ds.examples[1].line, 12);
    dataset_free(&ds);
}

/* ================================================================== alignment */

static void test_align(void **state)
{
    (void)state;
    /* [CLS] Wash ##ington is in North ##west ##ern [SEP] <pad> */
    int32_t word_ids[] = {-1, 0, 0, 1, 2, 3, 3, 3, -1, -1};
    int32_t word_labels[] = {3, 0, 0, 5};
    int32_t out[10];
    assert_int_equal(align_labels_to_subtokens(word_ids, 10, word_labels, 4, out), ADAPT_OK);
    int32_t want[] = {-100, 3, -100, 0, 0, 5, -100, -100, -100, -100};
    for (int i = 0; i < 10; i++) assert_int_equal(out[i], want[i]);
    int32_t bad[] = {-1, 4};
    assert_int_equal(align_labels_to_subtokens(bad, 2, word_labels, 4, out), ADAPT_ERR_ARG);
    /* Back to words; word 3 was cut off by truncation. */
    int32_t cut_ids[] = {-1, 0, 0, 1, 2, -1};
    int32_t sub_preds[] = {9, 1, 2, 3, 4, 9};
    int32_t words[4];
    assert_int_equal(gather_word_predictions(cut_ids, 6, sub_preds, 4, 0, words), ADAPT_OK);
    int32_t want_w[] = {1, 3, 4, 0};
    for (int i = 0; i < 4; i++) assert_int_equal(words[i], want_w[i]);
}

/* ================================================================== GLUE */

static void test_glue_tasks(void **state)
{
    (void)state;
    assert_string_equal(glue_task_find("SST-2")->name, "sst2");
    assert_string_equal(glue_task_find("sts_b")->name, "stsb");
    assert_true(glue_task_find("STS-B")->regression);
    assert_null(glue_task_find("squad"));
    assert_string_equal(glue_task_from_path("/x/glue/RTE/dev.tsv")->name, "rte");
    assert_string_equal(glue_task_from_path("CoLA/train.tsv")->name, "cola");
    assert_null(glue_task_from_path("dev.tsv"));
    assert_string_equal(glue_task_find("cola")->metric, "mcc");
}

static void test_glue_small_layouts(void **state)
{
    (void)state;
    dataset ds;
    const char *sst = put("sst.tsv", "sentence\tlabel\nit 's good \t1\nbad\t0\n");
    assert_int_equal(glue_read(sst, glue_task_find("sst2"), NULL, &ds), ADAPT_OK);
    assert_int_equal(ds.n, 2);
    assert_string_equal(ds.examples[0].text, "it 's good ");
    assert_null(ds.examples[0].text_pair);
    assert_int_equal(ds.examples[0].label, 1);
    assert_int_equal(ds.examples[1].label, 0);
    assert_int_equal(ds.examples[1].line, 3);
    dataset_free(&ds);

    const char *cola = put("cola.tsv", "gj04\t1\t\tThe sailors rode the breeze.\ngj04\t0\t*\tRode the.\n");
    assert_int_equal(glue_read(cola, glue_task_find("cola"), NULL, &ds), ADAPT_OK);
    assert_int_equal(ds.n, 2);
    assert_string_equal(ds.examples[1].text, "Rode the.");
    assert_int_equal(ds.examples[1].label, 0);
    dataset_free(&ds);

    const char *rte = put("rte.tsv", "index\tsentence1\tsentence2\tlabel\n0\tA man.\tA person.\tentailment\n1\tX.\tY.\tnot_entailment\n");
    assert_int_equal(glue_read(rte, glue_task_find("rte"), NULL, &ds), ADAPT_OK);
    assert_string_equal(ds.examples[0].text_pair, "A person.");
    assert_int_equal(ds.examples[0].label, 0);
    assert_int_equal(ds.examples[1].label, 1);
    dataset_free(&ds);

    const char *mrpc = put("mrpc.tsv", "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t11\t12\t\"Quoted, once.\tSecond.\n");
    assert_int_equal(glue_read(mrpc, glue_task_find("mrpc"), NULL, &ds), ADAPT_OK);
    assert_string_equal(ds.examples[0].text, "\"Quoted, once.");   /* no CSV quoting */
    assert_string_equal(ds.examples[0].text_pair, "Second.");
    assert_int_equal(ds.examples[0].label, 1);
    dataset_free(&ds);

    const char *sts = put("sts.tsv", "index\tsentence1\tsentence2\tscore\n0\ta\tb\t3.8\n");
    assert_int_equal(glue_read(sts, glue_task_find("stsb"), NULL, &ds), ADAPT_OK);
    assert_int_equal(ds.kind, DATASET_REGRESSION);
    assert_near(ds.examples[0].target, 3.8, 1e-12);
    dataset_free(&ds);

    /* Generic TSV: labels collected, integers in numeric order. */
    const char *gen = put("gen.tsv", "text\tlabel\na\t10\nb\t2\nc\t1\n");
    assert_int_equal(glue_read(gen, glue_task_find("tsv"), NULL, &ds), ADAPT_OK);
    assert_int_equal(ds.labels.n, 3);
    assert_string_equal(ds.labels.names[0], "1");
    assert_string_equal(ds.labels.names[2], "10");
    assert_int_equal(ds.examples[0].label, 2);
    dataset_free(&ds);

    /* Prediction input without a label column. */
    const char *unl = put("unl.tsv", "index\tsentence\n0\thello\n");
    glue_options o = {NULL, 0, true, false};
    assert_int_equal(glue_read(unl, glue_task_find("sst2"), &o, &ds), ADAPT_OK);
    assert_int_equal(ds.n, 1);
    assert_int_equal(ds.examples[0].label, -1);
    assert_int_equal(ds.labels.n, 2);   /* the task's list still names the classes */
    dataset_free(&ds);
}

static void test_glue_malformed(void **state)
{
    (void)state;
    dataset ds;
    const char *p = put("short.tsv", "index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tentailment\n1\tonly two\n");
    assert_int_equal(glue_read(p, glue_task_find("rte"), NULL, &ds), ADAPT_ERR_FORMAT);
    expect_error_at(p, ":3:");
    assert_non_null(strstr(adapt_error(), "columns"));
    dataset_free(&ds);
    p = put("badlabel.tsv", "sentence\tlabel\ngood\t1\nodd\t2\n");
    assert_int_equal(glue_read(p, glue_task_find("sst2"), NULL, &ds), ADAPT_ERR_FORMAT);
    expect_error_at(p, ":3:");
    dataset_free(&ds);
    p = put("nohdr.tsv", "text\tlabel\ngood\t1\n");
    assert_int_equal(glue_read(p, glue_task_find("rte"), NULL, &ds), ADAPT_ERR_FORMAT);
    expect_error_at(p, ":1:");
    dataset_free(&ds);
    p = put("cola_short.tsv", "gj04\t1\tsentence\n");
    assert_int_equal(glue_read(p, glue_task_find("cola"), NULL, &ds), ADAPT_ERR_FORMAT);
    expect_error_at(p, ":1:");
    dataset_free(&ds);
    p = put("sts_bad.tsv", "sentence1\tsentence2\tscore\na\tb\thigh\n");
    assert_int_equal(glue_read(p, glue_task_find("stsb"), NULL, &ds), ADAPT_ERR_FORMAT);
    expect_error_at(p, ":2:");
    dataset_free(&ds);
    p = put("empty.tsv", "");
    assert_int_equal(glue_read(p, glue_task_find("sst2"), NULL, &ds), ADAPT_ERR_FORMAT);
    expect_error_at(p, NULL);
    dataset_free(&ds);
}

/* Real dev files: SST-2 872 rows (428 x 0, 444 x 1), CoLA 1043 (721 x 1), RTE 277
 * (146 entailment), MRPC 408 (279 x 1); counted with wc -l and cut | sort | uniq -c. */
static void check_glue_real(const char *rel, const char *task, size_t n, int32_t label, size_t n_label)
{
    dataset ds;
    assert_int_equal(glue_read(shared_path(rel), glue_task_find(task), NULL, &ds), ADAPT_OK);
    assert_int_equal(ds.n, n);
    size_t c = 0;
    for (size_t i = 0; i < ds.n; i++) c += ds.examples[i].label == label;
    assert_int_equal(c, n_label);
    dataset_free(&ds);
}

static void test_glue_real(void **state)
{
    (void)state;
    check_glue_real("data/glue/SST-2/dev.tsv", "sst2", 872, 1, 444);
    check_glue_real("data/glue/CoLA/dev.tsv", "cola", 1043, 1, 721);
    check_glue_real("data/glue/RTE/dev.tsv", "rte", 277, 0, 146);
    check_glue_real("data/glue/MRPC/dev.tsv", "mrpc", 408, 1, 279);
    dataset ds;
    assert_int_equal(glue_read(shared_path("data/glue/SST-2/dev.tsv"), glue_task_find("sst2"), NULL, &ds), ADAPT_OK);
    assert_string_equal(ds.examples[0].text, "it 's a charming and often affecting journey . ");
    assert_int_equal(ds.examples[0].label, 1);
    assert_int_equal(ds.examples[0].line, 2);
    dataset_free(&ds);
}

/* ================================================================== JSONL */

static void test_jsonl_classification(void **state)
{
    (void)state;
    const char *p = put("cls.jsonl",
                        "{\"text\": \"good film\", \"label\": \"pos\"}\n"
                        "\n"
                        "{\"text\": \"a\", \"text_pair\": \"b\", \"label\": \"neg\"}\n");
    dataset ds;
    assert_int_equal(jsonl_read(p, NULL, &ds), ADAPT_OK);
    assert_int_equal(ds.kind, DATASET_CLASSIFICATION);
    assert_int_equal(ds.n, 2);
    assert_string_equal(ds.labels.names[0], "neg");
    assert_int_equal(ds.examples[0].label, 1);
    assert_string_equal(ds.examples[1].text_pair, "b");
    assert_int_equal(ds.examples[1].line, 3);
    dataset_free(&ds);

    p = put("int.jsonl", "{\"text\": \"a\", \"label\": 10}\n{\"text\": \"b\", \"label\": 2}\n");
    assert_int_equal(jsonl_read(p, NULL, &ds), ADAPT_OK);
    assert_string_equal(ds.labels.names[0], "2");
    assert_int_equal(ds.examples[0].label, 1);
    dataset_free(&ds);

    p = put("reg.jsonl", "{\"text\": \"a\", \"label\": 0.25}\n");
    jsonl_options reg = {NULL, 0, true, false, CONLL_IOB2, JSONL_ANY_RECORDS, NULL};
    assert_int_equal(jsonl_read(p, &reg, &ds), ADAPT_OK);
    assert_int_equal(ds.kind, DATASET_REGRESSION);
    assert_near(ds.examples[0].target, 0.25, 0);
    dataset_free(&ds);
}

static void test_jsonl_tagging(void **state)
{
    (void)state;
    const char *p = put("tag.jsonl",
                        "{\"tokens\": [\"EU\", \"rejects\", \"Peter\"], \"tags\": [\"B-ORG\", \"O\", \"I-PER\"]}\n");
    jsonl_options o = {NULL, 0, false, false, CONLL_IOB1, JSONL_ANY_RECORDS, NULL};
    dataset ds;
    assert_int_equal(jsonl_read(p, &o, &ds), ADAPT_OK);
    assert_int_equal(ds.kind, DATASET_TAGGING);
    assert_int_equal(ds.examples[0].n_tokens, 3);
    assert_string_equal(ds.examples[0].tags[2], "B-PER");   /* IOB1 -> IOB2 */
    assert_int_equal(ds.labels.n, 5);
    dataset_free(&ds);
}

static void test_jsonl_malformed(void **state)
{
    (void)state;
    dataset ds;
    const char *p = put("bad.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\", \"label\": }\n");
    assert_int_equal(jsonl_read(p, NULL, &ds), ADAPT_ERR_FORMAT);
    expect_error_at(p, ":2");
    dataset_free(&ds);
    p = put("trail.jsonl", "{\"text\": \"a\", \"label\": \"x\"} junk\n");
    assert_int_equal(jsonl_read(p, NULL, &ds), ADAPT_ERR_FORMAT);
    expect_error_at(p, ":1");
    dataset_free(&ds);
    p = put("mixed.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n{\"tokens\": [\"a\"], \"tags\": [\"O\"]}\n");
    assert_int_equal(jsonl_read(p, NULL, &ds), ADAPT_ERR_FORMAT);
    expect_error_at(p, ":2");
    dataset_free(&ds);
    p = put("len.jsonl", "{\"tokens\": [\"a\", \"b\"], \"tags\": [\"O\"]}\n");
    assert_int_equal(jsonl_read(p, NULL, &ds), ADAPT_ERR_FORMAT);
    expect_error_at(p, ":1");
    dataset_free(&ds);
    p = put("nolabel.jsonl", "{\"text\": \"a\"}\n");
    assert_int_equal(jsonl_read(p, NULL, &ds), ADAPT_ERR_FORMAT);
    expect_error_at(p, "label");
    dataset_free(&ds);
    p = put("array.jsonl", "[1, 2]\n");
    assert_int_equal(jsonl_read(p, NULL, &ds), ADAPT_ERR_FORMAT);
    expect_error_at(p, "object");
    dataset_free(&ds);
    p = put("float.jsonl", "{\"text\": \"a\", \"label\": 0.5}\n");
    assert_int_equal(jsonl_read(p, NULL, &ds), ADAPT_ERR_FORMAT);
    expect_error_at(p, ":1");
    dataset_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_plain),
        cmocka_unit_test(test_text_xz_small),
        cmocka_unit_test(test_text_xz_truncated),
        cmocka_unit_test(test_text_bad_input),
        cmocka_unit_test(test_text_documents),
        cmocka_unit_test(test_text_real_pretrain),
        cmocka_unit_test(test_conll_small),
        cmocka_unit_test(test_conll_spaces_iob1),
        cmocka_unit_test(test_conll_given_labels_and_tokens_only),
        cmocka_unit_test(test_conll_malformed), cmocka_unit_test(test_conll_language_prefix),
        cmocka_unit_test(test_conll_wikiann_dev),
        cmocka_unit_test(test_align),
        cmocka_unit_test(test_glue_tasks),
        cmocka_unit_test(test_glue_small_layouts),
        cmocka_unit_test(test_glue_malformed),
        cmocka_unit_test(test_glue_real),
        cmocka_unit_test(test_jsonl_classification),
        cmocka_unit_test(test_jsonl_tagging),
        cmocka_unit_test(test_jsonl_malformed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
