#!/usr/bin/env bash
# Usage: tests/KestrelWsTransport.Fuzz/run.sh TARGET [SECONDS]    TARGET: head | frame | utf8 | extensions
#
# Builds the fuzz harness (Release) into out/TARGET, instruments the copy of KestrelWsTransport.dll there with
# `dotnet sharpfuzz`, then runs AFL++ (Debian package afl++) for SECONDS (default 180) from corpus/TARGET with
# dict/TARGET.dict. Output goes to findings/TARGET (queue = grown corpus, crashes = property violations).
# Prints executions, corpus size, crashes and hangs; exits 1 if a crash was saved.
# Replay a corpus without AFL:  dotnet run -c Release --project tests/KestrelWsTransport.Fuzz -- replay TARGET DIR...
set -euo pipefail

target="${1:?usage: run.sh TARGET [SECONDS]}"
seconds="${2:-180}"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
case "$target" in head|frame|utf8|extensions) ;; *) echo "unknown target '$target'" >&2; exit 2;; esac
command -v afl-fuzz >/dev/null || { echo "afl-fuzz not found: apt-get install -y afl++" >&2; exit 2; }

out="$here/out/$target"          # one build per target, so several targets can run at once
findings="$here/findings/$target"
rm -rf "$out"
mkdir -p "$here/out"
cd "$repo"
# Builds of two targets started together share obj/: take turns (the fuzzing itself runs in parallel).
exec 9>"$here/out/.build.lock"
flock 9
dotnet tool restore >/dev/null
dotnet build "$here/KestrelWsTransport.Fuzz.csproj" -c Release -o "$out" -nologo -v q -clp:ErrorsOnly >/dev/null
dotnet sharpfuzz "$out/KestrelWsTransport.dll" >/dev/null
flock -u 9

# A previous run's findings are kept (renamed) rather than resumed, so each run is reported on its own.
if [ -d "$findings" ]; then rm -rf "$findings.prev"; mv "$findings" "$findings.prev"; fi
mkdir -p "$findings"

export AFL_SKIP_BIN_CHECK=1                      # the target is `dotnet`, not an afl-instrumented binary
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1  # containers rarely let us set core_pattern
export AFL_SKIP_CPUFREQ=1
export AFL_NO_UI=1
export AFL_NO_AFFINITY="${AFL_NO_AFFINITY:-1}"
export DOTNET_TieredPGO=0                       # steadier coverage between runs

dict=(); [ -f "$here/dict/$target.dict" ] && dict=(-x "$here/dict/$target.dict")
start=$(date +%s)
afl-fuzz -V "$seconds" -i "$here/corpus/$target" -o "$findings" "${dict[@]}" \
    -t 10000 -m none -- dotnet "$out/KestrelWsTransport.Fuzz.dll" fuzz "$target" > "$findings/afl.log" 2>&1 || {
    echo "afl-fuzz failed; last lines of $findings/afl.log:" >&2; tail -30 "$findings/afl.log" >&2; exit 1; }
elapsed=$(( $(date +%s) - start ))

stats="$findings/default/fuzzer_stats"
value() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
crashes="$(value saved_crashes)"; crashes="${crashes:-$(value unique_crashes)}"
hangs="$(value saved_hangs)"; hangs="${hangs:-$(value unique_hangs)}"
echo "target=$target seconds=$elapsed execs=$(value execs_done) execs_per_sec=$(value execs_per_sec)" \
     "corpus=$(value corpus_count) seeds=$(ls "$here/corpus/$target" | wc -l) edges=$(value edges_found)/$(value total_edges)" \
     "crashes=$crashes hangs=$hangs date=$(date -u +%Y-%m-%dT%H:%MZ)"
if [ "${crashes:-0}" != "0" ]; then
    echo "crashing inputs (replay each with: dotnet $out/KestrelWsTransport.Fuzz.dll once $target FILE):"
    ls "$findings/default/crashes" | grep -v README || true
    exit 1
fi
