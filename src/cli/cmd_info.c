/* adapt info MODEL_DIR — architecture, sizes, parameter count, dtypes and memory of a checkpoint. */
#include "adapt.h"
#include "cli/commands.h"
#include "formats/checkpoint.h"
#include <stdio.h>
#include <string.h>

static void print_dtypes(const char *dir)
{
    tensor_source src;
    if (tensor_source_open_dir(dir, &src)) return;
    size_t count[ADAPT_DTYPE_COUNT] = {0}, bytes = 0;
    for (size_t f = 0; f < src.nfiles; f++)
        for (size_t i = 0; i < src.files[f].count; i++) {
            count[src.files[f].tensors[i].dtype]++;
            bytes += src.files[f].tensors[i].nbytes;
        }
    printf("files:             %zu safetensors file%s, %.1f MB of tensor data\n", src.nfiles, src.nfiles == 1 ? "" : "s", bytes / 1e6);
    printf("dtypes:           ");
    for (int d = 0; d < ADAPT_DTYPE_COUNT; d++)
        if (count[d]) printf(" %s x%zu", dtype_name((adapt_dtype)d), count[d]);
    printf("\n");
    tensor_source_close(&src);
}

int cmd_info(int argc, char **argv)
{
    if (argc != 2 || !strcmp(argv[1], "--help")) {
        fprintf(argc == 2 ? stdout : stderr, "usage: adapt info MODEL_DIR\n  MODEL_DIR holds config.json and model.safetensors (or a sharded index)\n");
        return argc == 2 ? 0 : 2;
    }
    adapt_model *m;
    if (adapt_model_load(argv[1], &m)) return cli_report_error("info");
    adapt_model_info info;
    adapt_model_get_info(m, &info);
    printf("model:             %s\n", argv[1]);
    printf("model_type:        %s\n", info.model_type);
    printf("architecture:      %s\n", *info.architecture ? info.architecture : "(not given)");
    printf("hidden_size:       %d\n", info.hidden_size);
    printf("layers:            %d\n", info.num_layers);
    printf("attention heads:   %d\n", info.num_heads);
    printf("intermediate_size: %d\n", info.intermediate_size);
    printf("vocab_size:        %d\n", info.vocab_size);
    printf("max positions:     %d\n", info.max_positions);
    printf("type_vocab_size:   %d\n", info.type_vocab_size);
    printf("pad_token_id:      %d\n", info.pad_token_id);
    printf("hidden_act:        %s\n", info.hidden_act);
    printf("layer_norm_eps:    %g\n", info.layer_norm_eps);
    printf("parameters:        %zu in %zu tensors\n", info.num_parameters, info.num_tensors);
    printf("memory (fp32):     %.1f MB\n", info.num_parameters * 4 / 1e6);
    print_dtypes(argv[1]);
    adapt_model_free(m);
    return 0;
}
