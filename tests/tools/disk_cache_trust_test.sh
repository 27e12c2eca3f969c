#!/usr/bin/env bash
# The disk cache's trust rules end to end, in fresh processes: tests/tools/cache_probe compiles
# one kernel (`rollout`: two) through the JIT engine on the cache in PHIJIT_CACHE_DIR, prints
# how many modules LLVM compiled, how many came from the disk and the cache directory it used,
# and fails when its result is wrong. Each run gets 60 s: a probe that blocks fails the test.
# Usage: disk_cache_trust_test.sh path/to/cache_probe
set -u
probe=$1
work=$(mktemp -d)
trap 'chmod -R u+rwx "$work"; rm -rf "$work"' EXIT
failures=0
out=""
status=0

fail() {
  echo "FAIL: $*"
  echo "  probe said: $out"
  failures=$((failures + 1))
}

# run [VAR=value ...] [-- probe-args]: runs the probe on "$dir" under umask ${mask:-022}.
run() {
  local vars=() args=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
  [ $# -gt 0 ] && shift && args=("$@")
  out=$(umask "${mask:-022}" && timeout 60 env PHIJIT_CACHE_DIR="$dir" "${vars[@]}" "$probe" "${args[@]}" 2>&1)
  status=$?
}

# expect "what" "text": the last run succeeded (right result, no hang) and printed text.
expect() {
  if [ "$status" -ne 0 ]; then
    fail "$1: the probe exited with $status (124 means it hung)"
  elif [[ "$out" != *"$2"* ]]; then
    fail "$1: expected '$2'"
  fi
}

# expect_count "what" "text" n: the last run printed text on exactly n lines.
expect_count() {
  local n
  n=$(grep -c -- "$2" <<<"$out")
  [ "$n" -eq "$3" ] || fail "$1: expected '$2' on $3 lines, found $n"
}

expect_mode() {
  local mode
  mode=$(stat -c %a "$2")
  [ "$mode" = "$3" ] || fail "$1: $2 has mode $mode, expected $3"
}

# --- Created with private modes whatever the umask.
dir=$work/new/cache
mask=0 run
expect "first run under umask 0" "compiles=1 disk_hits=0"
expect "first run under umask 0" "cache_dir='$dir'"
entries=("$dir"/*.o)
[ ${#entries[@]} -eq 1 ] && [ -f "${entries[0]}" ] || fail "one entry expected in $dir: ${entries[*]}"
entry=${entries[0]}
expect_mode "created parent" "$work/new" 700
expect_mode "created directory" "$dir" 700
expect_mode "created entry" "$entry" 600
run
expect "second run" "compiles=0 disk_hits=1"

# --- A directory that others can write into is not used at all: its valid entry (as good as a
# forged one) is not loaded, nothing is written into it, and the process warns once.
for mode in 770 707 1777; do
  chmod "$mode" "$dir"
  before=$(ls -l --time-style=full-iso "$dir")
  run
  expect "directory mode $mode" "compiles=1 disk_hits=0"
  expect "directory mode $mode" "cache_dir=''"
  expect_count "directory mode $mode warns once" "not using $dir: it is writable by group or others" 1
  [ "$(ls -l --time-style=full-iso "$dir")" = "$before" ] || fail "directory mode $mode: its files changed"
done
chmod 700 "$dir"
run
expect "directory mode 700 again" "compiles=0 disk_hits=1"
expect "directory mode 700 again" "cache_dir='$dir'"

# --- An entry writable by others is refused, and rewritten privately.
chmod 666 "$entry"
run
expect "entry mode 666" "compiles=1 disk_hits=0"
expect_mode "rewritten entry" "$entry" 600
run
expect "rewritten entry" "compiles=0 disk_hits=1"

# --- A FIFO where an entry should be: no hang, the right result, then replaced by an entry.
rm "$entry" && mkfifo "$entry"
run
expect "FIFO entry" "compiles=1 disk_hits=0"
[ -f "$entry" ] && [ ! -p "$entry" ] || fail "the FIFO was not replaced by an entry"
run
expect "entry after the FIFO" "compiles=0 disk_hits=1"

# --- A directory where an entry should be: compiled every time, never an exception.
rm "$entry" && mkdir "$entry"
for i in 1 2; do
  run
  expect "directory entry, run $i" "compiles=1 disk_hits=0"
  expect "directory entry, run $i" "cache_dir='$dir'"
  [[ "$out" != *bad_alloc* ]] || fail "directory entry: bad_alloc"
done
rmdir "$entry"

# --- A huge file where an entry should be (sparse: no disk space) is not read.
run
truncate -s 4G "$entry"
run
expect "4 GiB entry" "compiles=1 disk_hits=0"

# --- A symlink to a valid entry elsewhere is not followed.
other=$work/other
dir=$other run
expect "entry elsewhere" "compiles=1 disk_hits=0"
rm -f "$entry" && ln -s "$other/$(basename "$entry")" "$entry"
run
expect "symlinked entry" "compiles=1 disk_hits=0"
[ ! -L "$entry" ] || fail "the symlink was not replaced by an entry"

# --- Entries that should not be there warn once per process, however many there are.
dir=$work/rollout
run -- rollout
expect "rollout" "compiles=2 disk_hits=0"
for e in "$dir"/*.o; do rm "$e" && mkfifo "$e"; done
run -- rollout
expect "rollout on FIFOs" "compiles=2 disk_hits=0"
expect_count "rollout on FIFOs warns once" "not loading" 1
dir=$work/new/cache

# --- A bad size bound is a warning, not a failure.
run PHIJIT_CACHE_MAX_MB=lots
expect "PHIJIT_CACHE_MAX_MB=lots" "compiles=0 disk_hits=1"
expect_count "PHIJIT_CACHE_MAX_MB=lots warns" "PHIJIT_CACHE_MAX_MB='lots' is not a whole number" 1

# --- Files and directories of another user (only root can make them).
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
  chown nobody "$entry"
  run
  expect "entry of nobody" "compiles=1 disk_hits=0"
  chown nobody "$dir"
  run
  expect "directory of nobody" "compiles=1 disk_hits=0"
  expect "directory of nobody" "cache_dir=''"
  expect_count "directory of nobody warns" "not using $dir: it is owned by uid" 1
else
  echo "SKIPPED: files of another user (needs root and a user 'nobody')"
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures checks failed"
  exit 1
fi
echo "all checks passed"
