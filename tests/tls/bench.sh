#!/bin/bash
# Full mutual-TLS handshakes/s of a wolfSSL client signing through the
# kw_dev device: EC P-256 on swtpm versus the software test key (the
# ceiling).  Not part of `make check`: run it from a build dir,
#   KW_SRCDIR=/path/to/src KW_BUILDDIR=. tests/tls/bench.sh [COUNT]
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"

BENCH=$KW_BUILDDIR/tests/tls/hs_bench
[ -x "$BENCH" ] || kw_fail "$BENCH not built (make check or make tests/tls/hs_bench)"
N=${1:-300}
kw_start_swtpm tpm
"$KEYWARD" keygen --key "tpm:$KW_T/p256.key" >/dev/null 2>&1 || kw_fail "keygen"
for v in 13 12; do
	"$BENCH" soft "$N" "$v"
	"$BENCH" "$KW_T/p256.key" "$N" "$v"
done
