/* PEFT's lora_dropout: while training, the LoRA branch sees dropout(x) (the base layer x itself).
 * Gradients of A and B, and of a weight below (through the mask), against central differences
 * with the same masks each pass; the masks change the training pass and nothing in evaluation;
 * `adapt train --lora-dropout` writes it to the config. */
#include "adapters/lora.h"
#include "case_batch.h"
#include "core/json.h"
#include "lora_fixture.h"
#include "model/model.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A LoRA on query and value with lora_dropout 0.3 and B drawn away from zero. */
static lora_state *make_dropout_lora(adapt_model *m, uint64_t seed)
{
    lora_config cfg = {.r = 4, .alpha = 8, .dropout = 0.3, .n_targets = 2};
    snprintf(cfg.targets[0], 64, "query");
    snprintf(cfg.targets[1], 64, "value");
    lora_state *s;
    if (lora_attach(m, &cfg, LORA_DEFAULT_NAME, true, &seed, &s)) fail_msg("%s", adapt_error());
    for (int l = 0; l < m->cfg.layers; l++)
        for (int k = 0; k < LIN_COUNT; k++)
            for (size_t i = 0; s->has[l][k] && i < s->pairs[l][k].B->numel; i++)
                s->pairs[l][k].B->data[i] = (float)(0.3 * (2 * test_uniform(&seed) - 1));
    return s;
}

static void test_gradients(void **state)
{
    (void)state;
    grad_run g;
    adapt_model *m = load_tiny_bert();
    m->training = true;
    lora_state *s = make_dropout_lora(m, 5);
    param *below = linear_weight(&m->layers[0], LIN_INTER); /* its gradient crosses layer 1's dropped branches */
    assert_int_equal(store_set_trainable(below, true), ADAPT_OK);
    grad_run_init(&g, m, 7);
    grad_run_loss(&g, true);
    for (int l = 0; l < 2; l++) {
        assert_largest_gradient(&g, s->pairs[l][LIN_QUERY].A);
        assert_largest_gradient(&g, s->pairs[l][LIN_VALUE].B);
    }
    assert_largest_gradient(&g, below);
    grad_run_free(&g);
    adapt_model_free(m);
}

/* The same training pass (same dropout stream) with lora_dropout 0.3 and 0 differs; two passes with
 * 0.3 agree; evaluation ignores it. */
static void test_masks_act_in_training_only(void **state)
{
    (void)state;
    case_batch b = case_batch_read("c10_lora_tagging", 0);
    size_t n = (size_t)b.B * b.T * 32;
    adapt_model *m = load_tiny_bert();
    lora_state *s = make_dropout_lora(m, 6);
    float *out[4];
    double p[4] = {0.3, 0.3, 0.0, 0.3};
    for (int i = 0; i < 4; i++) {
        s->cfg.dropout = p[i];
        m->training = i < 3;
        m->dropout_rng = 77;
        float *h = malloc(n * sizeof *h);
        assert_int_equal(model_forward(m, b.B, b.T, b.ids, b.mask, b.type_ids), ADAPT_OK);
        memcpy(h, m->fw.hidden[m->cfg.layers], n * sizeof *h);
        out[i] = h;
    }
    assert_true(max_abs_difference(out[0], out[1], n) == 0);
    assert_true(max_abs_difference(out[0], out[2], n) > 1e-3);
    m->training = false;
    s->cfg.dropout = 0;
    float *eval_plain = encode_case_batch(m, &b);
    assert_true(max_abs_difference(out[3], eval_plain, n) == 0);
    for (int i = 0; i < 4; i++) free(out[i]);
    free(eval_plain);
    adapt_model_free(m);
    case_batch_free(&b);
}

/* `adapt train --lora-dropout 0.1` writes PEFT's lora_dropout; with --dora it is refused. */
static void test_train_command(void **state)
{
    (void)state;
    const char *dir = train_tiny_lora("--lora-dropout 0.1", "dropout-trained");
    assert_float_equal(json_file_number(path_in(dir, "adapter_config.json"), "lora_dropout"), 0.1, 1e-12);
    assert_int_equal(run_command("'%s' train --task ner --model models/default --train '%s/ner.conll' --output '%s/x' --method lora "
                                 "--dora --lora-dropout 0.1 --max-steps 1 --quiet > '%s/x.log' 2>&1",
                                 build_path("adapt"), test_tmp, test_tmp, test_tmp) != 0, 1);
    assert_int_equal(run_command("grep -q 'lora-dropout' '%s/x.log'", test_tmp), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_masks_act_in_training_only),
        cmocka_unit_test(test_train_command),
    };
    return cmocka_run_group_tests(tests, test_tmp_setup, test_tmp_teardown);
}
