#include "train/trainer.h"
#include "train/trainer_run.h"
#include "adapters/fusion_train.h"
#include "adapters/ln_copies.h"
#include "adapters/lora.h"
#include "adapters/setup.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/json.h"
#include "core/fileio.h"
#include "core/svg.h"
#include "data/glue.h"
#include "formats/adapterhub.h"
#include "formats/adapterhub_lora.h"
#include "formats/peft.h"
#include "model/heads.h"
#include "model/layers.h"
#include "model/model.h"
#include "train/adamw.h"
#include "train/batch_order.h"
#include "train/batch_share.h"
#include "train/data_parallel.h"
#include "train/examples.h"
#include "train/mlm_data.h"
#include "train/progress.h"
#include "train/resume.h"
#include "tokenize/files.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

void train_options_defaults(train_options *o)
{
    memset(o, 0, sizeof *o);
    o->task = "ner";
    o->method = METHOD_ADAPTER;
    o->adapter_config = "seq_bn";
    o->top_k = 2;
    o->lora_r = 8;
    o->lora_alpha = 16;
    o->epochs = 3;
    o->batch_size = 32;
    o->max_len = 128;
    o->grad_accum = 1;
    o->lr = 1e-4;
    o->weight_decay = 0.01;
    o->warmup_ratio = 0.1;
    o->grad_clip = 1.0;
    o->seed = 42;
}

/* ------------------------------------------------------------------ data */
/* The text files of every --train (each may be a comma-separated list), in order. */
static adapt_status mlm_train_paths(const train_options *o, char *buf, size_t size, const char **paths, int *n)
{
    size_t used = 0;
    *n = 0;
    for (int f = 0; f < o->n_train_files; f++) {
        size_t len = strlen(o->train_files[f]);
        if (used + len + 1 > size) return adapt_fail(ADAPT_ERR_ARG, "train: the --train file names are too long");
        memcpy(buf + used, o->train_files[f], len + 1);
        for (char *save, *t = strtok_r(buf + used, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (*n == TRAIN_MAX_FILES) return adapt_fail(ADAPT_ERR_ARG, "train: at most %d --train text files", TRAIN_MAX_FILES);
            paths[(*n)++] = t;
        }
        used += len + 1;
    }
    return ADAPT_OK;
}

/* MLM: rows packed from the text files; without --dev the last 2% of the rows are held out. */
static adapt_status load_mlm_data(run *r)
{
    const train_options *o = r->o;
    r->mlm = true;
    TRY(model_check_max_tokens(&r->m->cfg, o->max_len));
    TRY(mlm_special_ids(r->tok, r->m->cfg.vocab, &r->sp));
    if (o->whole_word_mask) TRY(mlm_word_starts(r->tok, r->m->cfg.vocab, &r->word_start));
    char list[8192];
    const char *paths[TRAIN_MAX_FILES];
    int n;
    TRY(mlm_train_paths(o, list, sizeof list, paths, &n));
    size_t max_rows = o->max_train_examples > 0 ? (size_t)o->max_train_examples : 0;
    TRY(mlm_pack_files(r->tok, paths, n, o->max_len, max_rows, &r->sp, &r->train));
    r->train.tagging = true;
    if (o->dev_file) {
        const char *dev[1] = {o->dev_file};
        TRY(mlm_pack_files(r->tok, dev, 1, o->max_len, 2000, &r->sp, &r->dev));
    } else {
        size_t hold = r->train.n / 50 < 8 ? (r->train.n > 16 ? 8 : 0) : r->train.n / 50;
        if (hold) {
            r->dev.ex = malloc(hold * sizeof *r->dev.ex);
            if (!r->dev.ex) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
            memcpy(r->dev.ex, r->train.ex + r->train.n - hold, hold * sizeof *r->dev.ex);
            r->dev.n = hold;
            r->train.n -= hold;
        }
    }
    if (o->max_dev_examples > 0) encoded_set_truncate(&r->dev, (size_t)o->max_dev_examples);
    r->dev.tagging = true;
    return ADAPT_OK;
}

static int count_setups(const char *list)
{
    int n = 1;
    for (const char *p = list; *p; p++) n += *p == ';';
    return n;
}

/* One --train file of a task: read (labels mapped as topt says), cut to --max-train-examples,
 * encoded; with several files each must fill a batch, as batches come from one file. */
static adapt_status encode_train_file(run *r, const char *path, const task_data_options *topt, dataset *ds, encoded_set *out)
{
    const train_options *o = r->o;
    TRY(task_data_read(path, topt, ds));
    if (o->max_train_examples > 0 && (size_t)o->max_train_examples < ds->n) ds->n = (size_t)o->max_train_examples;
    TRY(encode_dataset(r->tok, ds, o->max_len, out));
    if (o->n_train_files > 1 && out->n < (size_t)o->batch_size)
        return adapt_fail(ADAPT_ERR_ARG, "%s: %zu examples, fewer than one batch of %d", path, out->n, o->batch_size);
    return ADAPT_OK;
}

/* --train files 2..n of a task that is not MLM: their examples follow the first file's, each
 * remembered with its file, which picks the composition it trains under. */
static adapt_status load_more_sources(run *r, const task_data_options *topt)
{
    const train_options *o = r->o;
    uint8_t *files_of = calloc(r->train.n + 1, 1); /* the first file's examples: 0 */
    adapt_status s = files_of ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (int f = 1; !s && f < o->n_train_files; f++) {
        dataset ds;
        encoded_set more = {0};
        s = encode_train_file(r, o->train_files[f], topt, &ds, &more);
        dataset_free(&ds);
        uint8_t *grown = s ? NULL : realloc(files_of, (r->train.n + more.n) * sizeof *grown + 1);
        if (!s && !grown) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        if (!s) {
            files_of = grown;
            memset(files_of + r->train.n, f, more.n);
            s = encoded_set_append(&r->train, &more);
        }
        encoded_set_free(&more);
    }
    if (s) free(files_of);
    else r->source_of = files_of, r->n_sources = o->n_train_files;
    return s;
}

static adapt_status load_data(run *r)
{
    const train_options *o = r->o;
    if (!strcmp(o->task, "mlm")) return load_mlm_data(r);
    r->tagging = !strcmp(o->task, "ner");
    r->glue = r->tagging ? NULL : glue_task_find(o->task);
    if (!r->tagging && !r->glue) return adapt_fail(ADAPT_ERR_ARG, "unknown task \"%s\" (ner, sst2, cola, mrpc, rte, stsb, tsv, ...)", o->task);
    task_data_options topt = {.glue = r->glue, .format = o->format, .regression = o->regression};
    TRY(encode_train_file(r, o->train_files[0], &topt, &r->train_ds, &r->train));
    r->regression = r->train_ds.kind == DATASET_REGRESSION;
    topt.labels = (const char *const *)r->train_ds.labels.names; /* the other files map onto the first's labels */
    topt.n_labels = r->train_ds.labels.n;
    if (o->dev_file) TRY(task_data_read(o->dev_file, &topt, &r->dev_ds));
    if (o->n_train_files > 1) TRY(load_more_sources(r, &topt));
    if (o->dev_file) TRY(encode_dataset(r->tok, &r->dev_ds, o->max_len, &r->dev));
    if (o->dev_file && !r->dev.n) return adapt_fail(ADAPT_ERR_FORMAT, "%s: no dev examples", o->dev_file); /* not a run without one */
    if (o->max_dev_examples > 0) encoded_set_truncate(&r->dev, (size_t)o->max_dev_examples);
    return ADAPT_OK;
}

/* ------------------------------------------------------------------ what trains */
static adapt_status mark_layers_trainable(adapt_model *m, int first_layer, bool embeddings)
{
    size_t pl = strlen(m->prefix);
    for (size_t i = 0; i < m->base_tensor_count; i++) {
        param *p = m->store.items[i];
        int layer = -1;
        bool in_base = !strncmp(p->name, m->prefix, pl) && p->name[pl] == '.';
        if (!in_base) continue; /* the pretrained MLM head / pooler stay frozen */
        if (sscanf(p->name + pl + 1, "encoder.layer.%d.", &layer) == 1 ? layer >= first_layer : embeddings)
            TRY(store_set_trainable(p, true));
    }
    return ADAPT_OK;
}

static adapt_status load_extra_adapters(run *r)
{
    for (int i = 0; i < r->o->n_load; i++) {
        char spec[1024];
        snprintf(spec, sizeof spec, "%s", r->o->load_adapters[i]);
        char *eq = strrchr(spec, '=');
        if (eq) *eq = 0;
        TRY(adapterhub_load_adapter(r->m, spec, eq ? eq + 1 : NULL, NULL, 0));
    }
    return ADAPT_OK;
}

/* --setup may list several compositions separated by ';': training cycles through them one step
 * at a time (e.g. a task adapter trained over two language adapters, so that it does not
 * depend on one of them), or, with as many --train files, file i's batches use the i-th (English
 * through the English language adapter, silver Quechua through the Quechua one); evaluation and
 * the saved setup use the first. */
static adapt_status use_setup(run *r, long turn) /* the turn-th composition, cyclically */
{
    const char *list = r->o->setup ? r->o->setup : r->name;
    int k = (int)(turn % count_setups(list));
    const char *start = list;
    for (int i = 0; i < k; i++) start = strchr(start, ';') + 1;
    const char *end = strchr(start, ';');
    char one[1024];
    snprintf(one, sizeof one, "%.*s", (int)(end ? (size_t)(end - start) : strlen(start)), start);
    return setup_activate(r->m, one);
}

static bool several_setups(const run *r) { return r->o->setup && strchr(r->o->setup, ';'); }

/* AdapterFusion training (Pfeiffer et al. 2021): a new fusion over adapters loaded with
 * --load-adapter; only the fusion (and the head) train unless the adapters are unfrozen. */
static adapt_status setup_fusion(run *r)
{
    const train_options *o = r->o;
    if (!o->fusion) return adapt_fail(ADAPT_ERR_ARG, "train: --method fusion needs --fusion a,b,c");
    TRY(fusion_names_parse(o->fusion, r->fusion_buf, r->fusion_names, &r->n_fusion));
    fusion_config cfg;
    TRY(fusion_config_parse_string(o->fusion_config ? o->fusion_config : "dynamic", &cfg));
    TRY(setup_add_fusion(r->m, r->fusion_names, r->n_fusion, &cfg, true));
    TRY(setup_set_fusion_trainable(r->m, setup_find_fusion(r->m->setup, r->fusion_names, r->n_fusion), true));
    snprintf(r->fuse, sizeof r->fuse, "Fuse(");
    for (int i = 0; i < r->n_fusion; i++) {
        if (o->fusion_train_adapters) TRY(setup_set_adapter_trainable(r->m, r->fusion_names[i], true));
        strncat(r->fuse, r->fusion_names[i], sizeof r->fuse - strlen(r->fuse) - 1);
        strncat(r->fuse, i + 1 < r->n_fusion ? ", " : ")", sizeof r->fuse - strlen(r->fuse) - 1);
    }
    return ADAPT_OK;
}

/* --lora-targets: comma-separated module names (spaces around them ignored) into cfg's
 * target_modules; each must name some module of the model (a typo would train something else). */
static adapt_status lora_targets_of(const adapt_model *m, const char *list, lora_config *cfg)
{
    cfg->n_targets = 0;
    for (const char *at = list;; at++) {
        size_t len = strcspn(at, ",");
        const char *first = at, *end = at + len;
        while (first < end && *first == ' ') first++;
        while (end > first && end[-1] == ' ') end--;
        if (first == end || end - first >= (long)sizeof cfg->targets[0] || cfg->n_targets == LORA_MAX_TARGETS)
            return adapt_fail(ADAPT_ERR_ARG, "train: --lora-targets \"%.80s\": up to %d comma-separated module names of 1-63 characters",
                              list, LORA_MAX_TARGETS);
        snprintf(cfg->targets[cfg->n_targets++], sizeof cfg->targets[0], "%.*s", (int)(end - first), first);
        at += len;
        if (!*at) break;
    }
    for (int i = 0; i < cfg->n_targets; i++) {
        lora_config one = {.r = 1, .alpha = 1, .n_targets = 1};
        snprintf(one.targets[0], sizeof one.targets[0], "%s", cfg->targets[i]);
        bool named = false;
        char module[320];
        for (int j = 0; j < lora_module_count(m) && !named; j++) {
            lora_module_path(m, j, module, sizeof module);
            lora_module_settings ms;
            TRY(lora_module_settings_of(&one, module, &ms));
            named = ms.targeted;
        }
        if (!named)
            return adapt_fail(ADAPT_ERR_ARG, "train: --lora-targets entry \"%s\" names no module of the model (e.g. query, value, "
                              "dense, intermediate.dense, output.dense, word_embeddings)", cfg->targets[i]);
    }
    return ADAPT_OK;
}

static adapt_status setup_method(run *r)
{
    const train_options *o = r->o;
    adapt_model *m = r->m;
    TRY(load_extra_adapters(r));
    switch (o->method) {
    case METHOD_ADAPTER: {
        TRY(setup_add_adapter_from_string(m, r->name, o->adapter_config));
        if (o->train_layer_norms && !setup_find_adapter(m->setup, r->name)->has_bn)
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "--train-layer-norms: a prefix tuning has no adapter points to own LayerNorms at");
        if (o->train_layer_norms) TRY(ln_copies_add(m, r->name)); /* trained with the adapter, saved in its file */
        TRY(setup_set_adapter_trainable(m, r->name, true));
        break;
    }
    case METHOD_LORA: {
        lora_config cfg = {.r = o->lora_r, .alpha = o->lora_alpha, .use_dora = o->lora_dora, .dropout = o->lora_dropout};
        if (o->lora_ia3_peft) { /* PEFT's IA3Config for BERT / RoBERTa: key, value, output.dense (its input: a feedforward
                                 * module, and by PEFT's suffix match attention.output.dense both times too) */
            cfg = (lora_config){.r = 1, .alpha = 1, .ia3 = true, .n_targets = 3, .n_feedforward = 1};
            snprintf(cfg.targets[0], 64, "key");
            snprintf(cfg.targets[1], 64, "value");
            snprintf(cfg.targets[2], 64, "output.dense");
            snprintf(cfg.feedforward[0], 64, "output.dense");
        } else if (o->lora_ia3) { /* AdapterHub's IA3Config: r = alpha = 1 on key, value and intermediate.dense */
            cfg = (lora_config){.r = 1, .alpha = 1, .ia3 = true, .from_adapterhub = true, .n_targets = 3};
            snprintf(cfg.targets[0], 64, "attention.self.key");
            snprintf(cfg.targets[1], 64, "attention.self.value");
            snprintf(cfg.targets[2], 64, "intermediate.dense");
        } else {
            TRY(lora_targets_of(m, o->lora_targets ? o->lora_targets : "query,value", &cfg));
        }
        TRY(lora_attach(m, &cfg, LORA_DEFAULT_NAME, true, &r->rng, NULL));
        break;
    }
    case METHOD_FULL:
        TRY(mark_layers_trainable(m, 0, true));
        if (r->mlm && m->mlm.dense_w) { /* pretraining: the MLM head trains too (its decoder is tied) */
            param *ps[6] = {m->mlm.dense_w, m->mlm.dense_b, m->mlm.ln_w, m->mlm.ln_b, m->mlm.bias, m->mlm.decoder};
            for (int i = 0; i < 6; i++)
                if (ps[i]) TRY(store_set_trainable(ps[i], true));
        }
        break;
    case METHOD_TOPK: TRY(mark_layers_trainable(m, m->cfg.layers - o->top_k, false)); break;
    case METHOD_HEAD: break;
    case METHOD_FUSION: TRY(setup_fusion(r)); break;
    }
    const char *setup = o->setup ? o->setup : (o->method == METHOD_ADAPTER ? r->name : NULL);
    if (setup) TRY(use_setup(r, 0));
    else if (o->method == METHOD_FUSION) TRY(setup_activate(m, r->fuse)); /* Fuse(a, b, c) */
    if (r->mlm) { /* the checkpoint's pretrained MLM head, trained only in full pretraining */
        TRY(head_create(m, &r->h, HEAD_MLM, "mlm", 0));
        return ADAPT_OK;
    }
    int labels = r->regression ? 1 : (int)r->train_ds.labels.n; /* AdapterHub: one output = regression */
    if (labels < 1) return adapt_fail(ADAPT_ERR_FORMAT, "%s: no labels found", o->train_files[0]);
    if (labels == 1 && !r->regression && !r->tagging)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: one class only (\"%s\"); a one-output head is a regression head", o->train_files[0],
                          r->train_ds.labels.names[0]);
    TRY(head_create(m, &r->h, r->tagging ? HEAD_TAGGING : HEAD_CLASSIFICATION, r->name, labels));
    head_init_random(&r->h, &r->rng);
    param *ps[4] = {r->h.w1, r->h.b1, r->h.w2, r->h.b2};
    for (int i = 0; i < 4; i++)
        if (ps[i]) TRY(store_set_trainable(ps[i], true));
    return ADAPT_OK;
}
/* ------------------------------------------------------------------ steps */
static double clip_gradients(param_store *s, double max_norm)
{
    double total = 0;
    for (size_t i = 0; i < s->count; i++) {
        const param *p = s->items[i];
        if (!p->grad) continue;
        for (size_t k = 0; k < p->numel; k++) total += (double)p->grad[k] * p->grad[k];
    }
    double norm = sqrt(total);
    if (!isfinite(norm)) return norm; /* a numerical fault: the caller skips or aborts the step */
    if (max_norm > 0 && norm > max_norm) {
        float f = (float)(max_norm / (norm + 1e-6));
        for (size_t i = 0; i < s->count; i++)
            if (s->items[i]->grad)
                for (size_t k = 0; k < s->items[i]->numel; k++) s->items[i]->grad[k] *= f;
    }
    return norm;
}
static const char *metric_name(const run *r)
{
    return r->mlm ? "MLM loss" : r->tagging ? "entity F1" : r->regression ? "pearson" : r->glue->metric;
}

/* A trained fusion goes where AdapterHub's save_adapter_fusion(with_head=True) puts it: the
 * fusion files and the head in one folder (OUT/best/<name>/); unfrozen adapters beside it. */
static adapt_status save_fusion(run *r, const char *dir, const char *sub)
{
    TRY(adapterhub_save_fusion(r->m, sub, r->fusion_names, r->n_fusion));
    for (int i = 0; r->o->fusion_train_adapters && i < r->n_fusion; i++) {
        char *ad = path_join(dir, r->fusion_names[i]);
        adapt_status s = ad ? adapterhub_save_adapter(r->m, ad, r->fusion_names[i]) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        free(ad);
        TRY(s);
    }
    return ADAPT_OK;
}

/* Pretraining's result: a Hugging Face model folder with the MLM head and the tokenizer, as
 * `adapt init-model` and the GPU tool write it. */
static adapt_status save_model_folder(run *r)
{
    const train_options *o = r->o;
    TRY(model_save(r->m, o->model_out, MODEL_SHARD_BYTES));
    return tokenizer_copy_files(o->tokenizer ? o->tokenizer : o->model_dir, o->model_out);
}

/* The trained parts, where `adapt predict` finds them: OUT/best/<name>/ (adapter + head, AdapterHub
 * layout), OUT/best/lora/ (PEFT), OUT/best/model/ (full or partial fine-tuning); the model folder
 * of its own with model_out. */
static adapt_status save_trained(run *r, const char *dir)
{
    if (r->o->model_out) return save_model_folder(r);
    TRY(dir_make(dir));
    char *sub = path_join(dir, r->o->method == METHOD_LORA ? "lora" : r->name);
    adapt_status s = sub ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!s && r->o->method == METHOD_FUSION) s = save_fusion(r, dir, sub);
    if (!s && r->o->method == METHOD_ADAPTER) s = adapterhub_save_adapter(r->m, sub, r->name);
    if (!s && r->o->method == METHOD_LORA && r->o->lora_ia3 && !r->o->lora_ia3_peft) s = adapterhub_save_lora(r->m, sub);
    else if (!s && r->o->method == METHOD_LORA) s = peft_save_with_model_head(r->m, sub, &r->h); /* so PEFT loads the LoRA with it */
    const char *const *labels = r->regression ? NULL : (const char *const *)r->train_ds.labels.names; /* NULL: LABEL_0 */
    if (!s && !r->mlm) s = adapterhub_save_head(r->m, sub, &r->h, labels);
    if (!s && (r->o->method == METHOD_FULL || r->o->method == METHOD_TOPK)) {
        char *md = path_join(dir, "model");
        s = md ? model_save(r->m, md, (size_t)16 << 20) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        free(md);
    }
    free(sub);
    return s;
}

/* OUT/best/: the weights kept (the best by the dev metric, else the last step's). */
static adapt_status save_best(run *r)
{
    char *dir = path_join(r->o->out_dir, "best");
    adapt_status s = dir ? save_trained(r, dir) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    free(dir);
    return s;
}

static adapt_status write_summary(run *r, double best, long best_step, long steps, long skipped, double seconds, size_t trained,
                                  size_t total)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char best_text[32] = "null"; /* JSON has no infinity: no evaluation ran */
    if (isfinite(best)) snprintf(best_text, sizeof best_text, "%.4f", r->mlm ? -best : best);
    static const char *methods[] = {"adapter", "lora", "full", "head", "top-k", "fusion"};
    /* strings from the command line, quoted for JSON (a config string may hold quotes) */
    char *task = json_quote(r->o->task), *config = json_quote(r->o->method == METHOD_ADAPTER ? r->o->adapter_config : "");
    char *name = json_quote(r->name);
    if (!task || !config || !name) {
        free(task), free(config), free(name);
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    char buf[2304];
    int n = snprintf(buf, sizeof buf,
                     "{\n  \"task\": %s,\n  \"method\": \"%s\",\n  \"adapter_config\": %s,\n  \"name\": %s,\n"
                     "  \"train_examples\": %zu,\n  \"dev_examples\": %zu,\n  \"steps\": %ld,\n  \"skipped_steps\": %ld,\n  \"best_dev_metric\": %s,\n"
                     "  \"metric\": \"%s\",\n  \"best_step\": %ld,\n  \"trained_parameters\": %zu,\n  \"total_parameters\": %zu,\n"
                     "  \"trained_percent\": %.4f,\n  \"wall_seconds\": %.1f,\n  \"seconds_per_step\": %.4f,\n  \"processes\": %d,\n"
                     "  \"peak_rss_mb\": %.1f\n}\n",
                     task, methods[r->o->method], config, name,
                     r->train.n, r->dev.n, steps, skipped, best_text, r->mlm ? "mlm_loss" : r->tagging ? "entity_f1" : metric_name(r), best_step, trained, total,
                     100.0 * (double)trained / (double)total, seconds, steps ? seconds / (double)steps : 0, dp_size(),
                     ru.ru_maxrss / 1024.0);
    free(task), free(config), free(name);
    if (n < 0 || (size_t)n >= sizeof buf) return adapt_fail(ADAPT_ERR_ARG, "summary.json: the task, config or name is too long");
    char *path = path_join(r->o->out_dir, "summary.json");
    adapt_status s = path ? file_write_atomic(path, buf, (size_t)n) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    free(path);
    if (s) return s;
    svg_series series[2] = {{"train loss", r->loss_x, r->loss_y, r->n_loss, false},
                            {"dev metric", r->eval_x, r->eval_y, r->n_eval, true}};
    path = path_join(r->o->out_dir, "curve.svg");
    if (r->mlm)
        for (size_t i = 0; i < r->n_eval; i++) r->eval_y[i] = -r->eval_y[i]; /* plot the dev loss itself */
    s = path ? svg_line_chart(path, "training curve", "step", "loss", r->mlm ? "dev MLM loss" : r->tagging ? "dev entity F1" : "dev metric", series, 2)
             : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    free(path);
    return s;
}

static adapt_status push_point(double **xs, double **ys, size_t *n, double x, double y)
{
    double *nx = realloc(*xs, (*n + 1) * sizeof(double)), *ny = realloc(*ys, (*n + 1) * sizeof(double));
    if (nx) *xs = nx;
    if (ny) *ys = ny;
    if (!nx || !ny) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    (*xs)[*n] = x;
    (*ys)[*n] = y;
    (*n)++;
    return ADAPT_OK;
}

/* ------------------------------------------------------------------ the loop */
/* The options a checkpoint must have been written with (the run would differ otherwise). */
static void options_fingerprint(const run *r, long total, char *buf, size_t size)
{
    const train_options *o = r->o;
    char lora_dropout_text[48] = "";
    if (o->lora_dropout > 0) snprintf(lora_dropout_text, sizeof lora_dropout_text, " lora_dropout=%.17g", o->lora_dropout);
    snprintf(buf, size,
             "task=%s method=%d name=%s adapter_config=%s setup=%s fusion=%s fusion_config=%s fusion_train_adapters=%d "
             "top_k=%d lora_r=%d lora_alpha=%.17g train_examples=%zu dev_examples=%zu batch=%d accum=%d max_len=%d lr=%.17g "
             "weight_decay=%.17g warmup=%.17g clip=%.17g steps=%ld eval_every=%ld patience=%d seed=%llu loaded=%d "
             "whole_word_mask=%d init=%s regression=%d layer_norms=%d train_files=%d dora=%d%s%s%s%s",
             o->task, (int)o->method, r->name, o->adapter_config ? o->adapter_config : "", o->setup ? o->setup : "",
             o->fusion ? o->fusion : "", o->fusion_config ? o->fusion_config : "", (int)o->fusion_train_adapters, o->top_k, o->lora_r,
             o->lora_alpha, r->train.n, r->dev.n, o->batch_size, o->grad_accum, o->max_len, o->lr, o->weight_decay, o->warmup_ratio,
             o->grad_clip, total, o->eval_every, o->patience, (unsigned long long)o->seed, o->n_load, (int)o->whole_word_mask,
             o->init_config ? "random" : "loaded", (int)r->regression, (int)o->train_layer_norms, o->n_train_files, (int)o->lora_dora,
             o->lora_ia3_peft ? " ia3=peft" : o->lora_ia3 ? " ia3=1" : "", o->lora_targets ? " targets=" : "",
             o->lora_targets ? o->lora_targets : "", lora_dropout_text); /* written only when set: checkpoints of earlier runs keep their options */
}

/* ADAPT_TEST_INJECT_NAN=N poisons one gradient value at optimizer step N, N:loss makes the loss of
 * step N NaN: a test hook for the --on-nan policy (documented in docs/reliability.md). */
static long inject_nan_step(bool *in_loss)
{
    const char *e = getenv("ADAPT_TEST_INJECT_NAN");
    *in_loss = false;
    if (!e || !*e) return 0;
    char *end;
    long v = strtol(e, &end, 10);
    *in_loss = !strcmp(end, ":loss");
    return v > 0 ? v : 0;
}

static void poison_gradient(param_store *s)
{
    for (size_t i = 0; i < s->count; i++)
        if (s->items[i]->trainable && s->items[i]->grad) {
            s->items[i]->grad[0] = NAN;
            return;
        }
}

static adapt_status write_losses(const char *path, const double *losses, size_t n)
{
    size_t cap = n * 40 + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) len += (size_t)snprintf(buf + len, cap - len, "%zu\t%.17g\n", i + 1, losses[i]);
    adapt_status s = file_write_atomic(path, buf, len);
    free(buf);
    return s;
}

typedef struct loop_state {
    long step, micro, best_step, skipped, total;
    int bad_evals;
    uint64_t epoch_rng;
    size_t cursor;
    double best, tokens, *losses;
    size_t n_losses, cap_losses;
    char fingerprint[2048];
} loop_state;

static adapt_status checkpoint(run *r, const loop_state *ls, double elapsed)
{
    train_state st = {.step = ls->step, .micro = ls->micro, .best_step = ls->best_step, .skipped = ls->skipped,
                      .bad_evals = ls->bad_evals, .rng = r->rng, .epoch_rng = ls->epoch_rng, .dropout_rng = r->m->dropout_rng,
                      .cursor = ls->cursor, .n_train = r->train.n, .best = ls->best, .elapsed = elapsed, .tokens = ls->tokens,
                      .losses = ls->losses, .n_losses = ls->n_losses, .eval_x = r->eval_x, .eval_y = r->eval_y, .n_eval = r->n_eval};
    for (int i = 0; r->m->setup && i < r->m->setup->n_fusions && i < CKPT_MAX_TEMPS; i++) st.temps[st.n_temps++] = r->m->setup->fusions[i].temperature;
    snprintf(st.fingerprint, sizeof st.fingerprint, "%s", ls->fingerprint);
    return ckpt_save(r->o->out_dir, &r->m->store, &st);
}

/* --resume: everything the loop needs to continue exactly where the checkpoint was written. */
static adapt_status restore(run *r, loop_state *ls, size_t *order, int B, double *elapsed, bool *found)
{
    train_state st = {0};
    TRY(ckpt_load(r->o->out_dir, &r->m->store, &st, found));
    if (!*found) return ADAPT_OK;
    int fusions = r->m->setup ? r->m->setup->n_fusions : 0;
    adapt_status s = ADAPT_OK;
    if (strcmp(st.fingerprint, ls->fingerprint))
        s = adapt_fail(ADAPT_ERR_ARG, "%s/checkpoint was written by a run with other options:\n  checkpoint: %s\n  this run:   %s",
                       r->o->out_dir, st.fingerprint, ls->fingerprint);
    else if (st.n_train != r->train.n || st.cursor > r->train.n || st.step > ls->total || st.n_temps != (fusions < CKPT_MAX_TEMPS ? fusions : CKPT_MAX_TEMPS))
        s = adapt_fail(ADAPT_ERR_FORMAT, "%s/checkpoint does not fit this run's data or setup", r->o->out_dir);
    if (s) {
        train_state_free(&st);
        return s;
    }
    ls->step = st.step, ls->micro = st.micro, ls->best_step = st.best_step, ls->skipped = st.skipped;
    ls->bad_evals = st.bad_evals, ls->epoch_rng = st.epoch_rng, ls->cursor = st.cursor, ls->best = st.best, ls->tokens = st.tokens;
    r->rng = st.rng;
    r->m->dropout_rng = st.dropout_rng;
    for (int i = 0; i < st.n_temps; i++) r->m->setup->fusions[i].temperature = st.temps[i];
    uint64_t t = st.epoch_rng;
    s = epoch_order(order, r->train.n, r->source_of, r->n_sources, B, &t); /* this epoch's order */
    *elapsed = st.elapsed;
    free(ls->losses);
    ls->losses = st.losses, ls->n_losses = ls->cap_losses = st.n_losses;
    st.losses = NULL;
    free(r->eval_x), free(r->eval_y);
    r->eval_x = st.eval_x, r->eval_y = st.eval_y, r->n_eval = st.n_eval;
    st.eval_x = st.eval_y = NULL;
    for (size_t i = 0; !s && i < ls->n_losses; i++)
        if (isfinite(ls->losses[i])) s = push_point(&r->loss_x, &r->loss_y, &r->n_loss, (double)(i + 1), ls->losses[i]);
    train_state_free(&st);
    return s;
}

static adapt_status record_loss(loop_state *ls, FILE *fp, double loss)
{
    if (ls->n_losses == ls->cap_losses) {
        size_t cap = ls->cap_losses ? 2 * ls->cap_losses : 256;
        double *v = realloc(ls->losses, cap * sizeof *v);
        if (!v) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        ls->losses = v, ls->cap_losses = cap;
    }
    ls->losses[ls->n_losses++] = loss;
    if (fp) {
        fprintf(fp, "%ld\t%.17g\n", ls->step, loss);
        fflush(fp);
    }
    return ADAPT_OK;
}

static adapt_status train_loop(run *r)
{
    const train_options *o = r->o;
    adapt_model *m = r->m;
    size_t n = r->train.n;
    int B = o->batch_size;
    if (n < (size_t)B) B = (int)n;
    if (B < 1) return adapt_fail(ADAPT_ERR_ARG, "train: no training examples");
    if (B < dp_size())
        return adapt_fail(ADAPT_ERR_ARG, "train: a batch of %d is fewer rows than the %d processes that share it", B, dp_size());
    bool lead = dp_rank() == 0; /* the process that saves and logs */
    size_t positions = epoch_positions(r->source_of, n, r->n_sources, B); /* visited per epoch */
    long per_epoch = (long)(positions / (size_t)B) / o->grad_accum;
    long total = o->max_steps > 0 ? o->max_steps : per_epoch * o->epochs;
    if (total < 1) total = 1;
    long warmup = (long)(o->warmup_ratio * (double)total), eval_every = o->eval_every > 0 ? o->eval_every : per_epoch;
    if (eval_every < 1) eval_every = 1;
    size_t *order = malloc(n * sizeof(size_t));
    if (!order) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    adamw_config opt = {o->lr, 0.9, 0.999, 1e-8, o->weight_decay};
    size_t trained = store_count_params(&m->store, true), all = store_count_params(&m->store, false);
    loop_state ls = {.total = total, .best = -INFINITY, .cursor = n, .epoch_rng = r->rng};
    options_fingerprint(r, total, ls.fingerprint, sizeof ls.fingerprint);
    double elapsed = 0;
    bool resumed = false;
    adapt_status s = ADAPT_OK;
    if (o->resume) s = restore(r, &ls, order, B, &elapsed, &resumed);
    if (!s && o->check_checkpoint) {
        if (!resumed) s = adapt_fail(ADAPT_ERR_IO, "%s/checkpoint: no checkpoint", o->out_dir);
        else printf("checkpoint OK: step %ld of %ld, epoch position %zu of %zu\n", ls.step, total, ls.cursor, n);
        free(order);
        free(ls.losses);
        return s;
    }
    char *losses_path = path_join(o->out_dir, "losses.tsv");
    FILE *losses_fp = NULL;
    if (!s && !losses_path) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    /* the log restarts at the checkpoint: lines written after it by the killed run are dropped */
    if (!s && lead) s = write_losses(losses_path, ls.losses, ls.n_losses);
    if (!s && lead && !(losses_fp = fopen(losses_path, "a"))) s = adapt_fail(ADAPT_ERR_IO, "%s: cannot open: %s", losses_path, strerror(errno));
    bool inject_in_loss;
    long inject = inject_nan_step(&inject_in_loss);
    if (!s && !o->quiet) {
        fprintf(stderr, "train: %zu examples, %ld steps of %d x %d, %zu of %zu parameters trainable (%.2f%%)\n", n, total, B,
                o->grad_accum, trained, all, 100.0 * (double)trained / (double)all);
        if (dp_size() > 1) fprintf(stderr, "train: data-parallel over %d processes (%s), each a slice of every batch\n", dp_size(), dp_engine());
        if (resumed) fprintf(stderr, "train: resumed from %s/checkpoint at step %ld\n", o->out_dir, ls.step);
    }
    progress pr;
    progress_init(&pr, total, o->quiet);
    double t0 = monotonic_seconds() - elapsed;
    double loss_acc = 0;
    const char *fault = NULL; /* what went non-finite in this optimizer step */
    double fault_value = 0;
    store_zero_grads(&m->store); /* checkpoints are written at step boundaries, with zero gradients */
    /* a checkpoint of a run that stopped early: it stays stopped */
    bool stopped = resumed && o->patience > 0 && ls.bad_evals >= o->patience;
    while (!s && !stopped && ls.step < total) {
        if (ls.cursor + (size_t)B > positions) { /* new epoch: shuffle */
            ls.epoch_rng = r->rng;
            s = epoch_order(order, n, r->source_of, r->n_sources, B, &r->rng);
            ls.cursor = 0;
        }
        batch b = {0};
        if (!s && r->source_of) s = use_setup(r, r->source_of[order[ls.cursor]]); /* the batch's file */
        else if (!s && several_setups(r)) s = use_setup(r, ls.micro);
        if (!s) s = batch_build(&r->train, order + ls.cursor, B, r->pad_id, &b);
        if (!s && r->mlm) s = trainer_mask_batch(r, &b, &r->rng);
        ls.cursor += (size_t)B;
        double loss = 0;
        if (!s) s = trainer_forward_share(r, &b, &loss);
        ls.tokens += (double)b.B * (double)b.T;
        batch_free(&b);
        if (s) break;
        if (inject == ls.step + 1 && inject_in_loss) loss = NAN;
        if (!isfinite(loss) && !fault) fault = "loss", fault_value = loss;
        if (fault && !o->on_nan_skip) {
            s = adapt_fail(ADAPT_ERR_NUMERIC, "numerical fault at step %ld: the loss is %g; stopped before the weights are "
                           "corrupted (--on-nan abort)%s", ls.step + 1, fault_value,
                           o->checkpoint_every > 0 ? "; the last checkpoint is kept" : "");
            break;
        }
        loss_acc += loss;
        if (++ls.micro % o->grad_accum) continue;
        if (dp_size() > 1) { /* every process the same sum: the same step */
            s = gradients_sum(&m->store, &r->grad_sum, &r->grad_sum_n);
            if (!s) s = dp_sum_doubles(&loss_acc, 1);
            if (s) break;
            if (!isfinite(loss_acc) && !fault) fault = "loss", fault_value = loss_acc; /* another process's */
        }
        /* 0.01 ||I - W_v||^2 once per optimizer step, before clipping (the library adds its gradient
         * in on_step_end, i.e. one step late; the same term, applied without the lag) */
        setup_fusion_regularization(m, 1.0f);
        if (inject == ls.step + 1 && !inject_in_loss) poison_gradient(&m->store);
        double norm = clip_gradients(&m->store, o->grad_clip);
        if (!isfinite(norm) && !fault) fault = "gradient norm", fault_value = norm;
        if (fault && !o->on_nan_skip) {
            s = adapt_fail(ADAPT_ERR_NUMERIC, "numerical fault at step %ld: the %s is %g; stopped before the weights are "
                           "corrupted (--on-nan abort)%s", ls.step + 1, fault, fault_value,
                           o->checkpoint_every > 0 ? "; the last checkpoint is kept" : "");
            break;
        }
        double lr = ls.step < warmup ? o->lr * (double)(ls.step + 1) / (double)warmup
                                     : o->lr * fmax(0.0, (double)(total - ls.step) / (double)fmax(1.0, (double)(total - warmup)));
        if (fault) { /* --on-nan skip: no update; the step still counts (the schedule and the data move on) */
            progress_note(&pr, "step %ld skipped: the %s is %g (--on-nan skip)", ls.step + 1, fault, fault_value);
            ls.skipped++;
        } else {
            s = adamw_step(&m->store, &opt, lr, ls.step + 1 - ls.skipped);
        }
        store_zero_grads(&m->store);
        ls.step++;
        if (!s) s = record_loss(&ls, losses_fp, loss_acc);
        if (!s && !fault) s = push_point(&r->loss_x, &r->loss_y, &r->n_loss, (double)ls.step, loss_acc);
        progress_update(&pr, ls.step, loss_acc, ls.tokens);
        loss_acc = 0;
        fault = NULL;
        bool out_of_time = o->max_seconds > 0 && monotonic_seconds() - t0 > o->max_seconds, stop = false;
        if (!s && dp_size() > 1 && o->max_seconds > 0) { /* the lead's clock decides for all */
            int late = out_of_time;
            s = dp_broadcast_ints(&late, 1);
            out_of_time = late;
        }
        /* every process evaluates its share and gets the same metric, so all take the same decisions */
        if (!s && r->dev.n && (ls.step % eval_every == 0 || ls.step == total || out_of_time)) {
            double metric = 0, dev_loss = 0;
            if (several_setups(r)) s = use_setup(r, 0);
            if (!s) s = trainer_evaluate(r, &metric, &dev_loss);
            if (!s) s = push_point(&r->eval_x, &r->eval_y, &r->n_eval, (double)ls.step, metric);
            if (!s) progress_note(&pr, "eval step %ld: dev loss %.4f, dev %s %.2f%s", ls.step, dev_loss, metric_name(r),
                                  r->mlm ? dev_loss : metric, metric > ls.best ? " (best)" : "");
            if (!s && metric > ls.best) {
                ls.best = metric;
                ls.best_step = ls.step;
                ls.bad_evals = 0;
                if (lead) s = save_best(r);
            } else if (!s && ++ls.bad_evals >= o->patience && o->patience > 0) {
                progress_note(&pr, "early stop: %d evaluations without improvement", ls.bad_evals);
                stop = true;
            }
        }
        if (!s && lead && o->checkpoint_every > 0 && ls.step % o->checkpoint_every == 0) s = checkpoint(r, &ls, monotonic_seconds() - t0);
        if (s || stop) break;
        if (out_of_time) {
            progress_note(&pr, "time budget of %.0f s reached", o->max_seconds);
            break;
        }
    }
    progress_finish(&pr);
    if (losses_fp) fclose(losses_fp);
    free(losses_path);
    if (!s && lead && !r->dev.n) {
        s = save_best(r);
        ls.best_step = ls.step;
    }
    if (!s && lead) s = write_summary(r, ls.best, ls.best_step, ls.step, ls.skipped, monotonic_seconds() - t0, trained, all);
    if (!s && ls.skipped && !o->quiet) fprintf(stderr, "train: %ld steps skipped for NaN/Inf (--on-nan skip)\n", ls.skipped);
    if (!s && !o->quiet && !r->dev.n)
        printf("no dev set: the last step's weights kept as best (step %ld); results in %s\n", ls.best_step, o->out_dir);
    else if (!s && !o->quiet)
        printf("best dev %s: %.4f at step %ld; results in %s\n", metric_name(r), r->mlm ? -ls.best : ls.best, ls.best_step, o->out_dir);
    free(order);
    free(ls.losses);
    return s;
}

/* Pretraining from scratch: a random model of init_config that the tokenizer fits. The init
 * stream is not the data stream. */
static adapt_status create_random_model(run *r)
{
    const train_options *o = r->o;
    TRY(model_create_random(o->init_config, r->rng ^ 0x6a09e667f3bcc909ull, &r->m));
    size_t have = adapt_tokenizer_vocab_size(r->tok);
    if (have > (size_t)r->m->cfg.vocab)
        return adapt_fail(ADAPT_ERR_ARG, "%s: the tokenizer's %zu tokens do not fit vocab_size %d of %s", o->tokenizer, have,
                          r->m->cfg.vocab, o->init_config);
    return ADAPT_OK;
}

adapt_status trainer_run(const train_options *o)
{
    if ((!o->model_dir && !o->init_config) || o->n_train_files < 1 || !o->out_dir)
        return adapt_fail(ADAPT_ERR_ARG, "train: --model, --train and --output are required");
    if (o->init_config && !o->tokenizer) return adapt_fail(ADAPT_ERR_ARG, "train: a model from a config.json needs --tokenizer");
    bool mlm = !strcmp(o->task, "mlm");
    if (!mlm && o->n_train_files > 1 && (!o->setup || count_setups(o->setup) != o->n_train_files))
        return adapt_fail(ADAPT_ERR_ARG, "train: %d --train files need --setup with as many compositions separated by ';' "
                          "(file i trains under the i-th)", o->n_train_files);
    if (!mlm && o->whole_word_mask) return adapt_fail(ADAPT_ERR_ARG, "train: --whole-word-mask needs --task mlm");
    if (o->model_out && (!mlm || o->method != METHOD_FULL))
        return adapt_fail(ADAPT_ERR_ARG, "train: a model folder of its own is written for --task mlm --method full only");
    if (o->batch_size < 1 || o->max_len < 8 || o->grad_accum < 1 || !(o->lr > 0) || o->epochs < 1)
        return adapt_fail(ADAPT_ERR_ARG, "train: batch size, max length, accumulation, learning rate and epochs must be positive");
    if (o->train_layer_norms && o->method != METHOD_ADAPTER)
        return adapt_fail(ADAPT_ERR_ARG, "train: --train-layer-norms gives a new adapter its own LayerNorms (--method adapter)");
    if (o->lora_dora && o->method != METHOD_LORA) return adapt_fail(ADAPT_ERR_ARG, "train: --dora makes the new LoRA a DoRA (--method lora)");
    if (o->lora_dropout > 0 && (o->method != METHOD_LORA || o->lora_ia3 || o->lora_dora))
        return adapt_fail(ADAPT_ERR_ARG, "train: --lora-dropout is a new LoRA's (--method lora, not --ia3 or --dora)");
    if (o->lora_targets && (o->method != METHOD_LORA || o->lora_ia3))
        return adapt_fail(ADAPT_ERR_ARG, "train: --lora-targets names the new LoRA's modules (--method lora, not --ia3)");
    if ((o->lora_ia3 || o->lora_ia3_peft) && (o->method != METHOD_LORA || o->lora_dora))
        return adapt_fail(ADAPT_ERR_ARG, "train: --ia3 makes the new LoRA an (IA)^3 (--method lora, without --dora)");
    train_options mine = *o;
    mine.quiet = o->quiet || dp_rank() > 0; /* the lead process speaks for a data-parallel run */
    run r = {.o = &mine, .rng = o->seed ? o->seed : 42};
    r.name = o->name ? o->name : o->task;
    dataset_init(&r.train_ds, DATASET_TAGGING, NULL); /* the readers re-initialise with the path */
    dataset_init(&r.dev_ds, DATASET_TAGGING, NULL);
    adapt_status s = dir_make(o->out_dir);
    if (!s && !o->init_config) s = adapt_model_load(o->model_dir, &r.m);
    if (!s) s = adapt_tokenizer_load(o->tokenizer ? o->tokenizer : o->model_dir, &r.tok);
    if (!s && o->init_config) s = create_random_model(&r);
    if (!s) {
        r.m->dropout_rng = r.rng ^ 0xd1b54a32d192ed03ull;
        r.pad_id = r.m->cfg.pad_id;
        s = load_data(&r);
    }
    if (!s) s = setup_method(&r);
    if (!s) s = train_loop(&r);
    encoded_set_free(&r.train);
    encoded_set_free(&r.dev);
    dataset_free(&r.train_ds);
    dataset_free(&r.dev_ds);
    adapt_tokenizer_free(r.tok);
    adapt_model_free(r.m);
    free(r.word_start);
    free(r.source_of);
    free(r.grad_sum);
    free(r.loss_x);
    free(r.loss_y);
    free(r.eval_x);
    free(r.eval_y);
    return s;
}
