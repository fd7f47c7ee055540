/* Weight-only bf16 (adapt_weight_dtype): the frozen encoder linear weights held as bf16 and
 * widened to fp32 before each GEMM. Rounding is torch's round-to-nearest-even; the bf16 forward
 * equals the fp32 forward on the rounded weights bit for bit and stays within bf16 tolerance of
 * the fp32 one; adapters train on top; whatever needs the freed fp32 values is refused by name. */
#include "testutil.h"
#include "adapters/lora.h"
#include "adapters/setup.h"
#include "core/bf16.h"
#include "core/error.h"
#include "formats/param_io.h"
#include "model/heads.h"
#include "model/layers.h"
#include "model/model.h"
#include "train/adamw.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 2, T = 12, LABELS = 5 };

static model_config tiny_config(void)
{
    model_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.model_type, sizeof c.model_type, "bert");
    c.family = FAMILY_BERT;
    c.hidden_act = ACT_GELU;
    c.hidden = 32, c.layers = 2, c.heads = 4, c.intermediate = 64, c.vocab = 100;
    c.max_positions = 64, c.type_vocab = 2, c.pad_id = 0, c.layer_norm_eps = 1e-12;
    return c;
}

static adapt_model *tiny_model(adapt_weight_dtype dtype)
{
    model_config c = tiny_config();
    adapt_model *m;
    assert_int_equal(model_create_dtype(&c, dtype, &m), ADAPT_OK);
    model_init_random(m, 0.5, 3); /* large weights: rounding visibly changes the output */
    return m;
}

static void batch(int32_t *ids)
{
    for (int i = 0; i < B * T; i++) ids[i] = 1 + (i * 37) % 99;
}

/* The last hidden state of an inference pass, copied out. */
static float *encode(adapt_model *m)
{
    int32_t ids[B * T];
    batch(ids);
    size_t n = (size_t)B * T * m->cfg.hidden;
    float *h = malloc(n * sizeof *h);
    assert_int_equal(adapt_model_encode(m, B, T, ids, NULL, NULL, h, NULL), ADAPT_OK);
    return h;
}

/* Round to nearest even, computed another way: the two bf16 neighbours of x, the closer one, the
 * even one on a tie. */
static uint16_t reference_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1);
    double dlo = fabs((double)x - bf16_widen(lo)), dhi = fabs((double)x - bf16_widen(hi));
    if (dlo < dhi) return lo;
    if (dhi < dlo) return hi;
    return (lo & 1) ? hi : lo;
}

static void test_rounding_is_nearest_even(void **state)
{
    (void)state;
    /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to the even 0x3f80; 1 + 3 * 2^-8 to 0x3f82 */
    assert_int_equal(bf16_round(1.0f), 0x3f80);
    assert_int_equal(bf16_round(1.00390625f), 0x3f80);
    assert_int_equal(bf16_round(1.01171875f), 0x3f82);
    assert_int_equal(bf16_round(1.0040f), 0x3f81);  /* just above the tie: up */
    assert_int_equal(bf16_round(-2.0f), 0xc000);
    assert_int_equal(bf16_round(3.4e38f), 0x7f80);   /* past the largest bf16: infinity, as torch */
    adapt_model *f = tiny_model(ADAPT_WEIGHTS_FP32), *h = tiny_model(ADAPT_WEIGHTS_FP32);
    assert_int_equal(adapt_model_set_weight_dtype(h, ADAPT_WEIGHTS_BF16), ADAPT_OK);
    size_t checked = 0;
    for (int l = 0; l < f->cfg.layers; l++) {
        const param *a[6] = {f->layers[l].q_w, f->layers[l].k_w, f->layers[l].v_w, f->layers[l].attn_out_w,
                             f->layers[l].inter_w, f->layers[l].out_w};
        const param *b[6] = {h->layers[l].q_w, h->layers[l].k_w, h->layers[l].v_w, h->layers[l].attn_out_w,
                             h->layers[l].inter_w, h->layers[l].out_w};
        for (int k = 0; k < 6; k++) {
            assert_null(b[k]->data); /* the fp32 copy is gone */
            assert_non_null(b[k]->bf16);
            for (size_t i = 0; i < a[k]->numel; i++, checked++) assert_int_equal(b[k]->bf16[i], reference_round(a[k]->data[i]));
        }
        assert_non_null(h->layers[l].q_b->data); /* biases and LayerNorms stay fp32 */
        assert_null(h->layers[l].q_b->bf16);
        assert_non_null(h->layers[l].attn_ln_w->data);
    }
    assert_int_equal(checked, 2 * (4 * 32 * 32 + 2 * 32 * 64));
    assert_non_null(h->word->data); /* embeddings stay fp32 */
    /* A model created as bf16 holds the same values as one converted after the fact. */
    adapt_model *c = tiny_model(ADAPT_WEIGHTS_BF16);
    assert_memory_equal(c->layers[1].inter_w->bf16, h->layers[1].inter_w->bf16, 64 * 32 * sizeof(uint16_t));
    adapt_model_free(c);
    adapt_model_free(h);
    adapt_model_free(f);
}

static void test_forward_matches(void **state)
{
    (void)state;
    adapt_model *f = tiny_model(ADAPT_WEIGHTS_FP32), *h = tiny_model(ADAPT_WEIGHTS_BF16);
    float *yf = encode(f), *yh = encode(h);
    size_t n = (size_t)B * T * f->cfg.hidden;
    double worst = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)yf[i] - yh[i]));
        scale = fmax(scale, fabs((double)yf[i]));
    }
    /* 8-bit mantissas: each weight within 2^-9 relative; through two post-LN layers of these large
     * weights the outputs (|y| up to ~2.7) move by up to ~2% of the largest: not equal, not wrong. */
    assert_true(worst > 1e-5);
    assert_true(worst < 0.03 * scale);
    /* Widened back to fp32, the weights are the bf16 values: the fp32 path on them gives the bf16
     * path's output bit for bit (widening is exact and the GEMMs are the same sgemm calls). */
    assert_int_equal(adapt_model_set_weight_dtype(f, ADAPT_WEIGHTS_BF16), ADAPT_OK);
    assert_int_equal(adapt_model_set_weight_dtype(f, ADAPT_WEIGHTS_FP32), ADAPT_OK);
    assert_null(f->weight_scratch);
    assert_non_null(f->layers[0].q_w->data);
    float *yr = encode(f);
    assert_memory_equal(yr, yh, n * sizeof(float));
    /* the training pass (kept activations) agrees with the inference pass */
    int32_t ids[B * T];
    batch(ids);
    assert_int_equal(model_forward(h, B, T, ids, NULL, NULL), ADAPT_OK);
    assert_memory_equal(h->fw.hidden[h->cfg.layers], yh, n * sizeof(float));
    free(yf);
    free(yh);
    free(yr);
    adapt_model_free(f);
    adapt_model_free(h);
}

/* Pfeiffer adapters and a tagging head trained over the bf16 base: 30 AdamW steps on one batch. */
static void train(adapt_model *m, double *first, double *last)
{
    bn_config bc;
    assert_int_equal(bn_config_parse_string("seq_bn", &bc), ADAPT_OK);
    assert_int_equal(setup_add_adapter(m, "a", &bc, true), ADAPT_OK);
    assert_int_equal(setup_activate(m, "a"), ADAPT_OK);
    assert_int_equal(setup_set_adapter_trainable(m, "a", true), ADAPT_OK);
    head h;
    assert_int_equal(head_create(m, &h, HEAD_TAGGING, "t", LABELS), ADAPT_OK);
    uint64_t rng = 5;
    head_init_random(&h, &rng);
    assert_int_equal(store_set_trainable(h.w1, true), ADAPT_OK);
    assert_int_equal(store_set_trainable(h.b1, true), ADAPT_OK);
    int32_t ids[B * T];
    int64_t labels[B * T];
    batch(ids);
    for (int i = 0; i < B * T; i++) labels[i] = ids[i] % LABELS;
    float logits[B * T * LABELS], d_logits[B * T * LABELS], *d_hidden = calloc((size_t)B * T * m->cfg.hidden, sizeof(float));
    adamw_config ac = {1e-2, 0.9, 0.999, 1e-8, 0.0};
    m->training = false; /* no dropout: the loss must fall step after step */
    for (int step = 1; step <= 30; step++) {
        assert_int_equal(model_forward(m, B, T, ids, NULL, NULL), ADAPT_OK);
        assert_int_equal(head_forward(m, &h, logits), ADAPT_OK);
        memset(d_logits, 0, sizeof d_logits);
        memset(d_hidden, 0, (size_t)B * T * m->cfg.hidden * sizeof(float));
        store_zero_grads(&m->store);
        double loss = cross_entropy_forward_backward(d_logits, logits, labels, B * T, LABELS, 1.0f);
        assert_true(isfinite(loss));
        if (step == 1) *first = loss;
        *last = loss;
        assert_int_equal(head_backward(m, &h, d_logits, d_hidden), ADAPT_OK);
        assert_int_equal(model_backward(m, d_hidden), ADAPT_OK);
        assert_int_equal(adamw_step(&m->store, &ac, ac.lr, step), ADAPT_OK);
    }
    free(d_hidden);
}

static void test_adapter_training(void **state)
{
    (void)state;
    double first_f, last_f, first_h, last_h;
    adapt_model *f = tiny_model(ADAPT_WEIGHTS_FP32), *h = tiny_model(ADAPT_WEIGHTS_BF16);
    train(f, &first_f, &last_f);
    train(h, &first_h, &last_h);
    assert_true(last_h < 0.5 * first_h); /* ~ln 5 down to well under half */
    assert_true(fabs(first_h - first_f) < 0.05 * first_f); /* the same problem, up to bf16 rounding */
    assert_true(fabs(last_h - last_f) < 0.2 * last_f + 0.02);
    assert_non_null(h->layers[0].q_w->bf16); /* still frozen, still bf16 */
    assert_null(h->layers[0].q_w->grad);
    adapt_model_free(f);
    adapt_model_free(h);
}

static void expect_error(adapt_status s, const char *needle)
{
    assert_int_not_equal(s, ADAPT_OK);
    if (!strstr(adapt_error(), needle)) fail_msg("error \"%s\" does not mention \"%s\"", adapt_error(), needle);
}

static void test_fp32_readers_refuse(void **state)
{
    (void)state;
    adapt_model *m = tiny_model(ADAPT_WEIGHTS_BF16);
    char *dir = make_temp_dir();
    const char *q = "bert.encoder.layer.0.attention.self.query.weight";
    expect_error(store_set_trainable(m->layers[0].q_w, true), q);
    expect_error(model_save(m, dir, 0), "held as bf16");
    const char *names[] = {q};
    expect_error(store_save_safetensors(&m->store, path_in(dir, "w.safetensors"), names, NULL, 1, NULL, 0), q);
    /* a file with that tensor cannot be loaded into the bf16-held one */
    adapt_model *f = tiny_model(ADAPT_WEIGHTS_FP32);
    assert_int_equal(store_save_safetensors(&f->store, path_in(dir, "w.safetensors"), names, NULL, 1, NULL, 0), ADAPT_OK);
    expect_error(store_load_safetensors(&m->store, path_in(dir, "w.safetensors"), NULL, NULL, NULL), "held as bf16");
    /* LoRA runs beside the bf16 weights, but merging into them is refused, and nothing changes */
    lora_config lc = {.r = 2, .alpha = 4, .n_targets = 1, .targets = {"query"}};
    uint64_t rng = 9;
    assert_int_equal(lora_attach(m, &lc, LORA_DEFAULT_NAME, true, &rng, NULL), ADAPT_OK);
    float *before = encode(m);
    expect_error(lora_merge(m), "merging LoRA");
    assert_false(m->lora->merged);
    float *after = encode(m);
    assert_memory_equal(before, after, (size_t)B * T * m->cfg.hidden * sizeof(float));
    /* a trainable linear weight cannot be held as bf16 */
    assert_int_equal(store_set_trainable(f->layers[1].out_w, true), ADAPT_OK);
    expect_error(adapt_model_set_weight_dtype(f, ADAPT_WEIGHTS_BF16), "encoder.layer.1.output.dense.weight");
    assert_non_null(f->layers[0].q_w->data); /* refused before anything changed */
    /* back in fp32 (the bf16 values, widened), saving works again */
    assert_int_equal(adapt_model_set_weight_dtype(m, ADAPT_WEIGHTS_FP32), ADAPT_OK);
    assert_int_equal(model_save(m, dir, 0), ADAPT_OK);
    free(before);
    free(after);
    adapt_model_free(f);
    adapt_model_free(m);
    remove_tree(dir);
    free(dir);
}

/* Loading a folder as bf16: a F32 checkpoint is rounded, a BF16 one copied bit for bit. */
static void test_load(void **state)
{
    (void)state;
    adapt_model *f, *h;
    assert_int_equal(adapt_model_load(shared_path("fixtures/models/tiny-bert"), &f), ADAPT_OK);
    assert_int_equal(adapt_model_load_dtype(shared_path("fixtures/models/tiny-bert"), ADAPT_WEIGHTS_BF16, &h), ADAPT_OK);
    const param *a = f->layers[0].inter_w, *b = h->layers[0].inter_w;
    assert_null(b->data);
    for (size_t i = 0; i < a->numel; i++) assert_int_equal(b->bf16[i], bf16_round(a->data[i]));
    assert_memory_equal(f->layers[0].inter_b->data, h->layers[0].inter_b->data, a->shape[0] * sizeof(float));
    adapt_model_free(f);
    adapt_model_free(h);
}

/* The command line: bench, eval and predict take --dtype bf16; full fine-tuning refuses it. */
static void test_cli(void **state)
{
    (void)state;
    char adapt[4096], data[4096]; /* out of the helpers' rotating buffers */
    snprintf(adapt, sizeof adapt, "%s", build_path("adapt"));
    snprintf(data, sizeof data, "%s", shared_path("data/ner/wikiann-en/dev.conll"));
    char *dir = make_temp_dir();
    assert_int_equal(run_command("'%s' bench --preset default --batch 1 --seq 8 --mode adapter --steps 1 --warmup 0 --no-ceiling "
                                 "--dtype bf16 --json > '%s'", adapt, path_in(dir, "b.json")), 0);
    assert_int_equal(run_command("grep -q '\"dtype\": \"bf16\"' '%s'", path_in(dir, "b.json")), 0);
    assert_int_equal(run_command("'%s' bench --preset default --mode full --dtype bf16 2> '%s'", adapt, path_in(dir, "e.txt")), 1);
    assert_int_equal(run_command("grep -q 'full fine-tuning trains every weight' '%s'", path_in(dir, "e.txt")), 0);
    assert_int_equal(run_command("'%s' bench --preset default --dtype fp16 2> /dev/null", adapt), 2);
    double f1[2];
    for (int k = 0; k < 2; k++) {
        assert_int_equal(run_command("'%s' eval --model models/default --load-adapter models/adapters/en "
                                     "--load-adapter models/adapters/ner --setup 'Stack(en, ner)' --data '%s' --max-examples 40 "
                                     "--dtype %s --json '%s' > /dev/null",
                                     adapt, data, k ? "bf16" : "fp32", path_in(dir, "f1.json")), 0);
        char *text = NULL;
        size_t len = 0;
        FILE *fp = fopen(path_in(dir, "f1.json"), "r");
        assert_non_null(fp);
        assert_int_equal(getdelim(&text, &len, 0, fp) > 0, 1);
        fclose(fp);
        cJSON *j = cJSON_Parse(text);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "f1");
        assert_true(cJSON_IsNumber(v));
        f1[k] = v->valuedouble;
        cJSON_Delete(j);
        free(text);
    }
    assert_true(f1[0] > 0.2);
    assert_true(fabs(f1[0] - f1[1]) < 0.05); /* bf16 weights move a few tags at most */
    const char *conll = "George\nWashington\nvisited\nParis\n.\n\nSioux\nFalls\nArena\n";
    write_file(path_in(dir, "in.conll"), conll, strlen(conll));
    assert_int_equal(run_command("'%s' predict --model models/default --load-adapter models/adapters/en --load-adapter "
                                 "models/adapters/ner --setup 'Stack(en, ner)' --input '%s' --output '%s' --dtype bf16 > /dev/null",
                                 adapt, path_in(dir, "in.conll"), path_in(dir, "p.conll")), 0);
    assert_int_equal(run_command("grep -c . '%s' | grep -qx 8", path_in(dir, "p.conll")), 0);
    remove_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rounding_is_nearest_even),
        cmocka_unit_test(test_forward_matches),
        cmocka_unit_test(test_adapter_training),
        cmocka_unit_test(test_fp32_readers_refuse),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests_name("bf16 weights", tests, NULL, NULL);
}
