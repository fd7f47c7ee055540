#include "train/progress.h"
#include "core/clock.h"
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

void progress_init(progress *p, long total, bool quiet)
{
    p->total = total > 0 ? total : 1;
    p->last_printed = 0;
    p->start = monotonic_seconds();
    p->loss_avg = -1;
    p->tty = isatty(fileno(stderr));
    p->quiet = quiet;
    p->dirty = false;
}

static void eta_text(double seconds, char *buf, size_t n)
{
    long s = (long)(seconds + 0.5);
    if (s >= 3600) snprintf(buf, n, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else snprintf(buf, n, "%ldm%02lds", s / 60, s % 60);
}

void progress_update(progress *p, long step, double loss, double tokens)
{
    if (p->quiet) return;
    p->loss_avg = p->loss_avg < 0 ? loss : 0.95 * p->loss_avg + 0.05 * loss;
    double elapsed = monotonic_seconds() - p->start, per_step = elapsed / (double)(step ? step : 1);
    long every = p->total / 50 > 0 ? p->total / 50 : 1;
    bool plain_due = step - p->last_printed >= every || step == p->total || step == 1;
    if (!p->tty && !plain_due) return;
    char eta[32];
    eta_text(per_step * (double)(p->total - step), eta, sizeof eta);
    fprintf(stderr, "%sstep %ld/%ld  loss %.4f  %.0f tokens/s  ETA %s%s", p->tty ? "\r\033[K" : "", step, p->total, p->loss_avg,
            tokens / (elapsed > 0 ? elapsed : 1), eta, p->tty ? "" : "\n");
    p->dirty = p->tty;
    p->last_printed = step;
}

void progress_items(progress *p, long done, const char *unit, double after_seconds)
{
    if (p->quiet) return;
    double elapsed = monotonic_seconds() - p->start;
    if (elapsed < after_seconds && !p->last_printed) return;
    long every = p->total / 50 > 0 ? p->total / 50 : 1;
    bool plain_due = done - p->last_printed >= every || done == p->total;
    if (!p->tty && !plain_due) return;
    char eta[32];
    eta_text(elapsed / (double)(done ? done : 1) * (double)(p->total - done), eta, sizeof eta);
    fprintf(stderr, "%s%s %ld/%ld  %.0f %s/s  ETA %s%s", p->tty ? "\r\033[K" : "", unit, done, p->total,
            (double)done / (elapsed > 0 ? elapsed : 1), unit, eta, p->tty ? "" : "\n");
    p->dirty = p->tty;
    p->last_printed = done;
}

void progress_note(progress *p, const char *fmt, ...)
{
    if (p->quiet) return;
    if (p->dirty) fprintf(stderr, "\n");
    p->dirty = false;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
}

void progress_finish(progress *p)
{
    if (p->dirty) fprintf(stderr, "\n");
    p->dirty = false;
}
