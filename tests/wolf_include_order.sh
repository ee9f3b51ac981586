#!/bin/sh
# Every keyward source that uses wolfSSL includes <wolfssl/options.h> before
# any other wolfSSL header and before any keyward header that pulls wolfSSL
# in: without it the struct layouts the compiler sees need not be the ones the
# library was built with (issue 6).  Also checks that the check itself bites.
. "${KW_SRCDIR:-$(dirname "$0")/..}/tests/lib/fixtures.sh"

# Prints "file:line: what" for each offence in the files given.
check_files() {
	# Keyward headers that include wolfSSL (directly or through another).
	tainted=""
	for _ in 1 2 3; do
		for h in "$@"; do
			case "$h" in *.h) ;; *) continue ;; esac
			b=$(basename "$h")
			case " $tainted " in *" $b "*) continue ;; esac
			if grep -Eq '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](wolfssl|cyassl)/' "$h"; then
				tainted="$tainted $b"; continue
			fi
			for t in $tainted; do
				if grep -Eq "^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]*/)?$t\"" "$h"; then
					tainted="$tainted $b"; break
				fi
			done
		done
	done
	for f in "$@"; do
		awk -v tainted="$tainted" -v f="$f" '
		BEGIN { n = split(tainted, t, " "); for (i = 1; i <= n; i++) bad[t[i]] = 1 }
		/^[ \t]*#[ \t]*include/ {
			inc = $0
			sub(/^[ \t]*#[ \t]*include[ \t]*/, "", inc)
			name = inc; sub(/^[<"]/, "", name); sub(/[>"].*$/, "", name)
			if (name == "wolfssl/options.h") { seen = 1; next }
			base = name; sub(/^.*\//, "", base)
			if (seen) next
			if (name ~ /^(wolfssl|cyassl)\//)
				printf "%s:%d: includes <%s> before <wolfssl/options.h>\n", f, NR, name
			else if (inc ~ /^"/ && (base in bad))
				printf "%s:%d: includes \"%s\" (which uses wolfSSL) before <wolfssl/options.h>\n", f, NR, name
			if (name ~ /^(wolfssl|cyassl)\// || (inc ~ /^"/ && (base in bad))) exit
		}' "$f"
	done
}

srcs=$(cd "$KW_SRCDIR" && find agent common tpm pkcs11 enroll tests bench \
	-name '*.[ch]' 2>/dev/null | sort)
[ -n "$srcs" ] || kw_fail "no sources found under $KW_SRCDIR"
# shellcheck disable=SC2086
offences=$(cd "$KW_SRCDIR" && check_files $srcs)
if [ -n "$offences" ]; then
	echo "$offences" >&2
	kw_fail "include <wolfssl/options.h> first in the files above"
fi

# The check must catch both kinds of offence (and accept the right order).
mkdir -p "$KW_T/s"
printf '#include <stdio.h>\n#include <wolfssl/ssl.h>\n#include <wolfssl/options.h>\n' >"$KW_T/s/bad1.c"
printf '#include <wolfssl/ssl.h>\n' >"$KW_T/s/kw_uses_wolf.h"
printf '#include "kw_uses_wolf.h"\n#include <wolfssl/options.h>\n' >"$KW_T/s/bad2.c"
printf '#include <string.h>\n#include <wolfssl/options.h>\n#include "kw_uses_wolf.h"\n' >"$KW_T/s/good.c"
out=$(cd "$KW_T/s" && check_files kw_uses_wolf.h bad1.c bad2.c good.c)
echo "$out" | grep -q '^bad1.c:2: includes <wolfssl/ssl.h> before' ||
	kw_fail "a direct wolfSSL include before options.h went unnoticed: $out"
echo "$out" | grep -q '^bad2.c:1: includes "kw_uses_wolf.h"' ||
	kw_fail "a wolfSSL-using keyward header before options.h went unnoticed: $out"
echo "$out" | grep -q '^good.c' && kw_fail "good.c flagged: $out"
echo "$out" | grep -q '^kw_uses_wolf.h:1:' ||
	kw_fail "a header including wolfSSL without options.h went unnoticed: $out"
echo "PASS: every wolfSSL user includes <wolfssl/options.h> first ($(echo "$srcs" | wc -w) files)"
exit 0
