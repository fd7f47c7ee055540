#include "model/layers.h"

double mse_forward_backward(float *d_pred, const float *pred, const float *target, int N, float scale)
{
    if (N <= 0) return 0.0;
    double total = 0;
    for (int i = 0; i < N; i++) {
        double diff = (double)pred[i] - (double)target[i];
        total += diff * diff;
        if (d_pred) d_pred[i] += (float)(2.0 * diff * scale / N);
    }
    return total / N;
}
