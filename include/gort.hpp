/*
 * gort.hpp: a C++17 face for gort.h. Header-only, nothing but inline calls into the C API.
 *
 *   gort::main([] { ... return 0; })          run the main goroutine (gort_main)
 *   gort::go([v = std::move(v)] { ... })      any callable, moved into the goroutine
 *   gort::chan<T> ch(cap)                      typed channel, a counted reference
 *   ch.send(v); auto v = ch.recv();            recv: std::optional<T>, empty once closed
 *   for (T v : ch) ...                         receive until closed and drained
 *   gort::select(gort::on_recv(a, f), gort::on_send(b, v, g), gort::on_default(h))
 *   gort::mutex, gort::rwmutex                 Lockable / SharedLockable: std::lock_guard,
 *                                              std::scoped_lock, std::shared_lock work
 *   gort::waitgroup, gort::once, gort::cond    as sync.WaitGroup, sync.Once, sync.Cond
 *   gort::sleep_for(10ms), gort::timer, gort::ticker, gort::after(1s)   std::chrono times
 *
 * Errors. A call that cannot do its job for a reason the program could not rule out
 * (GORT_ENOMEM from gort::go, an out-of-memory channel) throws gort::error, a
 * std::system_error whose code is in gort::category() (value: the GORT_E* code, negative,
 * as gort.h returns it). Outcomes that are part of normal operation are results, not
 * exceptions: a closed channel (recv returns an empty optional), a timeout or a
 * would-block (gort::status). Misuse that gort.h makes a gort panic stays a gort panic.
 *
 * Exceptions and panics. C++ exceptions never cross gort's own frames:
 *   - an exception escaping a callable run by gort::main, gort::go, waitgroup::go,
 *     gort::after_func, once::call or gort::protect is caught where gort called it,
 *     after the callable's own frames have unwound normally (their destructors ran),
 *     and becomes a gort panic carrying what() ("C++ exception: <what>"): recovered by an
 *     enclosing gort::protect, or the end of the program, as for any panic;
 *   - a gort panic (gort::panic, gort_panic, or a runtime one such as a send on a closed
 *     channel) abandons the frames between it and the nearest protect as longjmp does:
 *     destructors of C++ objects in those frames do NOT run. In C++ code, throw instead
 *     of calling gort::panic wherever destructors matter; gort::protect turns an
 *     exception into the same recovered result.
 *
 * Channel elements are copied as bytes by the runtime: T must be trivially copyable (a
 * static_assert says so). Send pointers (or gort heap objects) for anything else.
 */
#ifndef GORT_HPP
#define GORT_HPP

#include "gort.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

namespace gort {

// ---------------------------------------------------------------------------------------
// Errors

/// The error category of gort's codes (`GORT_E*`, negative errno values).
inline const std::error_category &category() noexcept {
    struct gort_category final : std::error_category {
        const char *name() const noexcept override { return "gort"; }
        std::string message(int code) const override { return gort_strerror(code); }
    };
    static const gort_category instance;
    return instance;
}

/// What the C++ API throws when a call fails (see the header comment).
class error : public std::system_error {
public:
    error(int code, const char *what) : std::system_error(code, category(), what) {}
};

/// How a bounded or non-blocking operation ended.
enum class status {
    ok,           ///< done
    closed,       ///< receive: the channel is closed and drained
    would_block,  ///< nothing ready and the deadline had passed on entry (try_*)
    timed_out,    ///< the deadline passed while waiting
};

namespace detail {

inline status status_of(int rc) {
    switch (rc) {
        case GORT_EAGAIN: return status::would_block;
        case GORT_ETIMEDOUT: return status::timed_out;
        default: return status::ok;
    }
}

inline void check(int rc, const char *what) {
    if (rc < 0) throw error(rc, what);
}

/// A gort deadline (gort_now clock, ns) `d` from now; GORT_FOREVER stays forever.
template <class Rep, class Period>
int64_t deadline_in(std::chrono::duration<Rep, Period> d) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    return gort_deadline_in(ns < 0 ? 0 : static_cast<int64_t>(ns));
}

/// Runs `f`, turning an exception that escapes it into a message; true if one did.
/// The message is copied to a buffer the caller owns, so the exception object is gone
/// (its handler finished) before the caller panics: a gort panic must never jump out of
/// a catch handler.
template <class F>
bool run_catching(F &f, char (&msg)[256]) noexcept {
    try {
        f();
        return false;
    } catch (const std::exception &e) {
        std::snprintf(msg, sizeof msg, "C++ exception: %s", e.what());
    } catch (...) {
        std::snprintf(msg, sizeof msg, "C++ exception of a type not derived from std::exception");
    }
    return true;
}

/// A callable moved to the heap, to run once from a C callback.
template <class F>
struct boxed {
    F f;
    /// The C entry: runs and frees the callable; an escaping exception becomes a panic
    /// after the callable is destroyed.
    static void run(void *arg) noexcept {
        char msg[256];
        bool threw;
        {
            std::unique_ptr<boxed> self(static_cast<boxed *>(arg));
            threw = run_catching(self->f, msg);
        }
        if (threw) gort_panic(msg);
    }
};

template <class F>
using boxed_for = boxed<std::decay_t<F>>;

/// Runs a callable passed by address (it outlives the call).
template <class F>
void run_borrowed(void *arg) noexcept {
    char msg[256];
    if (run_catching(*static_cast<F *>(arg), msg)) gort_panic(msg);
}

}  // namespace detail

/// Panics (gort_panic): see the header comment about destructors.
[[noreturn]] inline void panic(const char *msg) { gort_panic(msg); }

/// Runs `f()`; returns the panic's message if it panicked (or threw), nothing if it
/// returned. Deferred calls registered with gort_defer inside run either way.
template <class F>
std::optional<std::string> protect(F &&f) {
    using Fn = std::remove_reference_t<F>;
    const char *msg = nullptr;
    int rc = gort_protect(&detail::run_borrowed<Fn>, const_cast<void *>(static_cast<const void *>(&f)), &msg);
    if (rc == 1) return std::string(msg ? msg : "");
    detail::check(rc, "gort_protect");
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// Goroutines

/// Starts a goroutine running `f()` (any callable; moved or copied into it). Throws
/// gort::error (GORT_ENOMEM) if no goroutine could be made; then `f` is destroyed.
template <class F>
void go(F &&f) {
    using Box = detail::boxed_for<F>;
    auto box = std::make_unique<Box>(Box{std::forward<F>(f)});
    int rc = gort_go(&Box::run, box.get());
    detail::check(rc, "gort_go");
    box.release();  // the goroutine owns it now
}

/// Runs `f()` as the main goroutine and returns its result (gort_main): `f` returns int,
/// or void (then 0). An exception escaping `f` ends the program as an unrecovered panic.
template <class F>
int main(F &&f) {
    struct state {
        std::remove_reference_t<F> *f;
        int result;
    } st{&f, 0};
    auto entry = [](void *arg) noexcept -> int {
        auto *s = static_cast<state *>(arg);
        char msg[256];
        auto call = [s] {
            if constexpr (std::is_void_v<decltype((*s->f)())>) {
                (*s->f)();
            } else {
                s->result = static_cast<int>((*s->f)());
            }
        };
        if (detail::run_catching(call, msg)) gort_panic(msg);
        return s->result;
    };
    int rc = gort_main(entry, &st);
    return rc;
}

/// The version of the library the program runs with ("MAJOR.MINOR.PATCH"; the header's
/// is GORT_VERSION_MAJOR/MINOR/PATCH).
inline const char *version() noexcept { return gort_version(); }

inline void gosched() noexcept { gort_gosched(); }
[[noreturn]] inline void goexit() noexcept { gort_goexit(); }
inline int64_t goid() noexcept { return gort_goid(); }

/// Keeps the calling goroutine on its OS thread for the guard's scope
/// (gort_lock_os_thread / gort_unlock_os_thread; nests).
class lock_os_thread {
public:
    lock_os_thread() noexcept { gort_lock_os_thread(); }
    ~lock_os_thread() { gort_unlock_os_thread(); }
    lock_os_thread(const lock_os_thread &) = delete;
    lock_os_thread &operator=(const lock_os_thread &) = delete;
};

/// A blocking region (gort_blocking_enter / gort_blocking_exit) for the guard's scope:
/// wrap a C call that may block, so the other goroutines keep running.
class blocking_region {
public:
    blocking_region() noexcept { gort_blocking_enter(); }
    ~blocking_region() { gort_blocking_exit(); }
    blocking_region(const blocking_region &) = delete;
    blocking_region &operator=(const blocking_region &) = delete;
};

// ---------------------------------------------------------------------------------------
// Channels

/// What a bounded or non-blocking receive got: `value` is meaningful when `st == ok`.
template <class T>
struct received {
    status st;
    T value;
    explicit operator bool() const noexcept { return st == status::ok; }
};

/// A typed channel: a counted reference to a gort_chan (copying retains, destruction
/// releases). Default-constructed, or moved from, it is the nil channel (operations
/// block forever, as in Go).
template <class T>
class chan {
    static_assert(std::is_trivially_copyable_v<T>,
                  "gort::chan<T>: the runtime copies elements as bytes; T must be trivially copyable");

public:
    chan() noexcept = default;
    /// A new channel with `capacity` buffered elements (0: unbuffered).
    explicit chan(std::size_t capacity) : c_(gort_chan_make(sizeof(T), capacity)) {
        if (!c_) throw error(GORT_ENOMEM, "gort_chan_make");
    }
    /// Adopts a reference to an existing channel (`retain`: add one of our own).
    static chan adopt(gort_chan *c, bool retain) noexcept {
        if (retain) gort_chan_retain(c);
        chan ch;
        ch.c_ = c;
        return ch;
    }
    chan(const chan &o) noexcept : c_(o.c_) { gort_chan_retain(c_); }
    chan(chan &&o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
    chan &operator=(chan o) noexcept {
        std::swap(c_, o.c_);
        return *this;
    }
    ~chan() { gort_chan_release(c_); }

    /// Sends `v`, blocking until a receiver takes it or there is room.
    void send(const T &v) const { gort_chan_send(c_, &v); }
    /// Sends unless it would block: status::ok or status::would_block.
    status try_send(const T &v) const { return detail::status_of(gort_chan_send_until(c_, &v, 0)); }
    /// Sends, waiting at most `d`: status::ok or status::timed_out (or would_block for d <= 0).
    template <class Rep, class Period>
    status send_for(const T &v, std::chrono::duration<Rep, Period> d) const {
        return detail::status_of(gort_chan_send_until(c_, &v, detail::deadline_in(d)));
    }

    /// Receives a value; empty once the channel is closed and drained.
    std::optional<T> recv() const {
        T v;
        if (gort_chan_recv(c_, &v) == 1) return v;
        return std::nullopt;
    }
    /// Receives unless it would block.
    received<T> try_recv() const { return recv_until(0); }
    /// Receives, waiting at most `d`.
    template <class Rep, class Period>
    received<T> recv_for(std::chrono::duration<Rep, Period> d) const {
        return recv_until(detail::deadline_in(d));
    }

    /// Closes the channel (closing twice is a gort panic, as in Go).
    void close() const { gort_chan_close(c_); }
    std::size_t size() const noexcept { return gort_chan_len(c_); }
    std::size_t capacity() const noexcept { return gort_chan_cap(c_); }
    gort_chan *native_handle() const noexcept { return c_; }
    explicit operator bool() const noexcept { return c_ != nullptr; }

    /// Range-for: receives until the channel is closed and drained.
    class iterator {
    public:
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        using iterator_category = std::input_iterator_tag;
        using pointer = const T *;
        using reference = const T &;
        const T &operator*() const noexcept { return *v_; }
        iterator &operator++() {
            v_ = c_->recv();
            return *this;
        }
        bool operator==(const iterator &o) const noexcept { return v_.has_value() == o.v_.has_value(); }
        bool operator!=(const iterator &o) const noexcept { return !(*this == o); }

    private:
        friend class chan;
        iterator(const chan *c, std::optional<T> v) : c_(c), v_(std::move(v)) {}
        const chan *c_;
        std::optional<T> v_;
    };
    iterator begin() const { return iterator(this, recv()); }
    iterator end() const { return iterator(this, std::nullopt); }

private:
    received<T> recv_until(int64_t deadline) const {
        received<T> r{status::ok, T{}};
        int rc = gort_chan_recv_until(c_, &r.value, deadline);
        r.st = rc == 1 ? status::ok : rc == 0 ? status::closed : detail::status_of(rc);
        return r;
    }
    gort_chan *c_ = nullptr;
};

// ---------------------------------------------------------------------------------------
// Select

/// A receive case: `f(T value, bool ok)` runs when it is chosen (ok false: closed).
template <class T, class F>
struct recv_case {
    const chan<T> &ch;
    F f;
    T value{};
};
/// A send case: `f()` runs when `value` was sent.
template <class T, class F>
struct send_case {
    const chan<T> &ch;
    T value;
    F f;
};
/// Go's `default:`: `f()` runs when no other case is ready.
template <class F>
struct default_case {
    F f;
};

template <class T, class F>
recv_case<T, std::decay_t<F>> on_recv(const chan<T> &ch, F &&f) {
    return {ch, std::forward<F>(f)};
}
template <class T, class U, class F>
send_case<T, std::decay_t<F>> on_send(const chan<T> &ch, U &&value, F &&f) {
    return {ch, T(std::forward<U>(value)), std::forward<F>(f)};
}
template <class F>
default_case<std::decay_t<F>> on_default(F &&f) {
    return {std::forward<F>(f)};
}

namespace detail {

template <class C>
struct is_default : std::false_type {};
template <class F>
struct is_default<default_case<F>> : std::true_type {};

template <class T, class F>
void fill(gort_case &gc, recv_case<T, F> &c) {
    gc = gort_case{};
    gc.chan = c.ch.native_handle();
    gc.dir = GORT_RECV;
    gc.elem = &c.value;
}
template <class T, class F>
void fill(gort_case &gc, send_case<T, F> &c) {
    gc = gort_case{};
    gc.chan = c.ch.native_handle();
    gc.dir = GORT_SEND;
    gc.elem = &c.value;
}

template <class T, class F>
void fire(recv_case<T, F> &c, const gort_case &gc) {
    c.f(c.value, gc.ok != 0);
}
template <class T, class F>
void fire(send_case<T, F> &c, const gort_case &) {
    c.f();
}

template <class Tuple, std::size_t... I>
int select_impl(Tuple &cases, int64_t deadline, bool &timed_out, std::index_sequence<I...>) {
    gort_case gcs[sizeof...(I) ? sizeof...(I) : 1];
    (fill(gcs[I], std::get<I>(cases)), ...);
    int rc = gort_select(gcs, sizeof...(I), deadline);
    timed_out = rc < 0;
    if (rc < 0) {
        if (rc != GORT_EAGAIN && rc != GORT_ETIMEDOUT) check(rc, "gort_select");
        return -1;
    }
    ((static_cast<int>(I) == rc ? fire(std::get<I>(cases), gcs[I]) : void()), ...);
    return rc;
}

template <class... Cs>
int run_select(int64_t deadline, Cs &&...cs) {
    constexpr std::size_t n_default = (std::size_t{is_default<std::decay_t<Cs>>::value} + ... + 0);
    static_assert(n_default <= 1, "gort::select: at most one on_default");
    // Split: the channel cases into one tuple, the default (if any) aside.
    auto channel_cases = std::tuple_cat([](auto &&c) {
        if constexpr (is_default<std::decay_t<decltype(c)>>::value) {
            return std::tuple<>();
        } else {
            return std::tuple<std::decay_t<decltype(c)>>(std::forward<decltype(c)>(c));
        }
    }(std::forward<Cs>(cs))...);
    constexpr std::size_t n = std::tuple_size_v<decltype(channel_cases)>;
    bool timed_out = false;
    int rc = select_impl(channel_cases, n_default ? 0 : deadline, timed_out, std::make_index_sequence<n>{});
    if (rc >= 0 || !timed_out) return rc;
    if constexpr (n_default == 1) {
        (
            [&](auto &c) {
                if constexpr (is_default<std::decay_t<decltype(c)>>::value) c.f();
            }(cs),
            ...);
        return static_cast<int>(n);  // the default's index among the channel cases' count
    }
    return -1;
}

}  // namespace detail

/// Waits until one case can run, runs it (its handler is called) and returns its index
/// among the channel cases; with an on_default and nothing ready, runs the default and
/// returns the number of channel cases. As gort_select: a uniformly random ready case.
template <class... Cs>
int select(Cs &&...cases) {
    return detail::run_select(GORT_FOREVER, std::forward<Cs>(cases)...);
}

/// select, waiting at most `d`: -1 if it passed with nothing chosen.
template <class Rep, class Period, class... Cs>
int select_for(std::chrono::duration<Rep, Period> d, Cs &&...cases) {
    return detail::run_select(detail::deadline_in(d), std::forward<Cs>(cases)...);
}

// ---------------------------------------------------------------------------------------
// Sync

/// sync.Mutex; Lockable (std::lock_guard, std::unique_lock, std::scoped_lock).
class mutex {
public:
    constexpr mutex() noexcept = default;
    mutex(const mutex &) = delete;
    mutex &operator=(const mutex &) = delete;
    void lock() noexcept { gort_mutex_lock(&m_); }
    bool try_lock() noexcept { return gort_mutex_trylock(&m_) == 1; }
    void unlock() noexcept { gort_mutex_unlock(&m_); }
    gort_mutex *native_handle() noexcept { return &m_; }

private:
    gort_mutex m_ = GORT_MUTEX_INIT;
};

/// sync.RWMutex; Lockable and SharedLockable (std::shared_lock for readers).
class rwmutex {
public:
    constexpr rwmutex() noexcept = default;
    rwmutex(const rwmutex &) = delete;
    rwmutex &operator=(const rwmutex &) = delete;
    void lock() noexcept { gort_rwmutex_lock(&m_); }
    bool try_lock() noexcept { return gort_rwmutex_trylock(&m_) == 1; }
    void unlock() noexcept { gort_rwmutex_unlock(&m_); }
    void lock_shared() noexcept { gort_rwmutex_rlock(&m_); }
    bool try_lock_shared() noexcept { return gort_rwmutex_tryrlock(&m_) == 1; }
    void unlock_shared() noexcept { gort_rwmutex_runlock(&m_); }
    gort_rwmutex *native_handle() noexcept { return &m_; }

private:
    gort_rwmutex m_ = GORT_RWMUTEX_INIT;
};

/// sync.Cond over a gort::mutex: `wait` takes the std::unique_lock that holds it.
class cond {
public:
    constexpr cond() noexcept = default;
    cond(const cond &) = delete;
    cond &operator=(const cond &) = delete;
    void wait(std::unique_lock<mutex> &lk) noexcept { gort_cond_wait(&c_, lk.mutex()->native_handle()); }
    template <class Pred>
    void wait(std::unique_lock<mutex> &lk, Pred pred) {
        while (!pred()) wait(lk);
    }
    void signal() noexcept { gort_cond_signal(&c_); }
    void broadcast() noexcept { gort_cond_broadcast(&c_); }

private:
    gort_cond c_ = GORT_COND_INIT;
};

/// sync.WaitGroup.
class waitgroup {
public:
    constexpr waitgroup() noexcept = default;
    waitgroup(const waitgroup &) = delete;
    waitgroup &operator=(const waitgroup &) = delete;
    void add(int64_t delta) noexcept { gort_waitgroup_add(&wg_, delta); }
    void done() noexcept { gort_waitgroup_done(&wg_); }
    void wait() noexcept { gort_waitgroup_wait(&wg_); }
    /// Go 1.25's WaitGroup.Go: add(1), run `f` in a goroutine, done when it ends.
    template <class F>
    void go(F &&f) {
        using Box = detail::boxed_for<F>;
        auto box = std::make_unique<Box>(Box{std::forward<F>(f)});
        detail::check(gort_waitgroup_go(&wg_, &Box::run, box.get()), "gort_waitgroup_go");
        box.release();
    }

private:
    gort_waitgroup wg_ = GORT_WAITGROUP_INIT;
};

/// sync.Once.
class once {
public:
    constexpr once() noexcept = default;
    once(const once &) = delete;
    once &operator=(const once &) = delete;
    /// Calls `f()` if no call through this once has happened; returns when it has.
    template <class F>
    void call(F &&f) {
        using Fn = std::remove_reference_t<F>;
        gort_once_do(&o_, &detail::run_borrowed<Fn>, const_cast<void *>(static_cast<const void *>(&f)));
    }

private:
    gort_once o_ = GORT_ONCE_INIT;
};

// ---------------------------------------------------------------------------------------
// Time

/// gort's monotonic clock (gort_now), a std::chrono clock.
struct clock {
    using duration = std::chrono::nanoseconds;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = std::chrono::time_point<clock>;
    static constexpr bool is_steady = true;
    static time_point now() noexcept { return time_point(duration(gort_now())); }
};

template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) noexcept {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    gort_sleep(ns < 0 ? 0 : static_cast<int64_t>(ns));
}

inline void sleep_until(clock::time_point t) noexcept { gort_sleep_until(t.time_since_epoch().count()); }

/// A channel that receives the time (gort_now clock, ns) once, `d` from now (Go's time.After).
template <class Rep, class Period>
chan<int64_t> after(std::chrono::duration<Rep, Period> d) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    gort_chan *c = gort_after(static_cast<int64_t>(ns));
    if (!c) throw error(GORT_ENOMEM, "gort_after");
    return chan<int64_t>::adopt(c, false);
}

/// time.Timer (owned: freed by the destructor). Either a channel timer (`chan()`) or,
/// made by after_func, one that starts a goroutine.
class timer {
public:
    template <class Rep, class Period>
    explicit timer(std::chrono::duration<Rep, Period> d) : t_(gort_timer_new(ns(d))) {
        if (!t_) throw error(GORT_ENOMEM, "gort_timer_new");
    }
    timer(timer &&o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
    timer &operator=(timer &&o) noexcept {
        std::swap(t_, o.t_);
        return *this;
    }
    ~timer() { gort_timer_free(t_); }

    /// The timer's channel (a channel timer), borrowed for the timer's lifetime.
    chan<int64_t> channel() const noexcept { return chan<int64_t>::adopt(gort_timer_chan(t_), true); }
    /// True if that prevented a value or a goroutine (Go 1.23 Timer.Stop).
    bool stop() noexcept { return gort_timer_stop(t_) == 1; }
    template <class Rep, class Period>
    bool reset(std::chrono::duration<Rep, Period> d) noexcept {
        return gort_timer_reset(t_, ns(d)) == 1;
    }
    gort_timer *native_handle() const noexcept { return t_; }

    template <class Rep, class Period, class F>
    friend timer after_func(std::chrono::duration<Rep, Period> d, F &&f);

private:
    explicit timer(gort_timer *t) noexcept : t_(t) {}
    template <class Rep, class Period>
    static int64_t ns(std::chrono::duration<Rep, Period> d) {
        return static_cast<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
    }
    gort_timer *t_;
};

/// time.AfterFunc: a timer that runs `f()` in a new goroutine each time it fires. `f` is
/// shared by the firings and lives as long as the program (a firing may still be
/// running when the timer is freed).
template <class Rep, class Period, class F>
timer after_func(std::chrono::duration<Rep, Period> d, F &&f) {
    using Fn = std::decay_t<F>;
    auto *fn = new Fn(std::forward<F>(f));
    gort_timer *t = gort_after_func(timer::ns(d), &detail::run_borrowed<Fn>, fn);
    if (!t) {
        delete fn;
        throw error(GORT_ENOMEM, "gort_after_func");
    }
    return timer(t);
}

/// time.Ticker (owned).
class ticker {
public:
    template <class Rep, class Period>
    explicit ticker(std::chrono::duration<Rep, Period> period)
        : t_(gort_ticker_new(static_cast<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(period).count()))) {
        if (!t_) throw error(GORT_EINVAL, "gort_ticker_new");
    }
    ticker(ticker &&o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
    ticker &operator=(ticker &&o) noexcept {
        std::swap(t_, o.t_);
        return *this;
    }
    ~ticker() { gort_ticker_free(t_); }
    chan<int64_t> channel() const noexcept { return chan<int64_t>::adopt(gort_ticker_chan(t_), true); }
    void stop() noexcept { gort_ticker_stop(t_); }
    template <class Rep, class Period>
    void reset(std::chrono::duration<Rep, Period> period) noexcept {
        gort_ticker_reset(t_, static_cast<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(period).count()));
    }
    gort_ticker *native_handle() const noexcept { return t_; }

private:
    gort_ticker *t_;
};

}  // namespace gort

#endif /* GORT_HPP */
