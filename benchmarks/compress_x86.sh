#!/usr/bin/env bash
# The compress figures in the README, regenerated: the fast-x86 recipe (structured pruning + distillation + int8)
# against the plain int8 export of the default task model, and distillation against plain fine-tuning on the labels
# (same pruned model, same steps: kd_weight = 0). About 15 minutes on 2 quiet cores.
#
#   benchmarks/compress_x86.sh [WORK_DIR]        # default build/compress-x86; its reports/ holds compress-x86.md and
#   python -m benchmarks.publish WORK_DIR        # compress-x86-ab.json, which this copies into reports/
#
# Every figure in the report is read from this run's files: the models' stage records (dev accuracy), the bundles'
# `edgebert bench --real` results (test accuracy, latency one bundle after the other) and benchmarks/compress_ab.py
# (latency ratios with the bundles interleaved, which is what to quote on a shared machine).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-build/compress-x86}
mkdir -p "$work/reports"
recipe=benchmarks/recipes/fast-x86.toml
started=$(date -u +%FT%TZ)
sha=$(git rev-parse --short HEAD)
log() { echo "== $*" >&2; }

log "compress: $recipe (distillation), then the same with kd_weight 0 (fine-tuning on labels, no teacher)"
edgebert compress --recipe "$recipe" --out "$work/fast-model" --force
edgebert compress --recipe "$recipe" --name fast-x86-no-teacher --distill-kd-weight 0 --out "$work/no-teacher-model" --force
log "export for x86: the default model (plain int8) and both compressed models"
edgebert export --target x86 --out "$work/int8" --force
edgebert export --target x86 --model "$work/fast-model" --out "$work/fast" --force
edgebert export --target x86 --model "$work/no-teacher-model" --out "$work/no-teacher" --force
log "bench --real, one bundle after the other"
for b in int8 fast no-teacher; do
  edgebert bench "$work/$b" --real --batch-sizes 1,8 --out "$work/$b.json"
done
log "interleaved latency (benchmarks/compress_ab.py)"
python benchmarks/compress_ab.py "$work/int8" "$work/fast" --rounds 60 --calls 20 --out "$work/reports/compress-x86-ab.json" > "$work/ab.txt"

python benchmarks/compress_x86_report.py "$work" "$started" "$sha" > "$work/reports/compress-x86.md"
edgebert report "$work/int8.json" "$work/fast.json" "$work/no-teacher.json" --baseline "$work/int8.json" >> "$work/reports/compress-x86.md"
log "wrote $work/reports/compress-x86.md and compress-x86-ab.json; publish with: python -m benchmarks.publish $work"
