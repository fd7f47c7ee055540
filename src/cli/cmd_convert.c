/* adapt convert ADAPTER_DIR OUT_DIR — AdapterHub's legacy torch.save weights (pytorch_adapter.bin,
 * pytorch_model_head.bin, pytorch_model_adapter_fusion.bin) to safetensors, JSON files copied. */
#include "cli/commands.h"
#include "formats/torch_zip.h"
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int cmd_convert(int argc, char **argv)
{
    if (argc != 3 || !strcmp(argv[1], "--help")) {
        bool help = argc >= 2 && !strcmp(argv[1], "--help");
        fprintf(help ? stdout : stderr,
                "usage: adapt convert ADAPTER_DIR OUT_DIR\n"
                "  reads AdapterHub's legacy pytorch_adapter.bin / pytorch_model_head.bin /\n"
                "  pytorch_model_adapter_fusion.bin (torch.save zip archives; nothing in them is executed)\n"
                "  and writes adapter.safetensors / model_head.safetensors / model_adapter_fusion.safetensors\n"
                "  into OUT_DIR, with the folder's JSON files copied\n");
        return help ? 0 : 2;
    }
    int n = 0;
    if (torch_convert_adapter_dir(argv[1], argv[2], &n)) return cli_report_error("convert");
    printf("converted %d weight file%s into %s\n", n, n == 1 ? "" : "s", argv[2]);
    return 0;
}
