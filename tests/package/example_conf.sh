#!/bin/bash
# The example /etc/keyward/keyward.conf (etc/keyward.conf) that the package
# installs is one keyward accepts: as shipped (one client tunnel, one
# identity), and with every commented-out ";key = value" line and the
# server tunnel switched on.  Catches an example that drifts from the
# parser (a renamed key, a new required one).
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
cd "$KW_T" || exit 1
example=$KW_SRCDIR/etc/keyward.conf
[ -f "$example" ] || kw_fail "no $example"

out=$("$KEYWARD" run --check --config "$example" 2>&1) ||
	kw_fail "keyward run --check rejects the example: $out"
[ "$out" = "$example: OK, 1 tunnels, 1 identities" ] ||
	kw_fail "the example as shipped: $out"
echo "ok as shipped: $out"

sed 's/^;\([a-z[]\)/\1/' "$example" >all.conf
grep -q '^\[tunnel api\]' all.conf && grep -q '^allow-cn = alice' all.conf ||
	kw_fail "the example's commented-out lines were not switched on"
out=$("$KEYWARD" run --check --config all.conf 2>&1) ||
	kw_fail "keyward run --check rejects the example with every option on: $out"
[ "$out" = "all.conf: OK, 2 tunnels, 1 identities" ] ||
	kw_fail "the example with every option on: $out"
echo "ok with every commented-out option on: $out"
