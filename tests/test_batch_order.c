/* The epoch order of the training examples (train/batch_order.h): one source is a plain shuffle;
 * several give batches of one source each, interleaved in proportion to the sources' sizes. */
#include "core/random.h"
#include "testutil.h"
#include "train/batch_order.h"
#include <stdlib.h>
#include <string.h>

static bool is_permutation(const size_t *order, size_t n)
{
    bool *seen = calloc(n + 1, 1), ok = seen != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        ok = order[i] < n && !seen[order[i]];
        if (ok) seen[order[i]] = true;
    }
    free(seen);
    return ok;
}

static void test_one_source_is_a_shuffle(void **state)
{
    (void)state;
    size_t order[50], again[50];
    uint64_t rng = 7, rng2 = 7;
    assert_int_equal(epoch_positions(NULL, 50, 1, 8), 50);
    assert_int_equal(epoch_order(order, 50, NULL, 1, 8, &rng), ADAPT_OK);
    assert_true(is_permutation(order, 50));
    size_t in_place = 0;
    for (size_t i = 0; i < 50; i++) in_place += order[i] == i;
    assert_true(in_place < 10);
    /* the Fisher-Yates draws of the stream: the last position swaps with a draw below 50 */
    uint64_t draws = 7;
    size_t first_swap = adapt_rng_next(&draws) % 50;
    assert_int_equal(order[49], first_swap);
    assert_int_equal(epoch_order(again, 50, NULL, 1, 8, &rng2), ADAPT_OK);
    assert_memory_equal(order, again, sizeof order);
    assert_int_equal(rng, rng2); /* the stream moved on by the same draws */
}

static void test_batches_of_one_source(void **state)
{
    (void)state;
    /* 17 examples of source 0, 9 of source 1 (alternating at first, then source 0), batches of 4:
     * 4 + 2 full batches, 1 + 1 examples left for the end */
    enum { N = 26, B = 4 };
    uint8_t source[N];
    for (int i = 0; i < N; i++) source[i] = i < 18 ? (uint8_t)(i % 2) : 0;
    size_t order[N];
    uint64_t rng = 11;
    assert_int_equal(epoch_positions(source, N, 2, B), 24);
    assert_int_equal(epoch_order(order, N, source, 2, B, &rng), ADAPT_OK);
    assert_true(is_permutation(order, N));
    /* batches: 0 1 0 0 1 0 (source 1's two batches spread over the four of source 0) */
    static const uint8_t expected[6] = {0, 1, 0, 0, 1, 0};
    for (int b = 0; b < 6; b++)
        for (int k = 0; k < B; k++) assert_int_equal(source[order[b * B + k]], expected[b]);
    /* the two left over come after the last batch, one of each source */
    assert_int_equal(source[order[24]] + source[order[25]], 1);
    /* another stream, another order of the same batches */
    size_t other[N];
    rng = 12;
    assert_int_equal(epoch_order(other, N, source, 2, B, &rng), ADAPT_OK);
    assert_memory_not_equal(order, other, sizeof order);
    for (int b = 0; b < 6; b++) assert_int_equal(source[other[b * B]], expected[b]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_one_source_is_a_shuffle), cmocka_unit_test(test_batches_of_one_source)};
    return cmocka_run_group_tests_name("epoch order", tests, NULL, NULL);
}
