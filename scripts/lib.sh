# shellcheck shell=bash
# Sourced by the test legs that report "N passed, M failed" (scripts/test-pip.sh, scripts/test-template.sh):
# their one-case helper, check, and its counts. Set `leg` (the label of every line, as in "[pip] PASS ...")
# before the first check; sourcing sets passed and failed to 0.
: "${leg:?scripts/lib.sh: set leg, the label of the check lines, before sourcing it}"
passed=0 failed=0
check() {  # check NAME COMMAND...: one case
  local name=$1
  shift
  if "$@"; then
    echo "[$leg] PASS $name"
    passed=$((passed + 1))
  else
    echo "[$leg] FAIL $name"
    failed=$((failed + 1))
  fi
}
