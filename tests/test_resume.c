/* Crash-safe checkpoints and exact resume of `adapt train` (issue 8): a short kill-and-resume run
 * (scripts/kill-resume-test.sh with 3 SIGKILLs), resuming with other options, resuming a finished
 * run, and the --on-nan policy with a forced fault (ADAPT_TEST_INJECT_NAN). All runs use one
 * OpenMP thread (OMP_NUM_THREADS=1) to stay small; the losses are also exact at 2 threads. */
#include "formats/safetensors.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *tmp;

/* A file in this test's scratch folder. */
static const char *at(const char *rel) { return path_in(tmp, rel); }

static const char *root(void) { return getenv("PWD") ? getenv("PWD") : "."; }

/* `adapt ARGS` in the scratch folder; env is a prefix of variable assignments ("" for none). */
static int adapt_env(const char *env, const char *args)
{
    return run_command("cd '%s' && OMP_NUM_THREADS=1 %s '%s/%s' %s > last.log 2>&1", tmp, env, root(), build_path("adapt"), args);
}

#define TRAIN "train --task ner --model base --train train.conll --dev dev.conll --name ner --max-steps 12 --batch-size 4 " \
              "--max-length 48 --eval-every 6 --checkpoint-every 3 --quiet"

static int setup(void **state)
{
    (void)state;
    tmp = make_temp_dir();
    if (run_command("head -n 200 '%s' > '%s' && awk 'BEGIN{RS=\"\"; ORS=\"\\n\\n\"} NR<=40' '%s' > '%s' && "
                    "awk 'BEGIN{RS=\"\"; ORS=\"\\n\\n\"} NR<=20' '%s' > '%s'",
                    shared_path("data/text/en.txt"), at("en.txt"), shared_path("data/ner/wikiann-en/train.conll"), at("train.conll"),
                    shared_path("data/ner/wikiann-en/dev.conll"), at("dev.conll")))
        return -1;
    if (adapt_env("", "tokenizer train --type bpe --vocab-size 300 --output tok en.txt")) return -1;
    const char *cfg = "{\"model_type\": \"roberta\", \"architectures\": [\"RobertaForMaskedLM\"], \"hidden_size\": 32, "
                      "\"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"intermediate_size\": 64, \"vocab_size\": 300, "
                      "\"max_position_embeddings\": 66, \"type_vocab_size\": 1, \"pad_token_id\": 1, \"layer_norm_eps\": 1e-5, "
                      "\"hidden_act\": \"gelu\"}";
    write_file(at("config.json"), cfg, strlen(cfg));
    return adapt_env("", "init-model --config config.json --tokenizer tok/tokenizer.json --output base") ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    remove_tree(tmp);
    free(tmp);
    return 0;
}

static size_t count_lines(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return 0;
    char line[512];
    size_t n = 0;
    while (fgets(line, sizeof line, fp)) n++;
    fclose(fp);
    return n;
}

static bool all_finite(const char *path)
{
    st_file f;
    if (st_open(path, &f)) return false;
    bool ok = f.count > 0;
    for (size_t i = 0; ok && i < f.count; i++) {
        float *v = malloc(f.tensors[i].numel * sizeof(float) + 4);
        ok = v && !st_to_f32(&f, &f.tensors[i], v);
        for (size_t k = 0; ok && k < f.tensors[i].numel; k++) ok = isfinite(v[k]);
        free(v);
    }
    st_close(&f);
    return ok;
}

static void test_kill_resume(void **state)
{
    (void)state;
    /* a reference run, 3 runs killed with SIGKILL at random moments and resumed, then a bit-for-bit
     * comparison of losses.tsv, the final weights and moments, and the best adapter */
    assert_int_equal(run_command("cd '%s' && BUILD='%s' ADAPT_SHARED='%s' OMP_NUM_THREADS=1 bash scripts/kill-resume-test.sh -k 3 -s 30 -r 11 "
                                 "> '%s' 2>&1 || { cat '%s'; exit 1; }",
                                 root(), build_path(""), shared_dir(), at("kill.log"), at("kill.log")),
                     0);
    assert_int_equal(run_command("grep -q '^PASS' '%s'", at("kill.log")), 0);
    assert_int_equal(run_command("grep -Eq 'runs: [1-9][0-9]* killed with SIGKILL' '%s'", at("kill.log")), 0);
}

static void test_resume_checks_options(void **state)
{
    (void)state;
    assert_int_equal(adapt_env("", TRAIN " --lr 5e-3 --output a"), 0);
    assert_int_equal(count_lines(at("a/losses.tsv")), 12);
    /* resuming a finished run trains nothing and keeps the log */
    assert_int_equal(run_command("cp '%s' '%s'", at("a/losses.tsv"), at("a-losses.tsv")), 0);
    assert_int_equal(adapt_env("", TRAIN " --lr 5e-3 --output a --resume"), 0);
    assert_int_equal(run_command("cmp -s '%s' '%s'", at("a/losses.tsv"), at("a-losses.tsv")), 0);
    assert_int_equal(adapt_env("", TRAIN " --lr 5e-3 --output a --check-checkpoint"), 0);
    assert_log_says(tmp, "checkpoint OK: step 12 of 12");
    /* another learning rate: refused, with both option lists shown */
    assert_int_not_equal(adapt_env("", TRAIN " --lr 1e-3 --output a --resume"), 0);
    assert_log_says(tmp, "other options");
    /* a damaged state is an error, not a crash */
    const char *bad = "{\"version\": 1, \"step\": -3}";
    write_file(at("a/checkpoint/state.json"), bad, strlen(bad));
    assert_int_not_equal(adapt_env("", TRAIN " --lr 5e-3 --output a --resume"), 0);
    assert_log_says(tmp, "invalid training state");
    /* no checkpoint: --check-checkpoint fails, --resume starts from scratch */
    assert_int_not_equal(adapt_env("", TRAIN " --lr 5e-3 --output fresh --check-checkpoint"), 0);
}

static void test_nan_abort(void **state)
{
    (void)state;
    /* a NaN gradient at step 5: the run stops with an error, the step-3 checkpoint stays and loads */
    assert_int_not_equal(adapt_env("ADAPT_TEST_INJECT_NAN=5", TRAIN " --lr 5e-3 --output nan-abort"), 0);
    assert_log_says(tmp, "numerical fault at step 5: the gradient norm is nan");
    assert_int_equal(count_lines(at("nan-abort/losses.tsv")), 4);
    assert_int_equal(adapt_env("", TRAIN " --lr 5e-3 --output nan-abort --check-checkpoint"), 0);
    assert_log_says(tmp, "checkpoint OK: step 3 of 12");
    assert_true(all_finite(at("nan-abort/checkpoint/tensors.safetensors")));
    /* a NaN loss, same policy */
    assert_int_not_equal(adapt_env("ADAPT_TEST_INJECT_NAN=2:loss", TRAIN " --lr 5e-3 --output nan-abort2"), 0);
    assert_log_says(tmp, "numerical fault at step 2: the loss is nan");
}

static void test_nan_skip(void **state)
{
    (void)state;
    assert_int_equal(adapt_env("ADAPT_TEST_INJECT_NAN=5", TRAIN " --lr 5e-3 --output nan-skip --on-nan skip"), 0);
    assert_int_equal(run_command("grep -q '\"skipped_steps\": 1,' '%s'", at("nan-skip/summary.json")), 0);
    assert_int_equal(count_lines(at("nan-skip/losses.tsv")), 12);
    assert_true(all_finite(at("nan-skip/checkpoint/tensors.safetensors")));
    assert_true(all_finite(at("nan-skip/best/ner/adapter.safetensors")));
    assert_int_equal(adapt_env("ADAPT_TEST_INJECT_NAN=5:loss", TRAIN " --lr 5e-3 --output nan-skip2 --on-nan skip"), 0);
    assert_int_equal(run_command("awk -F'\\t' '$1 == 5 && $2 == \"nan\" {f = 1} END {exit !f}' '%s'", at("nan-skip2/losses.tsv")), 0);
    assert_true(all_finite(at("nan-skip2/checkpoint/tensors.safetensors")));
    /* the steps before the fault are those of a clean run */
    assert_int_equal(adapt_env("", TRAIN " --lr 5e-3 --output clean"), 0);
    assert_int_equal(run_command("cd '%s' && head -n 4 clean/losses.tsv > h1 && head -n 4 nan-skip2/losses.tsv > h2 && cmp -s h1 h2", tmp), 0);
    assert_int_not_equal(adapt_env("", TRAIN " --on-nan maybe --output x"), 0);
}

/* Two --train files, each under its composition: an interrupted run resumes to the same losses
 * (the checkpoint's epoch order is rebuilt batch by batch from the files). */
static void test_resume_two_files(void **state)
{
    (void)state;
    assert_int_equal(run_command("cd '%s' && awk 'BEGIN{RS=\"\"; ORS=\"\\n\\n\"} NR<=26' train.conll > a.conll && "
                                 "awk 'BEGIN{RS=\"\"; ORS=\"\\n\\n\"} NR>26' train.conll > b.conll", tmp), 0);
#define TWO_FILES "train --task ner --model base --train a.conll --train b.conll --setup 'ner;ner' --dev dev.conll --name ner " \
                  "--max-steps 12 --batch-size 4 --max-length 48 --eval-every 6 --checkpoint-every 3 --lr 5e-3 --quiet"
    assert_int_equal(adapt_env("", TWO_FILES " --output two"), 0);
    assert_int_equal(count_lines(at("two/losses.tsv")), 12);
    /* a fault at step 8 stops the run after the step-6 checkpoint; --resume finishes it */
    assert_int_not_equal(adapt_env("ADAPT_TEST_INJECT_NAN=8", TWO_FILES " --output two-stopped"), 0);
    assert_int_equal(adapt_env("", TWO_FILES " --output two-stopped --resume"), 0);
    assert_int_equal(run_command("cmp -s '%s' '%s'", at("two/losses.tsv"), at("two-stopped/losses.tsv")), 0);
    /* as many compositions as files, and each file at least a batch */
    assert_int_not_equal(adapt_env("", "train --task ner --model base --train a.conll --train b.conll --setup ner --output x --quiet"), 0);
    assert_log_says(tmp, "2 --train files need --setup with as many compositions");
    assert_int_not_equal(adapt_env("", "train --task ner --model base --train a.conll --train b.conll --setup 'ner;ner' "
                                       "--batch-size 16 --output x --quiet"), 0);
    assert_log_says(tmp, "b.conll: 14 examples, fewer than one batch of 16");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_kill_resume), cmocka_unit_test(test_resume_checks_options),
                                       cmocka_unit_test(test_nan_abort), cmocka_unit_test(test_nan_skip), cmocka_unit_test(test_resume_two_files)};
    return cmocka_run_group_tests_name("checkpoints, resume and numerical faults", tests, setup, teardown);
}
