/* Wall-clock time for durations (progress, budgets, benchmarks): a monotonic clock in seconds. */
#ifndef ADAPT_CORE_CLOCK_H
#define ADAPT_CORE_CLOCK_H

double monotonic_seconds(void);

#endif
