/* Per-phase device time for `adapt-gpu bench --profile`: with profiling on, the passes record an
 * event at each phase boundary (prof_mark); after each step the time between consecutive events
 * is added to the phase that ends there, summed over layers. Off by default: the marks are then a
 * pointer test. */
#include "backend/cuda/gpu_common.cuh"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROF_MARKS 2048
#define PROF_PHASES 96

struct gpu_prof {
    cudaEvent_t ev[PROF_MARKS];
    const char *mark_phase[PROF_MARKS];
    int marks;
    const char *phase[PROF_PHASES];
    double ms[PROF_PHASES];
    int phases;
    bool overflow;
};

void prof_mark(gpu_model *g, const char *phase)
{
    gpu_prof *p = g->prof;
    if (!p) return;
    if (p->marks == PROF_MARKS) {
        p->overflow = true;
        return;
    }
    cudaEventRecord(p->ev[p->marks], g->stream);
    p->mark_phase[p->marks++] = phase;
}

extern "C" adapt_status gpu_profile_enable(gpu_model *g)
{
    if (g->prof) return ADAPT_OK;
    gpu_prof *p = (gpu_prof *)calloc(1, sizeof *p);
    if (!p) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < PROF_MARKS; i++) CUDA_TRY(cudaEventCreate(&p->ev[i]));
    g->prof = p;
    return ADAPT_OK;
}

extern "C" adapt_status gpu_profile_collect(gpu_model *g)
{
    gpu_prof *p = g->prof;
    if (!p) return ADAPT_OK;
    CUDA_TRY(cudaStreamSynchronize(g->stream));
    for (int i = 1; i < p->marks; i++) {
        float ms = 0;
        CUDA_TRY(cudaEventElapsedTime(&ms, p->ev[i - 1], p->ev[i]));
        int k = 0;
        while (k < p->phases && strcmp(p->phase[k], p->mark_phase[i])) k++;
        if (k == p->phases) {
            if (k == PROF_PHASES) continue;
            p->phase[p->phases++] = p->mark_phase[i];
        }
        p->ms[k] += ms;
    }
    p->marks = 0;
    return ADAPT_OK;
}

extern "C" void gpu_profile_print(const gpu_model *g, long steps)
{
    const gpu_prof *p = g->prof;
    if (!p || steps < 1) return;
    double total = 0;
    for (int k = 0; k < p->phases; k++) total += p->ms[k];
    printf("profile: %ld steps, %.3f ms per step between the first and the last mark%s\n", steps, total / steps,
           p->overflow ? " (marks overflowed: partial)" : "");
    for (int k = 0; k < p->phases; k++)
        printf("profile  %8.3f ms  %5.1f%%  %s\n", p->ms[k] / steps, total > 0 ? 100 * p->ms[k] / total : 0.0, p->phase[k]);
}

void prof_free(gpu_model *g)
{
    gpu_prof *p = g->prof;
    if (!p) return;
    for (int i = 0; i < PROF_MARKS; i++) cudaEventDestroy(p->ev[i]);
    free(p);
    g->prof = NULL;
}
