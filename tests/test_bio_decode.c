/* IOB2-constrained decoding of a sentence's tags (train/bio_decode.h): where per-word argmax
 * would emit an I-X that does not continue an X entity, the most probable valid sequence wins. */
#include "testutil.h"
#include "train/bio_decode.h"
#include <math.h>

static const char *const labels[] = {"O", "B-PER", "I-PER", "B-LOC", "I-LOC"};
enum { O, B_PER, I_PER, B_LOC, I_LOC, C };

/* Logits whose softmax is p (the rest of the mass spread evenly over the other labels). */
static void row_with(float *row, int a, double pa, int b, double pb)
{
    double rest = (1 - pa - pb) / (C - 2);
    for (int k = 0; k < C; k++) row[k] = (float)log(k == a ? pa : k == b ? pb : rest);
}

/* Decodes two words and checks their tags. */
static void expect_tags(const float *w0, const float *w1, int32_t tag0, int32_t tag1)
{
    const float *rows[2] = {w0, w1};
    int32_t tags[2];
    assert_int_equal(bio_decode(labels, C, rows, 2, tags), ADAPT_OK);
    assert_int_equal(tags[0], tag0);
    assert_int_equal(tags[1], tag1);
}

static void test_constrained_choice(void **state)
{
    (void)state;
    float w0[C], w1[C];
    /* argmax says O I-LOC; B-LOC I-LOC (0.4 x 0.6) beats O O (0.5 x 0.3) */
    row_with(w0, O, 0.5, B_LOC, 0.4);
    row_with(w1, I_LOC, 0.6, O, 0.3);
    expect_tags(w0, w1, B_LOC, I_LOC);
    /* the same second word after a surer O: O O (0.8 x 0.3) beats B-LOC I-LOC (0.1 x 0.6) */
    row_with(w0, O, 0.8, B_LOC, 0.1);
    expect_tags(w0, w1, O, O);
    /* I-PER cannot continue B-LOC: the next best valid choice, I-LOC */
    row_with(w0, B_LOC, 0.9, O, 0.05);
    row_with(w1, I_PER, 0.5, I_LOC, 0.3);
    expect_tags(w0, w1, B_LOC, I_LOC);
    /* a valid argmax sequence is kept: B-PER I-PER */
    row_with(w0, B_PER, 0.7, O, 0.2);
    row_with(w1, I_PER, 0.4, O, 0.3);
    expect_tags(w0, w1, B_PER, I_PER);
}

static void test_cut_words_and_other_labels(void **state)
{
    (void)state;
    float w1[C];
    int32_t tags[2];
    /* a word the length limit cut off is O, so I-LOC cannot follow it */
    row_with(w1, I_LOC, 0.6, B_LOC, 0.3);
    expect_tags(NULL, w1, O, B_LOC);
    /* labels that are not an IOB2 set: argmax per word */
    static const char *const sentiment[] = {"NEG", "POS"};
    float a[2] = {0.1f, 2.0f}, b[2] = {3.0f, -1.0f};
    const float *rows[2] = {a, b};
    assert_int_equal(bio_decode(sentiment, 2, rows, 2, tags), ADAPT_OK);
    assert_int_equal(tags[0], 1);
    assert_int_equal(tags[1], 0);
    static const char *const orphan[] = {"O", "I-MISC"}; /* an I- without its B-: not IOB2 */
    float c[2] = {0.0f, 1.0f};
    const float *one[1] = {c};
    assert_int_equal(bio_decode(orphan, 2, one, 1, tags), ADAPT_OK);
    assert_int_equal(tags[0], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_constrained_choice), cmocka_unit_test(test_cut_words_and_other_labels)};
    return cmocka_run_group_tests_name("IOB2 decoding", tests, NULL, NULL);
}
