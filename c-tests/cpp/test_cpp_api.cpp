// gort.hpp through its whole surface: goroutines running capturing (move-only) callables,
// typed channels (blocking, non-blocking, bounded, range-for), select with typed cases
// and a default, the Lockable mutexes with std::lock_guard / std::scoped_lock /
// std::shared_lock, cond, waitgroup (and its go), once, chrono timers and tickers, and
// exceptions: caught at the goroutine boundary, after the callable's destructors ran,
// and recovered by gort::protect as panics carrying what().
// TIMEOUT: 60
#include "check.h"
#include "gort.hpp"

#include <atomic>
#include <memory>
#include <numeric>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

struct point {
    int x, y;
};

static void test_go_and_chan() {
    gort::chan<point> ch(4);
    auto owned = std::make_unique<int>(42);  // move-only capture
    gort::go([ch, owned = std::move(owned)] {
        for (int i = 0; i < 10; i++) ch.send(point{i, *owned});
        ch.close();
    });
    int n = 0, sum = 0;
    for (point p : ch) {
        CHECK_EQ(p.y, 42);
        sum += p.x;
        n++;
    }
    CHECK_EQ(n, 10);
    CHECK_EQ(sum, 45);
    CHECK(!ch.recv().has_value());  // closed and drained
    CHECK(ch.try_recv().st == gort::status::closed);
}

static void test_bounded_ops() {
    gort::chan<int> ch(1);
    CHECK(ch.try_send(1) == gort::status::ok);
    CHECK(ch.try_send(2) == gort::status::would_block);
    CHECK(ch.send_for(3, 5ms) == gort::status::timed_out);
    CHECK_EQ(ch.size(), 1);
    CHECK_EQ(ch.capacity(), 1);
    auto r = ch.try_recv();
    CHECK(r && r.value == 1);
    CHECK(ch.try_recv().st == gort::status::would_block);
    CHECK(ch.recv_for(5ms).st == gort::status::timed_out);
    gort::chan<int> copy = ch;  // a second reference to the same channel
    copy.send(7);
    CHECK_EQ(*ch.recv(), 7);
    gort::chan<int> nil;
    CHECK(!nil);
    CHECK(nil.recv_for(1ms).st == gort::status::timed_out);  // nil blocks, as in Go
}

static void test_select() {
    gort::chan<int> a(1), b(1);
    gort::chan<long> out(1);
    int got = 0;
    bool sent = false;
    a.send(5);
    int which = gort::select(gort::on_recv(a, [&](int v, bool ok) { got = ok ? v : -1; }),
                             gort::on_recv(b, [&](int, bool) { got = -2; }));
    CHECK_EQ(which, 0);
    CHECK_EQ(got, 5);
    which = gort::select(gort::on_send(out, 9, [&] { sent = true; }), gort::on_recv(b, [&](int, bool) {}));
    CHECK_EQ(which, 0);
    CHECK(sent);
    CHECK_EQ(*out.recv(), 9);
    bool defaulted = false;
    which = gort::select(gort::on_recv(a, [](int, bool) {}), gort::on_default([&] { defaulted = true; }));
    CHECK(defaulted);
    CHECK_EQ(which, 1);  // the number of channel cases
    CHECK_EQ(gort::select_for(5ms, gort::on_recv(a, [](int, bool) {})), -1);
    b.close();
    which = gort::select(gort::on_recv(b, [&](int v, bool ok) { got = ok ? v : -1; }));
    CHECK_EQ(which, 0);
    CHECK_EQ(got, -1);
}

static void test_sync() {
    gort::mutex mu;
    gort::rwmutex rw;
    gort::waitgroup wg;
    long counter = 0;
    std::atomic<long> readers{0};
    for (int g = 0; g < 8; g++) {
        wg.go([&] {
            for (int i = 0; i < 1000; i++) {
                std::lock_guard<gort::mutex> lk(mu);
                counter++;
            }
            {
                std::scoped_lock both(mu, rw);  // std::lock over two gort locks
                counter++;
            }
            std::shared_lock<gort::rwmutex> r(rw);
            readers++;
        });
    }
    wg.wait();
    CHECK_EQ(counter, 8 * 1001);
    CHECK_EQ(readers.load(), 8);

    gort::mutex cm;
    gort::cond cv;
    bool ready = false;
    gort::go([&] {
        std::lock_guard<gort::mutex> lk(cm);
        ready = true;
        cv.broadcast();
    });
    {
        std::unique_lock<gort::mutex> lk(cm);
        cv.wait(lk, [&] { return ready; });
    }

    gort::once once;
    int calls = 0;
    gort::waitgroup wg2;
    for (int i = 0; i < 4; i++) wg2.go([&] { once.call([&] { calls++; }); });
    wg2.wait();
    CHECK_EQ(calls, 1);
}

static void test_time() {
    auto t0 = gort::clock::now();
    gort::sleep_for(2ms);
    CHECK(gort::clock::now() - t0 >= 2ms);
    auto at = gort::after(1ms);
    CHECK(at.recv().has_value());
    gort::timer t(1h);
    CHECK(t.stop());
    CHECK(!t.stop());
    t.reset(1ms);
    CHECK(t.channel().recv().has_value());
    gort::chan<int> fired(1);
    auto af = gort::after_func(1ms, [fired] { fired.send(1); });
    CHECK_EQ(*fired.recv(), 1);
    gort::ticker tk(1ms);
    auto ticks = tk.channel();
    for (int i = 0; i < 3; i++) CHECK(ticks.recv().has_value());
    tk.stop();
}

static std::atomic<int> destroyed{0};
struct counts_destruction {
    ~counts_destruction() { destroyed++; }
};

static void test_exceptions() {
    // An exception inside protect: the callable's frames unwind (destructors run), then
    // it is a panic carrying what().
    auto msg = gort::protect([] {
        counts_destruction c;
        throw std::runtime_error("boom");
    });
    CHECK(msg.has_value());
    CHECK(*msg == "C++ exception: boom");
    CHECK_EQ(destroyed.load(), 1);
    CHECK(!gort::protect([] {}).has_value());
    // A gort panic recovered the same way.
    auto p = gort::protect([] { gort::panic("plain panic"); });
    CHECK(p && *p == "plain panic");
    // An exception in a goroutine, recovered inside it.
    gort::chan<int> done(1);
    gort::go([done] {
        auto m = gort::protect([] { throw std::logic_error("inner"); });
        done.send(m && *m == "C++ exception: inner" ? 1 : 0);
    });
    CHECK_EQ(*done.recv(), 1);
    // Errors carry gort's codes and messages.
    gort::error e(GORT_EINVAL, "gort_x");
    CHECK(e.code().category() == gort::category());
    CHECK_EQ(e.code().value(), GORT_EINVAL);
    CHECK(e.code().message() == gort_strerror(GORT_EINVAL));
}

int main() {
    return gort::main([] {
        test_go_and_chan();
        test_bounded_ops();
        test_select();
        test_sync();
        test_time();
        test_exceptions();
        return 0;
    });
}
