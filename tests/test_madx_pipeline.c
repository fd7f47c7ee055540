/* The MAD-X pipeline end to end on a tiny model and tiny data, through the command line:
 * tokenizer training, a random model, English and Quechua language adapters (MLM, invertible
 * adapters), an NER task adapter trained in Stack(en, ner) (and with a second file through
 * Stack(qu, ner)), zero-shot tagging with Stack(qu, ner),
 * and the demo command on the result. */
#include "adapters/setup.h"
#include "formats/adapterhub.h"
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *tmp;

/* A file in this test's scratch folder. */
static const char *at(const char *rel) { return path_in(tmp, rel); }

static int adapt(const char *args)
{
    return run_command("cd '%s' && '%s/%s' %s > last.log 2>&1", tmp, getenv("PWD") ? getenv("PWD") : ".", build_path("adapt"), args);
}

static size_t count_lines(const char *path, bool non_empty_only)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[4096];
    size_t n = 0;
    while (fgets(line, sizeof line, fp))
        if (!non_empty_only || line[0] != '\n') n++;
    fclose(fp);
    return n;
}

static void test_pipeline(void **state)
{
    (void)state;
    tmp = make_temp_dir();
    /* tiny data: 300 lines of English and Quechua text, 60 + 30 WikiANN sentences */
    assert_int_equal(run_command("head -n 300 '%s' > '%s' && head -n 300 '%s' > '%s'", shared_path("data/text/en.txt"), at("en.txt"),
                                 shared_path("data/text/qu.txt"), at("qu.txt")), 0);
    assert_int_equal(run_command("awk 'BEGIN{RS=\"\"; ORS=\"\\n\\n\"} NR<=60' '%s' > '%s' && awk 'BEGIN{RS=\"\"; ORS=\"\\n\\n\"} NR<=30' '%s' > '%s'",
                                 shared_path("data/ner/wikiann-en/train.conll"), at("train.conll"),
                                 shared_path("data/ner/wikiann-en/dev.conll"), at("dev.conll")), 0);
    assert_int_equal(adapt("tokenizer train --type bpe --vocab-size 400 --output tok en.txt qu.txt"), 0);
    const char *cfg = "{\"model_type\": \"roberta\", \"architectures\": [\"RobertaForMaskedLM\"], \"hidden_size\": 32, "
                      "\"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"intermediate_size\": 64, \"vocab_size\": 400, "
                      "\"max_position_embeddings\": 66, \"type_vocab_size\": 1, \"pad_token_id\": 1, \"layer_norm_eps\": 1e-5, "
                      "\"hidden_act\": \"gelu\"}";
    write_file(at("config.json"), cfg, strlen(cfg));
    assert_int_equal(adapt("init-model --config config.json --tokenizer tok/tokenizer.json --output base"), 0);
    const char *lang = "--task mlm --model base --adapter-config 'seq_bn_inv[reduction_factor=2]' --max-steps 6 --batch-size 4 "
                       "--max-length 32 --lr 1e-3 --eval-every 3 --quiet";
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "train %s --train en.txt --output lang-en --name en", lang);
    assert_int_equal(adapt(cmd), 0);
    snprintf(cmd, sizeof cmd, "train %s --train qu.txt --output lang-qu --name qu", lang);
    assert_int_equal(adapt(cmd), 0);
    assert_int_equal(run_command("grep -q '\"metric\": \"mlm_loss\"' '%s'", at("lang-qu/summary.json")), 0);
    assert_int_equal(adapt("train --task ner --model base --train train.conll --dev dev.conll --output ner --name ner "
                           "--load-adapter lang-en/best/en --setup 'Stack(en, ner)' --max-steps 12 --batch-size 4 --max-length 48 "
                           "--lr 5e-3 --eval-every 6 --quiet"),
                     0);
    assert_int_equal(run_command("test -s '%s' && test -s '%s' && test -s '%s'", at("ner/best/ner/adapter.safetensors"),
                                 at("ner/best/ner/head_config.json"), at("ner/curve.svg")), 0);
    /* Only the task adapter and head trained: the English adapter is not in the task's folder. */
    assert_int_equal(run_command("grep -q 'adapters.en' '%s'", at("ner/best/ner/adapter.safetensors")), 1);

    /* two --train files, each through its own composition: with dev.conll's 7 batches against
     * train.conll's 15, the epoch opens with a train.conll batch, then a dev.conll one. So step 1
     * is the same whichever composition the first file has, and step 2 differs when the first
     * file goes through Stack(qu, ner) (a cycle of compositions by step would differ at step 1) */
    const char *routed = "train --task ner --model base --train dev.conll --train train.conll --load-adapter lang-en/best/en "
                         "--load-adapter lang-qu/best/qu --name ner --max-steps 3 --batch-size 4 --max-length 48 --lr 5e-3 --quiet";
    snprintf(cmd, sizeof cmd, "%s --setup 'Stack(en, ner);Stack(en, ner)' --output routed-en", routed);
    assert_int_equal(adapt(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s --setup 'Stack(qu, ner);Stack(en, ner)' --output routed-qu", routed);
    assert_int_equal(adapt(cmd), 0);
    assert_int_equal(run_command("cd '%s' && head -n 1 routed-en/losses.tsv > r1 && head -n 1 routed-qu/losses.tsv > r2 && cmp -s r1 r2 && "
                                 "sed -n 2p routed-en/losses.tsv > r1 && sed -n 2p routed-qu/losses.tsv > r2 && ! cmp -s r1 r2", tmp),
                     0);

    /* zero-shot: swap the Quechua language adapter in */
    assert_int_equal(adapt("predict --model base --load-adapter lang-en/best/en --load-adapter lang-qu/best/qu "
                           "--load-adapter ner/best/ner --setup 'Stack(qu, ner)' --input dev.conll --output pred.conll"),
                     0);
    assert_int_equal(count_lines(at("pred.conll"), true), count_lines(at("dev.conll"), true));
    assert_int_equal(count_lines(at("pred.conll"), false), count_lines(at("dev.conll"), false));
    assert_int_equal(run_command("awk -F'\\t' 'NF && (NF != 2 || $2 !~ /^(O|[BI]-(PER|ORG|LOC))$/) {bad=1} END {exit bad}' '%s'", at("pred.conll")), 0);

    /* --scores adds each tag's probability and changes no tag; raw text input is split into words */
    assert_int_equal(adapt("predict --model base --load-adapter lang-en/best/en --load-adapter lang-qu/best/qu "
                           "--load-adapter ner/best/ner --setup 'Stack(qu, ner)' --input dev.conll --output scored.conll --scores"),
                     0);
    assert_int_equal(run_command("cut -f1,2 '%s' | cmp -s - '%s'", at("scored.conll"), at("pred.conll")), 0);
    /* a probability (the chosen tag is the best valid IOB2 sequence's, not always the word's argmax) */
    assert_int_equal(run_command("awk -F'\t' 'NF && (NF != 3 || $3 <= 0 || $3 > 1) {bad=1} END {exit bad}' '%s'", at("scored.conll")), 0);
    /* and the sequence is valid IOB2: an I-X continues a B-X or I-X */
    assert_int_equal(run_command("awk -F'\t' 'NF == 0 {prev = \"O\"; next} $2 ~ /^I-/ && substr(prev, 3) != substr($2, 3) {bad=1} {prev = $2} "
                                 "END {exit bad}' '%s'",
                                 at("scored.conll")),
                     0);
    assert_int_equal(adapt("predict --model base --load-adapter lang-en/best/en --load-adapter lang-qu/best/qu "
                           "--load-adapter ner/best/ner --setup 'Stack(qu, ner)' --input qu.txt --format text --output qu.conll --scores"),
                     0);
    assert_int_equal(run_command("test $(grep -c '^$' '%s') -eq $(grep -c . '%s')", at("qu.conll"), at("qu.txt")), 0); /* a sentence a line */
    assert_int_equal(run_command("awk -F'\t' 'NF && NF != 3 {bad=1} END {exit bad}' '%s'", at("qu.conll")), 0);
    assert_int_not_equal(adapt("train --task ner --model base --train qu.txt --format text --output bad --max-steps 1 --quiet"), 0);

    /* Self-training (scripts/madx-self-train.sh) from given teacher tags: lower-case words leave
     * entities, a sentence's first word keeps its tag only when the text capitalises it elsewhere
     * (Perú yes, Warmikuna no: "warmikuna" below) or, never written lower-case, when the teacher
     * puts it in the name after it (Juan, never seen: "Juan Pérez"), a sentence with an unsure
     * entity word is dropped, entity-free sentences are kept as many as those with entities. */
    static const char teacher[] =
        "Chaypim\tO\t0.9\nPerú\tB-LOC\t0.95\nsuyu\tO\t0.9\nkan\tO\t0.9\n.\tO\t0.99\n\n"
        "Perú\tB-LOC\t0.9\nmama\tI-LOC\t0.9\nllaqtapi\tI-LOC\t0.9\nLima\tB-LOC\t0.9\nhatun\tO\t0.9\n.\tO\t0.9\n\n"
        "Warmikuna\tB-LOC\t0.95\nhatun\tO\t0.9\nllaqtapi\tO\t0.9\ntiyanku\tO\t0.9\n.\tO\t0.9\n\n"
        "Kaypi\tO\t0.9\nwarmikuna\tO\t0.9\ntiyanku\tO\t0.9\nQusqupi\tB-LOC\t0.8\n.\tO\t0.9\n\n"
        "Chaypi\tO\t0.9\nArequipa\tB-LOC\t0.5\nllaqta\tO\t0.9\nkan\tO\t0.9\n.\tO\t0.9\n\n"
        "Juan\tB-PER\t0.9\nPérez\tI-PER\t0.9\nsutiyuq\tO\t0.9\nruna\tO\t0.9\n.\tO\t0.9\n\n";
    static const char silver[] =
        "Chaypim\tO\nPerú\tB-LOC\nsuyu\tO\nkan\tO\n.\tO\n\n"
        "Perú\tB-LOC\nmama\tO\nllaqtapi\tO\nLima\tB-LOC\nhatun\tO\n.\tO\n\n"
        "Kaypi\tO\nwarmikuna\tO\ntiyanku\tO\nQusqupi\tB-LOC\n.\tO\n\n"
        "Juan\tB-PER\nPérez\tI-PER\nsutiyuq\tO\nruna\tO\n.\tO\n\n"
        "Warmikuna\tO\nhatun\tO\nllaqtapi\tO\ntiyanku\tO\n.\tO\n\n";
    assert_int_equal(run_command("cd '%s' && mkdir -p st teacher && cp -r lang-en/best/en lang-qu/best/qu ner/best/ner teacher/", tmp), 0);
    write_file(at("st/qu-teacher.conll"), teacher, sizeof teacher - 1);
    write_file(at("st/silver-expected.conll"), silver, sizeof silver - 1);
    char st[4096];
    snprintf(st, sizeof st,
             "SELF_TRAIN_REUSE_TAGS=1 SELF_TRAIN_WORK='%s' SELF_TRAIN_ADAPTERS='%s' SELF_TRAIN_MODEL='%s' SELF_TRAIN_SECONDS=4 "
             "SELF_TRAIN_MAX_LENGTH=48 SELF_TRAIN_BATCH=4 SELF_TRAIN_EVAL_EXAMPLES=20 HELD_OUT=20 MADX_QU='%s' MADX_NER_TRAIN='%s' MADX_NER_DEV='%s' "
             "ADAPT=\"$PWD/%s\" bash scripts/madx-self-train.sh > '%s' 2>&1",
             at("st"), at("teacher"), at("base"), at("qu.txt"), at("train.conll"), at("dev.conll"), build_path("adapt"), at("st.log"));
    if (run_command("%s", st)) {
        run_command("cat '%s' >&2", at("st.log"));
        fail_msg("scripts/madx-self-train.sh failed");
    }
    assert_int_equal(run_command("cmp '%s' '%s' >&2", at("st/silver.conll"), at("st/silver-expected.conll")), 0);
    assert_int_equal(run_command("grep -q '^kept 4 of 4 sentences with entities and 1 of 1 without' '%s'", at("st.log")), 0);
    assert_int_equal(run_command("grep -Eq '^student, English dev, Stack\\(qu, ner\\): entity F1 [0-9]' '%s'", at("st.log")), 0);
    assert_int_equal(run_command("grep -Eq '^student, held-out Quechua: entities/sentence [0-9]+[.][0-9]{2}  mean tag probability (0[.][0-9]{3}|1[.]000)  "
                                 "entities starting lower-case [0-9]+[.][0-9]%%$' '%s'",
                                 at("st.log")),
                     0);
    assert_int_equal(run_command("test -s '%s'", at("st/ner/best/ner/adapter.safetensors")), 0);
    /* the silver Quechua, with a fragment opening with an entity of each of its 4 sentences with
     * entities, went through Stack(qu, ner), English (60 sentences) through Stack(en, ner) */
    assert_int_equal(run_command("grep -q '^with 9 sentences, fragments that open with an entity included' '%s'", at("st.log")), 0);
    assert_int_equal(run_command("grep -q 'English through Stack(en, ner), silver Quechua through Stack(qu, ner)' '%s' && "
                                 "grep -q '^train: 69 examples' '%s' && "
                                 "grep -Eq '^student, held-out Quechua: [0-9]+ of [1-9][0-9]* tags differ without the Quechua adapter' '%s'",
                                 at("st.log"), at("st.log"), at("st.log")),
                     0);

    /* Stack(qu, ner) runs Quechua's invertible adapter on the embeddings */
    adapt_model *m;
    assert_int_equal(adapt_model_load(at("base"), &m), ADAPT_OK);
    assert_int_equal(adapterhub_load_adapter(m, at("lang-qu/best/qu"), NULL, NULL, 0), ADAPT_OK);
    assert_int_equal(adapterhub_load_adapter(m, at("ner/best/ner"), NULL, NULL, 0), ADAPT_OK);
    assert_int_equal(setup_activate(m, "Stack(qu, ner)"), ADAPT_OK);
    assert_non_null(setup_invertible(m));
    assert_string_equal(setup_invertible(m)->name, "qu");
    assert_int_equal(setup_activate(m, "Stack(ner, qu)"), ADAPT_OK);
    assert_null(setup_invertible(m)); /* the task adapter has none */
    adapt_model_free(m);

    /* LoRA on the same data: merged-weight inference gives the same predictions as unmerged */
    assert_int_equal(adapt("train --task ner --model base --train train.conll --dev dev.conll --output lora --name ner --method lora "
                           "--lora-r 4 --lora-alpha 8 --max-steps 8 --batch-size 4 --max-length 48 --lr 5e-2 --eval-every 8 --quiet"),
                     0);
    assert_int_equal(adapt("predict --model base --lora lora/best/lora --input dev.conll --output lora-unmerged.conll"), 0);
    assert_int_equal(adapt("predict --model base --lora lora/best/lora --merge --input dev.conll --output lora-merged.conll"), 0);
    assert_int_equal(run_command("cmp -s '%s' '%s'", at("lora-unmerged.conll"), at("lora-merged.conll")), 0);
    assert_int_equal(count_lines(at("lora-merged.conll"), true), count_lines(at("dev.conll"), true));

    /* the demo on this home folder */
    assert_int_equal(run_command("cd '%s' && mkdir -p home/models/adapters home/models/demo && cp -r base home/models/default && "
                                 "cp -r lang-en/best/en lang-qu/best/qu ner/best/ner home/models/adapters/ && "
                                 "printf 'Javier Sologuren 1920 watapi Limapi paqarisqa.\\n' > home/models/demo/quechua.txt", tmp), 0);
    assert_int_equal(run_command("cd '%s' && ADAPT_HOME='%s' '%s/%s' demo quechua-ner > demo.out 2>&1", tmp, at("home"),
                                 getenv("PWD") ? getenv("PWD") : ".", build_path("adapt")), 0);
    assert_int_equal(run_command("grep -q 'Sologuren' '%s' && grep -q 'Stack(qu, ner)' '%s'", at("demo.out"), at("demo.out")), 0);
    remove_tree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_pipeline)};
    return cmocka_run_group_tests_name("MAD-X pipeline", tests, NULL, NULL);
}
