/* Loads a Hugging Face model folder into a model: config.json, then every expected tensor from
 * model.safetensors (or the shards of its index), with or without the bert./roberta. prefix. */
#include "core/bf16.h"
#include "core/error.h"
#include "core/fileio.h"
#include "formats/checkpoint.h"
#include "model/model.h"
#include <stdlib.h>
#include <string.h>

/* Looks a store name up in the checkpoint: as is, then without the base-model prefix (a checkpoint
 * saved from BertModel / RobertaModel has no prefix). */
static const st_tensor *find_tensor(const tensor_source *src, const adapt_model *m, const char *name, const st_file **file)
{
    const st_tensor *t = tensor_source_find(src, name, file);
    size_t n = strlen(m->prefix);
    if (!t && !strncmp(name, m->prefix, n) && name[n] == '.') t = tensor_source_find(src, name + n + 1, file);
    return t;
}

static adapt_status copy_tensor(param *p, const st_file *f, const st_tensor *t)
{
    bool same = t->ndim == p->ndim;
    for (int i = 0; same && i < p->ndim; i++) same = t->shape[i] == p->shape[i];
    if (!same) {
        char want[64] = "", got[64] = "";
        for (int i = 0; i < p->ndim; i++) snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? "," : "", (long long)p->shape[i]);
        for (int i = 0; i < t->ndim && i < 4; i++) snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "", (long long)t->shape[i]);
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" has shape [%s], config.json implies [%s]", f->path, t->name, got, want);
    }
    switch (t->dtype) {
    case ADAPT_DTYPE_F32: case ADAPT_DTYPE_F16: case ADAPT_DTYPE_BF16: case ADAPT_DTYPE_F64: break;
    default: return adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" has dtype %s, expected a float type", f->path, t->name, dtype_name(t->dtype));
    }
    if (!p->bf16) return st_to_f32(f, t, p->data);
    if (t->dtype == ADAPT_DTYPE_BF16) { /* already what we hold: copied bit for bit */
        memcpy(p->bf16, t->data, p->numel * sizeof(uint16_t));
        return ADAPT_OK;
    }
    /* Through fp32, one tensor at a time: the fp32 copies never all exist together. */
    float *tmp = alloc_floats(p->numel);
    if (!tmp) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory converting \"%s\"", f->path, t->name);
    adapt_status s = st_to_f32(f, t, tmp);
    if (!s) bf16_round_array(p->bf16, tmp, p->numel);
    free(tmp);
    return s;
}

adapt_status model_load_tensors(adapt_model *m, const tensor_source *src, const char *dir)
{
    for (size_t i = 0; i < m->store.count; i++) {
        param *p = m->store.items[i];
        const st_file *f;
        const st_tensor *t = find_tensor(src, m, p->name, &f);
        if (!t) return adapt_fail(ADAPT_ERR_FORMAT, "%s: checkpoint has no tensor \"%s\"", dir, p->name);
        TRY(copy_tensor(p, f, t));
    }
    return ADAPT_OK;
}

/* Optional parts: the MLM head, the pooler and a static classifier are created when present. */
static adapt_status add_optional_parts(adapt_model *m, const tensor_source *src)
{
    bool bert = m->cfg.family == FAMILY_BERT;
    if (tensor_source_find(src, bert ? "cls.predictions.transform.dense.weight" : "lm_head.dense.weight", NULL)) {
        const st_file *f;
        const char *dec = bert ? "cls.predictions.decoder.weight" : "lm_head.decoder.weight";
        const char *word = bert ? "bert.embeddings.word_embeddings.weight" : "roberta.embeddings.word_embeddings.weight";
        const st_tensor *d = tensor_source_find(src, dec, &f);
        /* A stored decoder equal to the word embeddings is the tied one written out; keep it tied. */
        bool untied = false;
        if (d) {
            const st_file *wf;
            const st_tensor *w = find_tensor(src, m, word, &wf);
            untied = !w || w->nbytes != d->nbytes || w->dtype != d->dtype || memcmp(w->data, d->data, d->nbytes);
        }
        TRY(model_add_mlm_head(m, untied));
    }
    char pooler[64];
    snprintf(pooler, sizeof pooler, "%s.pooler.dense.weight", m->prefix);
    if (find_tensor(src, m, pooler, NULL)) TRY(model_add_pooler(m));
    const st_file *f;
    const st_tensor *cw = tensor_source_find(src, "classifier.weight", &f);
    if (cw) {
        if (cw->ndim != 2 || cw->shape[1] != m->cfg.hidden || cw->shape[0] < 1 || cw->shape[0] > 100000)
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"classifier.weight\" must be [labels, %d]", f->path, m->cfg.hidden);
        int64_t shape[2] = {cw->shape[0], cw->shape[1]};
        TRY(store_add(&m->store, "classifier.weight", 2, shape, &m->classifier_w));
        TRY(store_add(&m->store, "classifier.bias", 1, shape, &m->classifier_b));
    }
    return ADAPT_OK;
}

/* Every base tensor must come from the checkpoint, in a float dtype of 2 bytes or more: a
 * config.json implying more parameters than the files can hold is refused before the model is
 * allocated (a 4 KB folder must not make us allocate gigabytes). A lower bound, in doubles. */
static adapt_status check_config_fits(const model_config *c, const tensor_source *src, const char *dir)
{
    double H = c->hidden, I = c->intermediate;
    double need = ((double)c->vocab + c->max_positions + c->type_vocab + 2) * H +
                  (double)c->layers * (4 * H * H + 2 * H * I + I + 9 * H);
    double have = 0;
    for (size_t i = 0; i < src->nfiles; i++)
        for (size_t k = 0; k < src->files[i].count; k++) have += (double)src->files[i].tensors[k].nbytes;
    if (2 * need > have)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: config.json implies at least %.0f parameters, more than the checkpoint's %.0f bytes hold",
                          dir, need, have);
    return ADAPT_OK;
}

adapt_status adapt_model_load(const char *dir, adapt_model **out) { return adapt_model_load_dtype(dir, ADAPT_WEIGHTS_FP32, out); }

adapt_status adapt_model_load_dtype(const char *dir, adapt_weight_dtype dtype, adapt_model **out)
{
    *out = NULL;
    char *config_path = path_join(dir, "config.json");
    if (!config_path) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    model_config cfg;
    adapt_status s = hf_config_load(config_path, &cfg);
    free(config_path);
    if (s) return s;
    tensor_source src;
    s = tensor_source_open_dir(dir, &src);
    if (!s) s = check_config_fits(&cfg, &src, dir);
    adapt_model *m = NULL;
    if (!s) s = model_create_dtype(&cfg, dtype, &m);
    if (s) {
        if (src.files) tensor_source_close(&src);
        hf_config_free(&cfg);
        return s;
    }
    m->cfg.id2label = cfg.id2label; /* the model owns the labels from here on */
    m->cfg.num_labels = cfg.num_labels;
    s = add_optional_parts(m, &src);
    if (!s) s = model_load_tensors(m, &src, dir);
    tensor_source_close(&src);
    if (s) {
        adapt_model_free(m);
        return s;
    }
    m->base_tensor_count = m->store.count;
    *out = m;
    return ADAPT_OK;
}

void adapt_model_get_info(const adapt_model *m, adapt_model_info *info)
{
    const model_config *c = &m->cfg;
    info->model_type = c->model_type;
    info->architecture = c->architecture;
    info->hidden_size = c->hidden;
    info->num_layers = c->layers;
    info->num_heads = c->heads;
    info->intermediate_size = c->intermediate;
    info->vocab_size = c->vocab;
    info->max_positions = c->max_positions;
    info->type_vocab_size = c->type_vocab;
    info->pad_token_id = c->pad_id;
    info->hidden_act = activation_name(c->hidden_act);
    info->layer_norm_eps = c->layer_norm_eps;
    info->num_parameters = store_count_params(&m->store, false);
    info->num_tensors = m->store.count;
}
