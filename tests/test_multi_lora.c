/* Several named LoRAs in one model (adapt.h: adapt_model_load_lora_as, set_lora, delete_lora,
 * save_lora, encode_mixed_lora; PEFT's named adapters and mixed adapter batches). The LoRAs are
 * c10's PEFT folder and variants of it written by the test: "b" with another lora_alpha and its
 * classifier (modules_to_save) doubled, "e" with an encoder tensor among its modules_to_save.
 * Each LoRA, active or in a mixed batch, must give what it gives loaded alone; the base values
 * of modules_to_save must come back when no LoRA is active. */
#include "case_batch.h"
#include "lora_fixture.h"
#include "formats/param_io.h"
#include "formats/peft.h"
#include "model/heads.h"
#include "model/model.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CASE "c10_lora_tagging"
#define ENCODER_MODULE "bert.encoder.layer.0.output.dense"

typedef struct batch {
    case_batch in;
    int B, T, H;
} batch;

static char *tmp, lora_a[1024], lora_b[1024], lora_e[1024];

/* c10's inputs, rows repeated to `rows` rows. */
static batch case_batch_rows(int rows, const adapt_model *m)
{
    adapt_model_info info;
    adapt_model_get_info(m, &info);
    batch b = {case_batch_read(CASE, rows), 0, 0, info.hidden_size};
    b.B = b.in.B, b.T = b.in.T;
    return b;
}

static void batch_free(batch *b) { case_batch_free(&b->in); }

static size_t batch_floats(const batch *b) { return (size_t)b->B * b->T * b->H; }

static float *encode(adapt_model *m, const batch *b)
{
    float *h = malloc(batch_floats(b) * sizeof *h);
    assert_non_null(h);
    if (adapt_model_encode(m, b->B, b->T, b->in.ids, b->in.mask, b->in.type_ids, h, NULL)) fail_msg("%s", adapt_error());
    return h;
}


static float *copy_tensor(const adapt_model *m, const char *name)
{
    const param *p = store_get(&m->store, name);
    assert_non_null(p);
    float *c = malloc(p->numel * sizeof *c);
    memcpy(c, p->data, p->numel * sizeof *c);
    return c;
}

static void scale_tensor(adapt_model *m, const char *name, float scale, float shift)
{
    param *p = store_get(&m->store, name);
    assert_non_null(p);
    for (size_t i = 0; i < p->numel; i++) p->data[i] = p->data[i] * scale + shift;
}

/* The variants, written as PEFT folders by the internal saver from c10's LoRA. */
static int make_variants(void **state)
{
    (void)state;
    tmp = make_temp_dir();
    snprintf(lora_a, sizeof lora_a, "%s", shared_path("fixtures/cases/" CASE "/lora"));
    snprintf(lora_b, sizeof lora_b, "%s/b", tmp);
    snprintf(lora_e, sizeof lora_e, "%s/e", tmp);
    adapt_model *m = load_tiny_bert();
    if (peft_load(m, lora_a)) fail_msg("%s", adapt_error());
    m->lora->cfg.alpha = 24;
    scale_tensor(m, "classifier.weight", 2, 0);
    if (peft_save(m, lora_b, NULL)) fail_msg("%s", adapt_error());
    adapt_model_free(m);

    m = load_tiny_bert();
    if (peft_load(m, lora_a)) fail_msg("%s", adapt_error());
    snprintf(m->lora->cfg.modules_to_save[m->lora->cfg.n_modules_to_save++], 64, "%s", ENCODER_MODULE);
    scale_tensor(m, ENCODER_MODULE ".weight", 1, 0.01f);
    if (peft_save(m, lora_e, NULL)) fail_msg("%s", adapt_error());
    adapt_model_free(m);
    return 0;
}

static int remove_variants(void **state)
{
    (void)state;
    remove_tree(tmp);
    free(tmp);
    return 0;
}

/* Switching: each LoRA gives what it gives loaded alone, its classifier comes with it, and none
 * gives the base model (its classifier values back). Saving a named LoRA writes PEFT's names. */
static void test_switch(void **state)
{
    (void)state;
    adapt_model *m = load_tiny_bert();
    batch b = case_batch_rows(2, m);
    size_t n = batch_floats(&b);
    float *plain = encode(m, &b);
    if (adapt_model_load_lora_as(m, lora_a, "a")) fail_msg("%s", adapt_error());
    if (adapt_model_load_lora_as(m, lora_b, "b")) fail_msg("%s", adapt_error());
    assert_int_equal(adapt_model_num_loras(m), 2);
    assert_string_equal(adapt_model_lora_name(m, 0), "a");
    assert_string_equal(adapt_model_lora_name(m, 1), "b");
    assert_null(adapt_model_lora_name(m, 2));
    assert_string_equal(adapt_model_active_lora(m), "a"); /* the first loaded; "b" waits */
    float *base_classifier = copy_tensor(m, "peft.(base).classifier.weight");
    float *h_a = encode(m, &b), *cls_a = copy_tensor(m, "classifier.weight");
    assert_true(max_abs_difference(h_a, plain, n) > 1e-3);

    assert_int_equal(adapt_model_set_lora(m, "b"), ADAPT_OK);
    float *h_b = encode(m, &b), *cls_b = copy_tensor(m, "classifier.weight");
    const param *cls = store_get(&m->store, "classifier.weight");
    for (size_t i = 0; i < cls->numel; i++) assert_float_equal(cls_b[i], 2 * cls_a[i], 1e-7);
    assert_true(max_abs_difference(h_a, h_b, n) > 1e-3);

    assert_int_equal(adapt_model_set_lora(m, NULL), ADAPT_OK);
    assert_null(adapt_model_active_lora(m));
    float *h_none = encode(m, &b);
    assert_true(max_abs_difference(h_none, plain, n) == 0);
    for (size_t i = 0; i < cls->numel; i++) assert_float_equal(cls->data[i], base_classifier[i], 0);
    assert_int_equal(adapt_model_set_lora(m, "a"), ADAPT_OK);
    for (size_t i = 0; i < cls->numel; i++) assert_float_equal(cls->data[i], cls_a[i], 0);

    /* "b" alone, under PEFT's default name, and "b" saved from the two-LoRA model and reloaded */
    adapt_model *alone = load_tiny_bert();
    if (adapt_model_load_lora(alone, lora_b)) fail_msg("%s", adapt_error());
    float *h_alone = encode(alone, &b);
    assert_true(max_abs_difference(h_alone, h_b, n) < 1e-6);
    adapt_model_free(alone);
    char saved[1100];
    snprintf(saved, sizeof saved, "%s/b-saved", tmp);
    if (adapt_model_save_lora(m, "b", saved)) fail_msg("%s", adapt_error());
    assert_string_equal(adapt_model_active_lora(m), "a");
    for (size_t i = 0; i < cls->numel; i++) assert_float_equal(cls->data[i], cls_a[i], 0);
    alone = load_tiny_bert();
    if (adapt_model_load_lora(alone, saved)) fail_msg("%s", adapt_error()); /* "default": no ".b." in the file's names */
    float *h_saved = encode(alone, &b);
    assert_true(max_abs_difference(h_saved, h_b, n) < 1e-6);
    const param *saved_cls = store_get(&alone->store, "classifier.weight");
    for (size_t i = 0; i < cls->numel; i++) assert_float_equal(saved_cls->data[i], cls_b[i], 0);
    adapt_model_free(alone);

    /* deleting the active LoRA activates the first remaining one, its classifier with it */
    assert_int_equal(adapt_model_delete_lora(m, "a"), ADAPT_OK);
    assert_string_equal(adapt_model_active_lora(m), "b");
    cls = store_get(&m->store, "classifier.weight");
    for (size_t i = 0; i < cls->numel; i++) assert_float_equal(cls->data[i], cls_b[i], 0);

    free(plain), free(base_classifier), free(h_a), free(cls_a), free(h_b), free(cls_b), free(h_none), free(h_alone), free(h_saved);
    batch_free(&b);
    adapt_model_free(m);
}

/* The mixed pass of names[] into `mixed`, each row against the same row with its LoRA active
 * over the whole batch (names[] NULL or "": none); the active LoRA is left as it was. */
static void assert_mixed_equals_alone(adapt_model *m, const batch *b, const char *const *names, float *mixed)
{
    size_t row = (size_t)b->T * b->H;
    char active[64];
    snprintf(active, sizeof active, "%s", adapt_model_active_lora(m) ? adapt_model_active_lora(m) : "");
    if (adapt_model_encode_mixed_lora(m, b->B, b->T, b->in.ids, b->in.mask, b->in.type_ids, names, mixed)) fail_msg("%s", adapt_error());
    assert_string_equal(adapt_model_active_lora(m) ? adapt_model_active_lora(m) : "", active);
    for (int r = 0; r < b->B; r++) {
        assert_int_equal(adapt_model_set_lora(m, names[r] && *names[r] ? names[r] : NULL), ADAPT_OK);
        float *alone = encode(m, b);
        double d = max_abs_difference(mixed + r * row, alone + r * row, row);
        if (d > 1e-5) fail_msg("row %d under %s: %g from that LoRA alone", r, names[r] ? names[r] : "none", d);
        free(alone);
    }
    assert_int_equal(adapt_model_set_lora(m, active[0] ? active : NULL), ADAPT_OK);
}

/* Rows under different LoRAs in one pass, each equal to its LoRA active over the whole batch. */
static void test_mixed_batch(void **state)
{
    (void)state;
    adapt_model *m = load_tiny_bert();
    if (adapt_model_load_lora_as(m, lora_a, "a") || adapt_model_load_lora_as(m, lora_b, "b") ||
        adapt_model_load_lora_as(m, lora_e, "e"))
        fail_msg("%s", adapt_error());
    batch b = case_batch_rows(5, m);
    size_t row = (size_t)b.T * b.H;
    const char *names[5] = {"a", "b", NULL, "a", ""};
    float *mixed = malloc(batch_floats(&b) * sizeof *mixed);
    assert_mixed_equals_alone(m, &b, names, mixed);
    /* under a trained bottleneck adapter (c03's), which runs over the whole regrouped batch */
    assert_int_equal(adapt_model_load_adapter(m, shared_path("fixtures/cases/c03_seq_bn_tagging/adapter_ner"), "task", NULL, 0), ADAPT_OK);
    assert_int_equal(adapt_model_set_setup(m, "task"), ADAPT_OK);
    assert_int_equal(adapt_model_set_lora(m, "a"), ADAPT_OK);
    assert_mixed_equals_alone(m, &b, names, mixed);
    assert_int_equal(adapt_model_set_setup(m, NULL), ADAPT_OK);
    assert_int_equal(adapt_model_set_lora(m, NULL), ADAPT_OK);
    float *h_none = encode(m, &b);
    assert_int_equal(adapt_model_set_lora(m, "b"), ADAPT_OK);
    float *h_b = encode(m, &b);
    assert_true(max_abs_difference(h_b + row, h_none + row, row) > 1e-3); /* the LoRAs really differ on row 1 */

    /* "e" replaces an encoder tensor: its rows alone, as the active LoRA; never beside others */
    assert_int_equal(adapt_model_set_lora(m, "a"), ADAPT_OK);
    const char *with_e[2] = {"a", "e"};
    assert_int_equal(adapt_model_encode_mixed_lora(m, 2, b.T, b.in.ids, b.in.mask, b.in.type_ids, with_e, mixed), ADAPT_ERR_UNSUPPORTED);
    if (!strstr(adapt_error(), "row 1") || !strstr(adapt_error(), ENCODER_MODULE))
        fail_msg("message \"%s\" should name row 1 and the encoder tensor", adapt_error());
    assert_int_equal(adapt_model_set_lora(m, "e"), ADAPT_OK);
    const char *only_e[2] = {"e", "e"}, *e_and_none[2] = {"e", NULL};
    assert_int_equal(adapt_model_encode_mixed_lora(m, 2, b.T, b.in.ids, b.in.mask, b.in.type_ids, only_e, mixed), ADAPT_OK);
    float *h_e = encode(m, &b);
    assert_true(max_abs_difference(mixed, h_e, 2 * row) < 1e-5);
    assert_int_equal(adapt_model_encode_mixed_lora(m, 2, b.T, b.in.ids, b.in.mask, b.in.type_ids, e_and_none, mixed), ADAPT_ERR_UNSUPPORTED);
    assert_int_equal(adapt_model_set_lora(m, NULL), ADAPT_OK); /* the encoder tensor's base values back */
    float *h_plain = encode(m, &b);
    adapt_model *fresh = load_tiny_bert();
    float *h_fresh = encode(fresh, &b);
    assert_true(max_abs_difference(h_plain, h_fresh, batch_floats(&b)) == 0);
    assert_true(max_abs_difference(h_e, h_fresh, 2 * row) > 1e-3);
    adapt_model_free(fresh);

    free(mixed), free(h_b), free(h_none), free(h_e), free(h_plain), free(h_fresh);
    batch_free(&b);
    adapt_model_free(m);
}

static bool has_tensor_containing(const adapt_model *m, const char *text)
{
    for (size_t i = 0; i < m->store.count; i++)
        if (strstr(m->store.items[i]->name, text)) return true;
    return false;
}

/* Names, merging and deleting: every misuse refused with the model left as it was. */
static void test_refusals(void **state)
{
    (void)state;
    adapt_model *m = load_tiny_bert();
    size_t tensors = m->store.count;
    static const char *const bad[] = {"", "a.b", "weight", "x y", "0123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) assert_int_equal(adapt_model_load_lora_as(m, lora_a, bad[i]), ADAPT_ERR_ARG);
    assert_int_equal(m->store.count, tensors);
    if (adapt_model_load_lora_as(m, lora_a, "a") || adapt_model_load_lora_as(m, lora_b, "b")) fail_msg("%s", adapt_error());
    size_t loaded = m->store.count;
    assert_int_equal(adapt_model_load_lora_as(m, lora_b, "a"), ADAPT_ERR_ARG);
    assert_int_equal(m->store.count, loaded);
    assert_int_equal(adapt_model_set_lora(m, "c"), ADAPT_ERR_ARG);
    assert_string_equal(adapt_model_active_lora(m), "a");

    batch b = case_batch_rows(2, m);
    float *out = malloc(batch_floats(&b) * sizeof *out);
    const char *unknown[2] = {"a", "c"};
    assert_int_equal(adapt_model_encode_mixed_lora(m, 2, b.T, b.in.ids, b.in.mask, b.in.type_ids, unknown, out), ADAPT_ERR_ARG);
    if (!strstr(adapt_error(), "row 1")) fail_msg("message \"%s\" should name row 1", adapt_error());

    assert_int_equal(adapt_model_merge_lora(m), ADAPT_OK);
    const char *rows[2] = {"a", "b"};
    assert_int_equal(adapt_model_set_lora(m, "b"), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_set_lora(m, NULL), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_delete_lora(m, "a"), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_save_lora(m, "b", tmp), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_encode_mixed_lora(m, 2, b.T, b.in.ids, b.in.mask, b.in.type_ids, rows, out), ADAPT_ERR_ARG);
    assert_string_equal(adapt_model_active_lora(m), "a");
    assert_int_equal(adapt_model_unmerge_lora(m), ADAPT_OK);

    assert_int_equal(adapt_model_delete_lora(m, "a"), ADAPT_OK);
    assert_string_equal(adapt_model_active_lora(m), "b"); /* PEFT: the first remaining adapter */
    assert_int_equal(adapt_model_num_loras(m), 1);
    assert_false(has_tensor_containing(m, ".lora_A.a."));
    assert_false(has_tensor_containing(m, "peft.a."));
    assert_true(has_tensor_containing(m, ".lora_A.b."));
    assert_int_equal(adapt_model_encode_mixed_lora(m, 2, b.T, b.in.ids, b.in.mask, b.in.type_ids, rows, out), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_delete_lora(m, "a"), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_delete_lora(m, "b"), ADAPT_OK);
    assert_null(adapt_model_active_lora(m));
    assert_false(has_tensor_containing(m, "peft.")); /* the base copy goes with the last LoRA that needed it */
    assert_false(has_tensor_containing(m, "classifier.")); /* tiny-bert has none: only the LoRAs brought it */
    assert_int_equal(m->store.count, tensors);
    assert_int_equal(adapt_model_load_lora_as(m, lora_b, "b"), ADAPT_OK);

    assert_int_equal(adapt_model_load_lora_as(NULL, lora_a, "x"), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_load_lora_as(m, NULL, "x"), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_load_lora_as(m, lora_a, NULL), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_set_lora(NULL, "b"), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_delete_lora(m, NULL), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_save_lora(m, NULL, tmp), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_encode_mixed_lora(m, 2, b.T, b.in.ids, b.in.mask, b.in.type_ids, NULL, out), ADAPT_ERR_ARG);
    /* a BatchSplit assigns rows by position, which the regrouping would mix up; Parallel replicates rows */
    assert_int_equal(adapt_model_add_adapter(m, "x", "seq_bn", 1), ADAPT_OK);
    assert_int_equal(adapt_model_add_adapter(m, "y", "seq_bn", 2), ADAPT_OK);
    const char *b_rows[2] = {"b", NULL};
    assert_int_equal(adapt_model_set_setup(m, "BatchSplit(x, y, batch_sizes=[1, 1])"), ADAPT_OK);
    assert_int_equal(adapt_model_encode_mixed_lora(m, 2, b.T, b.in.ids, b.in.mask, b.in.type_ids, b_rows, out), ADAPT_ERR_UNSUPPORTED);
    assert_int_equal(adapt_model_set_setup(m, "Parallel(x, y)"), ADAPT_OK);
    assert_int_equal(adapt_model_encode_mixed_lora(m, 2, b.T, b.in.ids, b.in.mask, b.in.type_ids, b_rows, out), ADAPT_ERR_UNSUPPORTED);
    assert_int_equal(adapt_model_set_setup(m, "Stack(x, y)"), ADAPT_OK);
    assert_int_equal(adapt_model_encode_mixed_lora(m, 2, b.T, b.in.ids, b.in.mask, b.in.type_ids, b_rows, out), ADAPT_OK);
    assert_int_equal(adapt_model_num_loras(NULL), 0);
    assert_null(adapt_model_active_lora(NULL));
    free(out);
    batch_free(&b);
    adapt_model_free(m);
}

/* The LoRA factors in m's store, with their names in a PEFT file ("base_model.model." + the store's
 * name, which carries the LoRA's name unless it is "default"); returns how many (at most cap). */
static size_t factor_file_names(const adapt_model *m, const char **names, const char **file_names, char (*buf)[256], size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < m->store.count && n < cap; i++) {
        const char *t = m->store.items[i]->name;
        if (!strstr(t, ".lora_")) continue;
        names[n] = t;
        snprintf(buf[n], sizeof buf[n], "base_model.model.%s", t);
        file_names[n] = buf[n];
        n++;
    }
    return n;
}

/* A file whose factor names carry another adapter's name ("lora_A.other.weight", a multi-adapter
 * state dict saved as is) is refused by name, and nothing of it stays in the model. */
static void test_foreign_factor_names(void **state)
{
    (void)state;
    adapt_model *m = load_tiny_bert();
    if (adapt_model_load_lora_as(m, lora_a, "other")) fail_msg("%s", adapt_error());
    const char *names[64], *file_names[64];
    char buf[64][256];
    size_t n = factor_file_names(m, names, file_names, buf, 64);
    assert_true(n > 0);
    char dir[1100], path[1200];
    snprintf(dir, sizeof dir, "%s/foreign", tmp);
    assert_int_equal(run_command("mkdir -p '%s' && cp '%s/adapter_config.json' '%s/'", dir, lora_a, dir), 0);
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    assert_int_equal(store_save_safetensors(&m->store, path, names, file_names, n, NULL, 0), ADAPT_OK);
    adapt_model_free(m);

    m = load_tiny_bert();
    size_t tensors = m->store.count;
    assert_int_equal(adapt_model_load_lora_as(m, dir, "x"), ADAPT_ERR_FORMAT);
    if (!strstr(adapt_error(), dir) || !strstr(adapt_error(), ".other.weight\" is not a LoRA factor"))
        fail_msg("message \"%s\" should name the folder and the tensor", adapt_error());
    assert_int_equal(m->store.count, tensors);
    assert_int_equal(adapt_model_num_loras(m), 0);
    adapt_model_free(m);
}

/* A saved LoRA file of c10's factors (PEFT's names) plus `extra` (a tensor of shape d0 x d1 under
 * that name in the file, after "base_model.model."), written to tmp/<folder>. */
static const char *lora_with_extra(const char *folder, const char *extra, int64_t d0, int64_t d1)
{
    static char dir[1100];
    adapt_model *m = load_tiny_bert();
    if (peft_load(m, lora_a)) fail_msg("%s", adapt_error());
    param *p;
    int64_t shape[2] = {d0, d1};
    assert_int_equal(store_add(&m->store, "extra-tensor", 2, shape, &p), ADAPT_OK);
    const char *names[64], *file_names[64];
    char buf[64][256];
    size_t n = factor_file_names(m, names, file_names, buf, 63);
    names[n] = "extra-tensor";
    snprintf(buf[n], sizeof buf[n], "base_model.model.%s", extra);
    file_names[n] = buf[n];
    n++;
    char path[1200];
    snprintf(dir, sizeof dir, "%s/%s", tmp, folder);
    assert_int_equal(run_command("mkdir -p '%s' && cp '%s/adapter_config.json' '%s/'", dir, lora_a, dir), 0);
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    assert_int_equal(store_save_safetensors(&m->store, path, names, file_names, n, NULL, 0), ADAPT_OK);
    adapt_model_free(m);
    return dir;
}

/* modules_to_save: only the model's own tensors (a base tensor or the classifier), checked before
 * anything changes; the base values kept as they are when a LoRA arrives; an encoder tensor among
 * them keeps the weights fp32. */
static void test_modules_to_save_checked(void **state)
{
    (void)state;
    adapt_model *m = load_tiny_bert();
    if (adapt_model_load_lora_as(m, lora_a, "a")) fail_msg("%s", adapt_error());
    size_t tensors = m->store.count;
    adapt_model_info info;
    adapt_model_get_info(m, &info);
    const param *cls = store_get(&m->store, "classifier.weight");
    assert_non_null(cls);
    struct { const char *name; int64_t d0, d1; } bad[] = {
        {"no-such-module.weight", 2, 2},                         /* not the model's */
        {"peft.a.classifier.weight", cls->shape[0], cls->shape[1]}, /* another LoRA's copy */
        {"classifier.weight", cls->shape[0] + 1, cls->shape[1]},  /* the wrong shape */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char folder[32];
        snprintf(folder, sizeof folder, "bad-module-%zu", i);
        const char *dir = lora_with_extra(folder, bad[i].name, bad[i].d0, bad[i].d1);
        assert_int_equal(adapt_model_load_lora_as(m, dir, "x"), ADAPT_ERR_FORMAT);
        if (!strstr(adapt_error(), bad[i].name)) fail_msg("message \"%s\" should name \"%s\"", adapt_error(), bad[i].name);
        assert_int_equal(m->store.count, tensors);
        assert_int_equal(adapt_model_num_loras(m), 1);
    }
    /* a value written into the base classifier while no LoRA is active survives a LoRA's visit */
    assert_int_equal(adapt_model_set_lora(m, NULL), ADAPT_OK);
    param *live = store_get(&m->store, "classifier.weight");
    live->data[0] = 123;
    assert_int_equal(adapt_model_set_lora(m, "a"), ADAPT_OK);
    assert_true(live->data[0] != 123);
    assert_int_equal(adapt_model_set_lora(m, NULL), ADAPT_OK);
    assert_float_equal(live->data[0], 123, 0);
    /* saving the base model while "e" is active writes the base's encoder tensor, and "e" stays */
    if (adapt_model_load_lora_as(m, lora_e, "e")) fail_msg("%s", adapt_error());
    assert_int_equal(adapt_model_set_lora(m, "e"), ADAPT_OK);
    float *e_values = copy_tensor(m, ENCODER_MODULE ".weight");
    char saved[1100];
    snprintf(saved, sizeof saved, "%s/saved-model", tmp);
    assert_int_equal(model_save(m, saved, 0), ADAPT_OK);
    assert_string_equal(adapt_model_active_lora(m), "e");
    const param *now = store_get(&m->store, ENCODER_MODULE ".weight");
    for (size_t i = 0; i < now->numel; i++) assert_float_equal(now->data[i], e_values[i], 0);
    adapt_model *fresh = load_tiny_bert(), *reloaded = NULL;
    if (adapt_model_load(saved, &reloaded)) fail_msg("%s", adapt_error());
    const param *want = store_get(&fresh->store, ENCODER_MODULE ".weight"), *got = store_get(&reloaded->store, ENCODER_MODULE ".weight");
    for (size_t i = 0; i < want->numel; i++) assert_float_equal(got->data[i], want->data[i], 0);
    assert_true(fabs(e_values[0] - want->data[0]) > 1e-3);
    free(e_values);
    adapt_model_free(fresh);
    adapt_model_free(reloaded);
    /* bf16 weights would freeze an encoder tensor that "e" swaps in and out */
    assert_int_equal(adapt_model_set_weight_dtype(m, ADAPT_WEIGHTS_BF16), ADAPT_ERR_UNSUPPORTED);
    assert_non_null(strstr(adapt_error(), ENCODER_MODULE));
    assert_int_equal(adapt_model_delete_lora(m, "e"), ADAPT_OK);
    assert_int_equal(adapt_model_set_weight_dtype(m, ADAPT_WEIGHTS_BF16), ADAPT_OK);
    assert_int_equal(adapt_model_set_lora(m, "a"), ADAPT_OK); /* the classifier stays fp32 */
    adapt_model_free(m);
}

/* PEFT's add_weighted_adapter: "cat" adds the weighted deltas exactly, "linear" adds the weighted
 * factors; the result saves and reloads as a PEFT LoRA; misuse refused. */
static void test_weighted(void **state)
{
    (void)state;
    adapt_model *m = load_tiny_bert();
    if (adapt_model_load_lora_as(m, lora_a, "a") || adapt_model_load_lora_as(m, lora_b, "b")) fail_msg("%s", adapt_error());
    const char *ab[2] = {"a", "b"};
    const double w[2] = {0.5, 2.0}, only_a[2] = {1.0, 0.0};
    if (adapt_model_add_weighted_lora(m, ab, w, 2, "cat", "cat")) fail_msg("%s", adapt_error());
    assert_string_equal(adapt_model_active_lora(m), "a");
    assert_int_equal(lora_find(m, "cat")->cfg.r, 8);
    double *da = lora_delta(m, "a", 0, LIN_QUERY), *db = lora_delta(m, "b", 0, LIN_QUERY), *dc = lora_delta(m, "cat", 0, LIN_QUERY);
    const lora_pair *pa = &lora_find(m, "a")->pairs[0][LIN_QUERY];
    size_t cells = (size_t)(pa->B->shape[0] * pa->A->shape[1]);
    double worst = 0, norm = 0;
    for (size_t i = 0; i < cells; i++) {
        worst = fmax(worst, fabs(dc[i] - (w[0] * da[i] + w[1] * db[i])));
        norm = fmax(norm, fabs(dc[i]));
    }
    if (!(worst <= 1e-5 * norm) || norm == 0) fail_msg("cat: delta off by %g (largest entry %g)", worst, norm);
    free(da), free(db), free(dc);

    /* cat with weights 1, 0 is LoRA a; linear's factors are the weighted sums */
    if (adapt_model_add_weighted_lora(m, ab, only_a, 2, "just-a", "cat")) fail_msg("%s", adapt_error());
    batch b = case_batch_rows(2, m);
    size_t n = batch_floats(&b);
    float *h_a = encode(m, &b);
    assert_int_equal(adapt_model_set_lora(m, "just-a"), ADAPT_OK);
    float *h_just_a = encode(m, &b);
    assert_true(max_abs_difference(h_a, h_just_a, n) < 1e-5);
    if (adapt_model_add_weighted_lora(m, ab, w, 2, "lin", "linear")) fail_msg("%s", adapt_error());
    const lora_state *sa = lora_find(m, "a"), *sb = lora_find(m, "b"), *sl = lora_find(m, "lin");
    const lora_pair *pl = &sl->pairs[1][LIN_VALUE], *qa = &sa->pairs[1][LIN_VALUE], *qb = &sb->pairs[1][LIN_VALUE];
    double fa = sqrt(w[0] * sa->scaling), fb = sqrt(w[1] * sb->scaling);
    for (size_t i = 0; i < pl->A->numel; i++) assert_float_equal(pl->A->data[i], fa * qa->A->data[i] + fb * qb->A->data[i], 1e-6);
    for (size_t i = 0; i < pl->B->numel; i++) assert_float_equal(pl->B->data[i], fa * qa->B->data[i] + fb * qb->B->data[i], 1e-6);
    assert_false(pl->A->trainable);

    /* saved and reloaded alone: the same outputs */
    char saved[1100];
    snprintf(saved, sizeof saved, "%s/cat-saved", tmp);
    if (adapt_model_save_lora(m, "cat", saved)) fail_msg("%s", adapt_error());
    assert_int_equal(adapt_model_set_lora(m, "cat"), ADAPT_OK);
    float *h_cat = encode(m, &b);
    adapt_model *alone = load_tiny_bert();
    if (adapt_model_load_lora(alone, saved)) fail_msg("%s", adapt_error());
    float *h_alone = encode(alone, &b);
    assert_true(max_abs_difference(h_cat, h_alone, n) < 1e-6);
    adapt_model_free(alone);

    /* misuse */
    const char *mixed_ranks[2] = {"a", "cat"}, *unknown[2] = {"a", "zz"};
    const double negative[2] = {1.0, -0.5}, nan_w[2] = {1.0, NAN};
    assert_int_equal(adapt_model_add_weighted_lora(m, mixed_ranks, w, 2, "x", "linear"), ADAPT_ERR_ARG); /* r 4 and 8 */
    assert_int_equal(adapt_model_add_weighted_lora(m, ab, negative, 2, "x", "linear"), ADAPT_ERR_ARG); /* sqrt(w s) */
    assert_int_equal(adapt_model_add_weighted_lora(m, ab, nan_w, 2, "x", "cat"), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_add_weighted_lora(m, unknown, w, 2, "x", "cat"), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_add_weighted_lora(m, ab, w, 2, "cat", "cat"), ADAPT_ERR_ARG); /* the name is taken */
    assert_int_equal(adapt_model_add_weighted_lora(m, ab, w, 2, "x", "svd2"), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_add_weighted_lora(m, ab, w, 2, "x", "ties"), ADAPT_ERR_ARG); /* needs a density */
    assert_int_equal(adapt_model_add_weighted_lora(m, ab, w, 0, "x", "cat"), ADAPT_ERR_ARG);
    assert_int_equal(adapt_model_add_weighted_lora(m, NULL, w, 2, "x", "cat"), ADAPT_ERR_ARG);
    assert_null(lora_find(m, "x"));
    free(h_a), free(h_just_a), free(h_cat), free(h_alone);
    batch_free(&b);
    adapt_model_free(m);
}

/* examples/mixed-lora (adapt.h alone) on two of the LoRAs: the mixed pass agrees with the
 * per-LoRA passes (its exit status) and the figures are printed. */
static void test_example(void **state)
{
    (void)state;
    char out[1100], line[512] = "";
    snprintf(out, sizeof out, "%s/example.txt", tmp);
    int rc = run_command("%s %s 6 8 1 %s %s > %s 2>&1", build_path("examples/mixed-lora"), shared_path("fixtures/models/tiny-bert"),
                         lora_a, lora_b, out);
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    if (!fgets(line, sizeof line, f)) line[0] = '\0';
    fclose(f);
    if (rc || !strstr(line, "2 LoRAs + the base model") || !strstr(line, "ratio")) fail_msg("exit %d: %s", rc, line);
    assert_int_equal(run_command("%s %s 5 8 1 %s %s > %s 2>&1", build_path("examples/mixed-lora"),
                                 shared_path("fixtures/models/tiny-bert"), lora_a, lora_b, out),
                     2); /* 5 rows do not split into 3 groups */
}

/* A LoRA saved with its AdapterHub head as Hugging Face's head (PEFT's modules_to_save): on BERT a
 * classification head is the pooler plus the classifier, a tagging head the classifier; loading
 * the folder brings the same values into those tensors. On RoBERTa (`adapt train --task sst2`) a
 * classification head is classifier.dense and classifier.out_proj. */
static void test_hf_heads(void **state)
{
    (void)state;
    static const struct { head_kind kind; int labels; const char *modules, *w_dense, *w_out; } cases[2] = {
        {HEAD_CLASSIFICATION, 3, "[\"classifier\",\"pooler\"]", "bert.pooler.dense.weight", "classifier.weight"},
        {HEAD_TAGGING, 5, "[\"classifier\"]", NULL, "classifier.weight"},
    };
    for (int c = 0; c < 2; c++) {
        adapt_model *m = load_tiny_bert();
        if (peft_load(m, lora_a)) fail_msg("%s", adapt_error());
        adapt_model_delete_lora(m, "default"); /* c10 brings a classifier: start without one */
        lora_config cfg = {.r = 2, .alpha = 4, .n_targets = 1};
        snprintf(cfg.targets[0], sizeof cfg.targets[0], "query");
        uint64_t rng = 2;
        head h;
        if (lora_attach(m, &cfg, LORA_DEFAULT_NAME, true, &rng, NULL) || head_create(m, &h, cases[c].kind, "task", cases[c].labels))
            fail_msg("%s", adapt_error());
        head_init_random(&h, &rng);
        peft_head_tensors hf;
        bool ok;
        peft_head_of(m, &h, &hf, &ok);
        assert_true(ok);
        char dir[1100];
        snprintf(dir, sizeof dir, "%s/hf-head-%d", tmp, c);
        if (peft_save_with_head(m, dir, "SEQ_CLS", &hf)) fail_msg("%s", adapt_error());
        assert_int_equal(run_command("tr -d ' \\t\\n' < '%s/adapter_config.json' | grep -qF '\"modules_to_save\":%s'", dir, cases[c].modules), 0);
        adapt_model *back = load_tiny_bert();
        if (adapt_model_load_lora(back, dir)) fail_msg("%s", adapt_error());
        const param *out = store_get(&back->store, cases[c].w_out), *dense = cases[c].w_dense ? store_get(&back->store, cases[c].w_dense) : NULL;
        const param *want_out = cases[c].kind == HEAD_TAGGING ? h.w1 : h.w2;
        assert_non_null(out);
        assert_memory_equal(out->data, want_out->data, want_out->numel * sizeof(float));
        if (cases[c].w_dense) assert_memory_equal(dense->data, h.w1->data, h.w1->numel * sizeof(float));
        adapt_model_free(back);
        adapt_model_free(m);
    }
    char out[1100];
    snprintf(out, sizeof out, "%s/sst2", tmp);
    assert_int_equal(run_command("mkdir -p '%s/SST-2' && head -n 40 '%s' > '%s/SST-2/train.tsv' && '%s' train --task sst2 --model models/default "
                                 "--train '%s/SST-2/train.tsv' --output '%s' --name sst2 --method lora --lora-r 2 --max-steps 2 --batch-size 8 "
                                 "--max-length 32 --quiet > '%s.log' 2>&1 && grep -q 'classifier.out_proj.weight' '%s/best/lora/adapter_model.safetensors' "
                                 "&& grep -q 'classifier.dense.bias' '%s/best/lora/adapter_model.safetensors'",
                                 tmp, shared_path("data/glue/SST-2/train.tsv"), tmp, build_path("adapt"), tmp, out, out, out, out),
                     0);
}

/* `adapt adapters merge-lora`: the saved folder, loaded as a plain model, gives the LoRA model's
 * hidden states, and holds the LoRA's classifier (its modules_to_save) with the LoRA's values. */
static void test_merge_command(void **state)
{
    (void)state;
    char out[1100];
    snprintf(out, sizeof out, "%s/merged", tmp);
    assert_int_equal(run_command("'%s' adapters merge-lora --model '%s' --lora '%s' --output '%s' > '%s.log' 2>&1", build_path("adapt"),
                                 shared_path("fixtures/models/tiny-bert"), lora_b, out, out),
                     0);
    adapt_model *with_lora = load_tiny_bert(), *merged = NULL;
    if (adapt_model_load_lora(with_lora, lora_b) || adapt_model_load(out, &merged)) fail_msg("%s", adapt_error());
    assert_int_equal(adapt_model_num_loras(merged), 0);
    batch b = case_batch_rows(2, with_lora);
    size_t n = batch_floats(&b);
    float *h_lora = encode(with_lora, &b), *h_merged = encode(merged, &b);
    double err = max_abs_difference(h_lora, h_merged, n);
    if (!(err < 1e-4)) fail_msg("the merged model is %g from the LoRA model", err); /* float rounding of W + s B A */
    const param *c_lora = store_get(&with_lora->store, "classifier.weight"), *c_merged = store_get(&merged->store, "classifier.weight");
    assert_true(c_lora && c_merged && c_lora->numel == c_merged->numel);
    assert_memory_equal(c_lora->data, c_merged->data, c_lora->numel * sizeof(float));
    free(h_lora), free(h_merged);
    batch_free(&b);
    adapt_model_free(with_lora), adapt_model_free(merged);
    /* a LoRA folder that is not there: the error names it */
    assert_int_equal(run_command("'%s' adapters merge-lora --model '%s' --lora '%s/none' --output '%s/x' 2> '%s.err'", build_path("adapt"),
                                 shared_path("fixtures/models/tiny-bert"), tmp, tmp, out),
                     1);
    assert_int_equal(run_command("grep -q '%s/none' '%s.err'", tmp, out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_switch),
        cmocka_unit_test(test_mixed_batch),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_foreign_factor_names),
        cmocka_unit_test(test_modules_to_save_checked),
        cmocka_unit_test(test_weighted),
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_hf_heads),
        cmocka_unit_test(test_merge_command),
    };
    return cmocka_run_group_tests(tests, make_variants, remove_variants);
}
