// An exception escaping a goroutine's callable (nothing recovers it) ends the program as
// an unrecovered gort panic carrying what(), after the callable's destructors ran: never
// "Rust cannot catch foreign exceptions", never std::terminate.
// EXPECT_EXIT: 2
// EXPECT_STDERR: destructor ran
// EXPECT_STDERR: panic: C[+][+] exception: from a goroutine
// TIMEOUT: 30
#include "check.h"
#include "gort.hpp"

#include <cstdio>
#include <stdexcept>

struct announces_destruction {
    ~announces_destruction() { std::fputs("destructor ran\n", stderr); }
};

int main() {
    return gort::main([] {
        gort::chan<int> never;
        gort::go([] {
            announces_destruction a;
            throw std::runtime_error("from a goroutine");
        });
        never.recv();  // the panic ends the program first
        return 0;
    });
}
