#include "model/layers.h"
#include <string.h>

void embeddings_forward(float *out, const int32_t *ids, const int32_t *pos_ids, const int32_t *type_ids,
                        const float *word, const float *pos, const float *type, int N, int H)
{
    for (int i = 0; i < N; i++) {
        float *o = out + (size_t)i * H;
        const float *w = word + (size_t)ids[i] * H, *p = pos + (size_t)pos_ids[i] * H;
        for (int j = 0; j < H; j++) o[j] = w[j] + p[j];
        if (type) {
            const float *t = type + (size_t)(type_ids ? type_ids[i] : 0) * H;
            for (int j = 0; j < H; j++) o[j] += t[j];
        }
    }
}

void embeddings_backward(float *d_word, float *d_pos, float *d_type, const float *d_out, const int32_t *ids,
                         const int32_t *pos_ids, const int32_t *type_ids, int N, int H)
{
    for (int i = 0; i < N; i++) {
        const float *g = d_out + (size_t)i * H;
        if (d_word) {
            float *w = d_word + (size_t)ids[i] * H;
            for (int j = 0; j < H; j++) w[j] += g[j];
        }
        if (d_pos) {
            float *p = d_pos + (size_t)pos_ids[i] * H;
            for (int j = 0; j < H; j++) p[j] += g[j];
        }
        if (d_type) {
            float *t = d_type + (size_t)(type_ids ? type_ids[i] : 0) * H;
            for (int j = 0; j < H; j++) t[j] += g[j];
        }
    }
}
