/* Metrics against values derived by hand from seqeval's, scikit-learn's and scipy's definitions. */
#include "testutil.h"
#include "train/metrics.h"
#include <math.h>
#include <string.h>

#define EPS 1e-9

/* cmocka here has no assert_double_equal; this one prints both values on failure. */
#define assert_near(a, b, eps) assert_near_at((a), (b), (eps), __FILE__, __LINE__)
static void assert_near_at(double a, double b, double eps, const char *file, int line)
{
    if (!(fabs(a - b) <= eps)) {
        print_error("%.17g != %.17g (eps %g)\n", a, b, eps);
        _fail(file, line);
    }
}
#define N(a) (sizeof(a) / sizeof *(a))

static void expect_prf(prf_scores s, double p, double r, double f)
{
    assert_near(s.precision, p, EPS);
    assert_near(s.recall, r, EPS);
    assert_near(s.f1, f, EPS);
}

/* Scores of one sentence in one mode. */
static prf_scores score1(ner_mode mode, const char *const *gold, const char *const *pred, size_t n)
{
    ner_eval ev;
    ner_eval_init(&ev, mode);
    assert_int_equal(ner_eval_add(&ev, gold, pred, n), ADAPT_OK);
    prf_scores s = ner_eval_scores(&ev);
    ner_eval_free(&ev);
    return s;
}

static void test_ner_exact_match(void **state)
{
    (void)state;
    const char *g[] = {"B-PER", "I-PER", "O", "B-LOC"};
    ner_eval ev;
    ner_eval_init(&ev, NER_MODE_DEFAULT);
    assert_int_equal(ner_eval_add(&ev, g, g, N(g)), ADAPT_OK);
    /* Entities PER(0,1) and LOC(3,3). */
    assert_int_equal(ev.n_true, 2);
    assert_int_equal(ev.n_pred, 2);
    assert_int_equal(ev.n_correct, 2);
    expect_prf(ner_eval_scores(&ev), 1, 1, 1);
    ner_eval_free(&ev);
    expect_prf(score1(NER_MODE_STRICT, g, g, N(g)), 1, 1, 1);
}

/* seqeval's own docstring example: f1 0.50, accuracy 0.80; per type MISC 0, PER 1. */
static void test_ner_seqeval_docstring(void **state)
{
    (void)state;
    const char *g1[] = {"O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"};
    const char *p1[] = {"O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"};
    const char *g2[] = {"B-PER", "I-PER", "O"};
    for (int mode = 0; mode < 2; mode++) {
        ner_eval ev;
        ner_eval_init(&ev, (ner_mode)mode);
        assert_int_equal(ner_eval_add(&ev, g1, p1, N(g1)), ADAPT_OK);
        assert_int_equal(ner_eval_add(&ev, g2, g2, N(g2)), ADAPT_OK);
        expect_prf(ner_eval_scores(&ev), 0.5, 0.5, 0.5);
        assert_near(ner_eval_accuracy(&ev), 0.8, EPS);
        assert_int_equal(ev.n_types, 2);
        assert_string_equal(ev.types[0].type, "MISC");
        expect_prf(ner_eval_type_scores(&ev, 0), 0, 0, 0);
        assert_string_equal(ev.types[1].type, "PER");
        expect_prf(ner_eval_type_scores(&ev, 1), 1, 1, 1);
        expect_prf(ner_eval_macro(&ev), 0.5, 0.5, 0.5);
        ner_eval_free(&ev);
    }
}

/* An I- tag after O opens an entity in the default mode, but is no entity in strict IOB2. */
static void test_ner_i_after_o(void **state)
{
    (void)state;
    const char *g[] = {"B-PER", "I-PER", "O", "B-LOC"};
    const char *p[] = {"I-PER", "I-PER", "O", "B-LOC"};
    /* default: pred PER(0,1), LOC(3,3) = gold. */
    expect_prf(score1(NER_MODE_DEFAULT, g, p, N(g)), 1, 1, 1);
    /* strict: pred LOC only: P = 1/1, R = 1/2, F1 = 2/3. */
    expect_prf(score1(NER_MODE_STRICT, g, p, N(g)), 1, 0.5, 2.0 / 3);
}

/* A type change inside I- tags: default splits into two entities, strict drops the I-LOC. */
static void test_ner_type_switch(void **state)
{
    (void)state;
    const char *g[] = {"B-PER", "I-PER", "I-LOC", "O"};
    const char *p[] = {"B-PER", "I-PER", "B-LOC", "O"};
    /* default: gold PER(0,1), LOC(2,2); pred the same. */
    expect_prf(score1(NER_MODE_DEFAULT, g, p, N(g)), 1, 1, 1);
    /* strict: gold PER(0,1) only; pred PER(0,1), LOC(2,2): P 1/2, R 1/1, F1 2/3. */
    expect_prf(score1(NER_MODE_STRICT, g, p, N(g)), 0.5, 1, 2.0 / 3);
}

static void test_ner_boundaries(void **state)
{
    (void)state;
    const char *g[] = {"B-ORG", "I-ORG", "I-ORG", "O", "B-PER"};
    const char *p[] = {"B-ORG", "I-ORG", "O", "O", "B-LOC"};
    /* ORG(0,2) vs ORG(0,1), PER vs LOC: nothing matches. */
    expect_prf(score1(NER_MODE_DEFAULT, g, p, N(g)), 0, 0, 0);
    expect_prf(score1(NER_MODE_STRICT, g, p, N(g)), 0, 0, 0);
    /* Two adjacent B- of one type are two entities. */
    const char *g2[] = {"B-PER", "B-PER", "I-PER"};
    const char *p2[] = {"B-PER", "I-PER", "I-PER"};
    /* gold PER(0,0), PER(1,2); pred PER(0,2): P 0/1, R 0/2. */
    expect_prf(score1(NER_MODE_DEFAULT, g2, p2, N(g2)), 0, 0, 0);
    /* No entities anywhere: all zero, not NaN. */
    const char *o[] = {"O", "O"};
    expect_prf(score1(NER_MODE_DEFAULT, o, o, N(o)), 0, 0, 0);
}

/* Entities never run across sentences (seqeval puts an "O" between them). */
static void test_ner_sentences_are_separate(void **state)
{
    (void)state;
    const char *g1[] = {"B-PER"}, *g2[] = {"I-PER"};
    const char *p1[] = {"B-PER"}, *p2[] = {"B-PER"};
    for (int mode = 0; mode < 2; mode++) {
        ner_eval ev;
        ner_eval_init(&ev, (ner_mode)mode);
        assert_int_equal(ner_eval_add(&ev, g1, p1, 1), ADAPT_OK);
        assert_int_equal(ner_eval_add(&ev, g2, p2, 1), ADAPT_OK);
        if (mode == NER_MODE_DEFAULT) expect_prf(ner_eval_scores(&ev), 1, 1, 1);   /* I-PER opens a 2nd PER */
        else expect_prf(ner_eval_scores(&ev), 0.5, 1, 2.0 / 3);                   /* gold has one PER */
        ner_eval_free(&ev);
    }
}

/* The default mode also reads IOBES, as seqeval does; strict IOB2 refuses it. */
static void test_ner_iobes_default(void **state)
{
    (void)state;
    const char *g[] = {"S-PER", "B-LOC", "E-LOC"};
    const char *p[] = {"S-PER", "B-LOC", "I-LOC"};
    /* gold PER(0,0), LOC(1,2); pred PER(0,0), LOC(1,2). */
    expect_prf(score1(NER_MODE_DEFAULT, g, p, N(g)), 1, 1, 1);
    ner_eval ev;
    ner_eval_init(&ev, NER_MODE_STRICT);
    assert_int_equal(ner_eval_add(&ev, g, p, N(g)), ADAPT_ERR_ARG);
    assert_non_null(strstr(adapt_error(), "S-PER"));
    ner_eval_free(&ev);
}

static void test_ner_bad_tags(void **state)
{
    (void)state;
    ner_eval ev;
    ner_eval_init(&ev, NER_MODE_DEFAULT);
    const char *g[] = {"O", "X-FOO"};
    assert_int_equal(ner_eval_add(&ev, g, g, 2), ADAPT_ERR_ARG);
    assert_non_null(strstr(adapt_error(), "X-FOO"));
    const char *e[] = {"O", ""};
    assert_int_equal(ner_eval_add(&ev, e, e, 2), ADAPT_ERR_ARG);
    ner_eval_free(&ev);
}

static void test_ner_ids_skip_ignored(void **state)
{
    (void)state;
    const char *id2label[] = {"O", "B-PER", "I-PER"};
    /* After dropping the -100 positions: gold B-PER I-PER O, pred B-PER I-PER B-PER. */
    int32_t gold[] = {-100, 1, -100, 2, 0, -100};
    int32_t pred[] = {0, 1, 0, 2, 1, 2};
    ner_eval ev;
    ner_eval_init(&ev, NER_MODE_DEFAULT);
    assert_int_equal(ner_eval_add_ids(&ev, gold, pred, 6, id2label, 3), ADAPT_OK);
    expect_prf(ner_eval_scores(&ev), 0.5, 1, 2.0 / 3);
    assert_int_equal(ev.n_tokens, 3);
    int32_t bad[] = {0, 7};
    assert_int_equal(ner_eval_add_ids(&ev, gold + 3, bad, 2, id2label, 3), ADAPT_ERR_ARG);
    ner_eval_free(&ev);
}

/* ------------------------------------------------------------------ classification */

static void test_accuracy_and_f1(void **state)
{
    (void)state;
    double v;
    int32_t g[] = {0, 1, 1, 0, 1}, p[] = {0, 1, 0, 0, 1};
    assert_int_equal(metric_accuracy(g, p, 5, &v), ADAPT_OK);
    assert_near(v, 0.8, EPS);
    /* Three classes: F1 per class 2*1/4, 2*2/5, 2*1/3. */
    int32_t g3[] = {0, 0, 1, 1, 2, 2}, p3[] = {0, 1, 1, 1, 2, 0};
    assert_int_equal(metric_macro_f1(g3, p3, 6, 3, &v), ADAPT_OK);
    assert_near(v, (0.5 + 0.8 + 2.0 / 3) / 3, EPS);
    /* A class that never occurs is left out of the average, as sklearn does. */
    assert_int_equal(metric_macro_f1(g3, p3, 6, 5, &v), ADAPT_OK);
    assert_near(v, (0.5 + 0.8 + 2.0 / 3) / 3, EPS);
    /* Binary F1 of class 1: tp 3, 4 gold, 4 predicted. */
    int32_t gb[] = {1, 1, 1, 1, 0, 0, 0, 0}, pb[] = {1, 1, 1, 0, 0, 0, 0, 1};
    assert_int_equal(metric_binary_f1(gb, pb, 8, 1, &v), ADAPT_OK);
    assert_near(v, 0.75, EPS);
    assert_int_equal(metric_macro_f1(g3, p3, 6, 2, &v), ADAPT_ERR_ARG);   /* label 2 out of range */
}

static void test_matthews(void **state)
{
    (void)state;
    double v;
    /* TP 3, FN 1, TN 3, FP 1: (9 - 1) / sqrt(4^4) = 0.5. */
    int32_t gb[] = {1, 1, 1, 1, 0, 0, 0, 0}, pb[] = {1, 1, 1, 0, 0, 0, 0, 1};
    assert_int_equal(metric_matthews(gb, pb, 8, 2, &v), ADAPT_OK);
    assert_near(v, 0.5, EPS);
    /* Multiclass: c 4, s 6, t (2,2,2), p (2,3,1): (24 - 12) / sqrt((36 - 12)(36 - 14)). */
    int32_t g3[] = {0, 0, 1, 1, 2, 2}, p3[] = {0, 1, 1, 1, 2, 0};
    assert_int_equal(metric_matthews(g3, p3, 6, 3, &v), ADAPT_OK);
    assert_near(v, 12.0 / sqrt(24.0 * 22.0), EPS);
    /* Constant predictions: 0, not NaN. */
    int32_t zeros[8] = {0};
    assert_int_equal(metric_matthews(gb, zeros, 8, 2, &v), ADAPT_OK);
    assert_near(v, 0.0, EPS);
    /* Perfectly wrong binary: -1. */
    int32_t inv[] = {0, 0, 0, 0, 1, 1, 1, 1};
    assert_int_equal(metric_matthews(gb, inv, 8, 2, &v), ADAPT_OK);
    assert_near(v, -1.0, EPS);
}

/* ------------------------------------------------------------------ correlation */

static void test_pearson_spearman(void **state)
{
    (void)state;
    double v;
    double x[] = {1, 2, 3, 4, 5}, y[] = {2, 4, 5, 4, 5};
    /* dx = -2..2, dy = -2,0,1,0,1: 6 / sqrt(10 * 6). */
    assert_int_equal(metric_pearson(x, y, 5, &v), ADAPT_OK);
    assert_near(v, 6.0 / sqrt(60.0), EPS);
    /* ranks of y with ties: 1, 2.5, 4.5, 2.5, 4.5: 7 / sqrt(10 * 9). */
    assert_int_equal(metric_spearman(x, y, 5, &v), ADAPT_OK);
    assert_near(v, 7.0 / sqrt(90.0), EPS);
    double down[] = {3, 2, 1};
    assert_int_equal(metric_pearson(x, down, 3, &v), ADAPT_OK);
    assert_near(v, -1.0, EPS);
    /* Spearman only sees order: a monotone but non-linear y gives 1. */
    double cube[] = {1, 8, 27, 64, 125};
    assert_int_equal(metric_spearman(x, cube, 5, &v), ADAPT_OK);
    assert_near(v, 1.0, EPS);
    double flat[] = {2, 2, 2, 2, 2};
    assert_int_equal(metric_pearson(x, flat, 5, &v), ADAPT_OK);
    assert_near(v, 0.0, EPS);
    double nan_in[] = {1, NAN, 3};
    assert_int_equal(metric_pearson(x, nan_in, 3, &v), ADAPT_ERR_NUMERIC);
}

static void test_rank_average(void **state)
{
    (void)state;
    double x[] = {10, 20, 10, 30, 20, 10}, r[6];
    assert_int_equal(metric_rank_average(x, 6, r), ADAPT_OK);
    double want[] = {2, 4.5, 2, 6, 4.5, 2};
    for (int i = 0; i < 6; i++) assert_near(r[i], want[i], EPS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ner_exact_match),
        cmocka_unit_test(test_ner_seqeval_docstring),
        cmocka_unit_test(test_ner_i_after_o),
        cmocka_unit_test(test_ner_type_switch),
        cmocka_unit_test(test_ner_boundaries),
        cmocka_unit_test(test_ner_sentences_are_separate),
        cmocka_unit_test(test_ner_iobes_default),
        cmocka_unit_test(test_ner_bad_tags),
        cmocka_unit_test(test_ner_ids_skip_ignored),
        cmocka_unit_test(test_accuracy_and_f1),
        cmocka_unit_test(test_matthews),
        cmocka_unit_test(test_pearson_spearman),
        cmocka_unit_test(test_rank_average),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
