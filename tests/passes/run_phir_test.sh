#!/usr/bin/env bash
# Runs the `// RUN:` lines of one tests/passes/*.phir file, MLIR-style, without lit:
#   run_phir_test.sh <file.phir> <phijit-opt> <FileCheck> [plugin.so]
# In a RUN line, %s is the file, %S its folder, phijit-opt and FileCheck are the tools given, %plugin the
# plugin, and `not cmd` succeeds when cmd fails. Every RUN line must pass (pipefail).
set -euo pipefail
file=$1 opt=$2 filecheck=$3 plugin=${4:-}
not() { ! "$@"; }
phijit-opt() { "$opt" "$@"; }
FileCheck() { "$filecheck" "$@"; }
export -f not phijit-opt FileCheck
export opt filecheck

runs=0
while IFS= read -r line; do
  command=${line#*RUN: }
  command=${command//%s/$file}
  command=${command//%S/$(dirname "$file")}
  command=${command//%plugin/$plugin}
  echo "RUN: $command"
  bash -o pipefail -c "$command"
  runs=$((runs + 1))
done < <(grep -E '^// RUN: ' "$file")
if [ "$runs" -eq 0 ]; then
  echo "$file has no RUN line" >&2
  exit 1
fi
