# bench/: benchmarks, not tests: nothing here passes or fails on a number.
# Each runs its anchor (stunnel, OpenSSL, the software key, the other
# wolfSSL build) in the same run and prints ratios: tunnel (handshakes/s,
# signatures, MB/s, RSS, latency), bulk (cipher throughput), enroll, and
# p11_sign_rate.  Run the scripts directly (see each one's header); the C
# helpers are built by make check.
# May include: any module's headers, like tests/.  The scripts start swtpm,
# SoftHSM2, CAs, nginx, stunnel and keyward with tests/lib/fixtures.sh (and
# tests/tunnel/lib.sh, tests/enroll/lib.sh); only where a measurement needs
# other settings (bench/bulk's single-process nginx and per-suite stunnel,
# bench/tunnel's stunnel with the PKCS#11 engine) do they write their own.
EXTRA_DIST += bench
