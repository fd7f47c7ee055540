#include "train/bio_decode.h"
#include "core/error.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* For each label: -1 for O or any other label that may follow anything, else the index of the
 * B-label it continues (I-X); returns false when the labels are not an IOB2 set. */
static bool iob2_links(const char *const *labels, int C, int *continues, int *o_label)
{
    *o_label = -1;
    for (int k = 0; k < C; k++) {
        continues[k] = -1;
        if (!strcmp(labels[k], "O")) {
            if (*o_label < 0) *o_label = k;
            continue;
        }
        if (strncmp(labels[k], "B-", 2) && strncmp(labels[k], "I-", 2)) return false;
        if (labels[k][0] == 'B') continue;
        for (int j = 0; j < C; j++)
            if (labels[j][0] == 'B' && !strcmp(labels[j] + 1, labels[k] + 1)) continues[k] = j;
        if (continues[k] < 0) return false;
    }
    return true;
}

static bool may_follow(const int *continues, int prev, int k)
{
    if (continues[k] < 0) return true;
    return prev >= 0 && (prev == continues[k] || continues[prev] == continues[k]);
}

static void log_softmax(const float *v, int C, double *out)
{
    double mx = v[0], sum = 0;
    for (int k = 1; k < C; k++) mx = v[k] > mx ? v[k] : mx;
    for (int k = 0; k < C; k++) sum += exp((double)v[k] - mx);
    for (int k = 0; k < C; k++) out[k] = (double)v[k] - mx - log(sum);
}

adapt_status bio_decode(const char *const *labels, int C, const float *const *rows, int n_words, int32_t *tags)
{
    if (n_words <= 0) return ADAPT_OK;
    int *continues = malloc((size_t)C * sizeof(int));
    if (!continues) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    int o_label;
    bool iob2 = iob2_links(labels, C, continues, &o_label);
    int fallback = o_label >= 0 ? o_label : 0; /* in an IOB2 set without O, a B-label: allowed anywhere */
    for (int k = 0; iob2 && o_label < 0 && k < C; k++)
        if (labels[k][0] == 'B') {
            fallback = k;
            break;
        }
    if (!iob2) {
        for (int w = 0; w < n_words; w++) {
            int best = fallback;
            if (rows[w]) {
                best = 0;
                for (int k = 1; k < C; k++) best = rows[w][k] > rows[w][best] ? k : best;
            }
            tags[w] = best;
        }
        free(continues);
        return ADAPT_OK;
    }
    /* Viterbi: score[k] the best log-probability of a valid prefix ending in k; back[w][k] its
     * previous label. */
    double *score = malloc(2 * (size_t)C * sizeof(double)), *lp = malloc((size_t)C * sizeof(double));
    int32_t *back = malloc((size_t)n_words * (size_t)C * sizeof(int32_t));
    if (!score || !lp || !back) {
        free(continues), free(score), free(lp), free(back);
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    double *cur = score, *next = score + C;
    for (int w = 0; w < n_words; w++) {
        if (rows[w]) log_softmax(rows[w], C, lp);
        else
            for (int k = 0; k < C; k++) lp[k] = k == fallback ? 0 : -INFINITY;
        for (int k = 0; k < C; k++) {
            double best = -INFINITY;
            int from = -1;
            if (w == 0) best = may_follow(continues, -1, k) ? 0 : -INFINITY;
            else
                for (int j = 0; j < C; j++)
                    if (may_follow(continues, j, k) && cur[j] > best) best = cur[j], from = j;
            next[k] = best + lp[k];
            back[(size_t)w * C + k] = from;
        }
        double *t = cur;
        cur = next, next = t;
    }
    int k = 0;
    for (int j = 1; j < C; j++) k = cur[j] > cur[k] ? j : k;
    for (int w = n_words - 1; w >= 0; w--) {
        tags[w] = k;
        k = back[(size_t)w * C + k];
    }
    free(continues), free(score), free(lp), free(back);
    return ADAPT_OK;
}
