/* Command-line smoke tests on the shipped default model: fill-mask and its errors, and the
 * Quechua NER demo on the shipped adapters. */
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

/* The README's first command on the shipped adapters: names and Wikipedia's place spans tagged;
 * the task adapter reads Quechua through the Quechua adapter, so without it the tags change; the
 * Spanish adapter is loaded for compositions. */
static void test_demo_shipped(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    const char *demo = build_path("adapt");
    assert_int_equal(run_command("'%s' demo quechua-ner > '%s/qu' 2>&1", demo, tmp), 0);
    assert_int_equal(run_command("grep -q 'setup Stack(qu, ner)' '%s/qu' && grep -q '\\[PER Javier Sologuren\\]' '%s/qu' && "
                                 "grep -q '\\[LOC Wanta pruwinsyapi\\]' '%s/qu'", tmp, tmp, tmp), 0);
    assert_int_equal(run_command("'%s' demo quechua-ner --setup ner > '%s/none' 2>&1", demo, tmp), 0);
    assert_int_equal(run_command("grep '^    \\[' '%s/qu' > '%s/a' && grep '^    \\[' '%s/none' > '%s/b' && ! cmp -s '%s/a' '%s/b'",
                                 tmp, tmp, tmp, tmp, tmp, tmp), 0);
    assert_int_equal(run_command("'%s' demo quechua-ner --setup 'Stack(es, ner)' > /dev/null 2>&1", demo), 0);
    assert_int_not_equal(run_command("'%s' demo quechua-ner --setup 'Stack(de, ner)' > '%s/err' 2>&1", demo, tmp), 0);
    assert_int_equal(run_command("grep -q 'adapter \"de\", which is not loaded' '%s/err'", tmp), 0);
    remove_tree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fill_mask), cmocka_unit_test(test_demo_shipped)};
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
