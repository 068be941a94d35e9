#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this):
#   1. install missing Debian packages (as root) or say which are missing;
#   2. build mod_profiler warning-free (-Wall -Wextra -Werror);
#   3. check unit tests of the core, plain and under ASan+UBSan, and a short
#      libFuzzer run of the Server-Timing parser;
#   4. integration tests: real apache2 (event, worker, prefork, HTTP/2)
#      and a real headless chromium.
# Ends with one line "tests: N passed, N failed"; exits non-zero on any
# failure, error or skipped test.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh test || exit 1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== build"
make -s -f Makefile.apxs clean >/dev/null
if ! make -s -f Makefile.apxs WERROR=1 >"$work/build.log" 2>&1; then
  cat "$work/build.log"; echo "tests: 0 passed, 1 failed"; exit 1
fi

echo "== unit tests (plain, then AddressSanitizer+UBSan)"
# Durations must not follow LC_NUMERIC: the unit tests also run the
# formatter under a ',' radix locale, which is generated here if missing.
if ! locale -a 2>/dev/null | grep -qi '^de_DE\.utf-\?8$'; then
  if [ "$(id -u)" -eq 0 ]; then
    localedef -i de_DE -f UTF-8 de_DE.UTF-8
  else
    echo "note: no de_DE.UTF-8 locale; as root: localedef -i de_DE -f UTF-8 de_DE.UTF-8"
  fi
fi
if locale -a 2>/dev/null | grep -qi '^de_DE\.utf-\?8$'; then
  export PROF_TEST_REQUIRE_COMMA_LOCALE=1
fi
make -s -f Makefile.apxs WERROR=1 unit 2>&1 | tee "$work/unit.log"
unit_rc=${PIPESTATUS[0]}

echo "== fuzz smoke: the Server-Timing parser under libFuzzer+ASan+UBSan"
# A short run (500,000 inputs, ~25 s) keeps the target building and catches the easy regressions;
# the long campaign is make -f Makefile.apxs fuzz (10 million inputs).
if make -s -f Makefile.apxs WERROR=1 fuzz FUZZ_RUNS=${FUZZ_RUNS:-500000} \
     >"$work/fuzz.log" 2>&1; then
  fuzz_rc=0; grep -E "^Done [0-9]+ runs" "$work/fuzz.log"
else
  fuzz_rc=1; tail -40 "$work/fuzz.log"
fi

echo "== integration tests (apache2, chromium)"
/usr/bin/python3 -m pytest -p no:cacheprovider -q -rfEs \
  --junitxml="$work/it.xml" test/integration
it_rc=$?

/usr/bin/python3 - "$work/unit.log" "$work/it.xml" "$unit_rc" "$it_rc" "$fuzz_rc" <<'PY'
import re, sys, xml.etree.ElementTree as ET
unit_log, it_xml, unit_rc, it_rc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
fuzz_rc = int(sys.argv[5])
passed = failed = skipped = 0
runs = re.findall(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)", open(unit_log).read())
for checks, fails, errs in runs:
    passed += int(checks) - int(fails) - int(errs)
    failed += int(fails) + int(errs)
if len(runs) != 2 or unit_rc:
    failed += 1          # a unit binary did not build or did not report
try:
    suite = ET.parse(it_xml).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    total = int(suite.get("tests"))
    bad = int(suite.get("failures")) + int(suite.get("errors"))
    skipped = int(suite.get("skipped"))
    passed += total - bad - skipped
    failed += bad
except Exception as e:
    print("integration results unreadable: %s" % e)
    failed += 1
if it_rc and failed == 0:
    failed += 1
if fuzz_rc:
    print("the fuzz smoke run failed")
    failed += 1
else:
    passed += 1
if skipped:
    print("%d skipped: a skipped test is a test that did not run" % skipped)
    failed += skipped
print("tests: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PY
