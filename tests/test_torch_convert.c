/* `adapt convert`: torch.save zip archives (built here byte by byte, as torch.save lays them out)
 * to safetensors, and hostile variants refused with an error that names the file. */
#include "core/error.h"
#include "formats/safetensors.h"
#include "formats/torch_zip.h"
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ byte buffers */
typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}
static void put_s(buf *b, const char *s) { put(b, s, strlen(s)); }
static void put8(buf *b, unsigned v) { unsigned char c = (unsigned char)v; put(b, &c, 1); }
static void put16(buf *b, unsigned v) { put8(b, v & 0xFF); put8(b, v >> 8 & 0xFF); }
static void put32(buf *b, uint32_t v) { put16(b, v & 0xFFFF); put16(b, v >> 16); }

/* pickle pieces */
static void pk_str(buf *b, const char *s) { put8(b, 'X'); put32(b, (uint32_t)strlen(s)); put_s(b, s); }
static void pk_int(buf *b, unsigned v) { put8(b, 'K'); put8(b, v); }
static void pk_put(buf *b, unsigned *memo) { put8(b, 'q'); put8(b, (*memo)++); }

typedef struct tdef {
    const char *name, *storage_class, *key;
    unsigned numel, offset, ndim, shape[3], stride[3];
} tdef;

/* What torch.save (protocol 2) writes for OrderedDict([(name, tensor), ...]). `global` replaces
 * the OrderedDict global when not NULL. */
static void make_pickle(buf *b, const tdef *t, int n, const char *global)
{
    unsigned memo = 0;
    put8(b, 0x80); put8(b, 2);
    put8(b, 'c'); put_s(b, global ? global : "collections\nOrderedDict\n"); pk_put(b, &memo); /* memo 0 */
    put8(b, ')'); put8(b, 'R'); pk_put(b, &memo);
    put8(b, '(');
    for (int i = 0; i < n; i++) {
        pk_str(b, t[i].name); pk_put(b, &memo);
        put8(b, 'c'); put_s(b, "torch._utils\n_rebuild_tensor_v2\n"); pk_put(b, &memo);
        put8(b, '(');
        put8(b, '('); pk_str(b, "storage"); put8(b, 'c'); put_s(b, "torch\n"); put_s(b, t[i].storage_class); put_s(b, "\n");
        pk_str(b, t[i].key); pk_str(b, "cpu"); pk_int(b, t[i].numel); put8(b, 't'); pk_put(b, &memo); put8(b, 'Q');
        pk_int(b, t[i].offset);
        put8(b, '(');
        for (unsigned d = 0; d < t[i].ndim; d++) pk_int(b, t[i].shape[d]);
        put8(b, 't');
        put8(b, '(');
        for (unsigned d = 0; d < t[i].ndim; d++) pk_int(b, t[i].stride[d]);
        put8(b, 't');
        put8(b, 0x89);                            /* requires_grad False */
        put8(b, 'h'); put8(b, 0); put8(b, ')'); put8(b, 'R'); /* backward_hooks: OrderedDict() via the memo */
        put8(b, 't'); pk_put(b, &memo); put8(b, 'R'); pk_put(b, &memo);
    }
    put8(b, 'u');
    /* state_dict's _metadata attribute, as BUILD */
    put8(b, '}'); pk_str(b, "_metadata"); put8(b, '}'); pk_str(b, "version"); pk_int(b, 1); put8(b, 's'); put8(b, 's'); put8(b, 'b');
    put8(b, '.');
}

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

typedef struct zentry {
    const char *name;
    const void *data;
    size_t size;
} zentry;

/* A zip of stored entries, data aligned to 64 bytes with an extra field as torch does. */
static void make_zip(buf *z, const zentry *e, int n)
{
    size_t offs[16];
    for (int i = 0; i < n; i++) {
        offs[i] = z->n;
        size_t nlen = strlen(e[i].name), pad = (64 - (z->n + 30 + nlen + 4) % 64) % 64;
        uint32_t crc = crc32_of(e[i].data, e[i].size);
        put32(z, 0x04034b50u); put16(z, 20); put16(z, 0); put16(z, 0); put16(z, 0); put16(z, 0);
        put32(z, crc); put32(z, (uint32_t)e[i].size); put32(z, (uint32_t)e[i].size);
        put16(z, (unsigned)nlen); put16(z, (unsigned)(pad + 4));
        put_s(z, e[i].name);
        put16(z, 0x4650); put16(z, (unsigned)pad); /* torch's "FB" padding extra field */
        for (size_t k = 0; k < pad; k++) put8(z, 'Z');
        put(z, e[i].data, e[i].size);
    }
    size_t cd = z->n;
    for (int i = 0; i < n; i++) {
        size_t nlen = strlen(e[i].name);
        put32(z, 0x02014b50u); put16(z, 20); put16(z, 20); put16(z, 0); put16(z, 0); put16(z, 0); put16(z, 0);
        put32(z, crc32_of(e[i].data, e[i].size)); put32(z, (uint32_t)e[i].size); put32(z, (uint32_t)e[i].size);
        put16(z, (unsigned)nlen); put16(z, 0); put16(z, 0); put16(z, 0); put16(z, 0); put32(z, 0); put32(z, (uint32_t)offs[i]);
        put_s(z, e[i].name);
    }
    size_t cd_size = z->n - cd;
    put32(z, 0x06054b50u); put16(z, 0); put16(z, 0); put16(z, (unsigned)n); put16(z, (unsigned)n);
    put32(z, (uint32_t)cd_size); put32(z, (uint32_t)cd); put16(z, 0);
}

static const float s0[6] = {1, 2, 3, 4, 5, 6};
static const float s1[6] = {10, 20, 30, 40, 50, 60};
static const uint16_t s2[2] = {0x3C00, 0xC000}; /* half 1.0, -2.0 */

static const tdef good_tensors[] = {
    {"bert.encoder.layer.0.output.adapters.x.adapter_down.0.weight", "FloatStorage", "0", 6, 0, 2, {2, 3}, {3, 1}},
    {"bert.encoder.layer.0.output.adapters.x.adapter_up.weight", "FloatStorage", "1", 6, 0, 2, {3, 2}, {1, 3}}, /* transposed view */
    {"bert.encoder.layer.0.output.adapters.x.adapter_up.bias", "HalfStorage", "2", 2, 0, 1, {2}, {1}},
    {"bert.encoder.layer.0.output.adapters.x.adapter_down.0.bias", "FloatStorage", "0", 6, 4, 1, {2}, {1}}, /* shares storage 0 */
};

/* The archive: a pickle over tensors t, storages s0, s1, s2 (sizes overridable). */
static void make_file(buf *out, const tdef *t, int n, const char *global, size_t s0_bytes)
{
    buf pkl = {0};
    make_pickle(&pkl, t, n, global);
    zentry e[] = {
        {"archive/data.pkl", pkl.p, pkl.n},
        {"archive/data/0", s0, s0_bytes},
        {"archive/data/1", s1, sizeof s1},
        {"archive/data/2", s2, sizeof s2},
        {"archive/version", "3\n", 2},
    };
    make_zip(out, e, 5);
    free(pkl.p);
}

static void test_parse_valid(void **state)
{
    (void)state;
    buf f = {0};
    make_file(&f, good_tensors, 4, NULL, sizeof s0);
    torch_tensor *t = NULL;
    size_t n = 0;
    if (torch_state_dict_parse(f.p, f.n, "good.bin", &t, &n)) fail_msg("%s", adapt_error());
    assert_int_equal(n, 4);
    assert_string_equal(t[0].name, good_tensors[0].name);
    assert_int_equal(t[0].dtype, ADAPT_DTYPE_F32);
    assert_int_equal(t[0].ndim, 2);
    assert_int_equal(t[0].shape[0], 2);
    assert_int_equal(t[0].shape[1], 3);
    assert_memory_equal(t[0].data, s0, sizeof s0);
    const float up[6] = {10, 40, 20, 50, 30, 60};
    assert_memory_equal(t[1].data, up, sizeof up);
    assert_int_equal(t[2].dtype, ADAPT_DTYPE_F16);
    assert_memory_equal(t[2].data, s2, sizeof s2);
    const float db[2] = {5, 6};
    assert_memory_equal(t[3].data, db, sizeof db);
    torch_tensors_free(t, n);
    free(f.p);
}

/* Parses and expects a failure whose message names the file and mentions `words`. */
static void expect_error(const buf *f, adapt_status want, const char *words)
{
    torch_tensor *t = NULL;
    size_t n = 0;
    adapt_status st = torch_state_dict_parse(f->p, f->n, "/x/pytorch_adapter.bin", &t, &n);
    if (st != want) fail_msg("status %d (want %d): %s", st, want, st ? adapt_error() : "accepted");
    if (!strstr(adapt_error(), "/x/pytorch_adapter.bin") || !strstr(adapt_error(), words))
        fail_msg("message \"%s\" lacks the file name or \"%s\"", adapt_error(), words);
    assert_null(t);
}

static void test_hostile_files(void **state)
{
    (void)state;
    buf f = {0};
    /* A global outside the allowed set is refused before anything is built. */
    make_file(&f, good_tensors, 4, "os\nsystem\n", sizeof s0);
    expect_error(&f, ADAPT_ERR_UNSUPPORTED, "os.system");
    f.n = 0;
    tdef evil = good_tensors[0];
    evil.storage_class = "LongStorage";
    make_file(&f, &evil, 1, NULL, sizeof s0);
    expect_error(&f, ADAPT_ERR_UNSUPPORTED, "torch.LongStorage");
    /* Truncated archive: the end record is gone. */
    f.n = 0;
    make_file(&f, good_tensors, 4, NULL, sizeof s0);
    buf cut = {f.p, f.n - 10, f.cap};
    expect_error(&cut, ADAPT_ERR_FORMAT, "end-of-central-directory");
    /* Cut inside the entries, the end record re-attached: the entries overrun the directory. */
    /* A local header offset past the file. */
    size_t eocd = f.n - 22, cd = f.p[eocd + 16] | (size_t)f.p[eocd + 17] << 8;
    unsigned char saved[4];
    memcpy(saved, f.p + cd + 42, 4);
    memset(f.p + cd + 42, 0x7F, 4);
    expect_error(&f, ADAPT_ERR_FORMAT, "out of range");
    memcpy(f.p + cd + 42, saved, 4);
    /* An entry size past the directory. */
    memcpy(saved, f.p + cd + 20, 4);
    f.p[cd + 20 + 2] = 0x10, f.p[cd + 24 + 2] = 0x10;
    expect_error(&f, ADAPT_ERR_FORMAT, "run past");
    memcpy(f.p + cd + 20, saved, 4);
    memcpy(f.p + cd + 24, saved, 4);
    /* A central directory pointing outside the file. */
    f.p[eocd + 19] = 0x7F;
    expect_error(&f, ADAPT_ERR_FORMAT, "outside the file");
    f.p[eocd + 19] = 0;
    /* A damaged byte of a storage: CRC mismatch. */
    size_t at = 64 * 3;
    f.p[at] ^= 1;
    expect_error(&f, ADAPT_ERR_FORMAT, "CRC");
    f.p[at] ^= 1;
    torch_tensor *t = NULL;
    size_t n = 0;
    assert_int_equal(torch_state_dict_parse(f.p, f.n, "x", &t, &n), ADAPT_OK); /* restored */
    torch_tensors_free(t, n);
    /* A storage entry smaller than the elements the pickle declares. */
    f.n = 0;
    make_file(&f, good_tensors, 4, NULL, 4 * sizeof(float));
    expect_error(&f, ADAPT_ERR_FORMAT, "storage 0 declares 6 elements");
    /* A tensor view that reaches past its storage. */
    f.n = 0;
    tdef big = good_tensors[0];
    big.shape[0] = 3;
    make_file(&f, &big, 1, NULL, sizeof s0);
    expect_error(&f, ADAPT_ERR_FORMAT, "reaches element 8");
    f.n = 0;
    tdef off = good_tensors[3];
    off.offset = 5;
    make_file(&f, &off, 1, NULL, sizeof s0);
    expect_error(&f, ADAPT_ERR_FORMAT, "reaches element 6");
    /* A storage key with no entry. */
    f.n = 0;
    tdef missing = good_tensors[0];
    missing.key = "9";
    make_file(&f, &missing, 1, NULL, sizeof s0);
    expect_error(&f, ADAPT_ERR_FORMAT, "not in the archive");
    /* Not a zip at all / a legacy pickle file. */
    buf junk = {(unsigned char *)"\x80\x02}q\x00.", 6, 0};
    expect_error(&junk, ADAPT_ERR_UNSUPPORTED, "legacy");
    free(f.p);
}

/* Every single-byte change of a valid file is either read or refused, never a crash (run under
 * SAN=1 this also checks every read stays inside the buffer). */
static void test_mutations(void **state)
{
    (void)state;
    buf f = {0};
    make_file(&f, good_tensors, 4, NULL, sizeof s0);
    uint64_t r = 99;
    for (int i = 0; i < 3000; i++) {
        unsigned char *copy = malloc(f.n);
        memcpy(copy, f.p, f.n);
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        size_t at = (size_t)(r >> 33) % f.n;
        copy[at] = (unsigned char)(r >> 20);
        size_t len = i % 5 == 0 ? (size_t)(r >> 40) % f.n : f.n;
        torch_tensor *t = NULL;
        size_t n = 0;
        if (torch_state_dict_parse(copy, len, "m.bin", &t, &n) == ADAPT_OK) torch_tensors_free(t, n);
        free(copy);
    }
    free(f.p);
    /* The same inside the pickle, zipped with a matching CRC so the interpreter sees every change. */
    buf pkl = {0};
    make_pickle(&pkl, good_tensors, 4, NULL);
    for (int i = 0; i < 3000; i++) {
        unsigned char *copy = malloc(pkl.n);
        memcpy(copy, pkl.p, pkl.n);
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        for (int k = 0; k < 1 + i % 3; k++) copy[(size_t)(r >> (20 + 7 * k)) % pkl.n] = (unsigned char)(r >> (8 * k));
        size_t len = i % 7 == 0 ? (size_t)(r >> 40) % pkl.n : pkl.n;
        zentry e[] = {{"archive/data.pkl", copy, len}, {"archive/data/0", s0, sizeof s0}, {"archive/data/1", s1, sizeof s1},
                      {"archive/data/2", s2, sizeof s2}};
        buf z = {0};
        make_zip(&z, e, 4);
        torch_tensor *t = NULL;
        size_t n = 0;
        if (torch_state_dict_parse(z.p, z.n, "m.bin", &t, &n) == ADAPT_OK) torch_tensors_free(t, n);
        free(z.p);
        free(copy);
    }
    free(pkl.p);
}

static void test_convert_folder(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    char in[4200], out[4200], path[4300];
    snprintf(in, sizeof in, "%s/in", tmp);
    snprintf(out, sizeof out, "%s/out", tmp);
    assert_int_equal(run_command("mkdir -p '%s'", in), 0);
    buf f = {0};
    make_file(&f, good_tensors, 4, NULL, sizeof s0);
    snprintf(path, sizeof path, "%s/pytorch_adapter.bin", in);
    write_file(path, f.p, f.n);
    snprintf(path, sizeof path, "%s/adapter_config.json", in);
    const char *cfg = "{\"config\": {\"reduction_factor\": 16}, \"name\": \"x\"}\n";
    write_file(path, cfg, strlen(cfg));
    assert_int_equal(run_command("'%s' convert '%s' '%s' > /dev/null", build_path("adapt"), in, out), 0);
    snprintf(path, sizeof path, "%s/adapter.safetensors", out);
    st_file st;
    assert_int_equal(st_open(path, &st), ADAPT_OK);
    assert_int_equal(st.count, 4);
    const st_tensor *w = st_find(&st, good_tensors[1].name);
    assert_non_null(w);
    assert_int_equal(w->dtype, ADAPT_DTYPE_F32);
    assert_int_equal(w->shape[0], 3);
    const float up[6] = {10, 40, 20, 50, 30, 60};
    assert_memory_equal(w->data, up, sizeof up);
    st_close(&st);
    assert_int_equal(run_command("cmp -s '%s/adapter_config.json' '%s/adapter_config.json'", in, out), 0);
    /* A hostile file: exit 1 and the message names it. */
    f.n = 0;
    make_file(&f, good_tensors, 4, "builtins\neval\n", sizeof s0);
    snprintf(path, sizeof path, "%s/pytorch_adapter.bin", in);
    write_file(path, f.p, f.n);
    assert_int_equal(run_command("'%s' convert '%s' '%s/o2' 2> '%s/err'", build_path("adapt"), in, tmp, tmp), 1);
    assert_int_equal(run_command("grep -q 'pytorch_adapter.bin.*builtins.eval' '%s/err'", tmp), 0);
    /* A folder without weights. */
    assert_int_equal(run_command("'%s' convert '%s' '%s/o3' 2> /dev/null", build_path("adapt"), out, tmp), 1);
    free(f.p);
    remove_tree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_hostile_files),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_convert_folder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
