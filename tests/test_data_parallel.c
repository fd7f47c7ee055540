/* Data-parallel training (`mpirun -np 2 adapt-mpi train`): two processes, each with its slice of
 * every batch and the gradients summed, train what one process trains on the whole batch: the
 * same losses step by step and the same weights, for a tagging adapter (a batch of 7 split 3 + 4,
 * and among three processes, with gradient accumulation; two files under their own compositions),
 * full fine-tuning, LoRA, AdapterFusion, masked-LM language adapters with invertible adapters
 * (masks drawn over the whole batch) and a regression head, with the dev set evaluated in shares
 * (the same best metric and step); checkpoints resume exactly. Commands that do not train refuse
 * to run as several processes. */
#include "case_compare.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define at(rel) path_in(test_tmp, rel)

static int adapt(const char *args) { return run_adapt(test_tmp, args); }

/* the environment of adapt-mpi processes under the sanitizers: see adapt_mpi */
#define NO_LEAK_CHECK "ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0\""

/* the tagging adapter's run (test_tagging_adapter), to which --output DIR is appended */
static const char *const tagging_args = "train --task ner --model base --train ner.conll --dev ner_dev.conll --eval-every 4 "
                                        "--batch-size 7 --grad-accum 2 --max-steps 12 --lr 1e-3 --seed 5 --max-length 48 "
                                        "--adapter-config seq_bn[reduction_factor=4] --quiet --output ";

/* `mpirun -np N adapt-mpi ARGS` in the test folder, its output in last.log */
static int adapt_mpi(int processes, const char *args)
{
    const char *pwd = getenv("PWD");
    /* root is refused by mpirun unless asked (CI runs as root); --oversubscribe: more processes
     * than cores is allowed (a one-core machine still runs the test). Under the sanitizers, leak
     * checking is off for these processes only: Open MPI's own components, unloaded at exit, leave
     * allocations LeakSanitizer reports without a module to suppress them by (the same training
     * code runs leak-checked in one process in this and the other tests). plm=isolated: the
     * processes start on this machine only, so mpirun does not look for ssh, which a fresh
     * machine may lack. */
    return run_command("cd '%s' && " NO_LEAK_CHECK " OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm=isolated "
                       "mpirun --oversubscribe -np %d '%s/%s' %s > last.log 2>&1",
                       test_tmp, processes, pwd ? pwd : ".", build_path("adapt-mpi"), args);
}

static int read_losses(const char *path, double *losses, int max)
{
    FILE *fp = fopen(path, "r");
    if (!fp) fail_msg("%s: cannot open", path);
    int n = 0;
    long step;
    double loss;
    while (n < max && fscanf(fp, "%ld\t%lf", &step, &loss) == 2) losses[n++] = loss;
    fclose(fp);
    return n;
}

/* The same number of steps and each step's loss equal to 1e-6 (relative). */
static void assert_same_losses(const char *one, const char *two, int steps)
{
    double a[64], b[64];
    int na = read_losses(at(one), a, 64), nb = read_losses(at(two), b, 64);
    assert_int_equal(na, steps);
    assert_int_equal(nb, steps);
    for (int i = 0; i < na; i++)
        if (!(fabs(a[i] - b[i]) <= 1e-6 * fabs(a[i]))) fail_msg("step %d: loss %.9g in one process, %.9g in two", i + 1, a[i], b[i]);
}

/* Every tensor of the two files equal under the fixtures' rule (relative 1e-5). */
static void assert_same_tensors(const char *one, const char *two)
{
    compare_result r;
    assert_true(compare_case_outputs(at(one), at(two), &r));
    assert_true(r.compared >= 2);
    assert_int_equal(r.missing, 0);
}

/* `adapt ARGS one` and `mpirun -np 2 adapt-mpi ARGS two` (ARGS ends with --output) */
static void train_one_and_two(const char *args, const char *one, const char *two)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s%s", args, one);
    assert_int_equal(adapt(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s%s", args, two);
    assert_int_equal(adapt_mpi(2, cmd), 0);
}

/* One process and two train alike: NAME1 and NAME2 have the same STEPS losses and the same
 * tensors in FILE (relative to the output folder). */
static void assert_same_runs(const char *args, const char *name, int steps, const char *file)
{
    char one[64], two[64], a[160], b[160];
    snprintf(one, sizeof one, "%s1", name);
    snprintf(two, sizeof two, "%s2", name);
    train_one_and_two(args, one, two);
    snprintf(a, sizeof a, "%s/losses.tsv", one);
    snprintf(b, sizeof b, "%s/losses.tsv", two);
    assert_same_losses(a, b, steps);
    snprintf(a, sizeof a, "%s/%s", one, file);
    snprintf(b, sizeof b, "%s/%s", two, file);
    assert_same_tensors(a, b);
}

static void make_ner_data(void)
{
    assert_int_equal(run_command("awk 'BEGIN { n = 0 } /^$/ { n++ } n < 120' '%s' > '%s'",
                                 shared_path("data/ner/wikiann-en/train.conll"), at("ner.conll")), 0);
    /* 70 dev sentences (7 of them past 48 tokens of the tiny tokenizer: tagged in windows) */
    assert_int_equal(run_command("awk 'BEGIN { n = 0 } /^$/ { n++ } n < 70' '%s' > '%s'",
                                 shared_path("data/ner/wikiann-en/dev.conll"), at("ner_dev.conll")), 0);
}

/* The summaries agree on the best dev metric and its step: each process evaluated its share. */
static void assert_same_best(const char *one, const char *two)
{
    char a[160], b[160];
    snprintf(a, sizeof a, "%s/summary.json", one);
    snprintf(b, sizeof b, "%s/summary.json", two);
    double best = json_file_number(at(a), "best_dev_metric");
    /* in percent; a continuous metric (Pearson's r on 40 sentences) moves by 4e-4 with weights a
     * float rounding apart (30.6397 and 30.6401), an entity F1 not at all */
    if (fabs(best - json_file_number(at(b), "best_dev_metric")) > 1e-3) fail_msg("%s and %s: best dev metrics differ", a, b);
    assert_true(json_file_number(at(a), "best_step") == json_file_number(at(b), "best_step"));
    assert_true(json_file_number(at(b), "processes") == 2);
}

static void test_setup(void **state)
{
    (void)state;
    if (run_command("command -v mpirun > /dev/null") || access(build_path("adapt-mpi"), X_OK))
        fail_msg("no mpirun or no %s: `make test` installs Open MPI (scripts/install-deps.sh --mpi) and builds it", build_path("adapt-mpi"));
    assert_int_equal(make_tiny_roberta(test_tmp, true), 0); /* no dropout: the runs can agree to the bit */
    make_ner_data();
}

static void test_tagging_adapter(void **state)
{
    (void)state;
    const char *args = tagging_args;
    train_one_and_two(args, "one", "two");
    assert_same_best("one", "two");
    char cmd[512];
    assert_same_losses("one/losses.tsv", "two/losses.tsv", 12);
    assert_same_tensors("one/best/ner/adapter.safetensors", "two/best/ner/adapter.safetensors");
    assert_same_tensors("one/best/ner/model_head.safetensors", "two/best/ner/model_head.safetensors");
    /* three processes (2 + 2 + 3 rows; the sum by blocks, the last items apart) */
    snprintf(cmd, sizeof cmd, "%sthree", args);
    assert_int_equal(adapt_mpi(3, cmd), 0);
    assert_same_losses("one/losses.tsv", "three/losses.tsv", 12);
    assert_true(json_file_number(at("three/summary.json"), "best_dev_metric") == json_file_number(at("one/summary.json"), "best_dev_metric"));
    assert_same_tensors("one/best/ner/adapter.safetensors", "three/best/ner/adapter.safetensors");
    /* the comparison is not blind: another seed's run differs */
    snprintf(cmd, sizeof cmd, "%s", args);
    char *seed = strstr(cmd, "--seed 5");
    seed[7] = '6';
    strcat(cmd, "other");
    assert_int_equal(adapt(cmd), 0);
    double a[16], b[16];
    assert_int_equal(read_losses(at("one/losses.tsv"), a, 16), 12);
    assert_int_equal(read_losses(at("other/losses.tsv"), b, 16), 12);
    assert_true(fabs(a[11] - b[11]) > 1e-4 * fabs(a[11]));
}

static void test_full_fine_tuning(void **state)
{
    (void)state;
    const char *args = "train --task ner --method full --model base --train ner.conll --batch-size 8 --max-steps 6 --lr 1e-3 "
                       "--seed 5 --max-length 48 --quiet --output ";
    assert_same_runs(args, "full", 6, "best/model/model.safetensors");
}

/* The "fusion_temperatures" list of a checkpoint's state.json, as written. */
static void fusion_temperatures(const char *state_json, char *out, size_t size)
{
    FILE *fp = fopen(state_json, "r");
    if (!fp) fail_msg("%s: cannot open", state_json);
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = 0;
    const char *from = strstr(text, "\"fusion_temperatures\""), *to = from ? strchr(from, ']') : NULL;
    if (!to) fail_msg("%s: no fusion_temperatures", state_json);
    snprintf(out, size, "%.*s", (int)(to - from + 1), from);
}

static void test_lora_and_fusion(void **state)
{
    (void)state;
    const char *lora = "train --task ner --method lora --model base --train ner.conll --batch-size 7 --max-steps 8 --lr 1e-3 "
                       "--seed 5 --max-length 48 --quiet --output ";
    assert_same_runs(lora, "lora", 8, "best/lora/adapter_model.safetensors");
    /* AdapterFusion over two adapters (its key bias, which gets no gradient, moves by rounding
     * alone: within the rule's absolute tolerance) */
    assert_int_equal(adapt("train --task ner --model base --train ner.conll --batch-size 8 --max-steps 4 --seed 1 --max-length 48 "
                           "--quiet --name a --output fa"), 0);
    assert_int_equal(adapt("train --task ner --model base --train ner.conll --batch-size 8 --max-steps 4 --seed 2 --max-length 48 "
                           "--quiet --name b --output fb"), 0);
    const char *fusion = "train --task ner --method fusion --fusion a,b --load-adapter fa/best/a --load-adapter fb/best/b "
                         "--model base --train ner.conll --batch-size 7 --max-steps 8 --lr 1e-3 --seed 5 --max-length 48 --quiet --output ";
    assert_same_runs(fusion, "fusion", 8, "best/ner/model_adapter_fusion.safetensors");
    /* with a temperature that every forward lowers, evaluations included (two dev batches: one
     * per process) */
    const char *cooling = "train --task ner --method fusion --fusion a,b --fusion-config dynamic[temperature=true] "
                          "--load-adapter fa/best/a --load-adapter fb/best/b --model base --train ner.conll --dev ner_dev.conll "
                          "--eval-every 3 --batch-size 7 --max-steps 9 --checkpoint-every 9 --lr 1e-3 --seed 5 --max-length 48 "
                          "--quiet --output ";
    assert_same_runs(cooling, "cooling", 9, "best/ner/model_adapter_fusion.safetensors");
    assert_same_best("cooling1", "cooling2");
    /* the temperature itself (AdamW hardly feels it): 9 steps and 3 evaluations of 2 batches
     * lowered it 15 times in both (50 -> 49.25) */
    char one[256], two[256];
    fusion_temperatures(at("cooling1/checkpoint/state.json"), one, sizeof one);
    fusion_temperatures(at("cooling2/checkpoint/state.json"), two, sizeof two);
    assert_string_equal(one, two);
    assert_non_null(strstr(one, "49.25"));
}

/* Several --train files, each under its own composition (the MAD-X student's English through
 * Stack(en, ner), silver Quechua through Stack(qu, ner)): a batch comes from one file, in every
 * process alike. Uses adapter a of test_lora_and_fusion. */
static void test_several_sources(void **state)
{
    (void)state;
    assert_int_equal(run_command("awk 'BEGIN { n = 0 } /^$/ { n++ } n >= 120 && n < 200' '%s' > '%s'",
                                 shared_path("data/ner/wikiann-en/train.conll"), at("ner2.conll")), 0);
    const char *args = "train --task ner --model base --train ner.conll --train ner2.conll --load-adapter fa/best/a "
                       "--setup 'Stack(a, ner);ner' --batch-size 6 --max-steps 10 --lr 1e-3 --seed 5 --max-length 48 --quiet --output ";
    assert_same_runs(args, "sources", 10, "best/ner/adapter.safetensors");
}

static void test_language_adapter(void **state)
{
    (void)state;
    assert_int_equal(run_command("head -c 30000 '%s' > '%s'", at("en.txt"), at("mlm.txt")), 0);
    assert_int_equal(run_command("tail -c 8000 '%s' > '%s'", at("en.txt"), at("mlm_dev.txt")), 0);
    const char *args = "train --task mlm --model base --train mlm.txt --dev mlm_dev.txt --eval-every 5 --batch-size 8 "
                       "--max-steps 10 --lr 1e-3 --seed 5 --max-length 48 --adapter-config seq_bn_inv --quiet --output ";
    assert_same_runs(args, "mlm", 10, "best/mlm/adapter.safetensors");
    assert_same_best("mlm1", "mlm2");
}

static void test_regression_head(void **state)
{
    (void)state;
    FILE *fp = fopen(at("reg.tsv"), "w");
    assert_non_null(fp);
    fprintf(fp, "sentence\tlabel\n");
    static const char *const words[] = {"good", "bad", "fine", "poor"};
    for (int i = 0; i < 40; i++) /* the target: how many of the words are good or fine */
        fprintf(fp, "%s %s %s\t%d\n", words[i % 4], words[(i / 4) % 4], words[(i / 16) % 4],
                (i % 4 % 2 == 0) + ((i / 4) % 4 % 2 == 0) + ((i / 16) % 4 % 2 == 0));
    fclose(fp);
    const char *args = "train --task tsv --regression --model base --train reg.tsv --dev reg.tsv --eval-every 4 --batch-size 5 "
                       "--max-steps 8 --lr 1e-3 --seed 5 --max-length 16 --quiet --output ";
    assert_same_runs(args, "reg", 8, "best/tsv/model_head.safetensors");
    assert_same_best("reg1", "reg2");
}

/* A data-parallel run stopped by a fault after a checkpoint and resumed ends as one that ran
 * through: the lead process writes the checkpoint, every process reads it. */
static void test_checkpoint_resume(void **state)
{
    (void)state;
    const char *args = "train --task ner --model base --train ner.conll --batch-size 8 --max-steps 8 --checkpoint-every 4 "
                       "--lr 1e-3 --seed 5 --max-length 48 --quiet --output ";
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%sthrough", args);
    assert_int_equal(adapt_mpi(2, cmd), 0);
    snprintf(cmd, sizeof cmd, "%sresumed", args);
    assert_int_equal(setenv("ADAPT_TEST_INJECT_NAN", "6", 1), 0); /* a NaN gradient at step 6 stops the run */
    assert_int_not_equal(adapt_mpi(2, cmd), 0);
    assert_log_says(test_tmp, "numerical fault at step 6");
    unsetenv("ADAPT_TEST_INJECT_NAN");
    strcat(cmd, " --resume");
    assert_int_equal(adapt_mpi(2, cmd), 0);
    assert_int_equal(run_command("cmp -s '%s' '%s'", at("through/losses.tsv"), at("resumed/losses.tsv")), 0);
    assert_int_equal(run_command("cmp -s '%s' '%s'", at("through/best/ner/adapter.safetensors"), at("resumed/best/ner/adapter.safetensors")), 0);
}

static void test_refusals(void **state)
{
    (void)state;
    /* a command that does not train would have each process write the same files */
    assert_int_equal(adapt_mpi(2, "info base"), 2);
    assert_log_says(test_tmp, "\"info\" runs in one process; of 2 processes, only train and pretrain share the work");
    /* every process needs rows of each batch */
    assert_int_equal(adapt_mpi(3, "train --task ner --model base --train ner.conll --batch-size 2 --max-steps 1 --output few"), 1);
    assert_log_says(test_tmp, "a batch of 2 is fewer rows than the 3 processes that share it");
    /* adapt-mpi started without mpirun is one process, as adapt (leaks unchecked: Open MPI's, above) */
    assert_int_equal(run_command("cd '%s' && " NO_LEAK_CHECK " '%s/%s' %salone > last.log 2>&1", test_tmp,
                                 getenv("PWD") ? getenv("PWD") : ".", build_path("adapt-mpi"), tagging_args), 0);
    assert_same_losses("one/losses.tsv", "alone/losses.tsv", 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup),
        cmocka_unit_test(test_tagging_adapter),
        cmocka_unit_test(test_full_fine_tuning),
        cmocka_unit_test(test_lora_and_fusion),
        cmocka_unit_test(test_several_sources),
        cmocka_unit_test(test_language_adapter),
        cmocka_unit_test(test_regression_head),
        cmocka_unit_test(test_checkpoint_resume),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests_name("data-parallel training", tests, test_tmp_setup, test_tmp_teardown);
}
