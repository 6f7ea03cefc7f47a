#!/usr/bin/env bats
# make install: every program, script and man page where it belongs; an installed
# ps-local that finds the installed programs through PATH alone. And the man pages:
# clean under mandoc -T lint, their cross-references to each other resolved.

load helper

bats_require_minimum_version 1.5.0

# ps_install: `make install DESTDIR=$DEST PREFIX=/usr` from PS_BUILD (B, so nothing is
# built anywhere else). Sets DEST; the install's output is in $PS_TMP/install.log.
ps_install() {
	DEST=$PS_TMP/root
	# (not make's jobserver of an outer `make check`: this make is on its own)
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$PS_ROOT" B="$PS_BUILD" \
	    DESTDIR="$DEST" PREFIX=/usr install >"$PS_TMP/install.log" 2>&1 ||
	    fail "make install failed: $(cat "$PS_TMP/install.log")"
}

# What make install should install, relative to DESTDIR, one a line: the programs of
# bin/; scripts/ps-local and scripts/ps-launch, but for a script that only runs the
# built program of its name (that program is installed instead); the man pages by
# section.
expected_files() {
	local f
	for f in "$PS_ROOT"/bin/*.c; do f=${f##*/}; echo "usr/bin/${f%.c}"; done
	for f in ps-local ps-launch; do
		[ -e "$PS_ROOT/scripts/$f" ] && [ ! -e "$PS_ROOT/bin/$f.c" ] && echo "usr/bin/$f"
	done
	for f in "$PS_ROOT"/man/*.[1-9]; do f=${f##*/}; echo "usr/share/man/man${f##*.}/$f"; done
}

@test "make install puts every program, script and man page in place" {
	ps_install
	(cd "$DEST" && find . -type f | sed 's|^\./||' | LC_ALL=C sort) >"$PS_TMP/got"
	expected_files | LC_ALL=C sort -u >"$PS_TMP/want"
	run diff "$PS_TMP/want" "$PS_TMP/got"
	[ "$status" -eq 0 ] || fail "installed files differ from the expected (< missing, > extra):
$output"
	local f
	while read -r f; do
		case $f in
		usr/bin/*) [ -x "$DEST/$f" ] || fail "$f is not executable" ;;
		*) [ "$(stat -c %a "$DEST/$f")" = 644 ] || fail "$f: mode $(stat -c %a "$DEST/$f")" ;;
		esac
	done <"$PS_TMP/want"
	# the installed programs are the ones built (not a script of the same name)
	for f in "$PS_ROOT"/bin/*.c; do
		f=${f##*/}
		cmp -s "$PS_BUILD/${f%.c}" "$DEST/usr/bin/${f%.c}" ||
		    fail "usr/bin/${f%.c} is not $PS_BUILD/${f%.c}"
	done
}

@test "the installed ps-worker answers --version" {
	ps_install
	run -0 "$DEST/usr/bin/ps-worker" --version
	assert_output --regexp '^ps-worker [0-9]+\.[0-9]+\.[0-9]+'
}

@test "the installed ps-local runs a job with the installed programs, found through PATH" {
	ps_heart
	ps_install
	# nothing next to the script to fall back on: PATH it is
	[ ! -e "$DEST/usr/build" ]
	mkdir "$PS_TMP/elsewhere"
	cd "$PS_TMP/elsewhere"
	run -0 env -u PS_BUILD PATH="$DEST/usr/bin:/usr/bin:/bin" \
	    timeout "$PS_EXIT_TIMEOUT" ps-local --test "$HEART" "$HEART"
	assert_line --regexp '^train examples=270 '
	assert_line --regexp '^test examples=270 .* auc=0\.[0-9]+$'
}

@test "every man page passes mandoc -T lint" {
	command -v mandoc >/dev/null || skip "mandoc is not installed (Debian: mandoc)"
	# Warnings and errors: none at all.
	run mandoc -T lint -W warning "$PS_ROOT"/man/*.[1-9]
	[ "$status" -eq 0 ] && [ -z "$output" ] || fail "mandoc -T lint -W warning:
$output"
	# Style too (on stdout; stderr has only complaints about this host's mandoc.db),
	# but for the look-ups of other manuals in this host's man database, which depend
	# on what is installed here: the next test checks the references between our own
	# pages.
	local rest
	rest=$(mandoc -T lint "$PS_ROOT"/man/*.[1-9] 2>/dev/null |
	    grep -v 'STYLE: referenced manual not found' || true)
	[ -z "$rest" ] || fail "mandoc -T lint:
$rest"
}

@test "the man pages' names match their files, and their references to ps pages resolve" {
	local f page sect name dt xr
	for f in "$PS_ROOT"/man/*.[1-9]; do
		page=${f##*/}
		sect=${page##*.}
		name=${page%.*}
		dt=$(awk '$1 == ".Dt" { print $2, $3; exit }' "$f")
		[ "$dt" = "${name^^} $sect" ] || fail "$page: .Dt $dt"
		[ "$(awk '$1 == ".Nm" { print $2; exit }' "$f")" = "$name" ] ||
		    fail "$page: its first .Nm is not $name"
		while read -r xr; do
			[ -e "$PS_ROOT/man/$xr" ] || fail "$page refers to ${xr%.*}(${xr##*.}): no man/$xr"
		done < <(awk '$1 == ".Xr" && $2 ~ /^ps[-.]/ { print $2 "." $3 }' "$f" | sort -u)
	done
}

@test "ps-intro(7) names every other page in its SEE ALSO" {
	local f page see
	see=$(awk '/^\.Sh / { s = ($2 == "SEE") } s && $1 == ".Xr" { print $2 "." $3 }' \
	    "$PS_ROOT/man/ps-intro.7")
	for f in "$PS_ROOT"/man/*.[1-9]; do
		page=${f##*/}
		[ "$page" = ps-intro.7 ] && continue
		grep -qxF "$page" <<<"$see" || fail "ps-intro(7)'s SEE ALSO lacks ${page%.*}(${page##*.})"
	done
}
