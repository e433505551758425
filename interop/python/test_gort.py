"""Tests of gort.py (ctest: python-interop). Needs GORT_LIB (libgort.so) and
GORT_PY_WORKERS (the py_workers.c library) in the environment."""

import ctypes
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gort  # noqa: E402

workers = ctypes.CDLL(os.environ["GORT_PY_WORKERS"])


class SquareJob(ctypes.Structure):
    _fields_ = [("inp", ctypes.c_void_p), ("out", ctypes.c_void_p), ("done", ctypes.c_void_p)]


CallbackFn = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_long)


class CallbackJob(ctypes.Structure):
    _fields_ = [("fn", CallbackFn), ("n", ctypes.c_long), ("done", ctypes.c_void_p)]


class GortFromPython(unittest.TestCase):
    def test_c_goroutines_and_channels(self):
        """C functions run as goroutines; Python threads feed and drain them."""
        inp, out = gort.Chan(ctypes.c_long), gort.Chan(ctypes.c_long)
        done = gort.Chan(ctypes.c_long, 4)
        job = SquareJob(inp.handle, out.handle, done.handle)
        for _ in range(4):
            gort.go(workers.square_worker, job)
        n = 2000

        def feed():  # a plain Python thread: its sends block it, the GIL released
            for i in range(1, n + 1):
                inp.send(i)
            inp.close()

        feeder = threading.Thread(target=feed)
        feeder.start()
        total = sum(out.recv()[0] for _ in range(n))
        feeder.join()
        self.assertEqual(total, sum(i * i for i in range(1, n + 1)))
        for _ in range(4):  # the job and channels must outlive the workers
            done.recv()

    def test_python_goroutines_stay_on_their_thread(self):
        """Python goroutines park in gort while locked: each resumes on its own thread."""
        requests, replies = gort.Chan(ctypes.c_long), gort.Chan(ctypes.c_long, 64)
        moved = []

        def server():
            self.assertNotEqual(gort.goid(), 0)
            me = threading.get_ident()
            for v in requests:  # parks between values
                if threading.get_ident() != me:
                    moved.append(v)
                replies.send(v + 1)
            finished.send(1)

        finished = gort.Chan(ctypes.c_long, 6)
        servers = 6
        for _ in range(servers):
            gort.go(server)
        n = 3000
        got = 0
        for i in range(n):
            requests.send(i)
            got += replies.recv()[0]
        requests.close()
        for _ in range(servers):  # no Python may run in a goroutine once the interpreter exits
            finished.recv()
        self.assertEqual(got, sum(range(1, n + 1)))
        self.assertEqual(moved, [])

    def test_c_goroutine_calls_back_into_python(self):
        """A C goroutine calls a Python function (made with gort.callback) many times,
        yielding in between; the callback may itself use channels."""
        side = gort.Chan(ctypes.c_long, 1)
        seen_goids = set()

        @gort.callback(ctypes.c_long, ctypes.c_long)
        def triple(x):
            seen_goids.add(gort.goid())
            side.send(x)  # a gort call that may block, inside the callback
            v, _ = side.recv()
            return 3 * v

        done = gort.Chan(ctypes.c_long, 4)
        jobs = [CallbackJob(triple, 100, done.handle) for _ in range(4)]
        for job in jobs:
            gort.go(workers.call_back_n_times, job)
        sums = [done.recv()[0] for _ in jobs]
        self.assertEqual(sums, [3 * 100 * 101 // 2] * 4)
        self.assertNotIn(0, seen_goids)
        self.assertEqual(len(seen_goids), 4)

    def test_raw_python_callback_refused(self):
        """A ctypes callback made from a Python function would run unlocked."""
        raw = gort.GoroutineFunc(lambda arg: None)
        with self.assertRaises(TypeError):
            gort.go(raw)

    def test_exception_in_python_goroutine_is_reported(self):
        """An exception ends only its goroutine (printed, as in a thread)."""
        done = gort.Chan(ctypes.c_long, 1)

        def fails():
            try:
                raise ValueError("expected by the test")
            finally:
                done.send(1)

        gort.go(fails)
        self.assertEqual(done.recv(), (1, True))


if __name__ == "__main__":
    unittest.main(verbosity=2)
