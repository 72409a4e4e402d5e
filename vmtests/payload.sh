#!/bin/sh
# The kernel matrix's payload: runs in every guest (as /payload/run, started by
# vmtests/init) and on the host, as root. Runs DIR/hook-probe, then every
# libtest binary in DIR/tests with --test-threads=1, each between marker lines
# that vmtests/run reads:
#   @@scry-vmtest begin NAME
#   @@scry-vmtest end NAME EXIT_STATUS
# then one line per hook kind the tests exercised (they append the kinds to
# $SCRY_VMTEST_EXERCISED):
#   @@scry-vmtest exercised KIND
# To add tests to the matrix, add their package to `test_packages` in
# vmtests/run: its integration-test binaries land in DIR/tests.
dir=${1:?usage: payload.sh DIR}

run() { # NAME COMMAND...
	name=$1
	shift
	echo "@@scry-vmtest begin $name"
	"$@"
	echo "@@scry-vmtest end $name $?"
}

# Tests name the hook kinds they really ran (not only loaded) in this file.
SCRY_VMTEST_EXERCISED=$(mktemp)
export SCRY_VMTEST_EXERCISED

echo "@@scry-vmtest payload-start"
run hook-probe "$dir/hook-probe"
for t in "$dir"/tests/*; do
	run "${t##*/}" "$t" --test-threads=1
done
sort -u "$SCRY_VMTEST_EXERCISED" | while read -r kind; do echo "@@scry-vmtest exercised $kind"; done
rm -f "$SCRY_VMTEST_EXERCISED"
echo "@@scry-vmtest payload-done"
