"""PASS/FAIL: does the bundle score the same under emulated ARM64 as on this host? Stdlib only.

Reads bench results documents (the JSON `edgebert bench --out` writes) of one bundle: one from the host and one per
emulated CPU model. Each emulated run passes when it ran on aarch64, says it was emulated, saw the pinned CPU's
dot-product flag, benched the same bundle on the same evaluation data, and both its task's primary metric
(`metric_value`: accuracy, Spearman on Lee, entity F1) and its agreement with the source model
(`agreement_with_reference`: labels, nearest neighbours, word tags) are within TOLERANCE points (x100) of the host's.
Latency is printed only to say that it is meaningless here.

usage: python compare_accuracy.py --tolerance-points 0.5 HOST.json CPU=EMULATED.json [CPU=EMULATED.json ...]
exit status: 0 all passed, 1 a check failed, 2 a results file is missing or unreadable.
"""

from __future__ import annotations

import argparse
import json
import sys


def load(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: cannot read bench results {path}: {exc}", file=sys.stderr)
        sys.exit(2)
    if doc.get("kind") != "bench-results":
        print(f"error: {path} is not a bench results document (kind={doc.get('kind')!r})", file=sys.stderr)
        sys.exit(2)
    return doc


def real_p50_ms(doc: dict) -> str:
    rows = [r for r in doc.get("latency", []) if r.get("mode") == "real"]
    return f"{rows[0]['p50_ms']:.1f} ms" if rows else "-"


# Whether each board's CPU has the ARMv8.2 dot-product instructions (`asimddp`) onnxruntime's int8 kernels use.
DOTPROD = {"cortex-a53": False, "cortex-a72": False, "cortex-a55": True, "cortex-a76": True}


def dotprod(doc: dict) -> str:
    return "yes" if "asimddp" in doc["environment"].get("cpu_features", []) else "no"


def problems(host: dict, emu: dict, cpu: str, tolerance_points: float) -> list[str]:
    """Every reason this emulated run does not count as the same result as the host's (empty: PASS)."""
    found = []
    env = emu["environment"]
    if cpu in DOTPROD and (dotprod(emu) == "yes") != DOTPROD[cpu]:
        found.append(f"QEMU_CPU={cpu} did not take effect (dot-product {dotprod(emu)})")
    if env.get("arch") != "aarch64":
        found.append(f"arch is {env.get('arch')!r}, not aarch64")
    if env.get("emulated") is not True:
        found.append("the results document does not mark the run as emulated")
    if emu["bundle"]["sha256"] != host["bundle"]["sha256"]:
        found.append("a different bundle than the host's (sha256 differs)")
    if emu["accuracy"]["dataset_sha256"] != host["accuracy"]["dataset_sha256"]:
        found.append("different evaluation data than the host's")
    h, e = host["accuracy"], emu["accuracy"]
    if task(e) != task(h):
        found.append(f"task {task(e)!r}, the host's {task(h)!r}")
    for get, label in ((primary, metric_name(h)), (agreement, "agreement with the source")):
        if (get(h) is None) != (get(e) is None):
            found.append(f"{label} is missing on one side")
        elif get(h) is not None and (diff := abs(get(e) - get(h)) * 100) > tolerance_points:
            found.append(f"{label} differs from the host's by {diff:.3f} points (> {tolerance_points})")
    return found


# A results document's quality section: every scorer stamps its task, the primary metric's name and value.
# A classifier's document from before task types has none of them: its accuracy is the metric.
def task(acc: dict) -> str:
    return acc.get("task_type") or "sequence-classification"


def metric_name(acc: dict) -> str:
    return acc.get("metric") or "accuracy"


def primary(acc: dict) -> float | None:
    return acc["metric_value"] if "metric_value" in acc else acc.get("accuracy")


def agreement(acc: dict) -> float | None:
    return acc.get("agreement_with_reference")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tolerance-points", type=float, default=0.5)
    parser.add_argument("host")
    parser.add_argument("emulated", nargs="+", help="CPU=results.json")
    args = parser.parse_args()
    host = load(args.host)
    runs = [(spec.split("=", 1)[0], load(spec.split("=", 1)[1])) for spec in args.emulated]

    h_acc = host["accuracy"]
    name, task_name = metric_name(h_acc), task(h_acc)
    print(
        f"\n{task_name} bundle {host['bundle']['label']} ({host['bundle']['sha256'][:12]}), "
        f"{h_acc['size']} texts of {h_acc['dataset']}; primary metric {name}; "
        f"tolerance {args.tolerance_points} points (x100) on it and on agreement with the source"
    )
    print(
        f"{'run':<18}{'arch':<9}{'dotprod':<9}{name:>12}{'Δ points':>10}{'agree w/ ref':>14}{'real p50':>12}  verdict"
    )
    print(
        f"{'host':<18}{host['environment'].get('arch', '?'):<9}{'-':<9}"
        f"{primary(h_acc):>12.6f}{'':>10}{_agree(h_acc):>14}{real_p50_ms(host):>12}"
    )
    failed = False
    for cpu, emu in runs:
        bad = problems(host, emu, cpu, args.tolerance_points)
        failed |= bool(bad)
        acc = emu["accuracy"]
        delta = (primary(acc) - primary(h_acc)) * 100
        print(
            f"{'qemu ' + cpu:<18}{emu['environment'].get('arch', '?'):<9}{dotprod(emu):<9}{primary(acc):>12.6f}{delta:>+10.4f}"
            f"{_agree(acc):>14}{real_p50_ms(emu) + '*':>12}  {'FAIL: ' + '; '.join(bad) if bad else 'PASS'}"
        )
    print("* emulated latency is MEANINGLESS (qemu translates every ARM instruction in software); do not quote it.")
    cpus = ", ".join(cpu for cpu, _ in runs)
    if failed:
        print(f"\nFAIL {task_name}: an emulated ARM64 run ({cpus}) failed a check; see the verdicts above")
    else:
        print(
            f"\nPASS {task_name}: {name} and agreement with the source under emulated ARM64 match the host's within "
            f"{args.tolerance_points} point for {cpus}"
        )
    return 1 if failed else 0


def _agree(acc: dict) -> str:
    value = agreement(acc)
    return "-" if value is None else f"{value:.4%}"


if __name__ == "__main__":
    sys.exit(main())
