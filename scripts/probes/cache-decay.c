// How much slower a fixed piece of work runs after the CPU has done something else for a while, on this machine.
//
// A unit is 2,000 dependent random reads in a working set; it is timed back to back, then after a gap of a
// busy-wait (no system call, no sleep) and after a sleep. On a dedicated core the three agree for a working set
// that fits the caches; on a virtual machine whose host shares its caches with other tenants, a gap of a few
// hundred microseconds leaves the working set cold, whatever this process did meanwhile.
//
//   clang -O2 -o /tmp/cache-decay scripts/probes/cache-decay.c && taskset -c 0 /tmp/cache-decay
//
// docs/benchmarks.md (Session 23) has the figures and what they mean for a decision's cost at low rates.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int compare(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

// Median microseconds of `n` units over `kb` KiB; between units, `gap_us` of busy-wait (`sleep` 0) or sleep.
static double run(size_t kb, long gap_us, int sleep, int n) {
    size_t words = kb * 1024 / 8;
    uint64_t *a = malloc(words * 8), *lat = malloc((size_t)n * 8), x = 1;
    for (size_t i = 0; i < words; i++) a[i] = i * 2654435761u;
    for (int k = 0; k < n; k++) {
        uint64_t t0 = now();
        for (int j = 0; j < 2000; j++) x = a[((x * 6364136223846793005ull + 1442695040888963407ull) >> 20) % words] ^ (x + (uint64_t)j);
        lat[k] = now() - t0;
        if (gap_us > 0 && sleep) {
            struct timespec s = {0, gap_us * 1000};
            nanosleep(&s, 0);
        } else if (gap_us > 0) {
            uint64_t end = now() + (uint64_t)gap_us * 1000;
            while (now() < end) __builtin_ia32_pause();
        }
    }
    qsort(lat, (size_t)n, 8, compare);
    double median = lat[n / 2] / 1000.0;
    free(a);
    free(lat);
    return median + (double)(x == 42);  // keeps the reads
}

int main(void) {
    size_t sets[] = {16, 256, 4096};
    printf("working set | back to back | after 200 us busy-wait | after 200 us sleep | after 1 ms sleep (median us per unit)\n");
    for (int i = 0; i < 3; i++) {
        printf("%8zu KiB | %12.1f | %21.1f | %18.1f | %16.1f\n", sets[i], run(sets[i], 0, 0, 3000), run(sets[i], 200, 0, 2000),
               run(sets[i], 200, 1, 2000), run(sets[i], 1000, 1, 1000));
    }
    return 0;
}
