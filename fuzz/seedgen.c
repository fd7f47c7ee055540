/* Writes the generated seed inputs of fuzz/corpus/ (scripts/fuzz.sh --seeds rebuilds them; the
 * copies of fixture files are made by the script). Usage: seedgen CORPUS_DIR */
#include "fuzz_common.h"
#include "formats/safetensors.h"
#include "model/model.h"
#include <sys/stat.h>

static const char *out_dir;

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) abort();
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) abort();
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Writes CORPUS/<target>/<name>: a leading selector byte (when sel >= 0), then the parts joined by
 * FUZZ_SEP. */
static void seed(const char *target, const char *name, int sel, int nparts, const void *const *parts, const size_t *lens)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", out_dir, target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (sel >= 0) fputc(sel, f);
    for (int i = 0; i < nparts; i++) {
        if (i) fputs(FUZZ_SEP, f);
        fwrite(parts[i], 1, lens[i], f);
    }
    fclose(f);
}

/* Saves the model's store as safetensors in `dtype` (F32, F16 or BF16), tensors [first, last). */
static unsigned char *save_model(adapt_model *m, adapt_dtype dtype, size_t first, size_t last, size_t *len)
{
    size_t n = last - first;
    adapt_tensor_desc *d = calloc(n, sizeof *d);
    void **bufs = calloc(n, sizeof *bufs);
    for (size_t i = 0; i < n; i++) {
        param *p = m->store.items[first + i];
        d[i].name = p->name;
        d[i].dtype = dtype;
        d[i].ndim = p->ndim;
        for (int k = 0; k < p->ndim; k++) d[i].shape[k] = p->shape[k];
        for (size_t k = 0; k < p->numel; k++) p->data[k] = (float)((int)((first + i + k * 7) % 13) - 6) / 16.0f;
        if (dtype == ADAPT_DTYPE_F32) {
            d[i].data = p->data;
        } else {
            uint16_t *h = malloc(p->numel * 2 + 2);
            for (size_t k = 0; k < p->numel; k++) h[k] = dtype == ADAPT_DTYPE_F16 ? f32_to_f16(p->data[k]) : f32_to_bf16(p->data[k]);
            d[i].data = bufs[i] = h;
        }
    }
    const char *meta[] = {"format", "pt"};
    const char *tmp = fuzz_write_file("tmp.safetensors", NULL, 0);
    if (adapt_safetensors_write(tmp, d, n, meta, 1) != ADAPT_OK) {
        fprintf(stderr, "%s\n", adapt_error());
        abort();
    }
    for (size_t i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    free(d);
    return slurp(tmp, len);
}

static const char bert_cfg[] =
    "{\"architectures\": [\"BertForMaskedLM\"], \"hidden_act\": \"gelu\", \"hidden_size\": 4, \"intermediate_size\": 8,\n"
    " \"layer_norm_eps\": 1e-12, \"max_position_embeddings\": 8, \"model_type\": \"bert\", \"num_attention_heads\": 2,\n"
    " \"num_hidden_layers\": 1, \"pad_token_id\": 0, \"position_embedding_type\": \"absolute\", \"type_vocab_size\": 2,\n"
    " \"vocab_size\": 8}";
static const char roberta_cfg[] =
    "{\"architectures\": [\"RobertaForTokenClassification\"], \"hidden_act\": \"gelu_new\", \"hidden_size\": 4,\n"
    " \"intermediate_size\": 8, \"layer_norm_eps\": 1e-05, \"max_position_embeddings\": 10, \"model_type\": \"roberta\",\n"
    " \"num_attention_heads\": 1, \"num_hidden_layers\": 2, \"pad_token_id\": 1, \"type_vocab_size\": 1, \"vocab_size\": 8,\n"
    " \"id2label\": {\"0\": \"O\", \"1\": \"B-PER\", \"2\": \"I-PER\"}}";

static adapt_model *make(const char *json, bool mlm, bool pooler)
{
    cJSON *root = cJSON_Parse(json);
    model_config cfg;
    if (!root || hf_config_from_json(root, "seed", &cfg) != ADAPT_OK) abort();
    cJSON_Delete(root);
    adapt_model *m;
    if (model_create(&cfg, &m) != ADAPT_OK) abort();
    hf_config_free(&cfg);
    if (mlm && model_add_mlm_head(m, false) != ADAPT_OK) abort();
    if (pooler && model_add_pooler(m) != ADAPT_OK) abort();
    return m;
}

int main(int argc, char **argv)
{
    if (argc != 2) return 2;
    out_dir = argv[1];
    /* BERT with MLM head and pooler, F32, one file. */
    adapt_model *m = make(bert_cfg, true, true);
    size_t len;
    unsigned char *st = save_model(m, ADAPT_DTYPE_F32, 0, m->store.count, &len);
    const void *p2[] = {bert_cfg, st};
    size_t l2[] = {sizeof bert_cfg - 1, len};
    seed("model_dir", "bert_f32", 0, 2, p2, l2);
    seed("safetensors", "bert_f32.safetensors", -1, 1, p2 + 1, l2 + 1);
    free(st);
    /* The same model sharded in two BF16 files with an index. */
    size_t half = m->store.count / 2, la, lb;
    unsigned char *a = save_model(m, ADAPT_DTYPE_BF16, 0, half, &la), *b = save_model(m, ADAPT_DTYPE_BF16, half, m->store.count, &lb);
    char *index = malloc(65536);
    size_t k = (size_t)snprintf(index, 65536, "{\"metadata\": {\"total_size\": %zu}, \"weight_map\": {", la + lb);
    for (size_t i = 0; i < m->store.count; i++)
        k += (size_t)snprintf(index + k, 65536 - k, "%s\"%s\": \"%s\"", i ? ", " : "", m->store.items[i]->name, i < half ? "shard-a.safetensors" : "shard-b.safetensors");
    k += (size_t)snprintf(index + k, 65536 - k, "}}");
    const void *p4[] = {bert_cfg, index, a, b};
    size_t l4[] = {sizeof bert_cfg - 1, k, la, lb};
    seed("model_dir", "bert_sharded_bf16", 1, 4, p4, l4);
    seed("safetensors", "bert_shard_bf16.safetensors", -1, 1, p4 + 2, l4 + 2);
    free(a);
    free(b);
    free(index);
    adapt_model_free(m);
    /* RoBERTa without heads, F16, labels in config.json. */
    m = make(roberta_cfg, false, false);
    st = save_model(m, ADAPT_DTYPE_F16, 0, m->store.count, &len);
    const void *r2[] = {roberta_cfg, st};
    size_t rl2[] = {sizeof roberta_cfg - 1, len};
    seed("model_dir", "roberta_f16", 2, 2, r2, rl2);
    seed("hf_config", "roberta.json", -1, 1, r2, rl2);
    seed("hf_config", "bert.json", -1, 1, (const void *[]){bert_cfg}, (size_t[]){sizeof bert_cfg - 1});
    free(st);
    adapt_model_free(m);
    /* One tensor of every dtype, with metadata. */
    static const adapt_dtype all[] = {ADAPT_DTYPE_BOOL, ADAPT_DTYPE_U8, ADAPT_DTYPE_I8, ADAPT_DTYPE_U16, ADAPT_DTYPE_I16,
                                      ADAPT_DTYPE_F16, ADAPT_DTYPE_BF16, ADAPT_DTYPE_U32, ADAPT_DTYPE_I32, ADAPT_DTYPE_F32,
                                      ADAPT_DTYPE_U64, ADAPT_DTYPE_I64, ADAPT_DTYPE_F64, ADAPT_DTYPE_F8_E4M3, ADAPT_DTYPE_F8_E5M2};
    size_t nd = sizeof all / sizeof all[0];
    adapt_tensor_desc d[sizeof all / sizeof all[0] + 1];
    unsigned char bytes[64];
    for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (unsigned char)(i * 37 + 1) & 0x3f;
    char names[sizeof all / sizeof all[0] + 1][16];
    for (size_t i = 0; i < nd; i++) {
        snprintf(names[i], sizeof names[i], "t_%s", dtype_name(all[i]));
        d[i] = (adapt_tensor_desc){names[i], all[i], 2, {2, 2}, bytes};
    }
    snprintf(names[nd], sizeof names[nd], "empty");
    d[nd] = (adapt_tensor_desc){names[nd], ADAPT_DTYPE_F32, 2, {0, 3}, bytes};
    const char *meta[] = {"format", "pt", "note", "every dtype"};
    const char *tmp = fuzz_write_file("tmp.safetensors", NULL, 0);
    if (adapt_safetensors_write(tmp, d, nd + 1, meta, 2) != ADAPT_OK) abort();
    st = slurp(tmp, &len);
    seed("safetensors", "all_dtypes.safetensors", -1, 1, (const void *[]){st}, &len);
    free(st);
    return 0;
}
