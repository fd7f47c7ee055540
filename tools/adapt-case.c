/* adapt-case CASE_DIR OUT.safetensors — the fixture runner.
 * Reads CASE_DIR/case.json and the files it names, computes every tensor of the case that adapt
 * supports (hidden_states.N, logits, loss, grad.*, fusion_probs.*, stepK.*) and writes them as F32
 * under the fixture names. Exit 0: all computed; 3: some setup not supported yet (the rest is
 * written); 1: error. It never opens expected.safetensors: comparing is the tests' job. */
#include "adapt.h"
#include "case_files.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "adapters/compose.h"
#include "adapters/setup.h"
#include "formats/peft.h"
#include "train/adamw.h"
#include "model/heads.h"
#include "model/layers.h"
#include "model/model.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static adapt_status add_hidden_states(adapt_model *m, const case_inputs *in, output_list *out)
{
    int64_t shape[3] = {in->B, in->T, m->cfg.hidden};
    for (int l = 0; l <= m->cfg.layers; l++) {
        char name[64];
        snprintf(name, sizeof name, "hidden_states.%d", l);
        float *buf = output_add(out, name, 3, shape);
        if (!buf) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        memcpy(buf, m->fw.hidden[l], (size_t)in->B * in->T * m->cfg.hidden * sizeof(float));
    }
    return ADAPT_OK;
}

/* logits: [B,T,C] for token heads (rows = B*T), [B,C] for sequence heads (rows = B). */
static adapt_status add_logits_and_loss(const case_inputs *in, output_list *out, const float *logits, int rows, int C)
{
    int64_t shape3[3] = {in->B, in->T, C}, shape2[2] = {in->B, C};
    bool per_token = rows == in->B * in->T;
    float *buf = per_token ? output_add(out, "logits", 3, shape3) : output_add(out, "logits", 2, shape2);
    if (!buf) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    memcpy(buf, logits, (size_t)rows * C * sizeof(float));
    if (!in->labels) return ADAPT_OK;
    if (in->label_rows != rows) return adapt_fail(ADAPT_ERR_FORMAT, "case: %d labels for %d head outputs", in->label_rows, rows);
    for (int i = 0; i < rows; i++)
        if (in->labels[i] != -100 && (in->labels[i] < 0 || in->labels[i] >= C))
            return adapt_fail(ADAPT_ERR_FORMAT, "label %lld at position %d is outside [0, %d)", (long long)in->labels[i], i, C);
    int64_t one = 1;
    float *loss = output_add(out, "loss", 1, &one);
    if (!loss) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    loss[0] = (float)cross_entropy_forward_backward(NULL, logits, in->labels, rows, C, 1.0f);
    return ADAPT_OK;
}

static adapt_status create_case_head(adapt_model *m, const cJSON *head_spec, head *h)
{
    const char *kind = cJSON_IsArray(head_spec) && cJSON_IsString(head_spec->child) ? head_spec->child->valuestring : "";
    const cJSON *name_item = cJSON_GetArrayItem(head_spec, 1);
    const char *name = cJSON_IsString(name_item) ? name_item->valuestring : "";
    char tensor[160];
    if (!strcmp(kind, "mlm")) return head_create(m, h, HEAD_MLM, "mlm", 0);
    if (!strcmp(kind, "token_classifier")) {
        param *w = store_get(&m->store, "classifier.weight");
        if (!w) return adapt_fail(ADAPT_ERR_FORMAT, "case: no classifier.weight for the token classifier");
        return head_create(m, h, HEAD_TOKEN_CLASSIFIER, "classifier", (int)w->shape[0]);
    }
    bool tagging = !strcmp(kind, "tagging");
    if (!tagging && strcmp(kind, "classification")) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "case: head kind \"%s\"", kind);
    snprintf(tensor, sizeof tensor, "heads.%s.%d.weight", name, tagging ? 1 : 4);
    param *w = store_get(&m->store, tensor);
    if (!w) return adapt_fail(ADAPT_ERR_FORMAT, "case: head tensor \"%s\" not found in the case files", tensor);
    return head_create(m, h, tagging ? HEAD_TAGGING : HEAD_CLASSIFICATION, name, (int)w->shape[0]);
}

static adapt_status add_tensor_output(output_list *out, const char *name, const param *p, const float *values)
{
    float *buf = output_add(out, name, p->ndim, p->shape);
    if (!buf) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    memcpy(buf, values, p->numel * sizeof(float));
    return ADAPT_OK;
}

/* The AdapterFusion regulariser of every loaded fusion; adds its gradient when asked. */
static double fusion_reg_total(adapt_model *m, bool add_grad)
{
    double total = 0;
    for (int f = 0; m->setup && f < m->setup->n_fusions; f++) {
        const fusion_def *fd = &m->setup->fusions[f];
        if (!fd->cfg.regularization) continue;
        for (int l = 0; l < m->cfg.layers; l++) {
            if (fd->has_attn[l]) total += fusion_regularization(&fd->attn[l], add_grad ? 1.0f : 0.0f);
            if (fd->has_out[l]) total += fusion_regularization(&fd->out[l], add_grad ? 1.0f : 0.0f);
        }
    }
    return total;
}

typedef struct step_buffers {
    float *logits, *d_logits, *d_hidden;
    int rows, C;
} step_buffers;

/* Forward, loss and (when train) backward of one batch; returns the mean cross-entropy. */
static adapt_status forward_backward(adapt_model *m, head *h, const case_inputs *in, step_buffers *b, bool train, double *loss)
{
    TRY(model_forward(m, in->B, in->T, in->ids, in->mask, in->type_ids));
    b->rows = head_rows(m, h);
    b->C = h->num_labels;
    free(b->logits);
    free(b->d_logits);
    free(b->d_hidden);
    b->logits = malloc((size_t)b->rows * b->C * sizeof(float));
    b->d_logits = calloc((size_t)b->rows * b->C, sizeof(float));
    b->d_hidden = calloc((size_t)m->fw.N * m->cfg.hidden, sizeof(float));
    if (!b->logits || !b->d_logits || !b->d_hidden) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    TRY(head_forward(m, h, b->logits));
    *loss = 0;
    if (!in->labels) return ADAPT_OK;
    if (in->label_rows != b->rows) return adapt_fail(ADAPT_ERR_FORMAT, "case: %d labels for %d head outputs", in->label_rows, b->rows);
    for (int i = 0; i < b->rows; i++)
        if (in->labels[i] != -100 && (in->labels[i] < 0 || in->labels[i] >= b->C))
            return adapt_fail(ADAPT_ERR_FORMAT, "label %lld at position %d is outside [0, %d)", (long long)in->labels[i], i, b->C);
    *loss = cross_entropy_forward_backward(train ? b->d_logits : NULL, b->logits, in->labels, b->rows, b->C, 1.0f);
    if (!train) return ADAPT_OK;
    store_zero_grads(&m->store);
    TRY(head_backward(m, h, b->d_logits, b->d_hidden));
    TRY(model_backward(m, b->d_hidden));
    fusion_reg_total(m, true);
    return ADAPT_OK;
}

static adapt_status add_fusion_outputs(adapt_model *m, const case_inputs *in, output_list *out)
{
    if (!m->setup || !m->setup->n_fusions) return ADAPT_OK;
    for (int l = 0; l < m->cfg.layers; l++)
        for (int at = 0; at < 2; at++) {
            int n;
            const layer_cache *lc = &m->fw.layers[l];
            const float *probs = adapter_point_fusion_probs(at ? lc->attn_point : lc->out_point, &n);
            if (!probs) continue;
            char name[64];
            snprintf(name, sizeof name, "fusion_probs.%d.%s", l, at ? "attention.output" : "output");
            int64_t shape[3] = {in->B, in->T, n};
            float *buf = output_add(out, name, 3, shape);
            if (!buf) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
            memcpy(buf, probs, (size_t)in->B * in->T * n * sizeof(float));
        }
    int64_t one = 1;
    float *reg = output_add(out, "fusion_reg", 1, &one);
    if (!reg) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    reg[0] = (float)fusion_reg_total(m, false);
    return ADAPT_OK;
}

/* c11: K AdamW steps from the loaded state; records the loss before each step and the
 * trainable parameters after it. */
static adapt_status run_adamw(adapt_model *m, head *h, const case_inputs *in, const cJSON *spec, const cJSON *trainable,
                              step_buffers *b, output_list *out)
{
    adamw_config cfg = {1e-3, 0.9, 0.999, 1e-8, 0.01};
    long long steps = 1;
    const char *what = "case.json adamw";
    TRY(json_get_num_opt(spec, "lr", what, &cfg.lr));
    TRY(json_get_num_opt(spec, "eps", what, &cfg.eps));
    TRY(json_get_num_opt(spec, "weight_decay", what, &cfg.weight_decay));
    TRY(json_get_int_opt(spec, "steps", 1, 1000, what, &steps));
    const cJSON *betas = cJSON_GetObjectItemCaseSensitive(spec, "betas");
    if (cJSON_IsArray(betas) && cJSON_GetArraySize(betas) == 2) {
        cfg.beta1 = cJSON_GetArrayItem(betas, 0)->valuedouble;
        cfg.beta2 = cJSON_GetArrayItem(betas, 1)->valuedouble;
    }
    for (long k = 1; k <= steps; k++) {
        double loss;
        TRY(forward_backward(m, h, in, b, true, &loss));
        char name[600];
        int64_t one = 1;
        snprintf(name, sizeof name, "step%ld.loss_before", k);
        float *lb = output_add(out, name, 1, &one);
        if (!lb) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        lb[0] = (float)loss;
        TRY(adamw_step(&m->store, &cfg, cfg.lr, k));
        for (const cJSON *t = trainable->child; t; t = t->next) {
            const param *p = store_get(&m->store, t->valuestring);
            snprintf(name, sizeof name, "step%ld.%s", k, t->valuestring);
            TRY(add_tensor_output(out, name, p, p->data));
        }
    }
    return ADAPT_OK;
}

/* Runs the case; *complete is cleared when part of it is not supported yet. */
static adapt_status run_case(const char *case_dir, const cJSON *cs, output_list *out, bool *complete)
{
    const char *what = "case.json", *model_rel;
    TRY(json_get_str(cs, "model", what, &model_rel));
    char *model_dir = model_rel[0] == '/' ? strdup(model_rel) : path_join(case_dir, model_rel);
    if (!model_dir) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    adapt_model *m = NULL;
    adapt_status s = adapt_model_load(model_dir, &m);
    free(model_dir);
    if (s) return s;
    case_inputs in;
    const cJSON *setup = cJSON_GetObjectItemCaseSensitive(cs, "setup");
    const cJSON *lora = cJSON_GetObjectItemCaseSensitive(cs, "lora");
    const cJSON *trainable = cJSON_GetObjectItemCaseSensitive(cs, "trainable");
    const cJSON *adamw = cJSON_GetObjectItemCaseSensitive(cs, "adamw");
    head h;
    step_buffers b = {0};
    double loss;
    s = case_load_inputs(case_dir, &in);
    if (!s) s = case_load_files(m, case_dir, cs);
    const cJSON *peft_dir = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cs, "files"), "peft");
    if (!s && lora && !cJSON_IsNull(lora)) {
        char *dir = cJSON_IsString(peft_dir) ? path_join(case_dir, peft_dir->valuestring) : NULL;
        s = dir ? peft_load(m, dir) : adapt_fail(ADAPT_ERR_FORMAT, "case.json: \"lora\" without files.peft");
        free(dir);
    }
    if (!s && setup && !cJSON_IsNull(setup)) {
        char text[1024];
        s = case_setup_text(setup, text, sizeof text);
        if (!s) s = setup_activate(m, text);
    }
    if (!s) s = create_case_head(m, cJSON_GetObjectItemCaseSensitive(cs, "head"), &h);
    for (const cJSON *t = cJSON_IsArray(trainable) ? trainable->child : NULL; !s && t; t = t->next) {
        param *p = cJSON_IsString(t) ? store_get(&m->store, t->valuestring) : NULL;
        s = p ? store_set_trainable(p, true) : adapt_fail(ADAPT_ERR_FORMAT, "case: trainable tensor \"%s\" does not exist", cJSON_IsString(t) ? t->valuestring : "?");
    }
    bool train = cJSON_GetArraySize(trainable) > 0 && in.labels;
    if (!s) s = forward_backward(m, &h, &in, &b, train, &loss);
    if (!s) s = add_hidden_states(m, &in, out);
    if (!s) s = add_logits_and_loss(&in, out, b.logits, b.rows, b.C);
    if (!s) s = add_fusion_outputs(m, &in, out);
    for (const cJSON *t = train ? trainable->child : NULL; !s && t; t = t->next) {
        char name[600];
        snprintf(name, sizeof name, "grad.%s", t->valuestring);
        const param *p = store_get(&m->store, t->valuestring);
        s = add_tensor_output(out, name, p, p->grad);
    }
    if (!s && train && cJSON_IsObject(adamw)) s = run_adamw(m, &h, &in, adamw, trainable, &b, out);
    if (s == ADAPT_ERR_UNSUPPORTED) { /* write what was computed, exit 3 */
        fprintf(stderr, "adapt-case: %s\n", adapt_error());
        *complete = false;
        s = ADAPT_OK;
    }
    free(b.logits);
    free(b.d_logits);
    free(b.d_hidden);
    case_free_inputs(&in);
    adapt_model_free(m);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: adapt-case CASE_DIR OUT.safetensors\n");
        return 1;
    }
    char *case_path = path_join(argv[1], "case.json");
    cJSON *cs = NULL;
    adapt_status s = case_path ? json_load_file(case_path, &cs) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    free(case_path);
    output_list out = {0};
    bool complete = true;
    if (!s) s = run_case(argv[1], cs, &out, &complete);
    if (!s) s = adapt_safetensors_write(argv[2], out.items, out.count, NULL, 0);
    cJSON_Delete(cs);
    output_free(&out);
    if (s) {
        fprintf(stderr, "adapt-case: %s\n", adapt_error());
        return 1;
    }
    if (!complete) fprintf(stderr, "adapt-case: %s: some tensors of this case are not supported yet\n", argv[1]);
    return complete ? 0 : 3;
}
