// A std::thread pool beside goroutines: threads the runtime does not own send requests
// to a goroutine server through gort::chan and wait for the replies on channels of their
// own, and goroutines wait on the threads' results through a gort::waitgroup the threads
// mark done. Every thread blocks in gort calls (no spinning) and none is a goroutine.
// TIMEOUT: 60
#include "check.h"
#include "gort.hpp"

#include <atomic>
#include <thread>
#include <vector>

struct request {
    int value;
    gort_chan *reply;  // a gort::chan<int>'s handle, borrowed for the request
};

int main() {
    return gort::main([] {
        constexpr int threads = 4, per_thread = 500;
        gort::chan<request> requests(16);
        gort::go([requests] {  // the server: squares each value
            for (request r : requests) {
                int sq = r.value * r.value;
                CHECK_EQ(gort_chan_send(r.reply, &sq), 0);
            }
        });

        gort::waitgroup done;  // goroutines wait for the pool through it
        done.add(threads);
        std::atomic<long> total{0};
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; t++) {
            pool.emplace_back([&, t] {
                gort::chan<int> reply(0);
                long sum = 0;
                for (int i = 0; i < per_thread; i++) {
                    requests.send(request{t * per_thread + i, reply.native_handle()});
                    sum += *reply.recv();
                }
                total += sum;
                done.done();
            });
        }
        gort::chan<int> observed(1);
        gort::go([&done, &total, observed] {  // a goroutine waiting on the threads
            done.wait();
            observed.send(total.load() > 0 ? 1 : 0);
        });
        CHECK_EQ(*observed.recv(), 1);
        for (auto &th : pool) th.join();
        requests.close();
        long n = threads * per_thread, want = (n - 1) * n * (2 * n - 1) / 6;  // sum of i^2
        CHECK_EQ(total.load(), want);
        return 0;
    });
}
