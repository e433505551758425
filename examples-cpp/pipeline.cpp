// A pipeline in C++ over gort.hpp: a generator, a pool of workers squaring numbers, and a
// collector that stops on a deadline or when the work is done, whichever comes first.
// Shows gort::go with capturing lambdas, typed channels, range-for over a channel,
// gort::waitgroup::go, gort::select with a timeout channel, std::lock_guard over a
// gort::mutex, and an exception in a goroutine recovered as a panic by gort::protect.
#include <gort.hpp>

#include <cstdio>
#include <mutex>
#include <stdexcept>

using namespace std::chrono_literals;

int main() {
    return gort::main([] {
        gort::chan<int> numbers(16), squares(16);

        gort::go([numbers] {  // the generator: 1..100, then close
            for (int i = 1; i <= 100; i++) numbers.send(i);
            numbers.close();
        });

        gort::waitgroup workers;
        gort::mutex mu;
        int handled = 0;
        for (int w = 0; w < 4; w++) {
            workers.go([numbers, squares, &mu, &handled] {
                for (int n : numbers) {  // until the generator closes it
                    squares.send(n * n);
                    std::lock_guard<gort::mutex> lock(mu);
                    handled++;
                }
            });
        }
        gort::go([&workers, squares] {  // close squares once every worker is done
            workers.wait();
            squares.close();
        });

        long sum = 0;
        bool done = false, late = false;
        auto deadline = gort::after(5s);
        while (!done && !late) {
            gort::select(gort::on_recv(squares, [&](int sq, bool ok) { ok ? void(sum += sq) : void(done = true); }),
                         gort::on_recv(deadline, [&](int64_t, bool) { late = true; }));
        }
        std::printf("sum of squares 1..100 = %ld (%d handled by 4 workers)%s\n", sum, handled,
                    late ? ", gave up at the deadline" : "");

        // An exception thrown in a goroutine's code becomes a panic there; protect
        // recovers it with its message, after the throwing frames unwound normally.
        auto msg = gort::protect([] { throw std::runtime_error("bad input"); });
        std::printf("recovered: %s\n", msg ? msg->c_str() : "nothing");
        return sum == 338350 && handled == 100 ? 0 : 1;
    });
}
