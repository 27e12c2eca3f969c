#!/bin/sh
# Runs thread_probe (path in $1) where no thread can start: under a limit of one process per
# user (prlimit --nproc=1), as the user "nobody" when run as root, which the limit exempts. The
# process-wide thread pool must warn and run on the calling thread alone: before that fallback,
# the process terminated. Exits 77 (skipped) when the limit cannot be applied here.
probe="$1"
command -v prlimit > /dev/null || { echo "prlimit is missing"; exit 77; }
as_user=""
if [ "$(id -u)" = 0 ]; then
  command -v setpriv > /dev/null || { echo "setpriv is missing"; exit 77; }
  as_user="setpriv --reuid=65534 --regid=65534 --clear-groups"
fi
# timeout: a hang is a failure too. In a sanitizer build LeakSanitizer's exit check needs a
# thread of its own, which the limit forbids.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
out=$(PHIJIT_NUM_THREADS=4 PHIJIT_LOG=warn timeout 60 prlimit --nproc=1 $as_user "$probe" 2>&1)
status=$?
echo "$out"
[ "$status" = 77 ] && exit 77
[ "$status" = 0 ] || { echo "FAIL: the probe exited with $status"; exit 1; }
echo "$out" | grep -q "could not start thread 2 of 4" || { echo "FAIL: no warning"; exit 1; }
echo "$out" | grep -q "threads: 1, sum: 499500" || { echo "FAIL: not the caller alone"; exit 1; }
