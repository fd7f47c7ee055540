/* One function per `adapt` sub-command; each returns the process exit code
 * (0 ok, 1 error with a message on stderr, 2 usage error). argv[0] is the command name. */
#ifndef ADAPT_CLI_COMMANDS_H
#define ADAPT_CLI_COMMANDS_H

typedef int (*adapt_command_fn)(int argc, char **argv);

typedef struct adapt_command {
    const char *name;
    adapt_command_fn run;
    const char *summary;
} adapt_command;

int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_tokenizer(int argc, char **argv); /* `adapt tokenizer train ...` */
int cmd_encode_corpus(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_init_model(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_fill_mask(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_adapters(int argc, char **argv); /* `adapt adapters list|average|rename|combine-loras` */
int cmd_combine_loras(int argc, char **argv); /* `adapt adapters combine-loras` (argv[0] = "combine-loras") */
int cmd_convert_lora(int argc, char **argv);  /* `adapt adapters convert-lora` (argv[0] = "convert-lora") */
int cmd_merge_lora(int argc, char **argv);    /* `adapt adapters merge-lora` (argv[0] = "merge-lora") */
int cmd_eval(int argc, char **argv);
int cmd_fusion_attention(int argc, char **argv);
int cmd_convert(int argc, char **argv);

/* Re-executes with OPENBLAS_CORETYPE set when OpenBLAS fell back to generic kernels. */
void cli_select_blas_kernels(char **argv);

/* Prints "adapt <cmd>: <adapt_error()>" to stderr and returns 1. */
int cli_report_error(const char *cmd);
/* Warns that `path`, read as CoNLL (a word per line), looks like text with a sentence per line. */
void cli_warn_text_as_conll(const char *cmd, const char *path);

#endif
