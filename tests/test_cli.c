/* Command-line smoke tests on the shipped default model: fill-mask and its errors. */
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_fill_mask(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    /* An English and a Spanish sentence: the model saw both languages. */
    assert_int_equal(run_command("'%s' fill-mask models/default 'He was born in the city of<mask>.' --top 3 > '%s/out' 2>&1",
                                 build_path("adapt"), tmp), 0);
    assert_int_equal(run_command("grep -q '^mask 1:' '%s/out' && test $(grep -c '%%' '%s/out') -eq 3", tmp, tmp), 0);
    /* Percentages are sorted from the most likely down. */
    assert_int_equal(run_command("grep '%%' '%s/out' | awk '{print $1+0}' | sort -rn -c", tmp), 0);
    /* No mask: one clear error line, exit 1. */
    assert_int_equal(run_command("'%s' fill-mask models/default 'no mask here' 2> '%s/err'", build_path("adapt"), tmp), 1);
    assert_int_equal(run_command("grep -q 'has no <mask> token' '%s/err'", tmp), 0);
    assert_int_equal(run_command("'%s' fill-mask /nonexistent 'a<mask>' 2> '%s/err'", build_path("adapt"), tmp), 1);
    assert_int_equal(run_command("grep -q '/nonexistent' '%s/err'", tmp), 0);
    remove_tree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fill_mask)};
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
