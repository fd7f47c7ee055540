/* The public API's heads (adapt.h): an AdapterHub head folder loaded into a model, with its label
 * names; its logits after the encoder, or on hidden states the caller has (head_forward_hidden). */
#include "core/error.h"
#include "formats/adapterhub.h"
#include "formats/head_labels.h"
#include "model/heads.h"
#include <stdlib.h>

struct adapt_head {
    adapt_model *model;
    head h;
    char **labels;
    int n_labels;
};

adapt_status adapt_head_load(adapt_model *model, const char *dir, const char *load_as, adapt_head **out)
{
    if (!out) return adapt_fail(ADAPT_ERR_ARG, "adapt_head_load: no output handle");
    *out = NULL;
    if (!model || !dir) return adapt_fail(ADAPT_ERR_ARG, "adapt_head_load: no model or no folder");
    adapt_head *hd = calloc(1, sizeof *hd);
    if (!hd) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    hd->model = model;
    adapt_status s = adapterhub_load_head(model, dir, load_as, &hd->h);
    if (s) {
        free(hd);
        return s;
    }
    s = head_labels_read(dir, &hd->labels, &hd->n_labels, NULL, 0);
    if (!s && hd->n_labels != hd->h.num_labels)
        s = adapt_fail(ADAPT_ERR_FORMAT, "%s: %d labels in label2id for a head of %d", dir, hd->n_labels, hd->h.num_labels);
    if (s) {
        head_remove_tensors(model, hd->h.name); /* the folder as a whole did not load */
        adapt_head_free(hd);
        return s;
    }
    *out = hd;
    return ADAPT_OK;
}

void adapt_head_free(adapt_head *hd)
{
    if (!hd) return;
    head_labels_free(hd->labels, hd->n_labels);
    free(hd);
}

adapt_head_kind adapt_head_get_kind(const adapt_head *hd)
{
    if (!hd) return ADAPT_HEAD_TAGGING;
    if (hd->h.kind == HEAD_CLASSIFICATION) return head_is_regression(&hd->h) ? ADAPT_HEAD_REGRESSION : ADAPT_HEAD_CLASSIFICATION;
    return ADAPT_HEAD_TAGGING;
}

int adapt_head_num_labels(const adapt_head *hd) { return hd ? hd->h.num_labels : 0; }

const char *adapt_head_label(const adapt_head *hd, int k)
{
    return hd && k >= 0 && k < hd->n_labels ? hd->labels[k] : NULL;
}

static adapt_status check_batch(const adapt_head *hd, int B, int T, const void *in, const float *logits)
{
    if (!hd || !in || !logits || B <= 0 || T <= 0)
        return adapt_fail(ADAPT_ERR_ARG, "head logits: no head, input or output, or an empty batch");
    if ((int64_t)B * T > (1 << 24)) return adapt_fail(ADAPT_ERR_ARG, "head logits: batch %d x %d is out of range", B, T);
    return ADAPT_OK;
}

adapt_status adapt_head_logits(adapt_head *hd, int B, int T, const int32_t *ids, const int32_t *mask, const int32_t *type_ids,
                               float *logits)
{
    TRY(check_batch(hd, B, T, ids, logits));
    TRY(model_forward_inference(hd->model, B, T, ids, mask, type_ids));
    return head_forward(hd->model, &hd->h, logits);
}

adapt_status adapt_head_logits_from_hidden(adapt_head *hd, int B, int T, const float *hidden, float *logits)
{
    TRY(check_batch(hd, B, T, hidden, logits));
    return head_forward_hidden(hd->model, &hd->h, hidden, B, T, logits);
}
