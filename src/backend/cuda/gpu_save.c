/* Saves a model in the Hugging Face layout that save_pretrained writes: config.json, then the
 * store's tensors (tied decoder not stored) in shards of at most shard_bytes each, named
 * model-0000k-of-0000n.safetensors with model.safetensors.index.json, or one model.safetensors. */
#include "backend/cuda/gpu_host.h"
#include "core/error.h"
#include "core/fileio.h"
#include "formats/safetensors.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static adapt_status write_config(const adapt_model *m, const char *dir)
{
    const model_config *c = &m->cfg;
    bool bert = c->family == FAMILY_BERT;
    char text[2048];
    int n = snprintf(text, sizeof text,
                     "{\n  \"architectures\": [\"%s\"],\n  \"attention_probs_dropout_prob\": 0.1,\n  \"bos_token_id\": 0,\n"
                     "  \"eos_token_id\": 2,\n  \"hidden_act\": \"%s\",\n  \"hidden_dropout_prob\": 0.1,\n  \"hidden_size\": %d,\n"
                     "  \"initializer_range\": 0.02,\n  \"intermediate_size\": %d,\n  \"layer_norm_eps\": %g,\n"
                     "  \"max_position_embeddings\": %d,\n  \"model_type\": \"%s\",\n  \"num_attention_heads\": %d,\n"
                     "  \"num_hidden_layers\": %d,\n  \"pad_token_id\": %d,\n  \"position_embedding_type\": \"absolute\",\n"
                     "  \"tie_word_embeddings\": true,\n  \"type_vocab_size\": %d,\n  \"vocab_size\": %d\n}\n",
                     bert ? "BertForMaskedLM" : "RobertaForMaskedLM", activation_name(c->hidden_act), c->hidden, c->intermediate,
                     c->layer_norm_eps, c->max_positions, c->model_type, c->heads, c->layers, c->pad_id, c->type_vocab, c->vocab);
    if (n < 0 || (size_t)n >= sizeof text) return adapt_fail(ADAPT_ERR_ARG, "config.json too long");
    char *path = path_join(dir, "config.json");
    adapt_status s = path ? file_write_atomic(path, text, (size_t)n) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    free(path);
    return s;
}

/* Converted copy of a tensor in the file dtype (F32 or BF16). */
static void *convert(const param *p, adapt_dtype dt)
{
    if (dt == ADAPT_DTYPE_F32) {
        void *b = malloc(p->numel * sizeof(float));
        if (b) memcpy(b, p->data, p->numel * sizeof(float));
        return b;
    }
    uint16_t *h = malloc(p->numel * sizeof(uint16_t));
    for (size_t k = 0; h && k < p->numel; k++) h[k] = f32_to_bf16(p->data[k]);
    return h;
}

adapt_status gpu_save_hf(const adapt_model *m, const char *dir, adapt_dtype dtype, size_t shard_bytes, const char *metadata_json)
{
    if (dtype != ADAPT_DTYPE_F32 && dtype != ADAPT_DTYPE_BF16) return adapt_fail(ADAPT_ERR_ARG, "save dtype must be F32 or BF16");
    mkdir(dir, 0755);
    TRY(write_config(m, dir));
    size_t n = m->store.count, es = dtype_size(dtype);
    int *shard_of = calloc(n + 1, sizeof(int));
    adapt_tensor_desc *d = calloc(n + 1, sizeof *d);
    void **bufs = calloc(n + 1, sizeof(void *));
    if (!shard_of || !d || !bufs) {
        free(shard_of);
        free(d);
        free(bufs);
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    /* Greedy shards in store order; a tensor larger than a shard gets one to itself. */
    int shards = 1;
    size_t used = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t b = m->store.items[i]->numel * es;
        if (used && used + b > shard_bytes) {
            shards++;
            used = 0;
        }
        shard_of[i] = shards;
        used += b;
        total += b;
    }
    const char *meta[2] = {"format", "pt"};
    adapt_status s = ADAPT_OK;
    char name[64], *index = NULL;
    size_t index_len = 0, index_cap = 64 + n * 160 + (metadata_json ? strlen(metadata_json) : 0);
    if (shards > 1 && !(index = malloc(index_cap))) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (index)
        index_len = (size_t)snprintf(index, index_cap, "{\n  \"metadata\": {\"total_size\": %zu%s%s},\n  \"weight_map\": {\n", total,
                                     metadata_json ? ", " : "", metadata_json ? metadata_json : "");
    for (int k = 1; !s && k <= shards; k++) {
        size_t cnt = 0;
        if (shards > 1) snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", k, shards);
        else snprintf(name, sizeof name, "model.safetensors");
        for (size_t i = 0; !s && i < n; i++) {
            if (shard_of[i] != k) continue;
            const param *p = m->store.items[i];
            bufs[cnt] = convert(p, dtype);
            if (!bufs[cnt]) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
            d[cnt].name = p->name;
            d[cnt].dtype = dtype;
            d[cnt].ndim = p->ndim;
            for (int j = 0; j < p->ndim; j++) d[cnt].shape[j] = p->shape[j];
            d[cnt].data = bufs[cnt];
            cnt++;
            if (index)
                index_len += (size_t)snprintf(index + index_len, index_cap - index_len, "%s    \"%s\": \"%s\"",
                                              index_len && index[index_len - 1] == '\n' ? "" : ",\n", p->name, name);
        }
        char *path = path_join(dir, name);
        if (!s) s = path ? adapt_safetensors_write(path, d, cnt, meta, 1) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        free(path);
        for (size_t i = 0; i < cnt; i++) free(bufs[i]);
    }
    if (!s && index) {
        index_len += (size_t)snprintf(index + index_len, index_cap - index_len, "\n  }\n}\n");
        char *path = path_join(dir, "model.safetensors.index.json");
        s = path ? file_write_atomic(path, index, index_len) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        free(path);
    }
    if (!s) { /* a layout left by an earlier save with another shard count would shadow this one */
        char *stale = path_join(dir, shards > 1 ? "model.safetensors" : "model.safetensors.index.json");
        if (stale) remove(stale);
        free(stale);
    }
    free(index);
    free(shard_of);
    free(d);
    free(bufs);
    return s;
}
