/* The library as its users see it: only adapt.h's functions are under test (the fixtures' inputs and
 * references are read with the internal safetensors reader). Adapters, fusions, LoRA and heads
 * loaded from the shared cases' AdapterHub / PEFT folders must give the reference logits and
 * hidden states; a mixed batch (each row its own composition) must give what each composition
 * gives alone; the tagger must tag the shipped demo sentence as `adapt demo` does. */
#include "case_batch.h"
#include "formats/safetensors.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef case_batch batch;

/* The fixtures' rule for a forward tensor: ||a - e|| <= 1e-5 ||e|| + 1e-6 sqrt(n). */
static void assert_matches_reference(const char *case_name, const char *tensor, const float *actual, size_t n)
{
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/cases/%s/expected.safetensors", case_name);
    st_file f;
    if (st_open(shared_path(rel), &f)) fail_msg("%s", adapt_error());
    const st_tensor *t = st_find(&f, tensor);
    assert_non_null(t);
    assert_int_equal(t->numel, n);
    float *expected = malloc(n * sizeof *expected);
    assert_non_null(expected);
    assert_int_equal(st_to_f32(&f, t, expected), ADAPT_OK);
    double diff = 0, norm = 0;
    for (size_t i = 0; i < n; i++) {
        diff += ((double)actual[i] - expected[i]) * ((double)actual[i] - expected[i]);
        norm += (double)expected[i] * expected[i];
    }
    if (!(sqrt(diff) <= 1e-5 * sqrt(norm) + 1e-6 * sqrt((double)n)))
        fail_msg("%s %s: ||a - e|| = %g, ||e|| = %g", case_name, tensor, sqrt(diff), sqrt(norm));
    free(expected);
    st_close(&f);
}

static double max_abs_difference(const float *a, const float *b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
    return worst;
}

static adapt_model *load_model(const char *name)
{
    char rel[128];
    snprintf(rel, sizeof rel, "fixtures/models/%s", name);
    adapt_model *m = NULL;
    if (adapt_model_load(shared_path(rel), &m)) fail_msg("%s", adapt_error());
    return m;
}

static const char *case_folder(const char *case_name, const char *folder)
{
    static char buf[4][1024];
    static int k;
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/cases/%s/%s", case_name, folder);
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s", shared_path(rel));
    return buf[k];
}

static void load_adapter(adapt_model *m, const char *case_name, const char *folder, const char *load_as)
{
    char name[64];
    if (adapt_model_load_adapter(m, case_folder(case_name, folder), load_as, name, sizeof name))
        fail_msg("%s", adapt_error());
}

static int hidden_size(const adapt_model *m)
{
    adapt_model_info info;
    adapt_model_get_info(m, &info);
    return info.hidden_size;
}

/* c07: Stack(qu, ner) with the NICE invertible adapter of qu, a tagging head. */
static void test_stack_and_tagging_head(void **state)
{
    (void)state;
    const char *c = "c07_madx_stack_tagging";
    adapt_model *m = load_model("tiny-xlmr");
    load_adapter(m, c, "adapter_qu", NULL);
    load_adapter(m, c, "adapter_ner", NULL);
    assert_int_equal(adapt_model_num_adapters(m), 2);
    assert_string_equal(adapt_model_adapter_name(m, 0), "qu");
    assert_string_equal(adapt_model_adapter_name(m, 1), "ner");
    assert_null(adapt_model_adapter_name(m, 2));
    adapt_head *head = NULL;
    if (adapt_head_load(m, case_folder(c, "adapter_ner"), NULL, &head)) fail_msg("%s", adapt_error());
    assert_int_equal(adapt_head_get_kind(head), ADAPT_HEAD_TAGGING);
    assert_int_equal(adapt_head_num_labels(head), 7);
    assert_non_null(adapt_head_label(head, 6));
    assert_null(adapt_head_label(head, 7));

    assert_int_equal(adapt_model_set_setup(m, " stack(qu,ner) "), ADAPT_OK);
    char text[64];
    assert_int_equal(adapt_model_get_setup(m, text, sizeof text), strlen("Stack(qu, ner)"));
    assert_string_equal(text, "Stack(qu, ner)");
    batch b = case_batch_read(c, 0);
    size_t cells = (size_t)b.B * b.T;
    float *logits = malloc(cells * 7 * sizeof *logits), *hidden = malloc(cells * hidden_size(m) * sizeof *hidden);
    assert_int_equal(adapt_head_logits(head, b.B, b.T, b.ids, b.mask, b.type_ids, logits), ADAPT_OK);
    assert_matches_reference(c, "logits", logits, cells * 7);
    assert_int_equal(adapt_model_encode(m, b.B, b.T, b.ids, b.mask, b.type_ids, hidden, NULL), ADAPT_OK);
    assert_matches_reference(c, "hidden_states.2", hidden, cells * hidden_size(m));
    /* the head on those hidden states is the same computation */
    float *again = malloc(cells * 7 * sizeof *again);
    assert_int_equal(adapt_head_logits_from_hidden(head, b.B, b.T, hidden, again), ADAPT_OK);
    assert_true(max_abs_difference(logits, again, cells * 7) < 1e-6);
    /* without the language adapter the model computes something else */
    assert_int_equal(adapt_model_set_setup(m, "ner"), ADAPT_OK);
    assert_int_equal(adapt_head_logits(head, b.B, b.T, b.ids, b.mask, b.type_ids, again), ADAPT_OK);
    assert_true(max_abs_difference(logits, again, cells * 7) > 1e-3);

    /* refusals name the problem */
    assert_int_equal(adapt_model_set_setup(m, "Stack(qu, pos)"), ADAPT_ERR_ARG);
    assert_non_null(strstr(adapt_error(), "\"pos\""));
    assert_int_equal(adapt_model_get_setup(m, text, sizeof text), strlen("ner")); /* unchanged by the refusal */
    assert_int_equal(adapt_model_set_setup(m, "Parallel(qu, ner)"), ADAPT_OK);
    assert_int_equal(adapt_model_encode(m, b.B, b.T, b.ids, b.mask, b.type_ids, hidden, NULL), ADAPT_ERR_UNSUPPORTED);
    assert_non_null(strstr(adapt_error(), "adapt_model_encode_channels"));
    assert_int_equal(adapt_head_logits(head, b.B, b.T, b.ids, b.mask, b.type_ids, again), ADAPT_ERR_UNSUPPORTED);
    adapt_head *twice = NULL;
    assert_int_equal(adapt_head_load(m, case_folder(c, "adapter_ner"), NULL, &twice), ADAPT_ERR_ARG);
    assert_null(twice);
    assert_int_equal(adapt_model_load_adapter(m, case_folder(c, "adapter_ner"), NULL, NULL, 0), ADAPT_ERR_ARG);
    assert_int_not_equal(adapt_model_load_adapter(m, case_folder(c, "no_such_folder"), "x", NULL, 0), ADAPT_OK);
    assert_non_null(strstr(adapt_error(), "no_such_folder"));
    assert_int_equal(adapt_model_num_adapters(m), 2);

    free(again);
    free(logits);
    free(hidden);
    case_batch_free(&b);
    adapt_model_free(m); /* the head handle outlives its model: freeing it after is fine */
    adapt_head_free(head);
}

/* c04: Houlsby adapters and a classification head on the first token. */
static void test_classification_head(void **state)
{
    (void)state;
    const char *c = "c04_double_seq_bn_classification";
    adapt_model *m = load_model("tiny-bert");
    load_adapter(m, c, "adapter_cls", NULL);
    adapt_head *head = NULL;
    if (adapt_head_load(m, case_folder(c, "adapter_cls"), NULL, &head)) fail_msg("%s", adapt_error());
    assert_int_equal(adapt_head_get_kind(head), ADAPT_HEAD_CLASSIFICATION);
    assert_int_equal(adapt_head_num_labels(head), 3);
    assert_int_equal(adapt_model_set_setup(m, "cls"), ADAPT_OK);
    batch b = case_batch_read(c, 0);
    float logits[3 * 3], again[3 * 3];
    assert_int_equal(b.B, 3);
    assert_int_equal(adapt_head_logits(head, b.B, b.T, b.ids, b.mask, b.type_ids, logits), ADAPT_OK);
    assert_matches_reference(c, "logits", logits, 9);
    float *hidden = malloc((size_t)b.B * b.T * hidden_size(m) * sizeof *hidden);
    assert_int_equal(adapt_model_encode(m, b.B, b.T, b.ids, b.mask, b.type_ids, hidden, NULL), ADAPT_OK);
    assert_int_equal(adapt_head_logits_from_hidden(head, b.B, b.T, hidden, again), ADAPT_OK);
    assert_true(max_abs_difference(logits, again, 9) < 1e-5);
    free(hidden);
    case_batch_free(&b);
    adapt_head_free(head);
    adapt_model_free(m);
}

/* c08: AdapterFusion over three adapters. */
static void test_fusion(void **state)
{
    (void)state;
    const char *c = "c08_fusion";
    adapt_model *m = load_model("tiny-bert");
    load_adapter(m, c, "adapter_a", NULL);
    load_adapter(m, c, "adapter_b", NULL);
    assert_int_equal(adapt_model_load_fusion(m, case_folder(c, "fusion")), ADAPT_ERR_ARG); /* c is missing */
    load_adapter(m, c, "adapter_c", NULL);
    if (adapt_model_load_fusion(m, case_folder(c, "fusion"))) fail_msg("%s", adapt_error());
    adapt_head *head = NULL;
    if (adapt_head_load(m, case_folder(c, "fusion"), NULL, &head)) fail_msg("%s", adapt_error());
    assert_int_equal(adapt_model_set_setup(m, "Fuse(a, b, c)"), ADAPT_OK);
    batch b = case_batch_read(c, 0);
    float logits[3 * 2];
    assert_int_equal(adapt_head_logits(head, b.B, b.T, b.ids, b.mask, b.type_ids, logits), ADAPT_OK);
    assert_matches_reference(c, "logits", logits, 6);
    assert_int_equal(adapt_model_delete_adapter(m, "a"), ADAPT_ERR_ARG); /* the fusion holds it */
    case_batch_free(&b);
    adapt_head_free(head);
    adapt_model_free(m);
}

/* c10: PEFT LoRA on query / value; merged, the same hidden states; unmerged, back. */
static void test_lora(void **state)
{
    (void)state;
    const char *c = "c10_lora_tagging";
    adapt_model *m = load_model("tiny-bert");
    batch b = case_batch_read(c, 0);
    size_t n = (size_t)b.B * b.T * hidden_size(m);
    float *plain = malloc(n * sizeof *plain), *lora = malloc(n * sizeof *lora), *merged = malloc(n * sizeof *merged);
    assert_int_equal(adapt_model_merge_lora(m), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_encode(m, b.B, b.T, b.ids, b.mask, b.type_ids, plain, NULL), ADAPT_OK);
    if (adapt_model_load_lora(m, case_folder(c, "lora"))) fail_msg("%s", adapt_error());
    assert_int_equal(adapt_model_encode(m, b.B, b.T, b.ids, b.mask, b.type_ids, lora, NULL), ADAPT_OK);
    assert_matches_reference(c, "hidden_states.2", lora, n);
    assert_int_equal(adapt_model_merge_lora(m), ADAPT_OK);
    assert_int_equal(adapt_model_encode(m, b.B, b.T, b.ids, b.mask, b.type_ids, merged, NULL), ADAPT_OK);
    assert_matches_reference(c, "hidden_states.2", merged, n);
    assert_int_equal(adapt_model_unmerge_lora(m), ADAPT_OK);
    assert_int_equal(adapt_model_encode(m, b.B, b.T, b.ids, b.mask, b.type_ids, merged, NULL), ADAPT_OK);
    assert_true(max_abs_difference(lora, merged, n) < 1e-5);
    assert_true(max_abs_difference(plain, lora, n) > 1e-3);
    assert_int_not_equal(adapt_model_load_lora(m, case_folder(c, "lora")), ADAPT_OK); /* the name "default" is taken */
    free(plain);
    free(lora);
    free(merged);
    case_batch_free(&b);
    adapt_model_free(m);
}

/* Each row of `b` under setups[row], compared with the same rows under their composition alone. */
static void assert_mixed_equals_separate(adapt_model *m, const batch *b, const char *const *setups)
{
    size_t row = (size_t)b->T * hidden_size(m);
    float *mixed = malloc(b->B * row * sizeof *mixed), *alone = malloc(b->B * row * sizeof *alone);
    char before[128], after[128];
    adapt_model_get_setup(m, before, sizeof before);
    if (adapt_model_encode_mixed(m, b->B, b->T, b->ids, b->mask, b->type_ids, setups, mixed)) fail_msg("%s", adapt_error());
    adapt_model_get_setup(m, after, sizeof after);
    assert_string_equal(before, after);
    for (int r = 0; r < b->B; r++) {
        assert_int_equal(adapt_model_set_setup(m, setups[r]), ADAPT_OK);
        assert_int_equal(adapt_model_encode(m, b->B, b->T, b->ids, b->mask, b->type_ids, alone, NULL), ADAPT_OK);
        double d = max_abs_difference(mixed + r * row, alone + r * row, row);
        if (d > 1e-5) fail_msg("row %d under %s: %g from the composition alone", r, setups[r], d);
    }
    assert_int_equal(adapt_model_set_setup(m, before), ADAPT_OK);
    free(mixed);
    free(alone);
}

/* tiny-bert with c12's adapters x and y, and x's tagging head. */
static adapt_model *c12_model(adapt_head **head)
{
    adapt_model *m = load_model("tiny-bert");
    load_adapter(m, "c12_batch_split", "adapter_x", NULL);
    load_adapter(m, "c12_batch_split", "adapter_y", NULL);
    if (adapt_head_load(m, case_folder("c12_batch_split", "adapter_x"), NULL, head)) fail_msg("%s", adapt_error());
    return m;
}

/* c12's reference is BatchSplit(x, y, batch_sizes=[2, 1]): the mixed batch x, x, y is that; other
 * orders, Stacks and different invertible adapters give each row what its composition gives alone. */
static void test_mixed_batch(void **state)
{
    (void)state;
    const char *c = "c12_batch_split";
    adapt_head *head = NULL;
    adapt_model *m = c12_model(&head);
    batch b = case_batch_read(c, 0);
    size_t cells = (size_t)b.B * b.T;
    float *hidden = malloc(cells * hidden_size(m) * sizeof *hidden), *logits = malloc(cells * 3 * sizeof *logits);
    const char *x_x_y[] = {"x", "x", "y"};
    assert_int_equal(adapt_model_encode_mixed(m, b.B, b.T, b.ids, b.mask, b.type_ids, x_x_y, hidden), ADAPT_OK);
    assert_matches_reference(c, "hidden_states.2", hidden, cells * hidden_size(m));
    assert_int_equal(adapt_head_logits_from_hidden(head, b.B, b.T, hidden, logits), ADAPT_OK);
    assert_matches_reference(c, "logits", logits, cells * 3);
    const char *y_x_y[] = {"y", "x", "Stack(y)"};
    assert_mixed_equals_separate(m, &b, y_x_y);
    const char *stacks[] = {"Stack(x, y)", "y", "Stack(y, x)"};
    assert_mixed_equals_separate(m, &b, stacks);
    const char *bad[] = {"x", NULL, "y"};
    assert_int_equal(adapt_model_encode_mixed(m, b.B, b.T, b.ids, b.mask, b.type_ids, bad, hidden), ADAPT_ERR_ARG);
    assert_non_null(strstr(adapt_error(), "row 1"));
    const char *unknown[] = {"x", "y", "Stack(x, z)"};
    assert_int_equal(adapt_model_encode_mixed(m, b.B, b.T, b.ids, b.mask, b.type_ids, unknown, hidden), ADAPT_ERR_ARG);
    assert_non_null(strstr(adapt_error(), "\"z\""));
    free(hidden);
    free(logits);
    case_batch_free(&b);
    adapt_head_free(head);
    adapt_model_free(m);

    /* tiny-xlmr: qu (c07) and qu2 (c06) carry different invertible adapters, ner none */
    c = "c07_madx_stack_tagging";
    m = load_model("tiny-xlmr");
    load_adapter(m, c, "adapter_qu", NULL);
    load_adapter(m, c, "adapter_ner", NULL);
    load_adapter(m, "c06_madx_lang_adapter_mlm", "adapter_qu", "qu2");
    assert_int_equal(adapt_model_set_setup(m, "ner"), ADAPT_OK);
    b = case_batch_read(c, 0);
    const char *three_languages[] = {"Stack(qu2, ner)", "ner", "Stack(qu, ner)"};
    assert_mixed_equals_separate(m, &b, three_languages);
    case_batch_free(&b);
    adapt_model_free(m);
}

/* Parallel: the batch through each channel in one pass, channel c as its adapter alone; a head per
 * channel on its slice. (A Stack child would not be its Stack alone: AdapterHub's Parallel runs its
 * first adapter's pre-forward over every channel first, as BatchSplit does; see test_mixed_batch.) */
static void test_parallel_channels(void **state)
{
    (void)state;
    const char *c = "c12_batch_split";
    adapt_head *head = NULL;
    adapt_model *m = c12_model(&head);
    batch b = case_batch_read(c, 0);
    size_t one = (size_t)b.B * b.T * hidden_size(m);
    float *channels = malloc(2 * one * sizeof *channels), *alone = malloc(one * sizeof *alone);
    assert_int_equal(adapt_model_setup_channels(m), 1);
    assert_int_equal(adapt_model_set_setup(m, "Parallel(x, y)"), ADAPT_OK);
    assert_int_equal(adapt_model_setup_channels(m), 2);
    if (adapt_model_encode_channels(m, b.B, b.T, b.ids, b.mask, b.type_ids, channels)) fail_msg("%s", adapt_error());
    const char *each[] = {"x", "y"};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(adapt_model_set_setup(m, each[k]), ADAPT_OK);
        assert_int_equal(adapt_model_encode(m, b.B, b.T, b.ids, b.mask, b.type_ids, alone, NULL), ADAPT_OK);
        double d = max_abs_difference(channels + k * one, alone, one);
        if (d > 1e-5) fail_msg("channel %d: %g from %s alone", k, d, each[k]);
    }
    /* channel 0 is x, the composition c12's head was trained with: its logits are x's */
    float *logits = malloc((size_t)b.B * b.T * 3 * sizeof *logits), *direct = malloc((size_t)b.B * b.T * 3 * sizeof *direct);
    assert_int_equal(adapt_head_logits_from_hidden(head, b.B, b.T, channels, logits), ADAPT_OK);
    assert_int_equal(adapt_model_set_setup(m, "x"), ADAPT_OK);
    assert_int_equal(adapt_head_logits(head, b.B, b.T, b.ids, b.mask, b.type_ids, direct), ADAPT_OK);
    assert_true(max_abs_difference(logits, direct, (size_t)b.B * b.T * 3) < 1e-5);
    free(logits);
    free(direct);
    free(channels);
    free(alone);
    case_batch_free(&b);
    adapt_head_free(head);
    adapt_model_free(m);
}

/* A new adapter starts as the identity (AdapterHub's init); saved and loaded elsewhere, it computes
 * the same; deleted, it is gone. */
static void test_add_save_delete(void **state)
{
    (void)state;
    adapt_model *m = load_model("tiny-bert"), *other = load_model("tiny-bert");
    batch b = case_batch_read("c04_double_seq_bn_classification", 0);
    size_t n = (size_t)b.B * b.T * hidden_size(m);
    float *plain = malloc(n * sizeof *plain), *with = malloc(n * sizeof *with), *loaded = malloc(n * sizeof *loaded);
    assert_int_equal(adapt_model_encode(m, b.B, b.T, b.ids, b.mask, b.type_ids, plain, NULL), ADAPT_OK);
    assert_int_equal(adapt_model_add_adapter(m, "new", "seq_bn[reduction_factor=4]", 3), ADAPT_OK);
    assert_int_equal(adapt_model_add_adapter(m, "new", "seq_bn", 3), ADAPT_ERR_ARG);
    assert_int_not_equal(adapt_model_add_adapter(m, "bad", "seq_bn[reduction_factor=zero]", 3), ADAPT_OK);
    assert_non_null(strstr(adapt_error(), "reduction_factor"));
    assert_int_equal(adapt_model_add_adapter(m, "zero_up", "seq_bn[init_weights=mam_adapter]", 3), ADAPT_OK);
    assert_int_equal(adapt_model_num_adapters(m), 2);
    assert_int_equal(adapt_model_set_setup(m, "zero_up"), ADAPT_OK);
    assert_int_equal(adapt_model_encode(m, b.B, b.T, b.ids, b.mask, b.type_ids, with, NULL), ADAPT_OK);
    assert_true(max_abs_difference(plain, with, n) < 1e-6);
    assert_int_equal(adapt_model_set_setup(m, "new"), ADAPT_OK);
    assert_int_equal(adapt_model_encode(m, b.B, b.T, b.ids, b.mask, b.type_ids, with, NULL), ADAPT_OK);
    double moved = max_abs_difference(plain, with, n);
    assert_true(moved > 0 && moved < 0.05); /* near identity */
    char *dir = make_temp_dir();
    const char *saved = path_in(dir, "new");
    if (adapt_model_save_adapter(m, "new", saved)) fail_msg("%s", adapt_error());
    char name[8];
    assert_int_equal(adapt_model_load_adapter(other, saved, NULL, name, sizeof name), ADAPT_OK);
    assert_string_equal(name, "new");
    assert_int_equal(adapt_model_set_setup(other, "new"), ADAPT_OK);
    assert_int_equal(adapt_model_encode(other, b.B, b.T, b.ids, b.mask, b.type_ids, loaded, NULL), ADAPT_OK);
    assert_true(max_abs_difference(with, loaded, n) == 0);
    assert_int_equal(adapt_model_delete_adapter(m, "new"), ADAPT_OK);
    assert_int_equal(adapt_model_num_adapters(m), 1);
    assert_int_equal(adapt_model_get_setup(m, name, sizeof name), 0);
    assert_int_equal(adapt_model_delete_adapter(m, "new"), ADAPT_ERR_ARG);
    remove_tree(dir);
    free(dir);
    free(plain);
    free(with);
    free(loaded);
    case_batch_free(&b);
    adapt_model_free(m);
    adapt_model_free(other);
}

/* The shipped model and adapters through the tagger: the demo's first sentence, with and without
 * the Quechua language adapter (docs/madx.md, "What the demo shows"). */
static void test_tagger_on_shipped_adapters(void **state)
{
    (void)state;
    const char *adapters[] = {"models/adapters/en", "models/adapters/qu", "models/adapters/ner"};
    adapt_tagger_options o = {.model_dir = "models/default", .adapters = adapters, .n_adapters = 3, .setup = "Stack(qu, ner)"};
    adapt_tagger *tg = NULL;
    if (adapt_tagger_open(&o, &tg)) fail_msg("%s", adapt_error());
    assert_int_equal(adapt_tagger_num_labels(tg), 7);
    const char *sentence[] = {"Javier", "Sologuren", "sutiyuq", "runaqa", "1920", "watapi", "Limapi", "paqarisqa", ",",
                              "huk", "Perú", "mama", "llaqtayuq", "qillqapsi", "karqan", "."};
    const char *const *words[] = {sentence};
    size_t n_words[] = {16};
    int32_t tags[16];
    float probability[16];
    int32_t *tag_rows[] = {tags};
    float *score_rows[] = {probability};
    assert_int_equal(adapt_tagger_tag(tg, 1, words, n_words, tag_rows, score_rows), ADAPT_OK);
    char line[256] = "";
    for (int w = 0; w < 16; w++) {
        strcat(line, adapt_tagger_label(tg, tags[w]));
        strcat(line, w < 15 ? " " : "");
        assert_true(probability[w] > 0 && probability[w] <= 1);
    }
    assert_string_equal(line, "B-PER I-PER O O O O B-LOC O O O B-LOC O O O O O");
    /* MAD-X's point: the same task adapter over no language adapter tags otherwise */
    assert_int_equal(adapt_model_set_setup(adapt_tagger_model(tg), "ner"), ADAPT_OK);
    assert_int_equal(adapt_tagger_tag(tg, 1, words, n_words, tag_rows, NULL), ADAPT_OK);
    strcpy(line, "");
    for (int w = 0; w < 16; w++) {
        strcat(line, adapt_tagger_label(tg, tags[w]));
        strcat(line, w < 15 ? " " : "");
    }
    assert_string_equal(line, "B-PER I-PER O O O O B-LOC I-LOC O O B-LOC I-LOC O O O O");
    adapt_tagger_free(tg);

    adapt_tagger_options no_head = {.model_dir = "models/default", .adapters = adapters, .n_adapters = 2};
    assert_int_not_equal(adapt_tagger_open(&no_head, &tg), ADAPT_OK);
    assert_null(tg);
    assert_non_null(strstr(adapt_error(), "models/adapters/qu"));
}

/* The example programs, built against adapt.h alone, run: tag-words tags the demo sentence as the
 * tagger above does, and refuses a missing adapter folder; mixed-batch's one pass matches its
 * per-composition passes. */
static void test_examples(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    const char *out = path_in(dir, "out.txt");
    int rc = run_command("printf 'Javier Sologuren sutiyuq runaqa 1920 watapi Limapi paqarisqa\\n' | %s models/default 'Stack(qu, ner)' "
                         "models/adapters/en models/adapters/qu models/adapters/ner > %s 2>&1",
                         build_path("examples/tag-words"), out);
    FILE *f = fopen(out, "r");
    char line[512] = "";
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_int_equal(rc, 0);
    assert_string_equal(line, "Javier/B-PER Sologuren/I-PER sutiyuq/O runaqa/O 1920/O watapi/O Limapi/B-LOC paqarisqa/O\n");
    rc = run_command("%s models/default ner models/adapters/no-such-adapter < /dev/null > %s 2>&1", build_path("examples/tag-words"), out);
    assert_int_equal(rc, 1);
    f = fopen(out, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_non_null(strstr(line, "no-such-adapter"));
    assert_int_equal(run_command("%s 4 8 1 > %s 2>&1", build_path("examples/mixed-batch"), out), 0);
    remove_tree(dir);
    free(dir);
}

/* adapt_train is `adapt train`: the same run through the command and through the function gives the
 * same adapter and head, bit for bit, and the same summary; bad options are refused by name. */
static void test_train(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    assert_int_equal(make_tiny_roberta(dir, false), 0);
    assert_int_equal(run_command("awk 'BEGIN { n = 0 } /^$/ { n++ } n < 100' '%s' > '%s'", shared_path("data/ner/wikiann-en/train.conll"),
                                 path_in(dir, "ner.conll")), 0);
    assert_int_equal(run_command("awk 'BEGIN { n = 0 } /^$/ { n++ } n < 30' '%s' > '%s'", shared_path("data/ner/wikiann-en/dev.conll"),
                                 path_in(dir, "dev.conll")), 0);
    assert_int_equal(run_adapt(dir, "train --task ner --model base --train ner.conll --dev dev.conll --eval-every 4 --batch-size 8 "
                                    "--max-steps 8 --lr 1e-3 --seed 5 --max-length 48 --adapter-config seq_bn[reduction_factor=4] "
                                    "--quiet --output cli"), 0);
    adapt_train_options o;
    adapt_train_options_init(&o);
    assert_int_equal(o.epochs, 3); /* the command's defaults */
    assert_int_equal(o.batch_size, 32);
    assert_int_equal(o.method, ADAPT_TRAIN_ADAPTER);
    char model[1024], train[1024], dev[1024], out[1024];
    snprintf(model, sizeof model, "%s", path_in(dir, "base"));
    snprintf(train, sizeof train, "%s", path_in(dir, "ner.conll"));
    snprintf(dev, sizeof dev, "%s", path_in(dir, "dev.conll"));
    snprintf(out, sizeof out, "%s", path_in(dir, "api"));
    const char *train_files[] = {train};
    o.model_dir = model;
    o.train_files = train_files;
    o.n_train_files = 1;
    o.dev_file = dev;
    o.output_dir = out;
    o.eval_every = 4;
    o.batch_size = 8;
    o.max_steps = 8;
    o.lr = 1e-3;
    o.seed = 5;
    o.max_length = 48;
    o.adapter_config = "seq_bn[reduction_factor=4]";
    o.quiet = true;
    adapt_train_options bad = o;
    bad.batch_size = 0;
    assert_int_equal(adapt_train(&bad), ADAPT_ERR_ARG);
    assert_non_null(strstr(adapt_error(), "batch_size"));
    bad = o;
    bad.lr = NAN;
    assert_int_equal(adapt_train(&bad), ADAPT_ERR_ARG);
    assert_non_null(strstr(adapt_error(), "lr"));
    bad = o;
    bad.n_train_files = 17;
    assert_int_equal(adapt_train(&bad), ADAPT_ERR_ARG);
    assert_non_null(strstr(adapt_error(), "n_train_files"));
    if (adapt_train(&o)) fail_msg("%s", adapt_error());
    for (int k = 0; k < 2; k++) {
        const char *file = k ? "best/ner/model_head.safetensors" : "best/ner/adapter.safetensors";
        char a[1024];
        snprintf(a, sizeof a, "%s/cli/%s", dir, file);
        assert_int_equal(run_command("cmp -s '%s' '%s/api/%s'", a, dir, file), 0);
    }
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/cli/summary.json", dir);
    snprintf(b, sizeof b, "%s/api/summary.json", dir);
    assert_true(json_file_number(a, "best_dev_metric") == json_file_number(b, "best_dev_metric"));
    assert_true(json_file_number(a, "steps") == 8 && json_file_number(b, "steps") == 8);
    /* and the trained adapter serves through the library */
    adapt_model *m = NULL;
    if (adapt_model_load(model, &m)) fail_msg("%s", adapt_error());
    snprintf(a, sizeof a, "%s/api/best/ner", dir);
    char name[16];
    assert_int_equal(adapt_model_load_adapter(m, a, NULL, name, sizeof name), ADAPT_OK);
    assert_string_equal(name, "ner");
    adapt_model_free(m);
    remove_tree(dir);
    free(dir);
}

/* `make install` gives a prefix a program builds against with pkg-config alone: tag-words built
 * from the installed header, library and adapt.pc tags as the in-tree build does. make is told
 * (-o) that the build's outputs are up to date, so it only copies them. */
static void test_install(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    const char *sanitizers = "-fsanitize=address,undefined"; /* the installed library is this build's */
#else
    const char *sanitizers = "";
#endif
    char *dir = make_temp_dir();
    char build[512];
    snprintf(build, sizeof build, "%s", build_path(""));
    build[strlen(build) - 1] = 0; /* "build/" -> "build" */
    assert_int_equal(run_command("make -s --no-print-directory BUILD=%s -o %s/adapt -o %s/adapt-mpi -o %s/libadapt.a install PREFIX=%s/prefix "
                                 "> %s/make.log 2>&1", build, build, build, build, dir, dir), 0);
    assert_int_equal(run_command("cd %s/prefix && test -x bin/adapt && test -f lib/libadapt.a && test -f include/adapt.h && "
                                 "grep -q '^Libs: -L${libdir} -ladapt ' lib/pkgconfig/adapt.pc", dir), 0);
    assert_int_equal(run_command("export PKG_CONFIG_PATH=%s/prefix/lib/pkgconfig && cc -std=c11 %s examples/tag-words.c "
                                 "$(pkg-config --cflags --libs adapt) -o %s/tag-words > %s/cc.log 2>&1",
                                 dir, sanitizers, dir, dir), 0);
    assert_int_equal(run_command("echo 'Lima llaqtapi' | %s/tag-words models/default 'Stack(qu, ner)' models/adapters/en models/adapters/qu "
                                 "models/adapters/ner | grep -qx 'Lima/B-LOC llaqtapi/O'", dir), 0);
    remove_tree(dir);
    free(dir);
}

/* Every function of the header refuses what it cannot use (no model, no handle, no input) with
 * ADAPT_ERR_ARG and a message, or answers "nothing", instead of crashing. */
static void test_missing_arguments(void **state)
{
    (void)state;
    char buf[8];
    float out[4];
    int32_t ids[2] = {5, 6};
    const char *setups[] = {"x"};
    assert_int_equal(adapt_model_load_adapter(NULL, "dir", NULL, NULL, 0), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_add_adapter(NULL, "a", "seq_bn", 1), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_save_adapter(NULL, "a", "dir"), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_delete_adapter(NULL, "a"), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_num_adapters(NULL), 0);
    assert_null(adapt_model_adapter_name(NULL, 0));
    assert_int_equal(adapt_model_load_fusion(NULL, "dir"), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_load_lora(NULL, "dir"), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_merge_lora(NULL), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_unmerge_lora(NULL), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_set_setup(NULL, "a"), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_get_setup(NULL, buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    assert_int_equal(adapt_model_setup_channels(NULL), 1);
    assert_int_equal(adapt_model_encode_channels(NULL, 1, 2, ids, NULL, NULL, out), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_encode_mixed(NULL, 1, 2, ids, NULL, NULL, setups, out), ADAPT_ERR_ARG);
    adapt_head *head = (adapt_head *)1;
    assert_int_equal(adapt_head_load(NULL, "dir", NULL, &head), ADAPT_ERR_ARG);
    assert_null(head);
    assert_int_equal(adapt_head_num_labels(NULL), 0);
    assert_null(adapt_head_label(NULL, 0));
    assert_int_equal(adapt_head_logits(NULL, 1, 2, ids, NULL, NULL, out), ADAPT_ERR_ARG);
    assert_int_equal(adapt_head_logits_from_hidden(NULL, 1, 2, out, out), ADAPT_ERR_ARG);
    adapt_head_free(NULL);
    adapt_tagger *tagger = (adapt_tagger *)1;
    assert_int_equal(adapt_tagger_open(NULL, &tagger), ADAPT_ERR_ARG);
    assert_null(tagger);
    assert_null(adapt_tagger_model(NULL));
    assert_int_equal(adapt_tagger_num_labels(NULL), 0);
    assert_null(adapt_tagger_label(NULL, 0));
    assert_int_equal(adapt_tagger_tag(NULL, 0, NULL, NULL, NULL, NULL), ADAPT_ERR_ARG);
    adapt_tagger_free(NULL);
    adapt_train_options_init(NULL);
    assert_int_equal(adapt_train(NULL), ADAPT_ERR_ARG);
    /* a model, but no ids */
    adapt_model *m = load_model("tiny-bert");
    assert_int_equal(adapt_model_encode(m, 1, 2, NULL, NULL, NULL, out, NULL), ADAPT_ERR_ARG);
    assert_non_null(strstr(adapt_error(), "ids"));
    assert_int_equal(adapt_model_encode_channels(m, 1, 2, NULL, NULL, NULL, out), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_encode_mixed(m, 1, 2, NULL, NULL, NULL, setups, out), ADAPT_ERR_ARG);
    adapt_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stack_and_tagging_head), cmocka_unit_test(test_classification_head),
        cmocka_unit_test(test_fusion),                 cmocka_unit_test(test_lora),
        cmocka_unit_test(test_mixed_batch),            cmocka_unit_test(test_parallel_channels),
        cmocka_unit_test(test_add_save_delete),
        cmocka_unit_test(test_tagger_on_shipped_adapters), cmocka_unit_test(test_examples),
        cmocka_unit_test(test_train),                  cmocka_unit_test(test_install),
        cmocka_unit_test(test_missing_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
