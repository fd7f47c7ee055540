#include "case_compare.h"
#include "formats/safetensors.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool compare_case_outputs(const char *expected_path, const char *actual_path, compare_result *r)
{
    memset(r, 0, sizeof *r);
    st_file e, a;
    if (st_open(expected_path, &e)) return false;
    if (st_open(actual_path, &a)) {
        st_close(&e);
        return false;
    }
    for (size_t i = 0; i < e.count; i++) {
        const st_tensor *te = &e.tensors[i];
        const st_tensor *ta = st_find(&a, te->name);
        if (!ta) {
            r->missing++;
            continue;
        }
        r->compared++;
        float *ve = malloc(te->numel * sizeof(float) + 4), *va = malloc(ta->numel * sizeof(float) + 4);
        bool same_shape = ta->numel == te->numel && ta->ndim == te->ndim;
        if (same_shape && ve && va && !st_to_f32(&e, te, ve) && !st_to_f32(&a, ta, va)) {
            double diff = 0, norm = 0;
            for (size_t k = 0; k < te->numel; k++) {
                double d = (double)va[k] - ve[k];
                diff += d * d;
                norm += (double)ve[k] * ve[k];
            }
            diff = sqrt(diff);
            norm = sqrt(norm);
            double rtol = strncmp(te->name, "grad.", 5) ? 1e-5 : 1e-4;
            bool ok = diff <= rtol * norm + 1e-6 * sqrt((double)te->numel) && isfinite(diff);
            double rel = norm > 0 ? diff / norm : diff;
            /* Tensors that are zero in truth (e.g. attention key-bias gradients) pass by atol; their
             * relative error says nothing, so the reported maximum skips them. */
            bool meaningful = norm > 1e-4 * sqrt((double)te->numel);
            if (meaningful && !(rel <= r->max_rel_error)) {
                r->max_rel_error = rel;
                snprintf(r->worst, sizeof r->worst, "%s", te->name);
            }
            if (!ok) {
                r->failed++;
                printf("    mismatch %s: ||a-e|| = %.3e, ||e|| = %.3e\n", te->name, diff, norm);
            }
        } else {
            r->failed++;
            printf("    mismatch %s: shape or dtype differs\n", te->name);
        }
        free(ve);
        free(va);
    }
    st_close(&e);
    st_close(&a);
    return r->failed == 0 && r->missing == 0;
}

int run_adapt_case(const char *case_dir, const char *out_path)
{
    return run_command("'%s' '%s' '%s'", build_path("adapt-case"), case_dir, out_path);
}
