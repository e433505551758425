/* whole-archive: a C program that links gort's lib/libgort.a and a second Rust static
 * library (src/lib.rs), both with -Wl,--whole-archive, and uses both. Linking at all is
 * most of the test (cargo's own libgort.a gives some 2,100 duplicate definitions here);
 * running shows each library still has a working Rust runtime of its own: gort runs
 * goroutines and a channel, the other library unwinds and catches a panic. */
#include <gort.h>
#include <stdio.h>

int other_rust_answer(void); /* c-tests/second_rust/src/lib.rs: 42 */

static void ask_other(void *arg) {
    int answer = other_rust_answer();
    gort_chan_send(arg, &answer);
}

static int main_goroutine(void *arg) {
    (void)arg;
    gort_chan *answers = gort_chan_make(sizeof(int), 0);
    if (answers == NULL || gort_go(ask_other, answers) != 0) return 1;
    int answer = 0;
    if (gort_chan_recv(answers, &answer) != 1) return 2;
    gort_chan_release(answers);
    return answer;
}

static void panics(void *arg) {
    (void)arg;
    gort_panic("recovered");
}

int main(void) {
    const char *msg = NULL;
    if (gort_protect(panics, NULL, &msg) != 1) {
        fprintf(stderr, "gort_protect did not report the panic\n");
        return 1;
    }
    int answer = gort_main(main_goroutine, NULL);
    if (answer != 42) {
        fprintf(stderr, "the goroutine got %d from other_rust_answer, expected 42\n", answer);
        return 1;
    }
    printf("OK: gort %s and a second Rust library in one program (answer %d, panic \"%s\")\n",
           gort_version(), answer, msg);
    return 0;
}
