/* Progress of a long job: step, loss, tokens/s and ETA. On a terminal one line is redrawn in
 * place; otherwise (logs, CI) a plain line is printed every few percent. */
#ifndef ADAPT_TRAIN_PROGRESS_H
#define ADAPT_TRAIN_PROGRESS_H
#include <stdbool.h>

typedef struct progress {
    long total, last_printed;
    double start, loss_avg;
    bool tty, quiet, dirty;
} progress;

void progress_init(progress *p, long total_steps, bool quiet);
/* tokens: processed so far (for tokens/s). */
void progress_update(progress *p, long step, double loss, double tokens);
/* A line of its own (evaluation results...), printed without breaking the progress line. */
void progress_note(progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void progress_finish(progress *p);
/* For jobs counted in items (sentences tagged...): "<unit> done/total  N <unit>/s  ETA", drawn as
 * progress_update draws its line, and only once the job has run `after_seconds` (short runs stay
 * silent). */
void progress_items(progress *p, long done, const char *unit, double after_seconds);

#endif
