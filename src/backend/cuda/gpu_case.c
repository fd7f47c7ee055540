/* adapt-gpu case CASE_DIR OUT.safetensors: a fixture case on the GPU in fp32, writing the same
 * tensors as build/adapt-case: hidden_states.N, logits, loss and grad.<name> for the trainable
 * tensors. Inputs, files and setup are read as adapt-case reads them (tools/case_files.c); the
 * device runs the plain encoder or a single adapter (other setups are refused by name); heads
 * "mlm", "token_classifier" and AdapterHub "tagging". */
#include "adapters/setup.h"
#include "backend/cuda/gpu_host.h"
#include "case_files.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The case's setup, activated: a composition the device does not run is refused by name when the
 * device model is created. */
static adapt_status activate_setup(adapt_model *m, const char *case_dir, const cJSON *cs)
{
    const cJSON *setup = cJSON_GetObjectItemCaseSensitive(cs, "setup"), *lora = cJSON_GetObjectItemCaseSensitive(cs, "lora");
    if (lora && !cJSON_IsNull(lora)) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: LoRA is not supported on the GPU yet", case_dir);
    if (!setup || cJSON_IsNull(setup)) return ADAPT_OK;
    char text[1024];
    TRY(case_setup_text(setup, text, sizeof text));
    return setup_activate(m, text);
}

static adapt_status run(const char *case_dir, const cJSON *cs, output_list *out)
{
    const char *model_rel, *what = "case.json";
    TRY(json_get_str(cs, "model", what, &model_rel));
    const cJSON *head = cJSON_GetObjectItemCaseSensitive(cs, "head");
    const char *kind = cJSON_IsArray(head) && cJSON_IsString(head->child) ? head->child->valuestring : "";
    const cJSON *head_name = cJSON_GetArrayItem(head, 1);
    bool mlm = !strcmp(kind, "mlm"), tagging = !strcmp(kind, "tagging") && cJSON_IsString(head_name);
    if (!mlm && !tagging && strcmp(kind, "token_classifier"))
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: head \"%s\" is not supported on the GPU yet", case_dir, kind);
    char head_w[160] = "classifier.weight", head_b[160] = "classifier.bias";
    if (tagging) { /* AdapterHub's tagging head: dropout, then the linear layer at index 1 */
        snprintf(head_w, sizeof head_w, "heads.%s.1.weight", head_name->valuestring);
        snprintf(head_b, sizeof head_b, "heads.%s.1.bias", head_name->valuestring);
    }
    char *model_dir = model_rel[0] == '/' ? strdup(model_rel) : path_join(case_dir, model_rel);
    if (!model_dir) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    adapt_model *m = NULL;
    adapt_status s = adapt_model_load(model_dir, &m);
    free(model_dir);
    if (s) return s;
    case_inputs in;
    gpu_model *g = NULL;
    int32_t *pos = NULL, *labels = NULL;
    float *logits = NULL;
    s = case_load_inputs(case_dir, &in);
    int N = in.B * in.T, H = m->cfg.hidden, C = 0;
    if (!s && in.labels && in.label_rows != N)
        s = adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: per-sequence labels (classification) are not supported on the GPU yet", case_dir);
    if (!s && in.labels && !(labels = case_narrow(in.labels, (size_t)N))) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!s) s = case_load_files(m, case_dir, cs);
    if (!s) s = activate_setup(m, case_dir, cs);
    const cJSON *trainable = cJSON_GetObjectItemCaseSensitive(cs, "trainable");
    for (const cJSON *t = cJSON_IsArray(trainable) ? trainable->child : NULL; !s && t; t = t->next) {
        param *p = cJSON_IsString(t) ? store_get(&m->store, t->valuestring) : NULL;
        s = p ? store_set_trainable(p, true) : adapt_fail(ADAPT_ERR_FORMAT, "case: trainable tensor \"%s\" does not exist", cJSON_IsString(t) ? t->valuestring : "?");
    }
    bool train = cJSON_GetArraySize(trainable) > 0 && labels;
    if (!s) {
        pos = malloc((size_t)N * sizeof *pos);
        s = pos ? model_position_ids(&m->cfg, in.B, in.T, in.ids, pos) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    if (!s) {
        gpu_options o = {.precision = GPU_FP32, .max_B = in.B, .max_T = in.T, .max_head_rows = N, .train = train,
                         .head = mlm ? GPU_HEAD_MLM : GPU_HEAD_TOKEN, .head_w = head_w, .head_b = head_b};
        s = gpu_model_create(m, &o, &g);
    }
    if (!s) {
        param *cw = store_get(&m->store, head_w);
        C = mlm ? m->cfg.vocab : (int)cw->shape[0];
        int counted = 0;
        for (int i = 0; labels && i < N; i++) counted += labels[i] != -100;
        gpu_batch b = {.B = in.B, .T = in.T, .ids = in.ids, .pos_ids = pos, .type_ids = in.type_ids, .mask = in.mask, .n_rows = N,
                       .labels = labels, .label_scale = counted ? 1.0f / counted : 0.0f};
        s = gpu_upload_batch(g, &b);
        if (!s) s = gpu_forward(g, false, 0);
        if (!s && train) s = gpu_backward(g);
    }
    for (int l = 0; !s && l <= m->cfg.layers; l++) {
        char name[64];
        int64_t shape[3] = {in.B, in.T, H};
        snprintf(name, sizeof name, "hidden_states.%d", l);
        float *buf = output_add(out, name, 3, shape);
        s = buf ? gpu_download_hidden(g, l, buf) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    if (!s) {
        int64_t shape[3] = {in.B, in.T, C};
        logits = output_add(out, "logits", 3, shape);
        s = logits ? gpu_download_logits(g, logits) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    if (!s && labels) {
        int64_t one = 1;
        float *loss = output_add(out, "loss", 1, &one);
        double sum;
        s = loss ? gpu_read_loss(g, &sum, NULL) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        if (!s) loss[0] = (float)sum;
    }
    if (!s && train) s = gpu_download_grads(g);
    for (const cJSON *t = train ? trainable->child : NULL; !s && t; t = t->next) {
        char name[600];
        const param *p = store_get(&m->store, t->valuestring);
        snprintf(name, sizeof name, "grad.%s", t->valuestring);
        float *buf = output_add(out, name, p->ndim, p->shape);
        if (!buf) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        else memcpy(buf, p->grad, p->numel * sizeof(float));
    }
    gpu_model_free(g);
    free(pos);
    free(labels);
    case_free_inputs(&in);
    adapt_model_free(m);
    return s;
}

int gpu_cmd_case(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: adapt-gpu case CASE_DIR OUT.safetensors\n");
        return 1;
    }
    char *case_path = path_join(argv[0], "case.json");
    cJSON *cs = NULL;
    output_list out = {0};
    adapt_status s = case_path ? json_load_file(case_path, &cs) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    free(case_path);
    if (!s) s = run(argv[0], cs, &out);
    if (!s) s = adapt_safetensors_write(argv[1], out.items, out.count, NULL, 0);
    cJSON_Delete(cs);
    output_free(&out);
    if (s) {
        fprintf(stderr, "adapt-gpu case: %s\n", adapt_error());
        return s == ADAPT_ERR_UNSUPPORTED ? 3 : 1;
    }
    return 0;
}
