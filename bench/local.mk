# bench/: benchmarks, not tests: nothing here passes or fails on a number.
# Each runs its anchor (stunnel, OpenSSL, the software key, the other
# wolfSSL build) in the same run and prints ratios: tunnel (handshakes/s,
# signatures, MB/s, RSS, latency), bulk (cipher throughput), enroll, and
# p11_sign_rate.  Run the scripts directly (see each one's header); the C
# helpers are built by make check.
# May include: any module's headers, like tests/; the scripts source
# tests/lib/fixtures.sh (and tests/tunnel/lib.sh, tests/enroll/lib.sh) for
# swtpm, SoftHSM2, CAs, nginx and keyward, and never start their own copies.
EXTRA_DIST += bench
