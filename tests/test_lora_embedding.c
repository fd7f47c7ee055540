/* LoRA on the embedding tables (PEFT's lora.Embedding, target_modules "word_embeddings", ...): the
 * model with E += s (B A)^T folded in by hand gives the same hidden states, merged too, and
 * unmerging gives E back; PEFT's file names and shapes, older PEFT's ".default" spelling; A's and
 * B's gradients against central differences; a mixed-LoRA batch; refusals; `adapt train
 * --lora-targets ...,word_embeddings`. */
#include "adapters/lora.h"
#include "case_batch.h"
#include "core/json.h"
#include "formats/param_io.h"
#include "lora_fixture.h"
#include "model/model.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CASE "c10_lora_tagging"
#define HIDDEN 32

/* A LoRA on query and the word and position tables, r 3, alpha 6; A (zeros at first) and B drawn. */
static lora_state *make_embedding_lora(adapt_model *m, const char *name, uint64_t seed)
{
    lora_config cfg = {.r = 3, .alpha = 6, .n_targets = 3};
    snprintf(cfg.targets[0], 64, "query");
    snprintf(cfg.targets[1], 64, "word_embeddings");
    snprintf(cfg.targets[2], 64, "position_embeddings");
    lora_state *s;
    if (lora_attach(m, &cfg, name, true, &seed, &s)) fail_msg("%s", adapt_error());
    assert_true(s->has_emb[EMB_WORD] && s->has_emb[EMB_POSITION] && !s->has_emb[EMB_TYPE]);
    for (int e = 0; e < 2; e++) {
        param *A = s->emb[e].A, *B = s->emb[e].B;
        for (size_t i = 0; i < A->numel; i++) assert_float_equal(A->data[i], 0, 0); /* PEFT: A from zeros, B normal */
        for (size_t i = 0; i < A->numel; i++) A->data[i] = (float)(test_uniform(&seed) - 0.5) * 0.2f;
        assert_int_equal(A->shape[0], 3);
        assert_int_equal(B->shape[0], HIDDEN);
    }
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < s->pairs[l][LIN_QUERY].B->numel; i++) s->pairs[l][LIN_QUERY].B->data[i] = (float)(test_uniform(&seed) - 0.5);
    return s;
}

/* E += s (B A)^T of each table pair, and W += s B A of the query pairs, by hand in double. */
static void fold_by_hand(adapt_model *into, const lora_state *s)
{
    for (int e = 0; e < EMB_COUNT; e++) {
        if (!s->has_emb[e]) continue;
        const lora_pair *p = &s->emb[e];
        param *E = lora_embedding_table(into, (lora_embedding)e);
        int64_t rows = E->shape[0], dim = E->shape[1], r = p->A->shape[0];
        for (int64_t v = 0; v < rows; v++)
            for (int64_t j = 0; j < dim; j++) {
                double d = 0;
                for (int64_t c = 0; c < r; c++) d += (double)p->B->data[j * r + c] * p->A->data[c * rows + v];
                E->data[v * dim + j] += (float)(p->scaling * d);
            }
    }
    for (int l = 0; l < 2; l++) {
        double *delta = lora_delta(into, s->name, l, LIN_QUERY);
        param *W = linear_weight(&into->layers[l], LIN_QUERY);
        for (size_t i = 0; i < W->numel; i++) W->data[i] += (float)delta[i];
        free(delta);
    }
}

static void test_forward_merge_and_files(void **state)
{
    (void)state;
    case_batch b = case_batch_read(CASE, 0);
    size_t n = (size_t)b.B * b.T * HIDDEN;
    adapt_model *m = load_tiny_bert(), *folded = load_tiny_bert(), *base = load_tiny_bert();
    lora_state *s = make_embedding_lora(m, "emb", 4);
    if (lora_attach(folded, &s->cfg, "emb", true, &(uint64_t){1}, NULL)) fail_msg("%s", adapt_error());
    lora_state *copy = lora_find(folded, "emb"); /* the same values, so lora_delta can read them there */
    for (int e = 0; e < 2; e++) {
        memcpy(copy->emb[e].A->data, s->emb[e].A->data, s->emb[e].A->numel * sizeof(float));
        memcpy(copy->emb[e].B->data, s->emb[e].B->data, s->emb[e].B->numel * sizeof(float));
    }
    for (int l = 0; l < 2; l++) {
        memcpy(copy->pairs[l][LIN_QUERY].A->data, s->pairs[l][LIN_QUERY].A->data, s->pairs[l][LIN_QUERY].A->numel * sizeof(float));
        memcpy(copy->pairs[l][LIN_QUERY].B->data, s->pairs[l][LIN_QUERY].B->data, s->pairs[l][LIN_QUERY].B->numel * sizeof(float));
    }
    fold_by_hand(folded, copy);
    if (adapt_model_set_lora(folded, NULL)) fail_msg("%s", adapt_error());
    float *want = encode_case_batch(folded, &b), *got = encode_case_batch(m, &b), *plain = encode_case_batch(base, &b);
    if (!(max_abs_difference(want, got, n) < 1e-5)) fail_msg("embedding LoRA differs from the folded model by %g", max_abs_difference(want, got, n));
    assert_true(max_abs_difference(want, plain, n) > 1e-2);
    assert_merge_round_trip(m, &b, want, lora_embedding_table(m, EMB_WORD));

    char dir[1100];
    snprintf(dir, sizeof dir, "%s/emb-lora", test_tmp);
    param_store st;
    save_lora_and_read(m, "emb", dir, &st);
    const param *a = store_get(&st, "base_model.model.bert.embeddings.word_embeddings.lora_embedding_A");
    const param *bp = store_get(&st, "base_model.model.bert.embeddings.position_embeddings.lora_embedding_B");
    assert_non_null(a);
    assert_non_null(bp);
    assert_int_equal(a->shape[0], 3);
    assert_int_equal(a->shape[1], 512);
    assert_int_equal(bp->shape[0], HIDDEN);
    assert_int_equal(bp->shape[1], 3);
    /* older PEFT's spelling: "lora_embedding_A.default" */
    const char *names[16], *renamed[16];
    static char buf[16][200];
    assert_true(st.count <= 16);
    for (size_t i = 0; i < st.count; i++) {
        names[i] = st.items[i]->name;
        snprintf(buf[i], sizeof buf[i], "%s%s", st.items[i]->name, strstr(st.items[i]->name, "lora_embedding_") ? ".default" : "");
        renamed[i] = buf[i];
    }
    char old[1100];
    snprintf(old, sizeof old, "%s/emb-lora-old", test_tmp);
    assert_int_equal(run_command("mkdir -p '%s' && cp '%s/adapter_config.json' '%s/'", old, dir, old), 0);
    assert_int_equal(store_save_safetensors(&st, path_in(old, "adapter_model.safetensors"), names, renamed, st.count, NULL, 0), ADAPT_OK);
    store_free(&st);
    const char *dirs[2] = {dir, old};
    for (int i = 0; i < 2; i++) {
        adapt_model *m2 = load_tiny_bert();
        if (adapt_model_load_lora(m2, dirs[i])) fail_msg("%s", adapt_error());
        float *again = encode_case_batch(m2, &b);
        assert_true(max_abs_difference(got, again, n) == 0);
        free(again);
        adapt_model_free(m2);
    }
    free(want), free(got), free(plain);
    adapt_model_free(m), adapt_model_free(folded), adapt_model_free(base);
    case_batch_free(&b);
}

/* A's and B's gradients (the word and position tables) against central differences. */
static void test_gradients(void **state)
{
    (void)state;
    grad_run g;
    adapt_model *m = load_tiny_bert();
    lora_state *s = make_embedding_lora(m, "emb", 9);
    grad_run_init(&g, m, 6);
    grad_run_loss(&g, true);
    for (int e = 0; e < 2; e++) {
        assert_largest_gradient(&g, s->emb[e].A);
        assert_largest_gradient(&g, s->emb[e].B);
    }
    grad_run_free(&g);
    adapt_model_free(m);
}

/* Each row of a mixed-LoRA batch gets its own LoRA's embeddings; what cannot be done is refused. */
static void test_mixed_rows_and_refusals(void **state)
{
    (void)state;
    case_batch b = case_batch_read(CASE, 0);
    size_t n = (size_t)b.B * b.T * HIDDEN, row = (size_t)b.T * HIDDEN;
    adapt_model *m = load_tiny_bert();
    make_embedding_lora(m, "one", 2);
    make_embedding_lora(m, "two", 3);
    float *alone[2];
    const char *loras[2] = {"one", "two"};
    for (int i = 0; i < 2; i++) {
        if (adapt_model_set_lora(m, loras[i])) fail_msg("%s", adapt_error());
        alone[i] = encode_case_batch(m, &b);
    }
    assert_true(max_abs_difference(alone[0], alone[1], n) > 1e-3);
    const char **names = calloc((size_t)b.B, sizeof *names);
    for (int i = 0; i < b.B; i++) names[i] = loras[i % 2];
    float *mixed = malloc(n * sizeof *mixed);
    if (adapt_model_encode_mixed_lora(m, b.B, b.T, b.ids, b.mask, b.type_ids, names, mixed)) fail_msg("%s", adapt_error());
    for (int i = 0; i < b.B; i++)
        if (!(max_abs_difference(alone[i % 2] + i * row, mixed + i * row, row) < 1e-5)) fail_msg("mixed row %d differs", i);
    free(names), free(mixed), free(alone[0]), free(alone[1]);
    expect_failure(adapt_model_save_lora_adapterhub(m, "one", path_in(test_tmp, "x")), ADAPT_ERR_UNSUPPORTED, "embedding tables");
    const double w[2] = {1, 1};
    expect_failure(adapt_model_add_weighted_lora(m, loras, w, 2, "both", "linear"), ADAPT_ERR_UNSUPPORTED, "embedding tables");
    lora_config ia3 = {.r = 1, .alpha = 1, .ia3 = true, .n_targets = 1};
    snprintf(ia3.targets[0], 64, "word_embeddings");
    uint64_t rng = 1;
    expect_failure(lora_attach(m, &ia3, "ia", true, &rng, NULL), ADAPT_ERR_UNSUPPORTED, "(IA)^3 on an embedding table");
    size_t tensors = m->store.count; /* a failed attach leaves none of the factors it made */
    lora_config dora = {.r = 2, .alpha = 2, .use_dora = true, .n_targets = 2};
    snprintf(dora.targets[0], 64, "query");
    snprintf(dora.targets[1], 64, "word_embeddings");
    expect_failure(lora_attach(m, &dora, "dora", true, &rng, NULL), ADAPT_ERR_UNSUPPORTED, "DoRA on an embedding table");
    assert_int_equal(m->store.count, tensors);
    lora_config huge = {.r = 1, .alpha = 1e300, .n_targets = 1};
    snprintf(huge.targets[0], 64, "word_embeddings");
    expect_failure(lora_attach(m, &huge, "huge", true, &rng, NULL), ADAPT_ERR_FORMAT, "no float scaling");
    /* a LoRA whose name starts like an embedding factor saves its linear factors under PEFT's names */
    make_embedding_lora(m, "lora_embedding_de", 8);
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/odd-name", test_tmp);
    if (adapt_model_save_lora(m, "lora_embedding_de", dir)) fail_msg("%s", adapt_error());
    if (adapt_model_load_lora_as(m, dir, "reloaded")) fail_msg("%s", adapt_error());
    assert_true(lora_find(m, "reloaded")->has[1][LIN_QUERY] && lora_find(m, "reloaded")->has_emb[EMB_WORD]);
    adapt_model_free(m);
    case_batch_free(&b);
}

/* `adapt train --method lora --lora-targets query,word_embeddings` saves PEFT's embedding factors; A moved from zero. */
static void test_train_command(void **state)
{
    (void)state;
    const char *dir = train_tiny_lora("--lora-targets query,word_embeddings", "emb-trained");
    cJSON *root = read_json(path_in(dir, "adapter_config.json"));
    char *targets = cJSON_PrintUnformatted(cJSON_GetObjectItem(root, "target_modules"));
    assert_string_equal(targets, "[\"query\",\"word_embeddings\"]");
    free(targets);
    cJSON_Delete(root);
    adapt_model *m = NULL;
    if (adapt_model_load("models/default", &m) || adapt_model_load_lora(m, dir)) fail_msg("%s", adapt_error());
    assert_true(m->lora->has_emb[EMB_WORD] && !m->lora->has_emb[EMB_POSITION]);
    double moved = 0;
    for (size_t i = 0; i < m->lora->emb[EMB_WORD].A->numel; i++) moved = fmax(moved, fabs(m->lora->emb[EMB_WORD].A->data[i]));
    if (!(moved > 1e-4)) fail_msg("the embedding LoRA's A stayed at zero (largest %g)", moved);
    adapt_model_free(m);
    /* a typo among the targets is refused, not trained around; spaces are forgiven */
    assert_int_equal(run_command("'%s' train --task ner --model models/default --train '%s/ner.conll' --output '%s/typo' --method lora "
                                 "--lora-targets 'query, word_embedings' --max-steps 1 --quiet > '%s/typo.log' 2>&1",
                                 build_path("adapt"), test_tmp, test_tmp, test_tmp) != 0, 1);
    assert_int_equal(run_command("grep -q 'word_embedings\\\" names no module' '%s/typo.log'", test_tmp), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_merge_and_files),
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_mixed_rows_and_refusals),
        cmocka_unit_test(test_train_command),
    };
    return cmocka_run_group_tests(tests, test_tmp_setup, test_tmp_teardown);
}
