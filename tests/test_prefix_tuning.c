/* Prefix tuning (AdapterHub's PrefixTuningConfig): the attention kernel with prefix keys and
 * values against a plain double-precision attention and its central differences; a model's
 * gradients in the prefix MLP, its flat form and leave_out; the MLP and its flat ("ejected") form
 * give the same states; AdapterHub files (names, config, the pool copies PyTorch also lists under
 * each layer); the compositions it is refused in; `adapt train` with a prefix tuning. */
#include "adapters/prefix_setup.h"
#include "adapters/setup.h"
#include "case_batch.h"
#include "core/json.h"
#include "formats/param_io.h"
#include "formats/peft_prefix.h"
#include "lora_fixture.h"
#include "model/heads.h"
#include "model/layers.h"
#include "model/model.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KB = 4, KT = 5, KHEADS = 2, KHD = 4, KH = KHEADS * KHD, KP = 3 };
/* Sequences 0 and 2 share prefix 0 (3 rows), sequence 1 has prefix 1 (2 rows), sequence 3 none. */
static const int seq_prefix[KB] = {0, 1, 0, -1}, prefix_len[2] = {3, 2};

/* ctx by the definition: each head's softmax over [its sequence's prefix; keys] (masked keys out). */
static void naive_attention(double *ctx, const double *q, const double *k, const double *v, const double *pk, const double *pv,
                            const int32_t *mask)
{
    double scale = 1.0 / sqrt((double)KHD);
    for (int b = 0; b < KB; b++) {
        int P = seq_prefix[b] < 0 ? 0 : prefix_len[seq_prefix[b]];
        const double *bk = pk + (seq_prefix[b] < 0 ? 0 : seq_prefix[b]) * KP * KH, *bv = pv + (seq_prefix[b] < 0 ? 0 : seq_prefix[b]) * KP * KH;
        for (int h = 0; h < KHEADS; h++)
            for (int t = 0; t < KT; t++) {
                double s[KP + KT], top = -1e300, sum = 0;
                for (int j = 0; j < P + KT; j++) {
                    const double *key = j < P ? bk + j * KH : k + ((size_t)b * KT + j - P) * KH;
                    bool on = j < P || mask[b * KT + j - P];
                    double d = 0;
                    for (int c = 0; c < KHD; c++) d += q[((size_t)b * KT + t) * KH + h * KHD + c] * key[h * KHD + c];
                    s[j] = on ? d * scale : -INFINITY;
                    if (s[j] > top) top = s[j];
                }
                for (int j = 0; j < P + KT; j++) sum += s[j] = exp(s[j] - top);
                for (int c = 0; c < KHD; c++) {
                    double acc = 0;
                    for (int j = 0; j < P + KT; j++) {
                        const double *val = j < P ? bv + j * KH : v + ((size_t)b * KT + j - P) * KH;
                        acc += s[j] / sum * val[h * KHD + c];
                    }
                    ctx[((size_t)b * KT + t) * KH + h * KHD + c] = acc;
                }
            }
    }
}

enum { NQ = KB * KT * KH, NP = 2 * KP * KH };

/* Everything the kernel reads, in double (the two prefixes' rows one after the other, KP rows
 * each), and the loss sum(G * ctx). */
typedef struct kernel_inputs {
    double q[NQ], k[NQ], v[NQ], pk[NP], pv[NP], g[NQ];
    int32_t mask[KB * KT];
} kernel_inputs;

static double naive_loss(const kernel_inputs *in)
{
    double ctx[NQ], loss = 0;
    naive_attention(ctx, in->q, in->k, in->v, in->pk, in->pv, in->mask);
    for (int i = 0; i < NQ; i++) loss += in->g[i] * ctx[i];
    return loss;
}

static void to_float(float *dst, const double *src, int n)
{
    for (int i = 0; i < n; i++) dst[i] = (float)src[i];
}

/* d loss / d x[i] by central differences (double throughout, step 1e-5). */
static double numeric(kernel_inputs *in, double *x, int i)
{
    double keep = x[i];
    x[i] = keep + 1e-5;
    double up = naive_loss(in);
    x[i] = keep - 1e-5;
    double down = naive_loss(in);
    x[i] = keep;
    return (up - down) / 2e-5;
}

static void assert_gradient(const char *what, const float *got, kernel_inputs *in, double *x, int n)
{
    double worst = 0, largest = 0;
    for (int i = 0; i < n; i++) {
        double want = numeric(in, x, i);
        worst = fmax(worst, fabs(want - got[i]));
        largest = fmax(largest, fabs(want));
    }
    if (worst > 1e-4 || largest < 1e-2) fail_msg("%s: gradient off by %g (largest %g)", what, worst, largest);
}

static void test_attention_kernel(void **state)
{
    (void)state;
    static kernel_inputs in;
    uint64_t seed = 11;
    double *all[] = {in.q, in.k, in.v, in.g};
    for (int a = 0; a < 4; a++)
        for (int i = 0; i < NQ; i++) all[a][i] = 2 * test_uniform(&seed) - 1;
    for (int i = 0; i < NP; i++) in.pk[i] = 2 * test_uniform(&seed) - 1, in.pv[i] = 2 * test_uniform(&seed) - 1;
    for (int i = 0; i < KB * KT; i++) in.mask[i] = !(i >= KT + 3 && i < 2 * KT); /* sequence 1: two padding keys */
    float q[NQ], k[NQ], v[NQ], g[NQ], pk[NP], pv[NP], ctx[NQ];
    to_float(q, in.q, NQ), to_float(k, in.k, NQ), to_float(v, in.v, NQ), to_float(g, in.g, NQ);
    to_float(pk, in.pk, NP), to_float(pv, in.pv, NP);
    float dq[NQ] = {0}, dk[NQ] = {0}, dv[NQ] = {0}, dpk[NP] = {0}, dpv[NP] = {0};
    attention_prefix pre[2];
    for (int p = 0; p < 2; p++) pre[p] = (attention_prefix){pk + p * KP * KH, pv + p * KP * KH, prefix_len[p], dpk + p * KP * KH, dpv + p * KP * KH};
    const attention_prefix *rows[KB];
    for (int b = 0; b < KB; b++) rows[b] = seq_prefix[b] < 0 ? NULL : &pre[seq_prefix[b]];
    attention_forward(ctx, q, k, v, in.mask, KB, KT, KHEADS, KHD, rows, 0, 0);
    double want[NQ];
    naive_attention(want, in.q, in.k, in.v, in.pk, in.pv, in.mask);
    for (int i = 0; i < NQ; i++) assert_float_equal(ctx[i], want[i], 2e-6);
    attention_backward(dq, dk, dv, g, q, k, v, in.mask, KB, KT, KHEADS, KHD, rows, 0, 0);
    assert_gradient("q", dq, &in, in.q, NQ);
    assert_gradient("k", dk, &in, in.k, NQ);
    assert_gradient("v", dv, &in, in.v, NQ);
    assert_gradient("prefix keys", dpk, &in, in.pk, NP); /* prefix 0 summed over sequences 0 and 2 */
    assert_gradient("prefix values", dpv, &in, in.pv, NP);
    /* the padding keys of sequence 1 get no gradient, nor prefix 1's third (unused) row */
    for (int c = 0; c < KH; c++) assert_float_equal(dk[(KT + 4) * KH + c], 0, 0);
    for (int c = 0; c < KH; c++) assert_float_equal(dpk[(KP + 2) * KH + c], 0, 0);
    /* without a prefix anywhere the kernel is the plain attention: sequence 3's rows above */
    float plain[NQ];
    attention_forward(plain, q, k, v, in.mask, KB, KT, KHEADS, KHD, NULL, 0, 0);
    for (int i = 3 * KT * KH; i < NQ; i++) assert_float_equal(plain[i], ctx[i], 0);
}

static adapter_def *add_prefix(adapt_model *m, const char *name, const char *config)
{
    if (adapt_model_add_adapter(m, name, config, 3)) fail_msg("%s", adapt_error());
    adapter_def *a = setup_find_adapter(m->setup, name);
    assert_non_null(a);
    assert_true(a->has_prefix);
    return a;
}

static void test_model_gradients(void **state)
{
    (void)state;
    adapt_model *m = load_tiny_bert();
    adapter_def *a = add_prefix(m, "pt", "prefix_tuning[prefix_length=4,bottleneck_size=6,leave_out=[0]]");
    assert_int_equal(a->prefix_w.n_slots, 1); /* layer 1 only */
    assert_int_equal(a->prefix_w.slot[0], -1);
    assert_int_equal(a->prefix_w.w2->shape[0], 2 * 32);
    if (setup_set_adapter_trainable(m, "pt", true) || adapt_model_set_setup(m, "pt")) fail_msg("%s", adapt_error());
    grad_run g;
    grad_run_init(&g, m, 5);
    grad_run_loss(&g, true);
    a = setup_find_adapter(m->setup, "pt");
    param *checked[] = {a->prefix_w.wte, a->prefix_w.w0, a->prefix_w.b0, a->prefix_w.w2, a->prefix_w.b2};
    for (int i = 0; i < 5; i++) assert_largest_gradient(&g, checked[i]);
    /* the base stays frozen: nothing below the prefix's layer was differentiated */
    assert_null(m->layers[0].q_w->grad);
    grad_run_free(&g);
    adapt_model_free(m);

    m = load_tiny_bert();
    a = add_prefix(m, "flat", "prefix_tuning_flat[prefix_length=2]");
    assert_int_equal(a->prefix_w.flat->numel, 2 * 2 * 2 * 32);
    if (setup_set_adapter_trainable(m, "flat", true) || adapt_model_set_setup(m, "flat")) fail_msg("%s", adapt_error());
    grad_run_init(&g, m, 6);
    grad_run_loss(&g, true);
    assert_largest_gradient(&g, setup_find_adapter(m->setup, "flat")->prefix_w.flat);
    grad_run_free(&g);
    adapt_model_free(m);
}

/* The library's layout, by its tensor operations: control_trans viewed as [P, L' * 2, heads,
 * head_dim], permuted to [L' * 2, heads, P, head_dim] and split in pairs: the i-th layer with a
 * prefix takes entries 2i (keys) and 2i + 1 (values), counting only layers not left out. */
static float library_entry(const float *flat, int slots, int p, int j, int h, int d)
{
    enum { HEADS = 4, HEAD_DIM = 8 }; /* tiny-bert: hidden 32 in 4 heads */
    return flat[(((size_t)p * 2 * slots + j) * HEADS + h) * HEAD_DIM + d];
}

static void test_layout(void **state)
{
    (void)state;
    adapt_model *m = load_tiny_bert();
    assert_int_equal(m->cfg.heads, 4);
    const adapter_def *a = add_prefix(m, "flat", "prefix_tuning_flat[prefix_length=3,leave_out=[0]]");
    param *flat = a->prefix_w.flat;
    for (size_t i = 0; i < flat->numel; i++) flat->data[i] = (float)i; /* every entry its own value */
    prefix_cache c;
    if (prefix_forward(&m->acts, &a->prefix_w, &a->prefix, false, &c)) fail_msg("%s", adapt_error());
    float k[3 * 32], v[3 * 32];
    prefix_layer_rows(&a->prefix_w, &c, 1, k, v, 0); /* layer 1: the first (only) layer with a prefix */
    for (int p = 0; p < 3; p++)
        for (int h = 0; h < 4; h++)
            for (int d = 0; d < 8; d++) {
                assert_float_equal(k[p * 32 + h * 8 + d], library_entry(flat->data, 1, p, 0, h, d), 0);
                assert_float_equal(v[p * 32 + h * 8 + d], library_entry(flat->data, 1, p, 1, h, d), 0);
            }
    adapt_model_free(m);

    m = load_tiny_bert(); /* both layers: layer 1 takes entries 2 and 3 */
    a = add_prefix(m, "flat", "prefix_tuning_flat[prefix_length=2]");
    flat = a->prefix_w.flat;
    for (size_t i = 0; i < flat->numel; i++) flat->data[i] = (float)i;
    if (prefix_forward(&m->acts, &a->prefix_w, &a->prefix, false, &c)) fail_msg("%s", adapt_error());
    prefix_layer_rows(&a->prefix_w, &c, 1, k, v, 0);
    for (int p = 0; p < 2; p++)
        for (int h = 0; h < 4; h++)
            for (int d = 0; d < 8; d++) {
                assert_float_equal(k[p * 32 + h * 8 + d], library_entry(flat->data, 2, p, 2, h, d), 0);
                assert_float_equal(v[p * 32 + h * 8 + d], library_entry(flat->data, 2, p, 3, h, d), 0);
            }
    /* keys and values are not interchangeable: a prefix whose value rows are zero gives other states
     * than one whose key rows are */
    case_batch b = case_batch_read("c10_lora_tagging", 0);
    if (adapt_model_set_setup(m, "flat")) fail_msg("%s", adapt_error());
    for (size_t i = 0; i < flat->numel; i++) flat->data[i] = (float)((i / 32) % 2); /* keys 0, values 1 */
    float *keys_zero = encode_case_batch(m, &b);
    for (size_t i = 0; i < flat->numel; i++) flat->data[i] = (float)(1 - (i / 32) % 2); /* keys 1, values 0 */
    float *values_zero = encode_case_batch(m, &b);
    assert_true(max_abs_difference(keys_zero, values_zero, (size_t)b.B * b.T * 32) > 1e-3);
    free(keys_zero), free(values_zero);
    case_batch_free(&b);
    adapt_model_free(m);
}

static float *encode(adapt_model *m, const case_batch *b)
{
    return encode_case_batch(m, b);
}

/* The library's eject(): the MLP's output as a flat prefix gives the same model. */
static void test_flat_equals_mlp(void **state)
{
    (void)state;
    case_batch b = case_batch_read("c10_lora_tagging", 0);
    adapt_model *m = load_tiny_bert();
    float *plain = encode(m, &b);
    add_prefix(m, "mlp", "prefix_tuning[prefix_length=3,bottleneck_size=5]");
    add_prefix(m, "flat", "prefix_tuning_flat[prefix_length=3]");
    if (adapt_model_set_setup(m, "mlp")) fail_msg("%s", adapt_error());
    float *with_mlp = encode(m, &b);
    size_t n = (size_t)b.B * b.T * 32;
    assert_true(max_abs_difference(plain, with_mlp, n) > 1e-2); /* a prefix changes the states */
    prefix_cache c;
    const adapter_def *mlp = setup_find_adapter(m->setup, "mlp");
    if (prefix_forward(&m->acts, &mlp->prefix_w, &mlp->prefix, false, &c)) fail_msg("%s", adapt_error());
    param *flat = setup_find_adapter(m->setup, "flat")->prefix_w.flat;
    assert_int_equal(flat->numel, 3 * 2 * 2 * 32);
    memcpy(flat->data, c.kv, flat->numel * sizeof(float));
    if (adapt_model_set_setup(m, "flat")) fail_msg("%s", adapt_error());
    float *with_flat = encode(m, &b);
    assert_true(max_abs_difference(with_mlp, with_flat, n) < 1e-6);
    /* Stack(mlp, flat): both prefixes; the same as one prefix of twice the length holding both */
    if (adapt_model_set_setup(m, "Stack(mlp, flat)")) fail_msg("%s", adapt_error());
    float *stacked = encode(m, &b);
    adapt_model *m2 = load_tiny_bert();
    add_prefix(m2, "both", "prefix_tuning_flat[prefix_length=6]");
    param *both = setup_find_adapter(m2->setup, "both")->prefix_w.flat;
    size_t width = 2 * 2 * 32;
    for (int p = 0; p < 6; p++) memcpy(both->data + p * width, flat->data + (p % 3) * width, width * sizeof(float));
    if (adapt_model_set_setup(m2, "both")) fail_msg("%s", adapt_error());
    float *doubled = encode(m2, &b);
    assert_true(max_abs_difference(stacked, doubled, n) < 1e-5);
    free(plain), free(with_mlp), free(with_flat), free(stacked), free(doubled);
    adapt_model_free(m);
    adapt_model_free(m2);
    case_batch_free(&b);
}

static void test_adapterhub_files(void **state)
{
    (void)state;
    case_batch b = case_batch_read("c10_lora_tagging", 0);
    size_t n = (size_t)b.B * b.T * 32;
    adapt_model *m = load_tiny_bert();
    add_prefix(m, "pt", "prefix_tuning[prefix_length=4,bottleneck_size=6,leave_out=[1]]");
    if (adapt_model_set_setup(m, "pt")) fail_msg("%s", adapt_error());
    float *want = encode(m, &b);
    const char *dir = path_in(test_tmp, "pt");
    if (adapt_model_save_adapter(m, "pt", dir)) fail_msg("%s", adapt_error());
    cJSON *root = read_json(path_in(dir, "adapter_config.json"));
    const cJSON *cfg = cJSON_GetObjectItem(root, "config");
    assert_string_equal(cJSON_GetObjectItem(cfg, "architecture")->valuestring, "prefix_tuning");
    assert_int_equal(cJSON_GetObjectItem(cfg, "prefix_length")->valueint, 4);
    assert_int_equal(cJSON_GetObjectItem(cfg, "bottleneck_size")->valueint, 6);
    assert_string_equal(cJSON_GetObjectItem(cfg, "non_linearity")->valuestring, "tanh");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(cfg, "flat")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(cfg, "leave_out")), 1);
    cJSON_Delete(root);
    param_store st;
    store_init(&st);
    if (store_load_safetensors(&st, path_in(dir, "adapter.safetensors"), NULL, NULL, NULL)) fail_msg("%s", adapt_error());
    assert_int_equal(st.count, 5);
    const char *base = "bert.prefix_tuning.prefix_tunings.pt.self_prefix.";
    /* the base model's files never take the prefix */
    const char *model_dir = path_in(test_tmp, "model");
    if (model_save(m, model_dir, 0)) fail_msg("%s", adapt_error());
    assert_int_equal(run_command("grep -c prefix_tuning '%s/model.safetensors' > /dev/null", model_dir), 1);
    const char *names[] = {"wte.weight", "control_trans.0.weight", "control_trans.0.bias", "control_trans.2.weight", "control_trans.2.bias"};
    char name[256];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "%s%s", base, names[i]);
        assert_non_null(store_get(&st, name));
    }
    snprintf(name, sizeof name, "%scontrol_trans.2.weight", base);
    assert_int_equal(store_get(&st, name)->shape[0], 2 * 32); /* one layer left: its key and value */

    /* loaded back under another name: the same states */
    char loaded[64];
    if (adapt_model_load_adapter(m, dir, "again", loaded, sizeof loaded) || adapt_model_set_setup(m, "again"))
        fail_msg("%s", adapt_error());
    float *got = encode(m, &b);
    assert_true(max_abs_difference(want, got, n) == 0);
    free(got);

    /* PyTorch's state_dict also lists the pool under each layer; such a file (here: only the
     * layer-0 copies) loads the same */
    const char *dir2 = path_in(test_tmp, "pool");
    assert_int_equal(run_command("mkdir -p '%s' && cp '%s/adapter_config.json' '%s/'", dir2, dir, dir2), 0);
    const char *file_names[5];
    char buf[5][256];
    const char *store_names[5];
    for (int i = 0; i < 5; i++) {
        snprintf(buf[i], sizeof buf[i], "bert.encoder.layer.0.attention.self.prefix_tuning.pool.prefix_tunings.pt.self_prefix.%s", names[i]);
        file_names[i] = buf[i];
        static char keep[5][256];
        snprintf(keep[i], sizeof keep[i], "%s%s", base, names[i]);
        store_names[i] = keep[i];
    }
    if (store_save_safetensors(&st, path_in(dir2, "adapter.safetensors"), store_names, file_names, 5, NULL, 0))
        fail_msg("%s", adapt_error());
    if (adapt_model_load_adapter(m, dir2, "pool", loaded, sizeof loaded) || adapt_model_set_setup(m, "pool"))
        fail_msg("%s", adapt_error());
    got = encode(m, &b);
    assert_true(max_abs_difference(want, got, n) == 0);
    free(got);

    /* a file with a prefix at a location the config does not describe is refused, by name */
    const char *more_store[6], *more_file[6];
    for (int i = 0; i < 5; i++) more_store[i] = store_names[i], more_file[i] = file_names[i];
    more_store[5] = store_names[0];
    more_file[5] = "bert.prefix_tuning.prefix_tunings.pt.cross_prefix.wte.weight";
    if (store_save_safetensors(&st, path_in(dir2, "adapter.safetensors"), more_store, more_file, 6, NULL, 0))
        fail_msg("%s", adapt_error());
    expect_failure(adapt_model_load_adapter(m, dir2, "bad", NULL, 0), ADAPT_ERR_FORMAT, "cross_prefix");
    assert_null(setup_find_adapter(m->setup, "bad"));
    store_free(&st);
    free(want);
    adapt_model_free(m);
    case_batch_free(&b);
}

/* Copies every tensor of adapter `from` into adapter `to` where the names match after the name. */
static void copy_tensors(adapt_model *m, const char *from, const char *from_seg, const char *to, const char *to_seg)
{
    char want[64];
    snprintf(want, sizeof want, "%s%s.", from_seg, from);
    int copied = 0;
    for (size_t i = 0; i < m->store.count; i++) {
        const param *src = m->store.items[i];
        const char *at = strstr(src->name, want);
        if (!at) continue;
        char name[512];
        snprintf(name, sizeof name, "%.*s%s%s.%s", (int)(at - src->name), src->name, to_seg, to, at + strlen(want));
        param *dst = store_get(&m->store, name);
        if (!dst) fail_msg("no tensor %s", name);
        assert_int_equal(dst->numel, src->numel);
        memcpy(dst->data, src->data, src->numel * sizeof(float));
        copied++;
    }
    assert_true(copied > 0);
}

/* The library's ConfigUnion ("mam" = prefix_tuning[bottleneck_size=800] | par_bn): one adapter with
 * both parts gives the states of Stack(its prefix alone, its bottleneck alone); its files hold
 * both, under a "union" config, and load back. */
static void test_union(void **state)
{
    (void)state;
    case_batch b = case_batch_read("c10_lora_tagging", 0);
    size_t n = (size_t)b.B * b.T * 32;
    adapt_model *m = load_tiny_bert();
    adapter_def *u = add_prefix(m, "u", "mam");
    assert_true(u->has_bn && u->has_prefix && u->cfg.is_parallel);
    assert_int_equal(u->prefix.bottleneck_size, 800);
    if (adapt_model_add_adapter(m, "p", "prefix_tuning[bottleneck_size=800]", 1) || adapt_model_add_adapter(m, "b", "par_bn", 2))
        fail_msg("%s", adapt_error());
    copy_tensors(m, "u", ".prefix_tunings.", "p", ".prefix_tunings.");
    /* par_bn starts as exactly the model (its up projection zero): draw it so the check can fail */
    uint64_t seed = 9;
    for (size_t i = 0; i < m->store.count; i++) {
        param *t = m->store.items[i];
        if (!strstr(t->name, ".adapters.u.")) continue;
        for (size_t k = 0; k < t->numel; k++) t->data[k] = (float)(test_uniform(&seed) - 0.5) * 0.2f;
    }
    copy_tensors(m, "u", ".adapters.", "b", ".adapters.");
    if (adapt_model_set_setup(m, "u")) fail_msg("%s", adapt_error());
    float *got = encode_case_batch(m, &b);
    if (adapt_model_set_setup(m, "Stack(p, b)")) fail_msg("%s", adapt_error());
    float *want = encode_case_batch(m, &b);
    if (adapt_model_set_setup(m, "p")) fail_msg("%s", adapt_error());
    float *prefix_only = encode_case_batch(m, &b);
    assert_true(max_abs_difference(got, want, n) < 1e-6);
    assert_true(max_abs_difference(got, prefix_only, n) > 1e-3);

    const char *dir = path_in(test_tmp, "mam");
    if (adapt_model_save_adapter(m, "u", dir)) fail_msg("%s", adapt_error());
    cJSON *root = read_json(path_in(dir, "adapter_config.json"));
    const cJSON *cfg = cJSON_GetObjectItem(root, "config");
    assert_string_equal(cJSON_GetObjectItem(cfg, "architecture")->valuestring, "union");
    const cJSON *parts = cJSON_GetObjectItem(cfg, "configs");
    assert_int_equal(cJSON_GetArraySize(parts), 2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(parts, 0), "architecture")->valuestring, "prefix_tuning");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(parts, 1), "is_parallel")));
    /* PyTorch writes the bottleneck part's architecture as null (BnConfig's): such a file loads too */
    const char *dir_null = path_in(test_tmp, "mam_null");
    assert_int_equal(run_command("mkdir -p '%s' && cp '%s/adapter.safetensors' '%s/'", dir_null, dir, dir_null), 0);
    cJSON_AddItemToObject(cJSON_GetArrayItem(parts, 1), "architecture", cJSON_CreateNull());
    char *text = cJSON_Print(root);
    write_file(path_in(dir_null, "adapter_config.json"), text, strlen(text));
    free(text);
    cJSON_Delete(root);
    char loaded_null[64];
    if (adapt_model_load_adapter(m, dir_null, "nulled", loaded_null, sizeof loaded_null)) fail_msg("%s", adapt_error());
    param_store st;
    store_init(&st);
    if (store_load_safetensors(&st, path_in(dir, "adapter.safetensors"), NULL, NULL, NULL)) fail_msg("%s", adapt_error());
    int prefix_tensors = 0, bn_tensors = 0;
    for (size_t i = 0; i < st.count; i++) {
        prefix_tensors += strstr(st.items[i]->name, ".prefix_tunings.u.self_prefix.") != NULL;
        bn_tensors += strstr(st.items[i]->name, ".output.adapters.u.") != NULL;
    }
    assert_int_equal(prefix_tensors, 5);
    assert_int_equal(bn_tensors, 2 * 4); /* par_bn after each FFN: down and up, weight and bias */
    assert_int_equal(st.count, 5 + 8);
    store_free(&st);
    char loaded[64];
    if (adapt_model_load_adapter(m, dir, "again", loaded, sizeof loaded) || adapt_model_set_setup(m, "again"))
        fail_msg("%s", adapt_error());
    float *again = encode_case_batch(m, &b);
    assert_true(max_abs_difference(got, again, n) == 0);
    if (adapt_model_set_setup(m, "nulled")) fail_msg("%s", adapt_error());
    float *nulled = encode_case_batch(m, &b);
    assert_true(max_abs_difference(got, nulled, n) == 0);
    free(nulled);

    /* unions as strings, either order; what adapt keeps one of */
    adapter_spec spec;
    if (adapter_spec_parse_string("seq_bn[reduction_factor=8]|prefix_tuning[prefix_length=5]", &spec)) fail_msg("%s", adapt_error());
    assert_true(spec.has_bn && spec.has_prefix && !spec.prefix_first);
    assert_int_equal(spec.prefix.prefix_length, 5);
    expect_failure(adapter_spec_parse_string("seq_bn|par_bn", &spec), ADAPT_ERR_UNSUPPORTED, "two bottleneck configs");
    expect_failure(adapter_spec_parse_string("unipelt", &spec), ADAPT_ERR_UNSUPPORTED, "UniPELT");
    expect_failure(adapter_spec_parse_string("mam[prefix_length=3]", &spec), ADAPT_ERR_ARG, "takes no overrides");
    if (adapter_spec_parse_string(" prefix_tuning[prefix_length=2] |  par_bn ", &spec)) fail_msg("%s", adapt_error()); /* parts stripped */
    assert_true(spec.has_bn && spec.has_prefix && spec.prefix_first && spec.bn.is_parallel);
    expect_failure(adapter_spec_parse_string("seq_bn|", &spec), ADAPT_ERR_ARG, "an empty part");
    cJSON *nested = cJSON_Parse("{\"architecture\": \"union\", \"configs\": [\"mam\"]}");
    expect_failure(adapter_spec_from_json(nested, "cfg.json", true, &spec), ADAPT_ERR_FORMAT, "a union inside a union");
    cJSON_Delete(nested);
    cJSON *j = cJSON_Parse("{\"architecture\": \"union\", \"configs\": [{\"architecture\": \"lora\", \"r\": 8}, "
                           "{\"architecture\": \"prefix_tuning\"}]}");
    expect_failure(adapter_spec_from_json(j, "cfg.json", true, &spec), ADAPT_ERR_UNSUPPORTED, "a union with lora");
    cJSON_Delete(j);
    free(got), free(want), free(prefix_only), free(again);
    adapt_model_free(m);
    case_batch_free(&b);
}

/* A union with the bottleneck part first: saved in that order, loaded back, and both parts trained
 * (gradients against central differences; tanh keeps the bottleneck's differences smooth). */
static void test_union_bottleneck_first(void **state)
{
    (void)state;
    adapt_model *m = load_tiny_bert();
    add_prefix(m, "u", "seq_bn[non_linearity=tanh,reduction_factor=4]|prefix_tuning[prefix_length=3,bottleneck_size=8]");
    if (setup_set_adapter_trainable(m, "u", true) || adapt_model_set_setup(m, "u")) fail_msg("%s", adapt_error());
    grad_run g;
    grad_run_init(&g, m, 8);
    grad_run_loss(&g, true);
    adapter_def *u = setup_find_adapter(m->setup, "u");
    assert_largest_gradient(&g, u->prefix_w.wte);
    assert_largest_gradient(&g, u->prefix_w.w2);
    assert_largest_gradient(&g, u->out[0].down_w);
    assert_largest_gradient(&g, u->out[1].up_w);
    const char *dir = path_in(test_tmp, "bn_first");
    if (adapt_model_save_adapter(m, "u", dir)) fail_msg("%s", adapt_error());
    cJSON *root = read_json(path_in(dir, "adapter_config.json"));
    const cJSON *parts = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "config"), "configs");
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(parts, 0), "architecture")); /* BnConfig: no architecture key */
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(parts, 0), "output_adapter")));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(parts, 1), "architecture")->valuestring, "prefix_tuning");
    cJSON_Delete(root);
    case_batch b = case_batch_read("c10_lora_tagging", 0);
    float *want = encode_case_batch(m, &b);
    char loaded[64];
    if (adapt_model_load_adapter(m, dir, "back", loaded, sizeof loaded) || adapt_model_set_setup(m, "back"))
        fail_msg("%s", adapt_error());
    assert_false(setup_find_adapter(m->setup, "back")->prefix_first);
    float *got = encode_case_batch(m, &b);
    assert_true(max_abs_difference(want, got, (size_t)b.B * b.T * 32) == 0);
    free(want), free(got);
    case_batch_free(&b);
    grad_run_free(&g);
    adapt_model_free(m);
}

/* Row r of `got` ([B, T, H]) against the batch's row r run on its own under `setup`. */
static void assert_row_runs_as(adapt_model *m, const case_batch *b, const float *got, int r, const char *setup)
{
    size_t row = (size_t)b->T * 32;
    float *alone = malloc(row * sizeof(float));
    assert_non_null(alone);
    if (adapt_model_set_setup(m, setup) ||
        adapt_model_encode(m, 1, b->T, b->ids + r * b->T, b->mask + r * b->T, b->type_ids ? b->type_ids + r * b->T : NULL, alone, NULL))
        fail_msg("%s", adapt_error());
    double diff = max_abs_difference(got + r * row, alone, row);
    if (diff > 1e-5) fail_msg("row %d against %s alone: %g", r, setup, diff);
    free(alone);
}

/* AdapterHub runs prefix tunings in BatchSplit (each block of rows its own) and Parallel (each
 * channel its own); a mixed batch gives each row its composition's prefixes. Each row then equals
 * that row run on its own. */
static void test_row_compositions(void **state)
{
    (void)state;
    case_batch b = case_batch_read("c10_lora_tagging", 3);
    assert_int_equal(b.B, 3);
    size_t n = (size_t)b.B * b.T * 32;
    adapt_model *m = load_tiny_bert();
    add_prefix(m, "p1", "prefix_tuning[prefix_length=3,bottleneck_size=8]");
    add_prefix(m, "p2", "prefix_tuning_flat[prefix_length=5,leave_out=[0]]");
    if (adapt_model_add_adapter(m, "bn", "seq_bn[reduction_factor=4]", 4)) fail_msg("%s", adapt_error());
    float *got = malloc(2 * n * sizeof(float));
    assert_non_null(got);

    if (adapt_model_set_setup(m, "BatchSplit(p1, Stack(bn, p2), batch_sizes=[2, 1])") ||
        adapt_model_encode(m, b.B, b.T, b.ids, b.mask, b.type_ids, got, NULL))
        fail_msg("%s", adapt_error());
    assert_row_runs_as(m, &b, got, 0, "p1");
    assert_row_runs_as(m, &b, got, 1, "p1");
    assert_row_runs_as(m, &b, got, 2, "Stack(bn, p2)");

    const char *rows[3] = {"p2", "bn", "Stack(p1, p2)"};
    if (adapt_model_encode_mixed(m, b.B, b.T, b.ids, b.mask, b.type_ids, rows, got)) fail_msg("%s", adapt_error());
    for (int r = 0; r < 3; r++) assert_row_runs_as(m, &b, got, r, rows[r]);

    if (adapt_model_set_setup(m, "Parallel(p1, p2)") || adapt_model_encode_channels(m, b.B, b.T, b.ids, b.mask, b.type_ids, got))
        fail_msg("%s", adapt_error());
    for (int r = 0; r < 3; r++) {
        assert_row_runs_as(m, &b, got, r, "p1");
        assert_row_runs_as(m, &b, got + n, r, "p2");
    }
    /* Parallel inside a Stack, BatchSplit inside Parallel, and a mixed batch whose rows are not in
     * composition order (regrouped) */
    if (adapt_model_set_setup(m, "Stack(bn, Parallel(p1, BatchSplit(p2, p1, batch_sizes=[1, 2])))") ||
        adapt_model_encode_channels(m, b.B, b.T, b.ids, b.mask, b.type_ids, got))
        fail_msg("%s", adapt_error());
    assert_row_runs_as(m, &b, got, 1, "Stack(bn, p1)");
    assert_row_runs_as(m, &b, got + n, 0, "Stack(bn, p2)");
    assert_row_runs_as(m, &b, got + n, 2, "Stack(bn, p1)");
    const char *shuffled[3] = {"p1", "Stack(bn, p2)", "p1"};
    if (adapt_model_encode_mixed(m, b.B, b.T, b.ids, b.mask, b.type_ids, shuffled, got)) fail_msg("%s", adapt_error());
    for (int r = 0; r < 3; r++) assert_row_runs_as(m, &b, got, r, shuffled[r]);

    /* block sizes that do not fit the rows are refused, as for bottleneck adapters (none here to check them) */
    if (adapt_model_set_setup(m, "BatchSplit(p1, p2, batch_sizes=[1, 1])")) fail_msg("%s", adapt_error());
    expect_failure(adapt_model_encode(m, b.B, b.T, b.ids, b.mask, b.type_ids, got, NULL), ADAPT_ERR_ARG, "add up to 2 sequences");
    if (adapt_model_set_setup(m, "Stack(Parallel(p1, p2), Parallel(p1, p2, p2, p1))")) fail_msg("%s", adapt_error());
    expect_failure(adapt_model_encode_channels(m, b.B, b.T, b.ids, b.mask, b.type_ids, got), ADAPT_ERR_ARG, "replicas");
    free(got);
    adapt_model_free(m);
    case_batch_free(&b);
}

/* Gradients through a BatchSplit of two prefix tunings (each gets only its rows' share), with the
 * model's dropout on: the attention's masks then cover prefixes of different lengths per row. */
static void test_batch_split_gradients(void **state)
{
    (void)state;
    adapt_model *m = load_tiny_bert();
    add_prefix(m, "p1", "prefix_tuning_flat[prefix_length=2]");
    add_prefix(m, "p2", "prefix_tuning[prefix_length=3,bottleneck_size=6]");
    if (setup_set_adapter_trainable(m, "p1", true) || setup_set_adapter_trainable(m, "p2", true) ||
        adapt_model_set_setup(m, "BatchSplit(p1, p2, batch_sizes=[1, 1])"))
        fail_msg("%s", adapt_error());
    grad_run g;
    assert_true(m->cfg.attn_dropout > 0);
    m->training = true;
    grad_run_init(&g, m, 12);
    grad_run_loss(&g, true);
    assert_largest_gradient(&g, setup_find_adapter(m->setup, "p1")->prefix_w.flat);
    assert_largest_gradient(&g, setup_find_adapter(m->setup, "p2")->prefix_w.wte);
    grad_run_free(&g);
    adapt_model_free(m);
}

/* A PEFT prefix tuning folder for model m: prompt_embeddings [P, layers x 2 x hidden] drawn from
 * seed, and `extra` (JSON members, e.g. "\"num_layers\": null,") in its config. */
static void write_peft_prefix(const adapt_model *m, const char *dir, int P, uint64_t seed, const char *extra, float *values)
{
    assert_int_equal(run_command("mkdir -p '%s'", dir), 0);
    char cfg[512];
    snprintf(cfg, sizeof cfg, "{%s \"peft_type\": \"PREFIX_TUNING\", \"task_type\": \"TOKEN_CLS\", \"num_virtual_tokens\": %d, "
             "\"token_dim\": %d, \"num_layers\": %d, \"num_attention_heads\": %d, \"num_transformer_submodules\": 1, "
             "\"prefix_projection\": true, \"encoder_hidden_size\": 16, \"inference_mode\": true}",
             extra, P, m->cfg.hidden, m->cfg.layers, m->cfg.heads);
    write_file(path_in(dir, "adapter_config.json"), cfg, strlen(cfg));
    param_store st;
    store_init(&st);
    int64_t shape[2] = {P, (int64_t)m->cfg.layers * 2 * m->cfg.hidden};
    param *e;
    if (store_add(&st, "prompt_embeddings", 2, shape, &e)) fail_msg("%s", adapt_error());
    for (size_t i = 0; i < e->numel; i++) values[i] = e->data[i] = (float)(test_uniform(&seed) - 0.5);
    const char *names[1] = {"prompt_embeddings"};
    if (store_save_safetensors(&st, path_in(dir, "adapter_model.safetensors"), names, NULL, 1, NULL, 0)) fail_msg("%s", adapt_error());
    store_free(&st);
}

/* transformers counts PEFT's prefix as P earlier tokens: a PEFT folder run here must equal
 * AdapterHub's flat prefix with the same values on a model whose position table starts P rows
 * later (BERT: every position; XLM-R: the non-padding ones, padding keeps padding_idx). */
static void check_peft_positions(const char *model_dir, const char *case_name)
{
    case_batch b = case_batch_read(case_name, 0);
    adapt_model *m = NULL, *shifted = NULL;
    if (adapt_model_load(shared_path(model_dir), &m) || adapt_model_load(shared_path(model_dir), &shifted)) fail_msg("%s", adapt_error());
    enum { P = 3 };
    size_t width = (size_t)m->cfg.layers * 2 * m->cfg.hidden, n = (size_t)b.B * b.T * m->cfg.hidden;
    float *values = malloc(P * width * sizeof(float));
    assert_non_null(values);
    const char *dir = path_in(test_tmp, "peft_prefix");
    write_peft_prefix(m, dir, P, 21, "", values);
    char loaded[64];
    if (adapt_model_load_adapter(m, dir, NULL, loaded, sizeof loaded) || adapt_model_set_setup(m, loaded)) fail_msg("%s", adapt_error());
    assert_string_equal(loaded, "prefix");
    float *got = encode_case_batch(m, &b);

    const adapter_def *flat = add_prefix(shifted, "flat", "prefix_tuning_flat[prefix_length=3]");
    memcpy(flat->prefix_w.flat->data, values, P * width * sizeof(float));
    param *pos = shifted->pos;
    int first = m->cfg.family == FAMILY_BERT ? 0 : m->cfg.pad_id + 1, H = m->cfg.hidden;
    for (int row = first; row + P < pos->shape[0]; row++)
        memcpy(pos->data + (size_t)row * H, m->pos->data + (size_t)(row + P) * H, (size_t)H * sizeof(float));
    if (adapt_model_set_setup(shifted, "flat")) fail_msg("%s", adapt_error());
    float *want = encode_case_batch(shifted, &b);
    double diff = max_abs_difference(got, want, n);
    if (diff > 1e-5) fail_msg("%s: PEFT prefix against the shifted table: %g", model_dir, diff);
    /* and the shift matters: the same values as AdapterHub's prefix on the model as it is differ */
    const adapter_def *same = add_prefix(m, "same", "prefix_tuning_flat[prefix_length=3]");
    memcpy(same->prefix_w.flat->data, values, P * width * sizeof(float));
    if (adapt_model_set_setup(m, "same")) fail_msg("%s", adapt_error());
    float *unshifted = encode_case_batch(m, &b);
    assert_true(max_abs_difference(got, unshifted, n) > 1e-3);
    free(unshifted);
    free(values), free(got), free(want);
    adapt_model_free(m);
    adapt_model_free(shifted);
    case_batch_free(&b);
}

/* PEFT's prefix tuning folders load with PEFT's semantics; what they cannot be is refused. */
static void test_peft_folders(void **state)
{
    (void)state;
    check_peft_positions("fixtures/models/tiny-bert", "c10_lora_tagging");
    check_peft_positions("fixtures/models/tiny-xlmr", "c02_xlmr_forward_mlm");

    adapt_model *m = load_tiny_bert();
    float *values = malloc(4 * 2 * 2 * 32 * sizeof(float));
    assert_non_null(values);
    /* counts PEFT left null load (PEFT fills them from the model) */
    const char *nulls = path_in(test_tmp, "peft_nulls");
    write_peft_prefix(m, nulls, 2, 3, "\"revision\": null, \"base_model_name_or_path\": null,", values);
    assert_int_equal(run_command("sed -i 's/\"token_dim\": 32/\"token_dim\": null/' '%s/adapter_config.json'", nulls), 0);
    if (adapt_model_load_adapter(m, nulls, "nulls", NULL, 0)) fail_msg("%s", adapt_error());
    /* AdapterHub's layout cannot hold PEFT's positions */
    expect_failure(adapt_model_save_adapter(m, "nulls", path_in(test_tmp, "hub_copy")), ADAPT_ERR_UNSUPPORTED, "moves the positions");
    /* another model's folder, an encoder-decoder's, a wrong shape: refused by name */
    const char *bad = path_in(test_tmp, "peft_bad");
    write_peft_prefix(m, bad, 2, 4, "", values);
    assert_int_equal(run_command("sed -i 's/\"num_layers\": 2/\"num_layers\": 12/' '%s/adapter_config.json'", bad), 0);
    expect_failure(adapt_model_load_adapter(m, bad, "bad", NULL, 0), ADAPT_ERR_FORMAT, "\"num_layers\" is 12, the model has 2");
    assert_int_equal(run_command("sed -i 's/\"num_layers\": 12/\"num_layers\": 2/; s/\"num_transformer_submodules\": 1/"
                                 "\"num_transformer_submodules\": 2/' '%s/adapter_config.json'", bad), 0);
    expect_failure(adapt_model_load_adapter(m, bad, "bad", NULL, 0), ADAPT_ERR_UNSUPPORTED, "encoder-decoder");
    assert_int_equal(run_command("sed -i 's/\"num_transformer_submodules\": 2/\"num_transformer_submodules\": 1/; "
                                 "s/\"num_virtual_tokens\": 2/\"num_virtual_tokens\": 3/' '%s/adapter_config.json'", bad), 0);
    expect_failure(adapt_model_load_adapter(m, bad, "bad", NULL, 0), ADAPT_ERR_FORMAT, "is [2, 128], not [3, 128]");
    assert_null(setup_find_adapter(m->setup, "bad"));
    free(values);
    adapt_model_free(m);
}

static void test_refusals(void **state)
{
    (void)state;
    adapt_model *m = load_tiny_bert();
    add_prefix(m, "pt", "prefix_tuning[prefix_length=2,bottleneck_size=4]");
    if (adapt_model_add_adapter(m, "bn", "seq_bn", 1)) fail_msg("%s", adapt_error());
    expect_failure(adapt_model_set_setup(m, "Average(pt, bn)"), ADAPT_ERR_UNSUPPORTED, "prefix tuning \"pt\" inside Average");
    expect_failure(adapt_model_set_setup(m, "Stack(bn, Split(pt, bn, splits=[2]))"), ADAPT_ERR_UNSUPPORTED, "inside Split");
    const char *pair[] = {"pt", "bn"};
    expect_failure(setup_add_fusion(m, pair, 2, &(fusion_config){0}, true), ADAPT_ERR_UNSUPPORTED, "AdapterFusion does not take");
    if (adapt_model_set_setup(m, "Stack(bn, pt)")) fail_msg("%s", adapt_error()); /* with a bottleneck adapter: fine */
    expect_failure(adapt_model_add_adapter(m, "g", "prefix_tuning[use_gating=true]", 1), ADAPT_ERR_UNSUPPORTED, "use_gating");
    expect_failure(adapt_model_add_adapter(m, "z", "prefix_tuning[prefix_length=0]", 1), ADAPT_ERR_FORMAT, "prefix_length");
    expect_failure(adapt_model_add_adapter(m, "all", "prefix_tuning[leave_out=[0, 1]]", 1), ADAPT_ERR_ARG, "leaves no layer");
    /* a hostile size for a BERT-large (24 layers, hidden 1024) is refused before anything is made */
    prefix_config big;
    if (prefix_config_parse_string("prefix_tuning[prefix_length=4096]", &big)) fail_msg("%s", adapt_error());
    prefix_weights w;
    expect_failure(prefix_weights_make(&m->store, "x", &big, 24, 1024, true, &(uint64_t){1}, &w), ADAPT_ERR_ARG, "more than");
    prefix_weights_free(&w);
    assert_null(setup_find_adapter(m->setup, "all"));
    add_prefix(m, "drop", "prefix_tuning[prefix_length=2,bottleneck_size=4,dropout=0.1]");
    if (adapt_model_set_setup(m, "drop")) fail_msg("%s", adapt_error());
    int32_t ids[4] = {5, 6, 7, 8};
    m->training = true;
    expect_failure(model_forward(m, 1, 4, ids, NULL, NULL), ADAPT_ERR_UNSUPPORTED, "dropout");
    m->training = false;
    assert_int_equal(model_forward(m, 1, 4, ids, NULL, NULL), ADAPT_OK); /* inference ignores dropout */
    adapt_model_free(m);
}

/* `adapt train` with a prefix tuning on the default model, then `adapt adapters list`. */
static void test_train_command(void **state)
{
    (void)state;
    const char *tmp = test_tmp;
    assert_int_equal(run_command("head -n 400 '%s' > '%s/ner.conll' && '%s' train --task ner --model models/default --train "
                                 "'%s/ner.conll' --output '%s/trained' --name ner --adapter-config "
                                 "'prefix_tuning[prefix_length=8,bottleneck_size=32]' --max-steps 6 --batch-size 8 "
                                 "--max-length 32 --lr 1e-2 --quiet > '%s/train.log' 2>&1",
                                 shared_path("data/ner/wikiann-en/train.conll"), tmp, build_path("adapt"), tmp, tmp, tmp),
                     0);
    /* wte 8 x 256, control_trans 32 x 256 + 32 and (6 x 2 x 256) x 32 + 3072, the head 7 x 256 + 7 */
    assert_int_equal((int)json_file_number(path_in(tmp, "trained/summary.json"), "trained_parameters"),
                     2048 + 8224 + 101376 + 1799);
    assert_int_equal(run_command("'%s' adapters list models/default '%s/trained/best/ner' > '%s/list.log' 2>&1 && "
                                 "grep -q 'prefix_tuning, prefix_length 8, bottleneck 32, tanh' '%s/list.log' && "
                                 "grep -q 'attention.self (8 prefix keys and values): layers 0-5' '%s/list.log'",
                                 build_path("adapt"), tmp, tmp, tmp, tmp),
                     0);
    /* a prefix tuning is not rewritten in PEFT's layout: the two libraries place the sequence differently */
    assert_int_not_equal(run_command("'%s' adapters convert --model models/default --to peft --output '%s/peft' '%s/trained/best/ner' "
                                     "> '%s/convert.log' 2>&1", build_path("adapt"), tmp, tmp, tmp),
                         0);
    assert_int_equal(run_command("grep -q 'moves the positions' '%s/convert.log'", tmp), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_kernel), cmocka_unit_test(test_layout), cmocka_unit_test(test_model_gradients), cmocka_unit_test(test_flat_equals_mlp),
        cmocka_unit_test(test_adapterhub_files), cmocka_unit_test(test_union),
        cmocka_unit_test(test_union_bottleneck_first), cmocka_unit_test(test_row_compositions),
        cmocka_unit_test(test_batch_split_gradients), cmocka_unit_test(test_peft_folders), cmocka_unit_test(test_refusals),        cmocka_unit_test(test_train_command),
    };
    return cmocka_run_group_tests(tests, test_tmp_setup, test_tmp_teardown);
}
