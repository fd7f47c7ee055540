#include "model/layers.h"
#include <math.h>

double cross_entropy_forward_backward(float *d_logits, const float *logits, const int64_t *labels, int N, int C, float scale)
{
    int counted = 0;
    for (int i = 0; i < N; i++) counted += labels[i] != -100;
    if (!counted) return 0.0;
    double total = 0;
    for (int i = 0; i < N; i++) {
        const float *z = logits + (size_t)i * C;
        float *dz = d_logits ? d_logits + (size_t)i * C : NULL;
        if (labels[i] == -100) continue; /* rows that are not counted keep their gradient */
        float mx = z[0];
        for (int j = 1; j < C; j++) mx = z[j] > mx ? z[j] : mx;
        double sum = 0;
        for (int j = 0; j < C; j++) sum += exp((double)z[j] - mx);
        double lse = mx + log(sum);
        total += lse - z[labels[i]];
        if (dz) {
            float g = scale / (float)counted;
            for (int j = 0; j < C; j++) dz[j] += g * (float)exp((double)z[j] - lse);
            dz[labels[i]] -= g;
        }
    }
    return total / counted;
}
