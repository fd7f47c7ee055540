/* `adapt pretrain` end to end on a tiny config and tiny English (plain) + Spanish (.xz) text: the
 * loss falls, the folder is a Hugging Face model (the layout of the shipped, GPU-made
 * models/default) that `adapt info`, `fill-mask` and `train` load; the option errors. */
#include "formats/checkpoint.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *tmp;

static const char *at(const char *rel) { return path_in(tmp, rel); }

/* Runs `adapt ARGS` in the scratch folder, one OpenMP thread (the machine is shared); the output
 * goes to `out`, or with the errors to last.log. */
static int adapt_to(const char *args, const char *out)
{
    const char *pwd = getenv("PWD") ? getenv("PWD") : ".";
    return run_command("cd '%s' && OMP_NUM_THREADS=1 '%s/%s' %s > %s 2%s", tmp, pwd, build_path("adapt"), args, out ? out : "last.log",
                       out ? "> last.log" : ">&1");
}

static int adapt(const char *args) { return adapt_to(args, NULL); }

static void write_config(const char *name, int hidden, int layers, int intermediate, int vocab, int positions)
{
    char cfg[1024];
    int n = snprintf(cfg, sizeof cfg,
                     "{\"model_type\": \"roberta\", \"architectures\": [\"RobertaForMaskedLM\"], \"hidden_size\": %d, "
                     "\"num_hidden_layers\": %d, \"num_attention_heads\": 2, \"intermediate_size\": %d, \"vocab_size\": %d, "
                     "\"max_position_embeddings\": %d, \"type_vocab_size\": 1, \"pad_token_id\": 1, \"layer_norm_eps\": 1e-5, "
                     "\"hidden_act\": \"gelu\"}",
                     hidden, layers, intermediate, vocab, positions);
    write_file(at(name), cfg, (size_t)n);
}

static void setup_data(void)
{
    tmp = make_temp_dir();
    assert_int_equal(run_command("head -n 400 '%s' > '%s'", shared_path("data/text/en.txt"), at("en.txt")), 0);
    assert_int_equal(run_command("xz -dc '%s' | head -n 300 | xz > '%s'", shared_path("data/text/pretrain/es.txt.xz"), at("es.txt.xz")), 0);
    assert_int_equal(run_command("cp models/default/tokenizer.json '%s'", at("tokenizer.json")), 0);
}

static void read_losses(const char *path, double *first, double *last, int *n)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    int step;
    double loss;
    *n = 0;
    while (fscanf(fp, "%d\t%lf", &step, &loss) == 2) {
        if (*n < 5) first[*n] = loss;
        last[*n % 5] = loss;
        ++*n;
    }
    fclose(fp);
}

static double mean5(const double *v) { return (v[0] + v[1] + v[2] + v[3] + v[4]) / 5; }

static void test_pretrain_end_to_end(void **state)
{
    (void)state;
    setup_data();
    write_config("config.json", 32, 2, 64, 16000, 66);
    assert_int_equal(adapt("pretrain --config config.json --tokenizer tokenizer.json --train en.txt --train es.txt.xz --output out "
                           "--max-steps 60 --batch-size 16 --lr 3e-3 --eval-every 30 --whole-word-mask --quiet"),
                     0);
    /* the loss starts at ln(16000) = 9.68 (a random model is near uniform) and falls */
    double first[5], last[5];
    int n;
    read_losses(at("out/losses.tsv"), first, last, &n);
    assert_int_equal(n, 60);
    printf("pretrain: loss %.3f over the first 5 steps, %.3f over the last 5\n", mean5(first), mean5(last));
    assert_true(fabs(first[0] - log(16000.0)) < 0.1);
    assert_true(mean5(last) < mean5(first) - 1.5);
    /* 412 rows from the two files, 2% held out; the held-out loss of the saved (best) model fell too */
    double dev = 0;
    assert_int_equal(run_command("grep -q '\"train_examples\": 404' '%s'", at("out/summary.json")), 0);
    FILE *fp = fopen(at("out/summary.json"), "r");
    assert_non_null(fp);
    char line[256];
    while (fgets(line, sizeof line, fp)) sscanf(line, " \"best_dev_metric\": %lf", &dev);
    fclose(fp);
    assert_true(dev > 5 && dev < log(16000.0) - 1);

    /* a Hugging Face folder that the other commands load */
    assert_int_equal(run_command("cmp -s '%s' '%s'", at("tokenizer.json"), at("out/tokenizer.json")), 0);
    assert_int_equal(adapt_to("info out", "info.txt"), 0);
    assert_int_equal(run_command("grep -q 'RobertaForMaskedLM' '%s' && grep -q 'parameters: *548416 ' '%s'", at("info.txt"), at("info.txt")), 0);
    assert_int_equal(adapt_to("fill-mask out 'La ciudad de<mask> es grande.' --top 3", "fill.txt"), 0);
    assert_int_equal(run_command("grep -q '^mask 1:' '%s' && test $(grep -c '%%' '%s') -eq 3", at("fill.txt"), at("fill.txt")), 0);
    assert_int_equal(adapt("train --task mlm --model out --train en.txt --output lang --max-steps 2 --batch-size 4 --max-length 32 "
                           "--whole-word-mask --quiet"),
                     0);
    assert_int_equal(run_command("test -s '%s'", at("lang/best/mlm/adapter.safetensors")), 0);
    /* the trainer's checkpoint and resume path works for pretraining too */
    assert_int_equal(adapt("pretrain --config config.json --tokenizer tokenizer.json --train en.txt --output ck --max-steps 4 "
                           "--batch-size 8 --checkpoint-every 2 --quiet"),
                     0);
    assert_int_equal(adapt("pretrain --config config.json --tokenizer tokenizer.json --train en.txt --output ck --max-steps 4 "
                           "--batch-size 8 --checkpoint-every 2 --quiet --resume --check-checkpoint"),
                     0);
    assert_log_says(tmp, "checkpoint OK: step 4 of 4");
    remove_tree(tmp);
    free(tmp);
}

/* A model of the shipped one's shape (one layer): the same tensors under the same names, the same
 * shapes, two shards with an index, and no tied decoder stored. */
static void test_pretrain_layout_matches_default(void **state)
{
    (void)state;
    setup_data();
    write_config("config.json", 256, 1, 1024, 16000, 130);
    assert_int_equal(adapt("pretrain --config config.json --tokenizer tokenizer.json --train en.txt --output big --max-steps 1 "
                           "--batch-size 2 --max-length 32 --quiet"),
                     0);
    assert_int_equal(run_command("test -s '%s' && test -s '%s' && test -s '%s' && test ! -e '%s'", at("big/model.safetensors.index.json"),
                                 at("big/model-00001-of-00002.safetensors"), at("big/model-00002-of-00002.safetensors"),
                                 at("big/model.safetensors")), 0);
    tensor_source ours, shipped;
    assert_int_equal(tensor_source_open_dir(at("big"), &ours), ADAPT_OK);
    assert_int_equal(tensor_source_open_dir("models/default", &shipped), ADAPT_OK);
    size_t expected = 0, found = 0;
    for (size_t f = 0; f < shipped.nfiles; f++)
        for (size_t i = 0; i < shipped.files[f].count; i++) {
            const st_tensor *t = &shipped.files[f].tensors[i];
            int layer;
            if (sscanf(t->name, "roberta.encoder.layer.%d.", &layer) == 1 && layer > 0) continue;
            expected++;
            const st_tensor *o = tensor_source_find(&ours, t->name, NULL);
            if (!o) fail_msg("%s is missing", t->name);
            assert_int_equal(o->ndim, t->ndim);
            for (int d = 0; d < t->ndim; d++) assert_int_equal(o->shape[d], t->shape[d]);
        }
    for (size_t f = 0; f < ours.nfiles; f++) found += ours.files[f].count;
    assert_int_equal(found, expected); /* nothing more: no decoder, no pooler */
    assert_null(tensor_source_find(&ours, "lm_head.decoder.weight", NULL));
    tensor_source_close(&ours);
    tensor_source_close(&shipped);
    assert_int_equal(run_command("grep -Eq '\"tie_word_embeddings\":[[:space:]]*true' '%s'", at("big/config.json")), 0);
    remove_tree(tmp);
    free(tmp);
}

static void expect_error(const char *args, int code, const char *message)
{
    assert_int_equal(adapt(args), code);
    FILE *fp = fopen(at("last.log"), "r");
    assert_non_null(fp);
    char log[4096];
    size_t n = fread(log, 1, sizeof log - 1, fp);
    fclose(fp);
    log[n] = 0;
    if (!strstr(log, message)) fail_msg("expected \"%s\" in:\n%s", message, log);
}

static void test_pretrain_errors(void **state)
{
    (void)state;
    setup_data();
    write_config("config.json", 32, 2, 64, 16000, 66);
    write_config("small-vocab.json", 32, 2, 64, 400, 66);
    expect_error("pretrain --config config.json --train en.txt --output o", 2, "--config, --tokenizer, --train and --output are required");
    expect_error("pretrain --config config.json --tokenizer tokenizer.json --train en.txt --output o --bogus 1", 2,
                 "unknown option --bogus");
    expect_error("pretrain --config small-vocab.json --tokenizer tokenizer.json --train en.txt --output o", 1,
                 "tokenizer.json: the tokenizer's 16000 tokens do not fit vocab_size 400 of small-vocab.json");
    expect_error("pretrain --config config.json --tokenizer tokenizer.json --train en.txt --output o --max-length 100", 1,
                 "--max-length 100 is longer than the model's position embeddings allow (64 tokens");
    expect_error("pretrain --config missing.json --tokenizer tokenizer.json --train en.txt --output o", 1, "missing.json");
    expect_error("pretrain --config config.json --tokenizer tokenizer.json --train nothere.txt --output o", 1, "nothere.txt");
    expect_error("train --task ner --model models/default --train en.txt --train en.txt --output o", 1,
                 "2 --train files need --setup with as many compositions");
    remove_tree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pretrain_end_to_end),
        cmocka_unit_test(test_pretrain_layout_matches_default),
        cmocka_unit_test(test_pretrain_errors),
    };
    return cmocka_run_group_tests_name("pretrain", tests, NULL, NULL);
}
