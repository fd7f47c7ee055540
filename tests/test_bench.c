/* `adapt bench` smoke test (seconds): every mode on a tiny shape of the default preset through
 * the command line, checking the --json fields; and the library entry point directly. */
#include "testutil.h"
#include "train/bench.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void run_mode(const char *mode)
{
    char cmd[4096], out[4096] = "";
    snprintf(cmd, sizeof cmd, "'%s' bench --preset default --batch 2 --seq 16 --mode %s --steps 2 --warmup 1 --json", build_path("adapt"), mode);
    FILE *fp = popen(cmd, "r");
    assert_non_null(fp);
    size_t n = fread(out, 1, sizeof out - 1, fp);
    out[n] = 0;
    assert_int_equal(pclose(fp), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const char *fields[] = {"tokens_per_s", "gflops", "peak_rss_mb", "sgemm_gflops", "sgemm_peak_gflops", "ceiling_share", "step_ms"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, fields[i]);
        assert_true(cJSON_IsNumber(v));
        assert_true(v->valuedouble > 0);
    }
    const cJSON *loss = cJSON_GetObjectItemCaseSensitive(j, "loss");
    assert_true(cJSON_IsNumber(loss));
    if (strcmp(mode, "infer")) assert_true(loss->valuedouble > 0); /* ~ln 9 on random labels */
    cJSON_Delete(j);
}

static void test_cli_infer(void **state) { (void)state; run_mode("infer"); }
static void test_cli_adapter(void **state) { (void)state; run_mode("adapter"); }
static void test_cli_full(void **state) { (void)state; run_mode("full"); }

static void test_library_and_errors(void **state)
{
    (void)state;
    bench_options o = {.preset = "default", .mode = BENCH_ADAPTER, .batch = 1, .seq = 8, .steps = 1, .warmup = 0};
    bench_result r;
    assert_int_equal(bench_run(&o, &r), ADAPT_OK);
    assert_true(r.tokens_per_s > 0 && r.trainable > 0 && r.trainable < r.params / 10);
    assert_true(r.sgemm_gflops == 0); /* not asked for */
    o.seq = 200; /* beyond the preset's positions */
    assert_int_not_equal(bench_run(&o, &r), ADAPT_OK);
    o.seq = 8;
    o.preset = "nope";
    assert_int_not_equal(bench_run(&o, &r), ADAPT_OK);
    bench_mode m;
    assert_false(bench_mode_parse("train", &m));
    assert_int_equal(run_command("'%s' bench --dtype fp16 --preset default > /dev/null 2>&1", build_path("adapt")), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_infer),
        cmocka_unit_test(test_cli_adapter),
        cmocka_unit_test(test_cli_full),
        cmocka_unit_test(test_library_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
