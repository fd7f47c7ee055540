/* adapt-gpu — the CUDA backend's command-line tool:
 *   adapt-gpu case CASE_DIR OUT.safetensors   a fixture case on the GPU in fp32 (as adapt-case)
 *   adapt-gpu pretrain ...                    MLM pretraining from scratch (see --help)
 *   adapt-gpu check-mlm MODEL_DIR [--adapter CONFIG]   the training path against the CPU library
 *   adapt-gpu check-attention[-train]         the fused attention kernels against host references
 *   adapt-gpu check-fused                     the fused attention in the model against the unfused path
 *   adapt-gpu bench --mode infer|adapter|full BERT-base throughput
 *   adapt-gpu info                            the visible device */
#include "backend/cuda/gpu_host.h"
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "case")) return gpu_cmd_case(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "pretrain")) return gpu_cmd_pretrain(argc - 2, argv + 2);
    if (argc >= 3 && !strcmp(argv[1], "check-mlm")) return gpu_cmd_check_mlm(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "check-attention")) return gpu_cmd_check_attention(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "check-attention-train")) return gpu_cmd_check_attention_train(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "check-fused")) return gpu_cmd_check_fused(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "bench")) return gpu_cmd_bench(argc - 2, argv + 2);
    if (argc == 2 && !strcmp(argv[1], "info")) {
        char buf[256];
        gpu_describe(buf, sizeof buf);
        printf("%s\n", buf);
        return 0;
    }
    fprintf(stderr, "usage: adapt-gpu case|pretrain|check-mlm|check-attention[-train]|check-fused|bench|info ...\n");
    return 1;
}
