// The installed gort.hpp, through find_package(gort): a goroutine and a typed channel.
#include <gort.hpp>

#include <cstdio>

int main() {
    return gort::main([] {
        gort::chan<int> ch(1);
        gort::go([ch] { ch.send(41); });
        auto v = ch.recv();
        if (!v || *v + 1 != 42) return 1;
        std::printf("OK (gort %s, C++ through gort.hpp)\n", gort::version());
        return 0;
    });
}
