# bench/: benchmarks (not timed tests).  Each runs its anchor in the same run
# and prints ratios.  Run with `make bench` or the scripts directly.
EXTRA_DIST += bench
