#!/usr/bin/env bash
# Prove that edgebert's base install (no torch) benches arm64 bundles (any task) on ARM64, under qemu-user emulation.
#
#   benchmarks/arm64_emulated.sh [--tiny] [--texts N] [--results DIR] [BUNDLE]
#
# 1. installs qemu-user-static, binfmt-support, mmdebstrap and arch-test if missing, registers qemu-aarch64;
# 2. builds an arm64 Debian bookworm minbase userland with python3 + python3-venv (cached);
# 3. downloads aarch64 cp311 wheels of the base install on this host (pip inside the chroot cannot verify TLS
#    here), builds edgebert's own wheel, installs both in a venv inside the userland with --no-index, and checks
#    that torch, transformers and optimum are not importable there;
# 4. runs `edgebert bench BUNDLE --real` in it as a Raspberry Pi 4 (QEMU_CPU=cortex-a72) and a Pi 5 (cortex-a76);
# 5. runs the same bench on this host and fails unless each emulated run's primary metric (accuracy, Spearman on
#    Lee or entity F1, by the bundle's task) and its agreement with the source model are within 0.5 point of the
#    host's; prints PASS/FAIL per bundle.
#
# BUNDLE must target aarch64 (edgebert export --target arm64|pi5), of any task. Without one, the script exports the
# default task model with `edgebert export --target arm64` (needs the compress extra and the cached default model),
# or with --tiny (or EDGEBERT_ARM64_TINY=1) one tiny int8 bundle per task, built in seconds from the test suite's
# builders (benchmarks/arm64/tiny_bundle.py): a trained classifier (200 texts), a random sentence-transformers
# model (Lee's 50 documents, 80 texts, 640 probe texts; needs gensim's wheel, as export does) and a trained tagger
# (80 sentences). --tiny checks at 0.01 point: any changed label, word tag or nearest neighbour fails it, and
# Spearman must agree to 1e-4 (measured: +2e-5; int8 embeddings differ by up to 1e-3 between x86 and ARM).
# --texts N scores only the first N texts (sentences) of the bundle's evaluation split (a random sample: the split
# is shuffled; an embedding bundle is always scored whole), on the host and under emulation alike: MiniLM's 1,275
# test texts take 10-40 CPU-minutes per emulated CPU model.
# Mind the resolution: one text is 100/N points, and int8 kernels round differently on x86 and ARM (the default
# int8 MiniLM bundle: 3 of 1,275 labels differ, +0.08 point; on the first 200 texts, 1 point), so a small sample
# can fail the 0.5-point check by chance.
#
# EMULATED LATENCY IS MEANINGLESS: qemu translates every ARM instruction in software, so the timings say nothing
# about a real board. What this proves is that the base install runs on aarch64 and scores the same there.
#
# Needs root (apt-get, mmdebstrap, binfmt_misc, mount, chroot). Idempotent: the userland, the wheels and the venv
# are cached in $EDGEBERT_ARM64_CACHE (default ~/.cache/edgebert/arm64) and rebuilt only when their inputs
# change; concurrent runs wait for each other. Other settings (environment):
#   EDGEBERT_PYTHON           host python with edgebert installed (default: python3 on PATH)
#   EDGEBERT_ARM64_CPUS       QEMU_CPU models to run (default: "cortex-a72 cortex-a76")
#   EDGEBERT_ARM64_TEXTS      same as --texts (default: every text of the split)
#   EDGEBERT_ARM64_ITERATIONS timed calls per latency configuration (default 3: latency is not the point here)
#   EDGEBERT_ARM64_THREADS    intra-op threads for every run (default 2)
#   EDGEBERT_ARM64_MIRROR     Debian mirror (default: the host's, from /etc/apt/sources.list*)
# Exit status: 0 PASS, 1 FAIL (a metric or a check), 2 bad usage or a setup step that cannot run here.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPERS=$REPO/benchmarks/arm64
CACHE=${EDGEBERT_ARM64_CACHE:-$HOME/.cache/edgebert/arm64}
PYTHON=${EDGEBERT_PYTHON:-python3}
CPUS=${EDGEBERT_ARM64_CPUS:-cortex-a72 cortex-a76}
ITERATIONS=${EDGEBERT_ARM64_ITERATIONS:-3}
THREADS=${EDGEBERT_ARM64_THREADS:-2}
TINY=${EDGEBERT_ARM64_TINY:-0}
TEXTS=${EDGEBERT_ARM64_TEXTS:-}
TOLERANCE_POINTS=0.5           # --tiny: 0.01 (set below)
SUITE=bookworm                # Debian 12: python 3.11, hence cp311 wheels
ROOTFS=$CACHE/rootfs-$SUITE-arm64
GUEST=/opt/edgebert           # where the venv, wheels, bundle and results live inside the userland
# Few timed calls and one batch size: under emulation a call is ~30-100x slower here, and only accuracy counts.
BENCH_ARGS=(--real --batch-sizes 1 --seq-lens 32 --warmup 1 --iterations "$ITERATIONS" --threads "$THREADS")

START=$(date +%s)
say() { printf '\n==> [%3ss] %s\n' "$(( $(date +%s) - START ))" "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit "${2:-2}"; }
meaningless() {
  echo "!! EMULATED LATENCY IS MEANINGLESS: qemu translates every ARM instruction in software (and its memory figures"
  echo "!! include qemu's own). This run checks that the base install works on aarch64 and that accuracy matches the"
  echo "!! host; never quote its timings."
}

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

# --- arguments and inputs: everything a user can get wrong is checked before anything is installed ---
BUNDLE=""
RESULTS=""
while (($#)); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --tiny) TINY=1 ;;
    --texts) (($# >= 2)) || die "--texts needs a number"; TEXTS=$2; shift ;;
    --texts=*) TEXTS=${1#*=} ;;
    --results) (($# >= 2)) || die "--results needs a directory"; RESULTS=$2; shift ;;
    --results=*) RESULTS=${1#*=} ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [[ -z $BUNDLE ]] || die "give one bundle, got '$BUNDLE' and '$1'"; BUNDLE=$1 ;;
  esac
  shift
done
[[ $TINY == 1 && -n $BUNDLE ]] && die "--tiny exports its own bundles; give either --tiny or BUNDLE"
[[ $TINY == 1 ]] && TOLERANCE_POINTS=0.01
[[ -z $TEXTS || $TEXTS =~ ^[1-9][0-9]*$ ]] || die "--texts (EDGEBERT_ARM64_TEXTS) must be a whole number >= 1, got '$TEXTS'"
[[ $ITERATIONS =~ ^[1-9][0-9]*$ ]] || die "EDGEBERT_ARM64_ITERATIONS must be a whole number >= 1, got '$ITERATIONS'"
[[ $THREADS =~ ^[0-9]+$ ]] || die "EDGEBERT_ARM64_THREADS must be a whole number, got '$THREADS'"
"$PYTHON" -c 'import edgebert' 2>/dev/null \
  || die "$PYTHON cannot import edgebert; install it (pip install -e .) or set EDGEBERT_PYTHON to a python that can"
if [[ -n $BUNDLE ]]; then
  [[ -f $BUNDLE/manifest.json ]] || die "$BUNDLE is not a bundle (no manifest.json); export one with: edgebert export --target arm64 --out DIR"
  arch=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["target"].get("arch", "?"))' "$BUNDLE/manifest.json" 2>/dev/null) \
    || die "$BUNDLE/manifest.json is not a readable bundle manifest"
  [[ $arch == aarch64 ]] || die "$BUNDLE targets $arch, not aarch64; export it with --target arm64 (Pi 4) or --target pi5"
  [[ -z $TEXTS || -f $BUNDLE/eval.jsonl ]] || die "$BUNDLE has no eval.jsonl to take --texts from"
  BUNDLE=$(cd "$BUNDLE" && pwd)
fi
[[ $(id -u) == 0 ]] || die "needs root: it installs packages, registers binfmt_misc and runs chroot (try: sudo -E $0)"
for tool in flock unshare chroot mount; do command -v "$tool" >/dev/null || die "$tool is missing (util-linux/coreutils)"; done

meaningless
mkdir -p "$CACHE"
RESULTS=${RESULTS:-$CACHE/results}
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
exec 9>"$CACHE/lock"
flock -n 9 || { echo "another arm64_emulated.sh run holds $CACHE/lock; waiting for it"; flock 9; }
rm -f "$RESULTS"/results-*.json   # a failed run must not leave an older run's figures to be compared
WORK=$(mktemp -d "${TMPDIR:-/tmp}/edgebert-arm64.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# A cached userland must never be deleted while something is mounted inside it (rm -rf would follow /dev).
assert_unmounted() {
  if grep -q " $1/" /proc/self/mountinfo; then die "something is still mounted under $1; unmount it, then rerun"; fi
}

# --- 1. tools and binfmt ---
need=()
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v update-binfmts >/dev/null || need+=(binfmt-support)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v arch-test >/dev/null || need+=(arch-test)   # mmdebstrap uses it to check foreign-arch support
if ((${#need[@]})); then
  say "installing ${need[*]}"
  command -v apt-get >/dev/null || die "apt-get is missing: install ${need[*]} with your package manager"
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
BINFMT=/proc/sys/fs/binfmt_misc
[[ -e $BINFMT/register ]] || mount -t binfmt_misc binfmt_misc "$BINFMT" \
  || die "cannot mount binfmt_misc (a container without privileges?); run on a VM or a privileged container"
if ! head -1 "$BINFMT/qemu-aarch64" 2>/dev/null | grep -qx enabled; then update-binfmts --enable qemu-aarch64; fi
head -1 "$BINFMT/qemu-aarch64" | grep -qx enabled || die "qemu-aarch64 is not registered with binfmt_misc"
# F (fix-binary): the kernel opened qemu at registration, so the chroot needs no copy of it.
grep -q '^flags:.*F' "$BINFMT/qemu-aarch64" || die "qemu-aarch64's binfmt entry lacks the F flag; reinstall qemu-user-static"
echo "qemu: $(qemu-aarch64-static --version | head -1)"

# --- 2. arm64 userland (cached) ---
host_mirror() {
  # The first non-security Debian URI the host's apt uses (deb822 .sources or one-line .list), else deb.debian.org.
  local files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources) uri
  uri=$(cat "${files[@]}" 2>/dev/null | sed -nE 's/^URIs:[[:space:]]*([^[:space:]]+).*/\1/p; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p' \
        | grep -E '/debian/?$' | grep -v security | head -1) || true
  echo "${uri:-http://deb.debian.org/debian}"
}
if [[ ! -f $ROOTFS/.edgebert-ready ]]; then
  MIRROR=${EDGEBERT_ARM64_MIRROR:-$(host_mirror)}
  say "building the arm64 $SUITE userland from $MIRROR (once; ~6 min)"
  for d in "$ROOTFS" "$ROOTFS.tmp"; do assert_unmounted "$d"; rm -rf "$d"; done
  mmdebstrap --quiet --arch=arm64 --variant=minbase --include=python3,python3-venv "$SUITE" "$ROOTFS.tmp" "$MIRROR"
  touch "$ROOTFS.tmp/.edgebert-ready"
  mv "$ROOTFS.tmp" "$ROOTFS"
fi

# Run a command in the userland as a given CPU. Its own mount namespace: /dev and /proc vanish with it, so no
# mount outlives the script. /sys is NOT mounted: Debian 12's qemu 7.2 misbehaves with it.
in_arm64() {
  local cpu=$1; shift
  # shellcheck disable=SC2016  # $1, $r and $@ belong to the inner shell
  unshare --mount --propagation private -- /bin/bash -c \
    'set -e; r=$1; shift; mount --bind /dev "$r/dev"; mount -t proc proc "$r/proc"; exec chroot "$r" "$@"' \
    in-arm64 "$ROOTFS" /usr/bin/env -i PATH="$GUEST/venv/bin:/usr/bin:/bin" HOME=/root LANG=C.UTF-8 COLUMNS=120 \
    QEMU_CPU="$cpu" EDGEBERT_EMULATED=1 "$@"
}
[[ $(in_arm64 cortex-a72 uname -m) == aarch64 ]] || die "the userland in $ROOTFS does not run as aarch64; delete it to rebuild"

# --- 3. the base install from aarch64 wheels (downloaded on the host, cached by what they are) ---
"$PYTHON" "$HELPERS/base_requirements.py" "$REPO/pyproject.toml" >"$WORK/requirements.txt"
PLATFORMS=(--platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64)
KEY=$( (cat "$WORK/requirements.txt"; echo "${PLATFORMS[*]} cp311") | sha256sum | cut -c1-16)
WHEELS=$CACHE/wheels/$KEY
if [[ ! -f $WHEELS/.complete ]]; then
  say "downloading aarch64 cp311 wheels for: $(tr '\n' ' ' <"$WORK/requirements.txt")"
  rm -rf "$WHEELS.tmp"
  "$PYTHON" -m pip download --quiet --disable-pip-version-check --only-binary=:all: "${PLATFORMS[@]}" \
    --python-version 3.11 --implementation cp --abi cp311 -r "$WORK/requirements.txt" -d "$WHEELS.tmp"
  cp "$WORK/requirements.txt" "$WHEELS.tmp/requirements.txt"
  touch "$WHEELS.tmp/.complete"
  rm -rf "$WHEELS"; mv "$WHEELS.tmp" "$WHEELS"
fi
say "building edgebert's wheel (pure Python) from $REPO"
"$PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$WORK/dist" "$REPO"
EDGEBERT_WHEEL=$(basename "$(ls "$WORK"/dist/edgebert-*.whl)")

if [[ $(cat "$ROOTFS$GUEST/venv/.wheels-key" 2>/dev/null) != "$KEY" ]]; then
  say "creating the venv in the userland and installing the base install (--no-index, under emulation)"
  rm -rf "${ROOTFS:?}$GUEST/venv" "${ROOTFS:?}$GUEST/wheels"
  mkdir -p "$ROOTFS$GUEST"
  cp -r "$WHEELS" "$ROOTFS$GUEST/wheels"
  in_arm64 cortex-a72 python3 -m venv "$GUEST/venv"
  in_arm64 cortex-a72 pip install --quiet --disable-pip-version-check --no-index --find-links "$GUEST/wheels" \
    -r "$GUEST/wheels/requirements.txt"
  echo "$KEY" >"$ROOTFS$GUEST/venv/.wheels-key"
fi
rm -rf "${ROOTFS:?}$GUEST/dist"; mkdir -p "$ROOTFS$GUEST/dist"
cp "$WORK/dist/$EDGEBERT_WHEEL" "$ROOTFS$GUEST/dist/"
# The dependencies resolve from the aarch64 wheels alone; edgebert itself is reinstalled on every run.
in_arm64 cortex-a72 pip install --quiet --disable-pip-version-check --no-index --find-links "$GUEST/wheels" \
  --force-reinstall --no-deps "$GUEST/dist/$EDGEBERT_WHEEL"
in_arm64 cortex-a72 pip check --disable-pip-version-check
# Nothing torch-side is installed, so any import of it on the bench path (any task's scorer) fails the run.
heavy=$(in_arm64 cortex-a72 python -c 'import importlib.util as u; print(*(m for m in ("torch", "transformers", "optimum") if u.find_spec(m)))')
[[ -z $heavy ]] || die "$heavy importable in the base install's venv; the base install must not need it" 1
echo "base install OK: $(in_arm64 cortex-a72 pip list --disable-pip-version-check --format=freeze | grep -iE '^(edgebert|onnxruntime|numpy|tokenizers)==' | tr '\n' ' ')(torch, transformers, optimum absent)"

# --- 4. the bundles: the one given, or with --tiny one tiny model per task, exported on this host ---
task_of() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("task_type") or "sequence-classification")' "$1/manifest.json"; }
NAMES=()
declare -A PATHS
if [[ -n $BUNDLE ]]; then
  NAMES=(bundle); PATHS[bundle]=$BUNDLE
elif [[ $TINY == 1 ]]; then
  for task in sequence-classification sentence-embedding token-classification; do
    say "exporting a tiny $task model as an arm64 bundle"
    "$PYTHON" "$HELPERS/tiny_bundle.py" "$WORK/$task" --task "$task"
    NAMES+=("$task"); PATHS[$task]=$WORK/$task
  done
else
  say "exporting the default task model: edgebert export --target arm64"
  "$PYTHON" -c 'from edgebert.cli import main; main()' export --target arm64 --out "$WORK/bundle"
  NAMES=(bundle); PATHS[bundle]=$WORK/bundle
fi

# --- 5. bench each bundle: emulated per CPU model, then the host; compare its primary metric and agreement ---
# onnxruntime's cpuinfo cannot read /sys here (not mounted, on purpose) and says so on stderr; it then takes the
# dot-product and i8mm flags from AT_HWCAP, which qemu sets from QEMU_CPU: Cortex-A72 (Pi 4) has no dot-product,
# Cortex-A76 (Pi 5) has it. compare_accuracy.py checks that the results document saw exactly that.
rm -rf "${ROOTFS:?}$GUEST/bundle" "${ROOTFS:?}$GUEST/bundles" "${ROOTFS:?}$GUEST/results"
mkdir -p "$ROOTFS$GUEST/bundles" "$ROOTFS$GUEST/results"
status=0
verdicts=()
for name in "${NAMES[@]}"; do
  bundle=${PATHS[$name]}
  task=$(task_of "$bundle")
  cp -r "$bundle" "$ROOTFS$GUEST/bundles/$name"
  HOST_ARGS=("${BENCH_ARGS[@]}")
  GUEST_ARGS=("${BENCH_ARGS[@]}")
  if [[ -n $TEXTS && $task == sentence-embedding ]]; then
    echo "--texts does not apply to the $task bundle (bench scores the texts its export packed): scoring them all"
  elif [[ -n $TEXTS ]]; then
    head -n "$TEXTS" "$bundle/eval.jsonl" >"$ROOTFS$GUEST/results/eval-$name-first-$TEXTS.jsonl"
    HOST_ARGS+=(--dataset "$ROOTFS$GUEST/results/eval-$name-first-$TEXTS.jsonl")
    GUEST_ARGS+=(--dataset "$GUEST/results/eval-$name-first-$TEXTS.jsonl")
  fi
  compare=()
  for cpu in $CPUS; do
    say "$name ($task): edgebert bench under qemu as $cpu"
    in_arm64 "$cpu" edgebert bench "$GUEST/bundles/$name" "${GUEST_ARGS[@]}" --out "$GUEST/results/results-$name-$cpu.json"
    cp "$ROOTFS$GUEST/results/results-$name-$cpu.json" "$RESULTS/"
    compare+=("$cpu=$RESULTS/results-$name-$cpu.json")
  done
  say "$name ($task): edgebert bench on this host ($(uname -m)), same bundle and settings"
  "$PYTHON" -c 'from edgebert.cli import main; main()' bench "$bundle" "${HOST_ARGS[@]}" --out "$RESULTS/results-$name-host.json"
  rc=0
  "$PYTHON" "$HELPERS/compare_accuracy.py" --tolerance-points "$TOLERANCE_POINTS" "$RESULTS/results-$name-host.json" "${compare[@]}" || rc=$?
  ((rc == 0)) && verdicts+=("PASS $task") || verdicts+=("FAIL $task")
  ((rc <= status)) || status=$rc
done

meaningless
echo
printf '%s\n' "${verdicts[@]}"
echo "results: $RESULTS; took $(( $(date +%s) - START )) s"
exit "$status"
