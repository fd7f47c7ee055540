/* Regression tests for the inputs the fuzzers of fuzz/ found (issue 8): each crashing input is
 * inlined as found (or minimised) and must now give an error (or a clean result), never a crash,
 * undefined behaviour or a leak. The sanitizer build (`make SAN=1 test`) is where a regression
 * would show: there UBSan aborts on the first report. See docs/reliability.md for the list. */
#include "adapters/bn_config.h"
#include "formats/safetensors.h"
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes `len` bytes as <dir>/<name> and returns the path (static buffer). */
static const char *put_file(const char *dir, const char *name, const void *data, size_t len)
{
    static char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_file(path, data, len);
    return path;
}

/* ------------------------------------------------------------------ safetensors */

/* Writes a safetensors file: the 8-byte length, the header, then `data_len` zero bytes. */
static const char *put_safetensors(const char *dir, const char *header, size_t data_len)
{
    size_t hl = strlen(header), n = 8 + hl + data_len;
    unsigned char *buf = calloc(1, n);
    assert_non_null(buf);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    const char *p = put_file(dir, "model.safetensors", buf, n);
    free(buf);
    return p;
}

/* fuzz_safetensors: "data_offsets": [28, 31e3096] (an infinite double) was converted to uint64_t
 * before the range check (UBSan: inf is outside the range of representable values). */
static void test_safetensors_infinite_offsets(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    static const char *const headers[] = {
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1e999]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[28,31e3096]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1e999,1e999]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18446744073709551616]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1e30]}}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        st_file f;
        assert_int_equal(st_open(put_safetensors(tmp, headers[i], 4), &f), ADAPT_ERR_FORMAT);
        assert_non_null(strstr(adapt_error(), "data_offsets"));
    }
    st_file f;
    assert_int_equal(st_open(put_safetensors(tmp, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), &f), ADAPT_OK);
    st_close(&f);
    remove_tree(tmp);
    free(tmp);
}

/* ------------------------------------------------------------------ model folders */

/* fuzz_model_dir: a 4 KB folder whose config.json declares hidden_size 8192, vocab_size 2^20 and
 * 4 layers made adapt_model_load allocate the whole model (32 GB for the word embeddings alone)
 * before looking at the checkpoint (ASan: allocator is out of memory). Now the sizes config.json
 * implies are checked against the bytes the safetensors files hold before anything is allocated. */
static void test_model_config_larger_than_checkpoint(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    static const char cfg[] =
        "{\"model_type\": \"bert\", \"hidden_size\": 8192, \"num_attention_heads\": 8, \"num_hidden_layers\": 4,"
        " \"intermediate_size\": 32768, \"vocab_size\": 1048576, \"max_position_embeddings\": 8}";
    put_file(tmp, "config.json", cfg, sizeof cfg - 1);
    put_safetensors(tmp, "{\"bert.embeddings.word_embeddings.weight\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[0,4]}}", 4);
    adapt_model *m = NULL;
    assert_int_equal(adapt_model_load(tmp, &m), ADAPT_ERR_FORMAT);
    assert_null(m);
    assert_non_null(strstr(adapt_error(), "config.json implies"));
    /* The real tiny model still loads. */
    assert_int_equal(adapt_model_load(shared_path("fixtures/models/tiny-bert"), &m), ADAPT_OK);
    adapt_model_free(m);
    remove_tree(tmp);
    free(tmp);
}

/* ------------------------------------------------------------------ tokenizer.json */

/* fuzz_tokenizer: a BPE merge whose result is missing from the vocabulary was reported with
 * "%.40s" of a buffer that was not NUL-terminated (ASan: heap-buffer-overflow in adapt_fail). The
 * parts are 7 + 8 bytes so the 15-byte result fills the 16-byte buffer up to its last byte. */
static void test_tokenizer_bpe_missing_merge_result(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    static const char json[] =
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"abcdefg\": 0, \"hijklmno\": 1}, \"merges\": [\"abcdefg hijklmno\"]}}";
    adapt_tokenizer *tok = NULL;
    assert_int_equal(adapt_tokenizer_load(put_file(tmp, "tokenizer.json", json, sizeof json - 1), &tok), ADAPT_ERR_FORMAT);
    assert_null(tok);
    assert_non_null(strstr(adapt_error(), "\"abcdefghijklmno\" is missing"));
    remove_tree(tmp);
    free(tmp);
}

/* ------------------------------------------------------------------ adapter_config.json */

/* fuzz_adapter_config: "leave_out": [1e154] converted the number to int before the range check
 * (UBSan: 1e+154 is outside the range of representable values of type 'int'). */
static void test_bn_leave_out_huge_index(void **state)
{
    (void)state;
    static const char *const inputs[] = {
        "{\"leave_out\": [1e154], \"mh_adapter\": false, \"output_adapter\": true, \"reduction_factor\": 16, \"non_linearity\": \"relu\"}",
        "{\"leave_out\": [-1e300], \"mh_adapter\": false, \"output_adapter\": true, \"reduction_factor\": 16, \"non_linearity\": \"relu\"}",
        "{\"leave_out\": [2147483648], \"mh_adapter\": false, \"output_adapter\": true, \"reduction_factor\": 16, \"non_linearity\": \"relu\"}",
        /* init_weights_seed had the same pattern with long long */
        "{\"init_weights_seed\": 1e300, \"mh_adapter\": false, \"output_adapter\": true, \"reduction_factor\": 16, \"non_linearity\": \"relu\"}",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        cJSON *root = cJSON_Parse(inputs[i]);
        assert_non_null(root);
        bn_config c;
        assert_int_not_equal(bn_config_from_json(root, "adapter_config.json", true, &c), ADAPT_OK);
        assert_non_null(strstr(adapt_error(), "adapter_config.json"));
        cJSON_Delete(root);
    }
    /* In-range values still work. */
    /* A negative index names no layer: inert, as in `adapters` (`layer in leave_out`), not refused. */
    cJSON *root = cJSON_Parse("{\"leave_out\": [-1, 11], \"init_weights_seed\": 42, \"mh_adapter\": false, \"output_adapter\": true,"
                              " \"reduction_factor\": 16, \"non_linearity\": \"relu\"}");
    bn_config c;
    assert_int_equal(bn_config_from_json(root, "adapter_config.json", true, &c), ADAPT_OK);
    assert_int_equal(c.n_leave_out, 2);
    assert_int_equal(c.leave_out[0], -1);
    assert_int_equal(c.leave_out[1], 11);
    assert_true(bn_config_has_location(&c, 0, false)); /* layer 0 keeps its adapter */
    assert_false(bn_config_has_location(&c, 11, false));
    assert_int_equal(c.init_weights_seed, 42);
    cJSON_Delete(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safetensors_infinite_offsets),
        cmocka_unit_test(test_model_config_larger_than_checkpoint),
        cmocka_unit_test(test_tokenizer_bpe_missing_merge_result),
        cmocka_unit_test(test_bn_leave_out_huge_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
