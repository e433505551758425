"""gort from Python: C functions as goroutines, channels, and a goroutine calling back
into Python. Run with GORT_LIB=path/to/libgort.so GORT_PY_WORKERS=path/to/libgort_py_workers.so
(ctest runs it as python-interop-example)."""

import ctypes
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gort  # noqa: E402

workers = ctypes.CDLL(os.environ["GORT_PY_WORKERS"])


class SquareJob(ctypes.Structure):
    _fields_ = [("inp", ctypes.c_void_p), ("out", ctypes.c_void_p), ("done", ctypes.c_void_p)]


# 1. A pool of C goroutines squaring numbers, fed and drained from Python.
jobs, results = gort.Chan(ctypes.c_long, 16), gort.Chan(ctypes.c_long, 16)
finished = gort.Chan(ctypes.c_long, 4)
pool = SquareJob(jobs.handle, results.handle, finished.handle)
for _ in range(4):
    gort.go(workers.square_worker, pool)
for n in range(1, 11):
    jobs.send(n)
jobs.close()
print("sum of squares 1..10 =", sum(results.recv()[0] for _ in range(10)))  # 385
for _ in range(4):  # pool and its channels must outlive the workers
    finished.recv()


# 2. Python running as goroutines (each locked to its OS thread while it runs Python).
def greeter(name, out):
    out.send(len(name))


lengths = gort.Chan(ctypes.c_long, 3)
for name in ("gopher", "snake", "crab"):
    gort.go(greeter, name, lengths)
print("name lengths:", sorted(lengths.recv()[0] for _ in range(3)))  # [4, 5, 6]


# 3. A C goroutine calling a Python function: make it with gort.callback.
class CallbackJob(ctypes.Structure):
    _fields_ = [("fn", ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_long)),
                ("n", ctypes.c_long), ("done", ctypes.c_void_p)]


@gort.callback(ctypes.c_long, ctypes.c_long)
def square_in_python(x):
    return x * x


done = gort.Chan(ctypes.c_long, 1)
job = CallbackJob(square_in_python, 10, done.handle)
gort.go(workers.call_back_n_times, job)
print("sum of squares via Python callbacks =", done.recv()[0])  # 385
