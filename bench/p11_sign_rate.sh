#!/bin/bash
# Raw C_Sign rate on a SoftHSM2 EC P-256 key versus signatures/s through
# keyward's PKCS#11 backend (same key, one logged-in session each).  Not
# part of `make check`; run from a build dir after `make check` built it:
#   KW_SRCDIR=/path/to/src KW_BUILDDIR=. bench/p11_sign_rate.sh [SECONDS]
. "${KW_SRCDIR:-$(dirname "$0")/..}/tests/lib/fixtures.sh"
BENCH=$KW_BUILDDIR/bench/p11_sign_rate
[ -x "$BENCH" ] || kw_fail "$BENCH not built (make bench/p11_sign_rate)"
kw_start_softhsm bench
MOD=$KW_SOFTHSM_MODULE
URI="pkcs11:token=bench;object=bench-p256?pin-source=file:$KW_T/pin"
"$KEYWARD" keygen --module "$MOD" --key "$URI" >/dev/null 2>&1 || kw_fail "keygen"
"$BENCH" "$URI" "$MOD" "${1:-3}"
