/* Command-line smoke tests on the shipped default model: fill-mask and its errors, and the
 * Quechua NER demo on the shipped adapters. */
#include "testutil.h"
#include <math.h>
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

/* The demo's --input/--output, as the Quechua test set is tagged: the words of column 1 (other
 * columns ignored), written back one per line with their tags, blank lines kept; WikiANN's
 * original files write every word as "qu:word", and decomposed accents (NFD) are other bytes to the
 * tokenizer: the same tags, the words kept as written. */
static void test_demo_input(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    const char *demo = build_path("adapt");
    assert_int_equal(run_command("head -2 models/demo/quechua.txt | awk '{for (i = 1; i <= NF; i++) print $i \"\\tX\\tO\"; print \"\"}' "
                                 "> '%s/plain.conll' && awk -F'\\t' -v OFS='\\t' 'NF { $1 = \"qu:\" $1 } { print }' '%s/plain.conll' "
                                 "> '%s/pan-x.conll'", tmp, tmp, tmp), 0);
    assert_int_equal(run_command("'%s' demo quechua-ner --input '%s/plain.conll' --output '%s/plain.out' 2> /dev/null", demo, tmp, tmp), 0);
    assert_int_equal(run_command("'%s' demo quechua-ner --input '%s/pan-x.conll' --output '%s/pan-x.out' 2> /dev/null", demo, tmp, tmp), 0);
    /* "Perú" with a combining acute accent (NFD): tagged as its NFC form, written as given. */
    assert_int_equal(run_command("sed 's/\xc3\xba/u\xcc\x81/g' '%s/plain.conll' > '%s/nfd.conll' && ! cmp -s '%s/plain.conll' '%s/nfd.conll'",
                                 tmp, tmp, tmp, tmp), 0);
    assert_int_equal(run_command("'%s' demo quechua-ner --input '%s/nfd.conll' --output '%s/nfd.out' 2> /dev/null", demo, tmp, tmp), 0);
    for (int i = 0; i < 3; i++) {
        const char *name = i == 2 ? "nfd" : i ? "pan-x" : "plain";
        assert_int_equal(run_command("cut -f1 '%s/%s.conll' > '%s/in' && cut -f1 '%s/%s.out' > '%s/words' && cmp -s '%s/in' '%s/words'",
                                     tmp, name, tmp, tmp, name, tmp, tmp, tmp), 0);
    }
    assert_int_equal(run_command("grep -q '^Javier\tB-PER$' '%s/plain.out' && grep -q '^Sologuren\tI-PER$' '%s/plain.out'", tmp, tmp), 0);
    assert_int_equal(run_command("grep -q '^Perú\tB-LOC$' '%s/plain.out'", tmp), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(run_command("cut -f2 '%s/plain.out' > '%s/a' && cut -f2 '%s/%s.out' > '%s/b' && cmp -s '%s/a' '%s/b'",
                                     tmp, tmp, tmp, i ? "nfd" : "pan-x", tmp, tmp, tmp), 0);
    /* Scorers pair output and gold line by line: -DOCSTART-, runs of blank lines and a last line
     * without its newline keep their places, each line of the input has its line in the output. */
    assert_int_equal(run_command("{ printf -- '-DOCSTART- -X- O\\n\\n'; head -15 '%s/plain.conll'; printf '\\n\\n'; "
                                 "sed -n '16,$p' '%s/plain.conll' | head -c -2; } > '%s/layout.conll'", tmp, tmp, tmp), 0);
    assert_int_equal(run_command("'%s' demo quechua-ner --input '%s/layout.conll' --output '%s/layout.out' 2> /dev/null", demo, tmp, tmp), 0);
    assert_int_equal(run_command("test $(wc -l < '%s/layout.out') -eq $(($(wc -l < '%s/layout.conll') + 1)) && "
                                 "awk '{ print $1 }' '%s/layout.conll' > '%s/in' && cut -f1 '%s/layout.out' > '%s/words' && cmp -s '%s/in' '%s/words'",
                                 tmp, tmp, tmp, tmp, tmp, tmp, tmp, tmp), 0);
    assert_int_equal(run_command("head -1 '%s/layout.out' | grep -q '^-DOCSTART-	O$' && sed -n '17,19p' '%s/layout.out' | grep -c '^$' | grep -qx 3",
                                 tmp, tmp), 0);
    assert_int_equal(run_command("grep -v '^-DOCSTART-' '%s/layout.out' | grep . > '%s/a' && grep . '%s/plain.out' > '%s/b' && cmp -s '%s/a' '%s/b'",
                                 tmp, tmp, tmp, tmp, tmp, tmp), 0);
    /* A text file, a sentence per line: read as CoNLL it is tagged a line's first word at a time,
     * and the demo warns; with --format text its sentences are tagged as the CoNLL version's. */
    assert_int_equal(run_command("head -2 models/demo/quechua.txt > '%s/two.txt' && '%s' demo quechua-ner --input '%s/two.txt' "
                                 "--output '%s/two.out' 2> '%s/err' && grep -q 'warning: .*two.txt was read as CoNLL.*--format text' '%s/err'",
                                 tmp, demo, tmp, tmp, tmp, tmp), 0);
    assert_int_equal(run_command("'%s' demo quechua-ner --input '%s/two.txt' --format text --output '%s/two.out' 2> '%s/err' && "
                                 "! grep -q warning '%s/err' && grep -q '^Javier	B-PER$' '%s/two.out' && grep -q '^Sologuren	I-PER$' '%s/two.out' && "
                                 "grep -q '^Perú	B-LOC$' '%s/two.out' && test $(grep -c . '%s/two.out') -gt 20",
                                 demo, tmp, tmp, tmp, tmp, tmp, tmp, tmp, tmp), 0);
    remove_tree(tmp);
    free(tmp);
}

/* A sentence longer than --max-length tokens is tagged whole, in overlapping windows: 40 times
 * "Lima llaqtapi Perú mama" as one sentence at 32 tokens, every place a B-LOC (before, the words
 * past the cut were O with probability 1: 5 of the 80 places were found). */
static void test_long_sentence_windows(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    assert_int_equal(run_command("for i in $(seq 40); do printf 'Lima\\tO\\nllaqtapi\\tO\\nPer\303\272\\tO\\nmama\\tO\\n'; done > '%s/long.conll'",
                                 tmp), 0);
    assert_int_equal(run_command("'%s' predict --model models/default --load-adapter models/adapters/en --load-adapter models/adapters/qu "
                                 "--load-adapter models/adapters/ner --setup 'Stack(qu, ner)' --input '%s/long.conll' --output '%s/long.out' "
                                 "--max-length 32 --scores 2> /dev/null", build_path("adapt"), tmp, tmp), 0);
    assert_int_equal(run_command("test $(wc -l < '%s/long.out') -eq 160 && "
                                 "test $(awk -F'\t' '($1 == \"Lima\" || $1 == \"Per\303\272\") && $2 == \"B-LOC\"' '%s/long.out' | wc -l) -eq 80 && "
                                 "test $(awk -F'\t' '$2 != \"O\" || $3 == \"1.0000\"' '%s/long.out' | wc -l) -eq 80", tmp, tmp, tmp), 0);
    /* The dev evaluation during training tags it the same way: a head trained on the short sentence
     * scores the long one as `adapt eval` does (100; before, 11.8 from the words before the cut). */
    assert_int_equal(run_command("for i in $(seq 100); do printf 'Lima\\tB-LOC\\nllaqtapi\\tO\\nPer\303\272\\tB-LOC\\nmama\\tO\\n\\n'; done "
                                 "> '%s/short.conll' && grep . '%s/short.conll' | head -160 > '%s/gold.conll'", tmp, tmp, tmp), 0);
    assert_int_equal(run_command("OMP_NUM_THREADS=1 '%s' train --task ner --model models/default --train '%s/short.conll' --dev '%s/gold.conll' "
                                 "--output '%s/head' --method head --name places --max-length 32 --max-steps 12 --batch-size 8 --lr 1e-2 "
                                 "--eval-every 12 --quiet && '%s' eval --model models/default --head '%s/head/best/places' --data '%s/gold.conll' "
                                 "--max-length 32 --json '%s/eval.json' > /dev/null 2>&1", build_path("adapt"), tmp, tmp, tmp, build_path("adapt"), tmp, tmp,
                                 tmp), 0);
    double best = json_file_number(path_in(tmp, "head/summary.json"), "best_dev_metric"), eval = json_file_number(path_in(tmp, "eval.json"), "value");
    if (!(best > 99.9 && fabs(best - eval) < 0.01)) fail_msg("training's dev F1 %.2f, adapt eval %.2f: both should be 100", best, eval);
    remove_tree(tmp);
    free(tmp);
}

/* JSON Lines records that name their own composition ("setup") run under it, the others under
 * --setup: one file tags a sentence with and without the Quechua adapter, as two runs of the
 * whole file under each composition do; the output records say which they ran under. */
static void test_record_setups(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    const char *javier = "[\"Javier\", \"Sologuren\", \"sutiyuq\", \"runaqa\", \"1920\", \"watapi\", \"Limapi\", \"paqarisqa\", \",\", "
                         "\"huk\", \"Per\\u00fa\", \"mama\", \"llaqtayuq\", \"qillqapsi\", \"karqan\", \".\"]";
    const char *yanaurqu = "[\"Yanaurqu\", \"nisqaqa\", \"Per\\u00fapi\", \",\", \"Wankawillka\", \"suyupi\", \"huk\", \"urqum\", \".\"]";
    FILE *f = fopen(path_in(tmp, "mixed.jsonl"), "w");
    assert_non_null(f);
    fprintf(f, "{\"tokens\": %s, \"setup\": \"ner\"}\n{\"tokens\": %s}\n{\"tokens\": %s}\n{\"tokens\": %s, \"setup\": \"ner\"}\n", javier,
            yanaurqu, javier, yanaurqu);
    fclose(f);
    assert_int_equal(run_command("grep -v setup '%s/mixed.jsonl' > '%s/command.jsonl' && grep setup '%s/mixed.jsonl' | sed 's/, \"setup\": \"ner\"//' "
                                 "> '%s/ner.jsonl'", tmp, tmp, tmp, tmp), 0);
    const char *predict = "'%s' predict --model models/default --load-adapter models/adapters/en --load-adapter models/adapters/qu "
                          "--load-adapter models/adapters/ner --input '%s/%s.jsonl' --output '%s/%s.out.jsonl' --setup '%s' 2> '%s/err'";
    char command[2048];
    const char *runs[][2] = {{"mixed", "Stack(qu, ner)"}, {"command", "Stack(qu, ner)"}, {"ner", "ner"}};
    for (int k = 0; k < 3; k++) {
        snprintf(command, sizeof command, predict, build_path("adapt"), tmp, runs[k][0], tmp, runs[k][0], runs[k][1], tmp);
        assert_int_equal(run_command("%s", command), 0);
    }
    /* records 2 and 3 ran under --setup, 1 and 4 under their own "ner", which tags "Limapi paqarisqa" as one place */
    assert_int_equal(run_command("cd '%s' && for r in mixed command ner; do grep -o '\"tags\":\\[[^]]*\\]' $r.out.jsonl > $r.tags; done && "
                                 "sed -n 2,3p mixed.tags | cmp -s - command.tags && sed -n '1p;4p' mixed.tags | cmp -s - ner.tags && "
                                 "! cmp -s command.tags ner.tags && test $(grep -c '\"setup\":\"ner\"' mixed.out.jsonl) -eq 2 && "
                                 "sed -n 1p mixed.tags | grep -q '\"B-LOC\",\"I-LOC\"'", tmp), 0);
    /* two spellings of one composition: the same tags, each record's own spelling echoed (that they
     * share a group is not visible in the output) */
    f = fopen(path_in(tmp, "spelled.jsonl"), "w");
    assert_non_null(f);
    fprintf(f, "{\"tokens\": %s, \"setup\": \"Stack(en, ner)\"}\n{\"tokens\": %s, \"setup\": \"Stack(en,ner)\"}\n", javier, javier);
    fclose(f);
    snprintf(command, sizeof command, predict, build_path("adapt"), tmp, "spelled", tmp, "spelled", "ner", tmp);
    assert_int_equal(run_command("%s", command), 0);
    assert_int_equal(run_command("cd '%s' && grep -o '\"tags\":\\[[^]]*\\]' spelled.out.jsonl > spelled.tags && "
                                 "test -n \"$(sed -n 1p spelled.tags)\" && test \"$(sed -n 1p spelled.tags)\" = \"$(sed -n 2p spelled.tags)\" && "
                                 "grep -q '\"setup\":\"Stack(en,ner)\"' spelled.out.jsonl && grep -q '\"setup\":\"Stack(en, ner)\"' spelled.out.jsonl",
                                 tmp),
                     0);
    /* a record's composition naming an adapter that is not loaded: the file, the line, the name */
    f = fopen(path_in(tmp, "bad.jsonl"), "w");
    assert_non_null(f);
    fprintf(f, "{\"tokens\": [\"Lima\"]}\n{\"tokens\": [\"Lima\"], \"setup\": \"Stack(xx, ner)\"}\n");
    fclose(f);
    snprintf(command, sizeof command, predict, build_path("adapt"), tmp, "bad", tmp, "bad", "ner", tmp);
    assert_int_equal(run_command("%s", command), 1);
    assert_int_equal(run_command("grep -q 'bad.jsonl:2: \"setup\": setup names adapter \"xx\"' '%s/err' && test ! -e '%s/bad.out.jsonl'", tmp, tmp), 0);
    remove_tree(tmp);
    free(tmp);
}

/* JSON Lines records that name their own LoRA ("lora") run under it, each with its folder's head,
 * "__base__" under the base model, the others under the first --lora: each record's tags and
 * scores are those of a run with that LoRA alone (or none, with the first LoRA's head). */
static void test_record_loras(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    assert_int_equal(run_command("head -n 400 '%s' > '%s/ner.conll'", shared_path("data/ner/wikiann-en/train.conll"), tmp), 0);
    for (int k = 0; k < 2; k++)
        assert_int_equal(run_command("'%s' train --task ner --model models/default --train '%s/ner.conll' --output '%s/l%c' --name ner "
                                     "--method lora --lora-r 4 --max-steps 6 --batch-size 8 --max-length 32 --lr 5e-2 --seed %d --quiet "
                                     "> '%s/train.log' 2>&1", build_path("adapt"), tmp, tmp, "ab"[k], k + 1, tmp),
                         0);
    const char *javier = "[\"Javier\", \"Sologuren\", \"sutiyuq\", \"runaqa\", \"1920\", \"watapi\", \"Limapi\", \"paqarisqa\", \".\"]";
    const char *yanaurqu = "[\"Yanaurqu\", \"nisqaqa\", \"Per\\u00fapi\", \",\", \"Wankawillka\", \"suyupi\", \"huk\", \"urqum\", \".\"]";
    FILE *f = fopen(path_in(tmp, "mixed.jsonl"), "w");
    assert_non_null(f);
    fprintf(f, "{\"tokens\": %s, \"lora\": \"a\"}\n{\"tokens\": %s, \"lora\": \"b\"}\n{\"tokens\": %s}\n{\"tokens\": %s, \"lora\": \"__base__\"}\n",
            javier, yanaurqu, javier, javier);
    fclose(f);
    f = fopen(path_in(tmp, "j.jsonl"), "w");
    assert_non_null(f);
    fprintf(f, "{\"tokens\": %s}\n", javier);
    fclose(f);
    f = fopen(path_in(tmp, "y.jsonl"), "w");
    assert_non_null(f);
    fprintf(f, "{\"tokens\": %s}\n", yanaurqu);
    fclose(f);
    const char *runs[][3] = {{"mixed", "--lora la/best/lora=a --lora lb/best/lora=b", "mixed"},
                             {"a", "--lora la/best/lora", "j"},
                             {"b", "--lora lb/best/lora", "y"},
                             {"base", "--head la/best/lora", "j"}};
    for (int k = 0; k < 4; k++)
        assert_int_equal(run_command("cd '%s' && '%s/%s' predict --model '%s/models/default' %s --input %s.jsonl --output %s.out.jsonl "
                                     "--scores 2> err",
                                     tmp, getenv("PWD") ? getenv("PWD") : ".", build_path("adapt"), getenv("PWD") ? getenv("PWD") : ".",
                                     runs[k][1], runs[k][2], runs[k][0]),
                         0);
    /* records 1 and 3 as LoRA a alone, 2 as b alone, 4 as the base model; a's scores are not the base's */
    assert_int_equal(run_command("cd '%s' && for r in mixed a b base; do grep -o '\"tags\":\\[[^]]*\\],\"scores\":\\[[^]]*\\]' $r.out.jsonl > $r.ts; done && "
                                 "sed -n 1p mixed.ts | cmp -s - a.ts && sed -n 3p mixed.ts | cmp -s - a.ts && sed -n 2p mixed.ts | cmp -s - b.ts && "
                                 "sed -n 4p mixed.ts | cmp -s - base.ts && ! cmp -s a.ts base.ts && test $(grep -c '\"lora\":\"a\"' mixed.out.jsonl) -eq 1",
                                 tmp),
                     0);
    /* a record naming a LoRA that is not loaded: the file, the line, the name; unnamed LoRAs refused */
    f = fopen(path_in(tmp, "bad.jsonl"), "w");
    assert_non_null(f);
    fprintf(f, "{\"tokens\": [\"Lima\"]}\n{\"tokens\": [\"Lima\"], \"lora\": \"zz\"}\n");
    fclose(f);
    const char *bad = "cd '%s' && '%s/%s' predict --model '%s/models/default' %s --input bad.jsonl --output bad.out.jsonl 2> err";
    const char *pwd = getenv("PWD") ? getenv("PWD") : ".";
    assert_int_equal(run_command(bad, tmp, pwd, build_path("adapt"), pwd, "--lora la/best/lora=a --lora lb/best/lora=b"), 1);
    assert_int_equal(run_command("grep -q 'bad.jsonl:2: \"lora\": no LoRA named \"zz\"' '%s/err' && test ! -e '%s/bad.out.jsonl'", tmp, tmp), 0);
    assert_int_equal(run_command(bad, tmp, pwd, build_path("adapt"), pwd, "--lora la/best/lora --lora lb/best/lora=b"), 1);
    assert_int_equal(run_command("grep -q 'each needs a name' '%s/err'", tmp), 0);
    /* a folder with '=' in its name is a folder, not DIR=NAME: LoRA a's tags and scores again */
    assert_int_equal(run_command("cd '%s' && cp -r la/best/lora 'lr=1' && '%s/%s' predict --model '%s/models/default' --lora lr=1 --input j.jsonl "
                                 "--output eq.out.jsonl --scores 2> err && grep -o '\"tags\":\\[[^]]*\\],\"scores\":\\[[^]]*\\]' eq.out.jsonl | "
                                 "cmp -s - a.ts", tmp, pwd, build_path("adapt"), pwd),
                     0);
    remove_tree(tmp);
    free(tmp);
}

/* A data file with nothing in it is an error where a figure would be read from it: eval says so
 * instead of "F1 0.00 on 0 examples", and train refuses an empty --dev instead of running without one. */
static void test_empty_data_refused(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    const char *adapt = build_path("adapt");
    assert_int_equal(run_command(": > '%s/empty.conll' && printf 'Lima\\tB-LOC\\n' > '%s/one.conll'", tmp, tmp), 0);
    assert_int_equal(run_command("'%s' eval --model models/default --load-adapter models/adapters/ner --data '%s/empty.conll' "
                                 "> '%s/out' 2>&1", adapt, tmp, tmp), 1);
    assert_int_equal(run_command("grep -q 'empty.conll: no examples to evaluate' '%s/out'", tmp), 0);
    assert_int_equal(run_command("OMP_NUM_THREADS=1 '%s' train --task ner --model models/default --train '%s/one.conll' --dev '%s/empty.conll' "
                                 "--output '%s/o' --max-steps 1 > '%s/out' 2>&1", adapt, tmp, tmp, tmp, tmp), 1);
    assert_int_equal(run_command("grep -q 'empty.conll: no dev examples' '%s/out'", tmp), 0);
    assert_int_equal(run_command("OMP_NUM_THREADS=1 '%s' train --task mlm --model models/default --train models/demo/quechua.txt "
                                 "--dev '%s/empty.conll' --output '%s/m' --max-steps 1 > '%s/out' 2>&1", adapt, tmp, tmp, tmp), 1);
    assert_int_equal(run_command("grep -q 'empty.conll: no text$' '%s/out'", tmp), 0);
    remove_tree(tmp);
    free(tmp);
}

/* Every command names an option it does not know (several printed only their usage) and exits 2. */
static void test_unknown_options_named(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    static const char *const commands[] = {"demo quechua-ner", "bench", "tokenize models/default/tokenizer.json", "tokenizer train",
                                           "train", "predict", "eval", "pretrain", "encode-corpus", "fusion-attention"};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        int rc = run_command("'%s' %s --bogus x < /dev/null > '%s/out' 2>&1", build_path("adapt"), commands[i], tmp);
        if (rc != 2 || run_command("grep -q 'unknown.* option --bogus' '%s/out'", tmp) != 0) {
            run_command("cat '%s/out' >&2", tmp);
            fail_msg("adapt %s --bogus x: exit %d, the message above should name --bogus", commands[i], rc);
        }
    }
    remove_tree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fill_mask), cmocka_unit_test(test_demo_shipped),
                                       cmocka_unit_test(test_demo_input), cmocka_unit_test(test_long_sentence_windows),
                                       cmocka_unit_test(test_record_setups),
        cmocka_unit_test(test_record_loras),
                                       cmocka_unit_test(test_empty_data_refused),
                                       cmocka_unit_test(test_unknown_options_named)};
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
