/* JSON Lines data for adapt train / eval / predict (data/task_data.h): the format by file name or
 * option, the task's record kind enforced, hostile files refused with file:line; and a model
 * trained on JSON Lines copies of CoNLL and GLUE TSV files is the one trained on the originals (the
 * same losses to the last bit), scores the same, and predicts the same tags. */
#include "core/json.h"
#include "data/conll.h"
#include "data/task_data.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define at(rel) path_in(test_tmp, rel)

static int adapt(const char *args) { return run_adapt(test_tmp, args); }

static const char *put(const char *name, const char *text)
{
    const char *p = at(name);
    write_file(p, text, strlen(text));
    return p;
}

/* The last error message contains `what`. */
static void error_says(const char *what)
{
    if (!strstr(adapt_error(), what)) fail_msg("error \"%s\" does not say \"%s\"", adapt_error(), what);
}

/* Reading `path` fails with `code` and an error that contains `what`. */
static void refused(const char *path, const task_data_options *o, adapt_status code, const char *what)
{
    dataset ds;
    assert_int_equal(task_data_read(path, o, &ds), code);
    error_says(what);
    dataset_free(&ds);
}

/* ------------------------------------------------------------------ formats */
static void test_format_names(void **state)
{
    (void)state;
    data_format f;
    assert_int_equal(data_format_parse("JSONL", &f), ADAPT_OK);
    assert_int_equal(f, DATA_FORMAT_JSONL);
    assert_int_equal(data_format_parse("conll", &f), ADAPT_OK);
    assert_int_equal(f, DATA_FORMAT_CONLL);
    assert_int_equal(data_format_parse("csv", &f), ADAPT_ERR_ARG);
    error_says("unknown data format \"csv\"");
    assert_int_equal(data_format_resolve("a/train.jsonl", DATA_FORMAT_AUTO, true), DATA_FORMAT_JSONL);
    assert_int_equal(data_format_resolve("a/train.JSONL.xz", DATA_FORMAT_AUTO, false), DATA_FORMAT_JSONL);
    assert_int_equal(data_format_resolve("a/train.conll", DATA_FORMAT_AUTO, true), DATA_FORMAT_CONLL);
    assert_int_equal(data_format_resolve("a/train.tsv", DATA_FORMAT_AUTO, false), DATA_FORMAT_TSV);
    assert_int_equal(data_format_resolve("a/jsonl", DATA_FORMAT_AUTO, false), DATA_FORMAT_TSV);
    assert_int_equal(data_format_resolve("a/train.txt", DATA_FORMAT_JSONL, true), DATA_FORMAT_JSONL);
}

/* Raw sentences (one per line) as tagging input: split into words, blank lines skipped; not data
 * for training or for a sentence task. */
static void test_plain_text_input(void **state)
{
    (void)state;
    data_format f;
    assert_int_equal(data_format_parse("text", &f), ADAPT_OK);
    assert_int_equal(f, DATA_FORMAT_TEXT);
    const char *p = put("qu.txt", "Limapi, p'unchawpas tiyan.\n\n  \nAyakuchu\nAugusto B. Leguía (A.B.) b. wataqa.\n");
    dataset ds;
    task_data_options o = {.format = DATA_FORMAT_TEXT, .unlabeled = true};
    assert_int_equal(task_data_read(p, &o, &ds), ADAPT_OK);
    assert_int_equal(ds.n, 3);
    const char *first[] = {"Limapi", ",", "p'unchawpas", "tiyan", "."};
    assert_int_equal(ds.examples[0].n_tokens, 5);
    for (int w = 0; w < 5; w++) assert_string_equal(ds.examples[0].tokens[w], first[w]);
    assert_int_equal(ds.examples[1].n_tokens, 1);
    assert_int_equal(ds.examples[1].line, 4);
    assert_null(ds.examples[1].tags);
    /* an initial keeps its full stop; a lower-case letter or a longer word does not */
    const char *third[] = {"Augusto", "B.", "Leguía", "(", "A.", "B.", ")", "b", ".", "wataqa", "."};
    assert_int_equal(ds.examples[2].n_tokens, 11);
    for (int w = 0; w < 11; w++) assert_string_equal(ds.examples[2].tokens[w], third[w]);
    dataset_free(&ds);
    o.unlabeled = false; /* training data needs tags */
    refused(p, &o, ADAPT_ERR_ARG, "tagging head's predictions only");
    o = (task_data_options){.format = DATA_FORMAT_TEXT, .unlabeled = true, .glue = glue_task_find("sst2")};
    assert_int_equal(task_data_read(p, &o, &ds), ADAPT_ERR_ARG);
    dataset_free(&ds);
    p = put("empty.txt", "\n \n");
    o = (task_data_options){.format = DATA_FORMAT_TEXT, .unlabeled = true};
    refused(p, &o, ADAPT_ERR_FORMAT, "empty.txt: no sentences");
}

static void test_task_data_read(void **state)
{
    (void)state;
    const glue_task *sst2 = glue_task_find("sst2"), *stsb = glue_task_find("stsb"), *tsv = glue_task_find("tsv");
    dataset ds;
    /* sentence records with a pair, labels mapped onto the task's list */
    const char *p = put("rte.jsonl", "{\"text\": \"A cat.\", \"text_pair\": \"An animal.\", \"label\": \"entailment\"}\n\n"
                                     "{\"text\": \"A dog.\", \"text_pair\": \"A cat.\", \"label\": \"not_entailment\"}\n");
    task_data_options o = {.glue = glue_task_find("rte")};
    assert_int_equal(task_data_read(p, &o, &ds), ADAPT_OK);
    assert_int_equal(ds.n, 2);
    assert_string_equal(ds.examples[0].text_pair, "An animal.");
    assert_int_equal(ds.examples[1].label, 1);
    assert_int_equal(ds.examples[1].line, 3);
    dataset_free(&ds);
    /* a label outside the task's list names file:line */
    p = put("sst.jsonl", "{\"text\": \"fine\", \"label\": 1}\n{\"text\": \"odd\", \"label\": 2}\n");
    o = (task_data_options){.glue = sst2};
    refused(p, &o, ADAPT_ERR_FORMAT, "sst.jsonl:2");
    /* regression targets: implied by stsb, asked for with tsv, refused elsewhere */
    p = put("sts.jsonl", "{\"text\": \"a\", \"text_pair\": \"b\", \"label\": 3.25}\n");
    o = (task_data_options){.glue = stsb};
    assert_int_equal(task_data_read(p, &o, &ds), ADAPT_OK);
    assert_int_equal(ds.kind, DATASET_REGRESSION);
    assert_true(ds.examples[0].target == 3.25);
    dataset_free(&ds);
    o = (task_data_options){.glue = tsv, .regression = true};
    assert_int_equal(task_data_read(p, &o, &ds), ADAPT_OK);
    assert_int_equal(ds.kind, DATASET_REGRESSION);
    dataset_free(&ds);
    o = (task_data_options){.glue = sst2, .regression = true};
    refused(p, &o, ADAPT_ERR_ARG, "regression targets need task tsv");
    /* the records must be the task's kind */
    p = put("tags.jsonl", "{\"tokens\": [\"EU\", \"rejects\"], \"tags\": [\"B-ORG\", \"O\"]}\n");
    o = (task_data_options){.glue = sst2};
    refused(p, &o, ADAPT_ERR_FORMAT, "tags.jsonl:1: a \"tokens\" record, but task SST-2 needs \"text\" / \"label\" records");
    o = (task_data_options){.glue = NULL};
    refused(at("sst.jsonl"), &o, ADAPT_ERR_FORMAT, "sst.jsonl:1: a \"text\" record, but task ner needs \"tokens\" / \"tags\" records");
    /* tagging records, given labels, and unlabelled (prediction) input that ignores the tags */
    const char *const labels[] = {"O", "B-ORG", "I-ORG"};
    o = (task_data_options){.glue = NULL, .labels = labels, .n_labels = 3};
    assert_int_equal(task_data_read(p, &o, &ds), ADAPT_OK);
    assert_int_equal(ds.examples[0].tag_ids[0], 1);
    dataset_free(&ds);
    p = put("words.jsonl", "{\"tokens\": [\"Lima\", \"llaqta\"]}\n");
    o = (task_data_options){.glue = NULL, .unlabeled = true};
    assert_int_equal(task_data_read(p, &o, &ds), ADAPT_OK);
    assert_int_equal(ds.examples[0].n_tokens, 2);
    dataset_free(&ds);
    /* a format the task cannot read */
    o = (task_data_options){.glue = NULL, .format = DATA_FORMAT_TSV};
    refused(at("x.tsv"), &o, ADAPT_ERR_ARG, "task ner reads CoNLL or JSON Lines files, not TSV");
    o = (task_data_options){.glue = sst2, .format = DATA_FORMAT_CONLL};
    refused(at("x.conll"), &o, ADAPT_ERR_ARG, "task SST-2 reads TSV or JSON Lines files, not CoNLL");
    /* --format jsonl reads a file of any name; hostile content names file:line */
    p = put("data.txt", "{\"text\": \"fine\", \"label\": 1}\n{\"text\": \"odd\", \"label\": 0} trailing\n");
    o = (task_data_options){.glue = sst2, .format = DATA_FORMAT_JSONL};
    refused(p, &o, ADAPT_ERR_FORMAT, "data.txt:2: unexpected text after the JSON object");
    p = put("bad.jsonl", "{\"tokens\": \"EU rejects\", \"tags\": [\"O\"]}\n");
    o = (task_data_options){.glue = NULL};
    refused(p, &o, ADAPT_ERR_FORMAT, "bad.jsonl:1: \"tokens\" must be an array of strings");
}

/* ------------------------------------------------------------------ adapt train / eval / predict */
/* Writes a dataset as JSON Lines records, the way a user would convert it. */
static void write_jsonl(const dataset *ds, const char *path)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (size_t i = 0; i < ds->n; i++) {
        const data_example *e = &ds->examples[i];
        cJSON *rec = cJSON_CreateObject();
        if (ds->kind == DATASET_TAGGING) {
            cJSON_AddItemToObject(rec, "tokens", cJSON_CreateStringArray(e->tokens, (int)e->n_tokens));
            cJSON_AddItemToObject(rec, "tags", cJSON_CreateStringArray(e->tags, (int)e->n_tokens));
        } else {
            cJSON_AddStringToObject(rec, "text", e->text);
            if (e->text_pair) cJSON_AddStringToObject(rec, "text_pair", e->text_pair);
            cJSON_AddStringToObject(rec, "label", e->label_name);
        }
        char *text = cJSON_PrintUnformatted(rec);
        fprintf(fp, "%s\n", text);
        free(text);
        cJSON_Delete(rec);
    }
    fclose(fp);
}

static void convert(const char *from, const glue_task *task, const char *to)
{
    dataset ds;
    task_data_options o = {.glue = task};
    assert_int_equal(task_data_read(at(from), &o, &ds), ADAPT_OK);
    write_jsonl(&ds, at(to));
    dataset_free(&ds);
}

static int setup(void **state)
{
    test_tmp_setup(state);
    const char *S = shared_dir();
    if (run_command("cd '%s' && awk 'BEGIN{RS=\"\"; ORS=\"\\n\\n\"} NR<=40' '%s/data/ner/wikiann-en/train.conll' > train.conll && "
                    "awk 'BEGIN{RS=\"\"; ORS=\"\\n\\n\"} NR<=20' '%s/data/ner/wikiann-en/dev.conll' > dev.conll && "
                    "head -n 41 '%s/data/glue/RTE/train.tsv' > rte_train.tsv && head -n 21 '%s/data/glue/RTE/dev.tsv' > rte_dev.tsv",
                    test_tmp, S, S, S, S))
        return -1;
    return make_tiny_roberta(test_tmp, false) ? -1 : 0;
}

#define COMMON "--max-steps 6 --batch-size 4 --max-length 64 --lr 5e-3 --eval-every 3 --quiet"

static void test_jsonl_trains_as_conll(void **state)
{
    (void)state;
    convert("train.conll", NULL, "train.jsonl");
    convert("dev.conll", NULL, "dev.jsonl");
    assert_int_equal(adapt("train --task ner --model base --train train.conll --dev dev.conll --output ner_c " COMMON), 0);
    assert_int_equal(adapt("train --task ner --model base --train train.jsonl --dev dev.jsonl --output ner_j " COMMON), 0);
    assert_int_equal(run_command("cmp -s '%s' '%s'", at("ner_c/losses.tsv"), at("ner_j/losses.tsv")), 0);
    double best = json_file_number(at("ner_j/summary.json"), "best_dev_metric");
    assert_true(best == json_file_number(at("ner_c/summary.json"), "best_dev_metric"));
    /* eval on either copy of the dev set */
    assert_int_equal(adapt("eval --model base --load-adapter ner_j/best/ner --data dev.jsonl --max-length 64 --json j.json"), 0);
    assert_int_equal(adapt("eval --model base --load-adapter ner_j/best/ner --data dev.conll --max-length 64 --json c.json"), 0);
    assert_true(json_file_number(at("j.json"), "value") == json_file_number(at("c.json"), "value"));
    assert_true(fabs(json_file_number(at("j.json"), "value") - best) < 0.01);
    /* predict: CoNLL in and out, JSON Lines in and out (read back: the same tags) */
    assert_int_equal(adapt("predict --model base --load-adapter ner_j/best/ner --input dev.conll --output p.conll --max-length 64"), 0);
    assert_int_equal(adapt("predict --model base --load-adapter ner_j/best/ner --input dev.jsonl --output p.jsonl --max-length 64"), 0);
    dataset a, b;
    conll_options co = {.scheme = CONLL_PLAIN};
    task_data_options jo = {.glue = NULL};
    assert_int_equal(conll_read(at("p.conll"), &co, &a), ADAPT_OK);
    assert_int_equal(task_data_read(at("p.jsonl"), &jo, &b), ADAPT_OK);
    assert_int_equal(a.n, 20);
    assert_int_equal(b.n, 20);
    for (size_t i = 0; i < a.n; i++) {
        assert_int_equal(a.examples[i].n_tokens, b.examples[i].n_tokens);
        for (size_t w = 0; w < a.examples[i].n_tokens; w++) assert_string_equal(a.examples[i].tags[w], b.examples[i].tags[w]);
    }
    dataset_free(&a);
    dataset_free(&b);
}

static void test_jsonl_trains_as_tsv(void **state)
{
    (void)state;
    const glue_task *rte = glue_task_find("rte");
    convert("rte_train.tsv", rte, "rte_train.jsonl");
    convert("rte_dev.tsv", rte, "rte_dev.jsonl");
    assert_int_equal(run_command("cp '%s' '%s'", at("rte_train.jsonl"), at("rte_train.txt")), 0);
    assert_int_equal(adapt("train --task rte --model base --train rte_train.tsv --dev rte_dev.tsv --output rte_t " COMMON), 0);
    assert_int_equal(adapt("train --task rte --model base --train rte_train.txt --format jsonl --dev rte_dev.jsonl --output rte_j " COMMON), 0);
    assert_int_equal(run_command("cmp -s '%s' '%s'", at("rte_t/losses.tsv"), at("rte_j/losses.tsv")), 0);
    assert_int_equal(adapt("eval --model base --load-adapter rte_j/best/rte --data rte_dev.jsonl --max-length 64 --json e.json"), 0);
    assert_true(fabs(json_file_number(at("e.json"), "value") - json_file_number(at("rte_t/summary.json"), "best_dev_metric")) < 0.01);
    assert_true(json_file_number(at("e.json"), "examples") == 20);
    /* predicted labels as JSON Lines read back as RTE data; as TSV in GLUE's submission layout */
    assert_int_equal(adapt("predict --model base --load-adapter rte_j/best/rte --input rte_dev.jsonl --output p.jsonl --max-length 64"), 0);
    dataset ds;
    task_data_options o = {.glue = rte};
    assert_int_equal(task_data_read(at("p.jsonl"), &o, &ds), ADAPT_OK);
    assert_int_equal(ds.n, 20);
    assert_non_null(ds.examples[19].text_pair);
    dataset_free(&ds);
    assert_int_equal(adapt("predict --model base --load-adapter rte_j/best/rte --input rte_dev.tsv --output p.tsv --max-length 64"), 0);
    assert_int_equal(run_command("test $(wc -l < '%s') -eq 21 && grep -Eqx '19\t(entailment|not_entailment)' '%s'", at("p.tsv"), at("p.tsv")), 0);
}

static void test_hostile_jsonl_cli(void **state)
{
    (void)state;
    put("broken.jsonl", "{\"tokens\": [\"a\"], \"tags\": [\"O\"]}\n{\"tokens\": [\"b\"], \"tags\": [\"O\"\n");
    assert_int_equal(adapt("train --task ner --model base --train broken.jsonl --output x " COMMON), 1);
    assert_log_says(test_tmp, "broken.jsonl:2: malformed JSON");
    put("unknown_tag.jsonl", "{\"tokens\": [\"a\", \"b\"], \"tags\": [\"O\", \"B-DATE\"]}\n");
    assert_int_equal(adapt("train --task ner --model base --train train.jsonl --dev unknown_tag.jsonl --output x " COMMON), 1);
    assert_log_says(test_tmp, "unknown_tag.jsonl:1");
    assert_int_equal(adapt("train --task ner --model base --train rte_train.jsonl --output x " COMMON), 1);
    assert_log_says(test_tmp, "rte_train.jsonl:1: a \"text\" record, but task ner needs");
    assert_int_equal(adapt("eval --model base --load-adapter rte_j/best/rte --data dev.jsonl --task rte"), 1);
    assert_log_says(test_tmp, "dev.jsonl:1: a \"tokens\" record, but task RTE needs \"text\" / \"label\" records");
    assert_int_equal(adapt("predict --model base --load-adapter ner_j/best/ner --input rte_dev.jsonl --output q.jsonl"), 1);
    assert_log_says(test_tmp, "rte_dev.jsonl:1: a \"text\" record, but task ner needs");
    assert_int_equal(run_command("test ! -e '%s'", at("q.jsonl")), 0); /* nothing half-written */
    assert_int_equal(adapt("train --task ner --model base --train train.jsonl --format xml --output x"), 2);
    assert_log_says(test_tmp, "unknown data format \"xml\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_names),
        cmocka_unit_test(test_plain_text_input),
        cmocka_unit_test(test_task_data_read),
        cmocka_unit_test(test_jsonl_trains_as_conll),
        cmocka_unit_test(test_jsonl_trains_as_tsv),
        cmocka_unit_test(test_hostile_jsonl_cli),
    };
    return cmocka_run_group_tests_name("JSON Lines task data", tests, setup, test_tmp_teardown);
}
