// gort_init: explicit settings before first use, validation, and GORT_EBUSY afterwards.
// VALGRIND: yes
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <string.h>

static int main_goroutine(void *arg) {
    (void)arg;
    CHECK_EQ(gort_gomaxprocs(0), 3);
    return 0;
}

int main(void) {
    gort_config bad = {.maxprocs = -1};
    CHECK_EQ(gort_init(&bad), GORT_EINVAL);
    gort_config tiny = {.stack_size = 100};
    CHECK_EQ(gort_init(&tiny), GORT_EINVAL);

    gort_config cfg = {.maxprocs = 3, .stack_size = 64 * 1024, .gc_percent = 0};
    CHECK_EQ(gort_init(&cfg), 0);
    CHECK_EQ(gort_init(&cfg), GORT_EBUSY);
    CHECK_EQ(gort_init(NULL), GORT_EBUSY);
    CHECK_EQ(gort_main(main_goroutine, NULL), 0);

    CHECK(strlen(gort_strerror(GORT_EINVAL)) > 0);
    CHECK(strlen(gort_strerror(GORT_ETIMEDOUT)) > 0);
    CHECK(strcmp(gort_strerror(0), "success") == 0);
    CHECK(gort_strerror(-9999) != NULL);
    return 0;
}
