/* safetensors / config.json / sharded index: round trips, dtype conversions, and hostile files that
 * must give a clear error naming the file, never a crash. */
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char path_buf[4][4400];
static const char *in_dir(const char *dir, const char *name, int slot)
{
    snprintf(path_buf[slot], sizeof path_buf[slot], "%s/%s", dir, name);
    return path_buf[slot];
}

/* ------------------------------------------------------------------ round trips */
static void test_roundtrip_all_dtypes(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    unsigned char raw[64];
    for (int i = 0; i < 64; i++) raw[i] = (unsigned char)(i * 7 + 3);
    adapt_tensor_desc d[ADAPT_DTYPE_COUNT];
    char names[ADAPT_DTYPE_COUNT][16];
    for (int t = 0; t < ADAPT_DTYPE_COUNT; t++) {
        snprintf(names[t], sizeof names[t], "t%d", t);
        d[t] = (adapt_tensor_desc){.name = names[t], .dtype = (adapt_dtype)t, .ndim = 2, .shape = {2, 2}, .data = raw};
    }
    const char *meta[] = {"format", "pt"};
    const char *p = in_dir(tmp, "all.safetensors", 0);
    assert_int_equal(adapt_safetensors_write(p, d, ADAPT_DTYPE_COUNT, meta, 1), ADAPT_OK);
    st_file f;
    assert_int_equal(st_open(p, &f), ADAPT_OK);
    assert_int_equal(f.count, ADAPT_DTYPE_COUNT);
    /* The header is padded to a multiple of 8 bytes. */
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f.map.data[i];
    assert_int_equal(hlen % 8, 0);
    for (int t = 0; t < ADAPT_DTYPE_COUNT; t++) {
        const st_tensor *x = st_find(&f, names[t]);
        assert_non_null(x);
        assert_int_equal(x->dtype, t);
        assert_int_equal(x->numel, 4);
        assert_memory_equal(x->data, raw, 4 * dtype_size((adapt_dtype)t));
    }
    st_close(&f);
    remove_tree(tmp);
    free(tmp);
}

static void test_float_conversions(void **state)
{
    (void)state;
    assert_true(bf16_to_f32(0x3f80) == 1.0f);
    assert_true(bf16_to_f32(0xc000) == -2.0f);
    assert_int_equal(f32_to_bf16(1.0f), 0x3f80);
    /* round to nearest even: 1 + 2^-8 is exactly between two bf16 values -> rounds down to 1 */
    assert_int_equal(f32_to_bf16(1.00390625f), 0x3f80);
    assert_int_equal(f32_to_bf16(1.01171875f), 0x3f82); /* 1 + 3*2^-8 -> up to even */
    assert_true(f16_to_f32(0x3c00) == 1.0f);
    assert_true(f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    assert_true(f16_to_f32(0x7bff) == 65504.0f);
    assert_int_equal(f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(f32_to_f16(-0.5f), 0xb800);
    assert_true(isinf(f16_to_f32(0x7c00)));
}

/* ------------------------------------------------------------------ model copies */
/* Writes tiny-bert's tensors into `dir`, either as BF16 or split into three shards with an index. */
static void write_copy(const char *dir, bool bf16, bool sharded)
{
    assert_int_equal(run_command("cp '%s' '%s/'", shared_path("fixtures/models/tiny-bert/config.json"), dir), 0);
    st_file f;
    assert_int_equal(st_open(shared_path("fixtures/models/tiny-bert/model.safetensors"), &f), ADAPT_OK);
    adapt_tensor_desc *d = calloc(f.count, sizeof *d);
    uint16_t **conv = calloc(f.count, sizeof *conv);
    for (size_t i = 0; i < f.count; i++) {
        const st_tensor *t = &f.tensors[i];
        d[i] = (adapt_tensor_desc){.name = t->name, .dtype = t->dtype, .ndim = t->ndim, .data = t->data};
        memcpy(d[i].shape, t->shape, sizeof t->shape);
        if (bf16) {
            float *v = malloc(t->numel * sizeof(float));
            assert_int_equal(st_to_f32(&f, t, v), ADAPT_OK);
            conv[i] = malloc(t->numel * 2);
            for (size_t k = 0; k < t->numel; k++) conv[i][k] = f32_to_bf16(v[k]);
            free(v);
            d[i].dtype = ADAPT_DTYPE_BF16;
            d[i].data = conv[i];
        }
    }
    if (!sharded) {
        assert_int_equal(adapt_safetensors_write(in_dir(dir, "model.safetensors", 0), d, f.count, NULL, 0), ADAPT_OK);
    } else {
        size_t cut[4] = {0, f.count / 3, 2 * f.count / 3, f.count};
        FILE *idx = fopen(in_dir(dir, "model.safetensors.index.json", 1), "w");
        fprintf(idx, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
        for (int s = 0; s < 3; s++) {
            char shard[64];
            snprintf(shard, sizeof shard, "model-%05d-of-00003.safetensors", s + 1);
            assert_int_equal(adapt_safetensors_write(in_dir(dir, shard, 0), d + cut[s], cut[s + 1] - cut[s], NULL, 0), ADAPT_OK);
            for (size_t i = cut[s]; i < cut[s + 1]; i++) fprintf(idx, "%s\"%s\": \"%s\"", i ? ", " : "", d[i].name, shard);
        }
        fprintf(idx, "}}\n");
        fclose(idx);
    }
    for (size_t i = 0; i < f.count; i++) free(conv[i]);
    free(conv);
    free(d);
    st_close(&f);
}

static double encode_rel_diff(const char *dir_a, const char *dir_b)
{
    adapt_model *a, *b;
    assert_int_equal(adapt_model_load(dir_a, &a), ADAPT_OK);
    assert_int_equal(adapt_model_load(dir_b, &b), ADAPT_OK);
    enum { B = 2, T = 7 };
    int32_t ids[B * T] = {2, 10, 20, 30, 40, 3, 0, 2, 11, 222, 333, 444, 500, 3};
    int32_t mask[B * T] = {1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1};
    size_t n = (size_t)B * T * 32;
    float *ha = malloc(n * sizeof(float)), *hb = malloc(n * sizeof(float));
    float *la = malloc((size_t)B * T * 512 * sizeof(float)), *lb = malloc((size_t)B * T * 512 * sizeof(float));
    assert_int_equal(adapt_model_encode(a, B, T, ids, mask, NULL, ha, NULL), ADAPT_OK);
    assert_int_equal(adapt_model_encode(b, B, T, ids, mask, NULL, hb, NULL), ADAPT_OK);
    assert_int_equal(adapt_model_mlm_logits(a, B, T, ids, mask, NULL, la), ADAPT_OK);
    assert_int_equal(adapt_model_mlm_logits(b, B, T, ids, mask, NULL, lb), ADAPT_OK);
    double diff = 0, norm = 0;
    for (size_t i = 0; i < n; i++) {
        diff += (double)(ha[i] - hb[i]) * (ha[i] - hb[i]);
        norm += (double)ha[i] * ha[i];
    }
    for (size_t i = 0; i < (size_t)B * T * 512; i++) {
        diff += (double)(la[i] - lb[i]) * (la[i] - lb[i]);
        norm += (double)la[i] * la[i];
    }
    free(ha); free(hb); free(la); free(lb);
    adapt_model_free(a);
    adapt_model_free(b);
    return sqrt(diff / norm);
}

static void test_sharded_copy_matches(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    write_copy(tmp, false, true);
    assert_int_equal(encode_rel_diff(shared_path("fixtures/models/tiny-bert"), tmp) == 0.0, 1);
    /* Shows through the CLI too: three files. */
    assert_int_equal(run_command("'%s' info '%s' | grep -q '3 safetensors files'", build_path("adapt"), tmp), 0);
    remove_tree(tmp);
    free(tmp);
}

static void test_bf16_copy_within_rounding(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    write_copy(tmp, true, false);
    double rel = encode_rel_diff(shared_path("fixtures/models/tiny-bert"), tmp);
    printf("    bf16 copy: relative difference %.2e\n", rel);
    assert_true(rel > 0.0);      /* the weights did change... */
    assert_true(rel < 1.5e-2);   /* ...by bf16 rounding only (8 mantissa bits: 2^-9 per weight) */
    remove_tree(tmp);
    free(tmp);
}

/* ------------------------------------------------------------------ hostile files */
/* Writes a safetensors file from a literal header and `data_len` bytes of data. */
static void write_raw_st(const char *path, const char *header, uint64_t declared_len, size_t data_len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)(declared_len >> (8 * i));
    fwrite(len, 1, 8, fp);
    fwrite(header, 1, strlen(header), fp);
    for (size_t i = 0; i < data_len; i++) fputc(0, fp);
    fclose(fp);
}

typedef struct bad_st { const char *header; int64_t declared_delta; size_t data; const char *expect; } bad_st;

static void test_corrupt_safetensors(void **state)
{
    (void)state;
    static const bad_st cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 1000, 8, "past the end of the file"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", (int64_t)1 << 40, 8, "exceeds"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]", 0, 8, "malformed JSON"},
        {"[1, 2, 3]", 0, 0, "does not start with"},
        {"{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 8, "unknown dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 0, 8, "bytes for 3 elements"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 0, 8, "past the end of the data"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 0, 12, "overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 12, "after the last tensor"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 0, 16, "appears twice"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 0, 8, "not a non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 0, 8, "data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 0, 8, "bad data_offsets"},
        {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 8, "dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4611686018427387904],\"data_offsets\":[0,8]}}", 0, 8, "shape"},
        {"{\"__metadata__\":{\"k\":5}}", 0, 0, "not a string"},
    };
    char *tmp = make_temp_dir();
    const char *p = in_dir(tmp, "bad.safetensors", 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t declared = strlen(cases[i].header) + (uint64_t)cases[i].declared_delta;
        write_raw_st(p, cases[i].header, declared, cases[i].data);
        st_file f;
        adapt_status s = st_open(p, &f);
        if (s == ADAPT_OK) fail_msg("case %zu: accepted a corrupt file", i);
        if (!strstr(adapt_error(), p) || !strstr(adapt_error(), cases[i].expect))
            fail_msg("case %zu: message \"%s\" should name the file and say \"%s\"", i, adapt_error(), cases[i].expect);
    }
    /* Shorter than the length prefix. */
    write_file(p, "\x05\x00", 2);
    st_file f;
    assert_int_not_equal(st_open(p, &f), ADAPT_OK);
    assert_non_null(strstr(adapt_error(), "too short"));
    remove_tree(tmp);
    free(tmp);
}

/* A model folder with tiny-bert's files and one file replaced by `name` = `content`. */
static void expect_model_error(const char *name, const char *content, const char *expect, bool sharded)
{
    char *tmp = make_temp_dir();
    write_copy(tmp, false, sharded);
    if (name) write_file(in_dir(tmp, name, 2), content, strlen(content));
    adapt_model *m = NULL;
    adapt_status s = adapt_model_load(tmp, &m);
    if (s == ADAPT_OK) fail_msg("%s: accepted", name ? name : "(none)");
    if (!strstr(adapt_error(), expect)) fail_msg("message \"%s\" should say \"%s\"", adapt_error(), expect);
    if (!strstr(adapt_error(), tmp)) fail_msg("message \"%s\" should name the folder %s", adapt_error(), tmp);
    /* The CLI says the same on one line and exits 1. */
    assert_int_equal(run_command("'%s' info '%s' 2>'%s/err' >/dev/null", build_path("adapt"), tmp, tmp), 1);
    assert_int_equal(run_command("grep -q 'adapt info: ' '%s/err' && test $(wc -l < '%s/err') -eq 1", tmp, tmp), 0);
    remove_tree(tmp);
    free(tmp);
}

static const char *tiny_config_with(const char *replace_from, const char *replace_to)
{
    static char buf[4096];
    FILE *fp = fopen(shared_path("fixtures/models/tiny-bert/config.json"), "r");
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = 0;
    char *at = strstr(buf, replace_from);
    assert_non_null(at);
    static char out[4096];
    snprintf(out, sizeof out, "%.*s%s%s", (int)(at - buf), buf, replace_to, at + strlen(replace_from));
    return out;
}

static void test_corrupt_config(void **state)
{
    (void)state;
    expect_model_error("config.json", "{\"model_type\": \"bert\", ", "malformed JSON", false);
    expect_model_error("config.json", tiny_config_with("\"hidden_size\": 32", "\"hidden_size\": \"32\""), "hidden_size", false);
    expect_model_error("config.json", tiny_config_with("\"num_attention_heads\": 4", "\"num_attention_heads\": 5"), "not a multiple", false);
    expect_model_error("config.json", tiny_config_with("\"layer_norm_eps\": 1e-12", "\"layer_norm_eps\": NaN"), "malformed JSON", false);
    expect_model_error("config.json", tiny_config_with("\"layer_norm_eps\": 1e-12", "\"layer_norm_eps\": -1"), "layer_norm_eps", false);
    expect_model_error("config.json", tiny_config_with("\"model_type\": \"bert\"", "\"model_type\": \"gpt2\""), "not supported", false);
    expect_model_error("config.json", tiny_config_with("\"hidden_act\": \"gelu\"", "\"hidden_act\": \"mish\""), "hidden_act", false);
    expect_model_error("config.json", tiny_config_with("\"vocab_size\": 512", "\"vocab_size\": 600"), "has shape [512,32], config.json implies [600,32]", false);
    expect_model_error("config.json", tiny_config_with("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3"), "no tensor \"bert.encoder.layer.2", false);
    expect_model_error("config.json", tiny_config_with("\"vocab_size\": 512", "\"vocab_size\": 1e300"), "vocab_size", false);
}

static void test_corrupt_index(void **state)
{
    (void)state;
    expect_model_error("model.safetensors.index.json", "{\"weight_map\": {\"bert.embeddings.word_embeddings.weight\": \"../../etc/passwd\"}}", "not a file name", true);
    expect_model_error("model.safetensors.index.json", "{\"metadata\": {}}", "weight_map", true);
    expect_model_error("model.safetensors.index.json", "{\"weight_map\": {\"bert.pooler.x\": \"model-00001-of-00003.safetensors\"}}", "is not in shard", true);
    expect_model_error("model.safetensors.index.json", "{\"weight_map\": {\"bert.embeddings.word_embeddings.weight\": \"model-00001-of-00003.safetensors\"}}", "no tensor", true);
    expect_model_error("model-00002-of-00003.safetensors", "\x20\x01\x01\x01\x01\x01\x01\x01{}", "exceeds", true);
}

/* A shard cut short (an interrupted download) is named and refused. */
static void test_truncated_shard(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    write_copy(tmp, false, true);
    assert_int_equal(run_command("truncate -s -100 '%s/model-00003-of-00003.safetensors'", tmp), 0);
    adapt_model *m = NULL;
    assert_int_equal(adapt_model_load(tmp, &m), ADAPT_ERR_FORMAT);
    assert_non_null(strstr(adapt_error(), "model-00003-of-00003.safetensors"));
    assert_non_null(strstr(adapt_error(), "past the end of the data"));
    remove_tree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_all_dtypes),
        cmocka_unit_test(test_float_conversions),
        cmocka_unit_test(test_sharded_copy_matches),
        cmocka_unit_test(test_bf16_copy_within_rounding),
        cmocka_unit_test(test_corrupt_safetensors),
        cmocka_unit_test(test_corrupt_config),
        cmocka_unit_test(test_corrupt_index),
        cmocka_unit_test(test_truncated_shard),
    };
    return cmocka_run_group_tests_name("formats", tests, NULL, NULL);
}
