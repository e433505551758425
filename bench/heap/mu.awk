# bench/heap/mu.awk: the mean mutator utilisation of the concurrent cycles in a gctrace
# log, Go's (GODEBUG=gctrace=1) or gort's (GORT_DEBUG=gctrace=1, GORT_GCMODE=concurrent):
# both print `a+b+c ms clock, A+B/C/D+E ms cpu, ... N P` with a, c the pauses, b the
# concurrent mark, A, E the pauses' CPU time, B assists, C the background workers while
# every P had work, D workers on idle Ps. Per cycle: MU = 1 - (A + B + C + E) / (N (a+b+c)):
# the share of the Ps' time during the cycle that the program kept (idle Ps' time was not
# the program's). Prints: cycles, mean MU, lowest MU.
/^gc [0-9]+ @/ {
    clock = ""; cpu = ""; p = 0
    for (i = 1; i <= NF; i++) {
        if ($i == "clock," && clock == "") clock = $(i - 2)
        if ($i == "cpu," && cpu == "") cpu = $(i - 2)
        if ($i == "P" || $i == "P," || $i ~ /^P\(/) p = $(i - 1) + 0
    }
    if (clock == "" || cpu == "" || p == 0) next
    n1 = split(clock, c, "+"); if (n1 != 3) next
    n2 = split(cpu, u, "+"); if (n2 != 3) next
    split(u[2], m, "/")
    wall = c[1] + c[2] + c[3]
    if (wall <= 0) next
    mu = 1 - (u[1] + m[1] + m[2] + u[3]) / (p * wall)
    if (mu < 0) mu = 0
    sum += mu; n++
    if (n == 1 || mu < low) low = mu
}
END { if (n) printf "cycles=%d mean_mu=%.3f min_mu=%.3f\n", n, sum / n, low; else print "cycles=0" }
