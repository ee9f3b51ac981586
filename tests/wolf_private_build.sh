#!/bin/sh
# The build uses one wolfSSL and only one (issue 6):
# - every object that includes a wolfSSL header took it from the same place:
#   PREFIX/include for --with-wolfssl=PREFIX, Debian's /usr/include otherwise
#   (read from the compiler's dependency files);
# - with --with-wolfssl the keyward binary has no libwolfssl.so at all (ldd),
#   and the start-up self-check rejects both mixes of Debian's headers and
#   the private library, in programs built here for the purpose, while the
#   two consistent builds pass it.
. "${KW_SRCDIR:-$(dirname "$0")/..}/tests/lib/fixtures.sh"

prefix=$(sed -n 's/^#define KW_WOLFSSL_PREFIX "\(.*\)"$/\1/p' "$KW_BUILDDIR/config.h")
[ -x "$KEYWARD" ] || kw_fail "$KEYWARD not built"

# --- 1. One wolfSSL include root across all dependency files.
deps=$(find "$KW_BUILDDIR" -path '*/.deps/*.Po' 2>/dev/null)
roots=$(for d in $deps; do
	tr ' \\' '\n\n' <"$d" | sed -n 's|^\(/.*\)/wolfssl/options\.h:*$|\1|p'
done | sort -u)
if [ -z "$deps" ] || [ -z "$roots" ]; then
	echo "note: no dependency tracking in $KW_BUILDDIR; include roots not checked" >&2
else
	want=${prefix:+$prefix/include}
	want=${want:-/usr/include}
	[ "$roots" = "$want" ] ||
		kw_fail "objects were compiled against wolfSSL headers in: $(echo $roots) (expected only $want)"
fi

# --- 2. How keyward is linked.
kw_need ldd
if [ -z "$prefix" ]; then
	ldd "$KEYWARD" | grep -q 'libwolfssl\.so' ||
		kw_fail "the Debian-package build of keyward does not load libwolfssl.so"
	echo "PASS: Debian-package build uses /usr/include/wolfssl and libwolfssl.so (private-build checks need --with-wolfssl)"
	exit 0
fi
if ldd "$KEYWARD" | grep 'libwolfssl'; then
	kw_fail "keyward built --with-wolfssl=$prefix still loads a shared libwolfssl"
fi
[ -f "$prefix/lib/libwolfssl.a" ] || kw_fail "$prefix/lib/libwolfssl.a missing"
ls "$prefix"/lib/libwolfssl.so* >/dev/null 2>&1 &&
	kw_fail "$prefix/lib holds a libwolfssl.so, which LD_LIBRARY_PATH could mistake for Debian's"

# --- 3. The self-check against real mixes.
kw_need cc pkg-config
[ -f /usr/include/wolfssl/options.h ] || kw_skip "Debian's libwolfssl-dev headers not installed"
cat >"$KW_T/main.c" <<'EOF'
#include <stdio.h>
int kw_wolf_selfcheck(void);
int main(void)
{
	int r = kw_wolf_selfcheck();

	printf("selfcheck %d\n", r);
	return r == 0 ? 0 : 1;
}
EOF
sdlibs="$(pkg-config --libs libsystemd) -lm -lpthread"
# build NAME INCLUDE-FLAGS WOLFSSL-LIB
build() {
	# shellcheck disable=SC2086
	cc -D_GNU_SOURCE -o "$KW_T/$1" -I"$KW_SRCDIR/common" $2 "$KW_T/main.c" \
		"$KW_SRCDIR/common/kw_wolf_check.c" "$KW_SRCDIR/common/kw_log.c" \
		"$KW_SRCDIR/common/kw_redact.c" $3 $sdlibs 2>"$KW_T/$1.cc" ||
		{ cat "$KW_T/$1.cc" >&2; kw_fail "cannot build the $1 test program"; }
}
build deb-deb "" "-lwolfssl"
build opt-opt "-I$prefix/include" "$prefix/lib/libwolfssl.a"
build deb-opt "" "$prefix/lib/libwolfssl.a"
build opt-deb "-I$prefix/include" "-lwolfssl"
ldd "$KW_T/deb-deb" | grep -q 'libwolfssl\.so' || kw_fail "deb-deb is not linked with libwolfssl.so"

"$KW_T/deb-deb" >"$KW_T/out" 2>&1 || { cat "$KW_T/out" >&2; kw_fail "Debian headers + Debian library fail the self-check"; }
"$KW_T/opt-opt" >"$KW_T/out" 2>&1 || { cat "$KW_T/out" >&2; kw_fail "private headers + private library fail the self-check"; }
if "$KW_T/deb-opt" >"$KW_T/out" 2>&1; then
	cat "$KW_T/out" >&2; kw_fail "Debian headers + private library pass the self-check"
fi
grep -q 'compiled against wolfSSL 5\.[0-9.]* (AES-NI no.*184 bytes) but runs with .*784 bytes.*do not mix' "$KW_T/out" ||
	{ cat "$KW_T/out" >&2; kw_fail "Debian headers + private library: unclear message"; }
if "$KW_T/opt-deb" >"$KW_T/out" 2>&1; then
	cat "$KW_T/out" >&2; kw_fail "private headers + Debian library pass the self-check"
fi
grep -q 'compiled against wolfSSL 5\.[0-9.]* (AES-NI yes.*784 bytes) but runs with .*184 bytes.*rebuild keyward' "$KW_T/out" ||
	{ cat "$KW_T/out" >&2; kw_fail "private headers + Debian library: unclear message"; }
echo "PASS: private build in $prefix: one header root, static link, self-check rejects both mixes"
exit 0
