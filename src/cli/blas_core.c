/* OpenBLAS picks its kernels from the CPU model it reads at load time. In virtual machines that
 * hide the model (this project's CI and development machines among them) it falls back to the
 * generic "Prescott" SSE3 kernels, 3-4x slower than the AVX-512 ones the CPU can run. When that
 * happens the command re-executes itself once with OPENBLAS_CORETYPE naming the best kernel set
 * the CPU's feature flags allow (the variable is only read when the library loads). */
#include "cli/commands.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *openblas_get_corename(void);

void cli_select_blas_kernels(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE")) return;
    const char *core = openblas_get_corename();
    if (!core || (strcmp(core, "Prescott") && strcmp(core, "prescott") && strcmp(core, "Core2") && strcmp(core, "Nehalem")))
        return;
    __builtin_cpu_init();
    const char *better = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") ? "SkylakeX"
                         : __builtin_cpu_supports("avx2")                                        ? "Haswell"
                                                                                                 : NULL;
    if (!better) return;
    setenv("OPENBLAS_CORETYPE", better, 1);
    execv("/proc/self/exe", argv);
    /* If exec fails the command still works, only slower. */
}
