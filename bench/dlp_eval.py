# ruff: noqa: E501  (corpus templates and report rows read better unwrapped)
"""DLP detection accuracy and speed, Bordergate side by side with detect-secrets and credsweeper.

    python bench/dlp_eval.py                 # everything; writes bench/results/dlp-eval.md
    python bench/dlp_eval.py --no-peers      # Bordergate only (what the tests run)

Accuracy on the labelled corpus (tests/data/dlp-corpus/corpus.jsonl, built by
bench/dlp_corpus_gen.py):
- per class, span level: a label is found when a finding of its class overlaps it; a finding
  is correct when it overlaps a label of its class. `source_code` is judged per sample.
- secrets, line level, for all three tools (the peers report lines, not spans): a labelled
  secret is found when a reported line falls inside it; a reported line is a false positive
  when it is inside no labelled secret.
Peers are installed into a SEPARATE venv (bench/.eval-venv) and run as subprocesses.
Also: recall/precision per entity type on ../shared/data/presidio-synth/synth_dataset_v2.json,
and throughput (MB/s, one core) plus p50/p99 for 4 KB prompts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from bordergate.dlp import prefilter  # noqa: E402
from bordergate.dlp.config import DlpConfig  # noqa: E402
from bordergate.dlp.request import scan_request  # noqa: E402
from bordergate.dlp.scanner import ScanCache, Scanner  # noqa: E402

CORPUS = ROOT / "tests/data/dlp-corpus/corpus.jsonl"
PRESIDIO = ROOT.parent / "shared/data/presidio-synth/synth_dataset_v2.json"
if not PRESIDIO.exists():
    PRESIDIO = Path("/work/shared/data/presidio-synth/synth_dataset_v2.json")
VENV = ROOT / "bench/.eval-venv"
SPAN_CLASSES = ("secret", "personal_data", "confidential")
#: The organisation dictionary the corpus's confidential samples use (a config, not tuning).
EVAL_CONFIG = DlpConfig(
    dictionaries={"codenames": ["Project Nightjar", "Operation Bluefin", "Kestrel-7", "青龙计划"]},
    scan_timeout_ms=10_000,
)

Sample = dict[str, Any]


def load_corpus(path: Path = CORPUS) -> list[Sample]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _overlap(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 < b1 and b0 < a1


def prf(tp_found: int, n_found: int, tp_labels: int, n_labels: int) -> dict[str, float]:
    p = tp_found / n_found if n_found else 1.0
    r = tp_labels / n_labels if n_labels else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "labels": n_labels, "findings": n_found}


def evaluate_bordergate(
    samples: list[Sample], scanner: Scanner
) -> tuple[dict[str, dict[str, float]], dict[str, list[int]], list[str]]:
    """Per-class metrics; also Bordergate's reported secret lines per sample and error notes."""
    counts = {c: [0, 0, 0, 0] for c in SPAN_CLASSES}  # tp_found, found, tp_labels, labels
    code = [0, 0, 0, 0]
    lines: dict[str, list[int]] = {}
    notes: list[str] = []
    for s in samples:
        text: str = s["text"]
        findings = scanner.scan(text)
        for cls in SPAN_CLASSES:
            labels = [lab for lab in s["labels"] if lab["class"] == cls]
            found = [f for f in findings if f.cls == cls]
            c = counts[cls]
            c[1] += len(found)
            c[3] += len(labels)
            for f in found:
                if any(_overlap(f.start, f.end, lab["start"], lab["end"]) for lab in labels):
                    c[0] += 1
                elif len(notes) < 60:
                    notes.append(f"FP {cls} {f.rule} in {s['id']} ({s['kind']})")
            for lab in labels:
                if any(_overlap(f.start, f.end, lab["start"], lab["end"]) for f in found):
                    c[2] += 1
                elif len(notes) < 60:
                    notes.append(f"FN {cls} {lab['kind']} in {s['id']} ({s['context']})")
        is_code = any(lab["class"] == "source_code" for lab in s["labels"])
        flagged = any(f.cls == "source_code" for f in findings)
        code[0] += is_code and flagged
        code[1] += flagged
        code[2] += is_code and flagged
        code[3] += is_code
        lines[s["id"]] = sorted(
            {text.count("\n", 0, f.start) + 1 for f in findings if f.cls == "secret"}
        )
    metrics = {c: prf(*counts[c]) for c in SPAN_CLASSES}
    metrics["source_code"] = prf(*code)
    return metrics, lines, notes


def line_metrics(samples: list[Sample], reported: dict[str, list[int]]) -> dict[str, float]:
    """Line-level secret precision/recall for any tool's reported lines."""
    tp_found = found = tp_labels = labels = 0
    for s in samples:
        text = s["text"]
        ranges = [
            (
                text.count("\n", 0, lab["start"]) + 1,
                text.count("\n", 0, max(lab["start"], lab["end"] - 1)) + 1,
            )
            for lab in s["labels"]
            if lab["class"] == "secret"
        ]
        rep = sorted(set(reported.get(s["id"], [])))
        found += len(rep)
        tp_found += sum(1 for ln in rep if any(a <= ln <= b for a, b in ranges))
        labels += len(ranges)
        tp_labels += sum(1 for a, b in ranges if any(a <= ln <= b for ln in rep))
    return prf(tp_found, found, tp_labels, labels)


def kind_recall(
    samples: list[Sample], reported: dict[str, list[int]]
) -> dict[str, tuple[int, int]]:
    """Line-level recall per secret kind (found, total), to show where each tool is blind."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s in samples:
        text = s["text"]
        rep = set(reported.get(s["id"], []))
        for lab in s["labels"]:
            if lab["class"] != "secret":
                continue
            a = text.count("\n", 0, lab["start"]) + 1
            b = text.count("\n", 0, max(lab["start"], lab["end"] - 1)) + 1
            kind = str(lab["kind"]).split(":")[0]
            out[kind][1] += 1
            out[kind][0] += any(a <= ln <= b for ln in rep)
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}


# --- peers -----------------------------------------------------------------------------------


def ensure_peer_venv() -> tuple[Path | None, str]:
    """Create bench/.eval-venv with detect-secrets and credsweeper (never the project venv)."""
    bin_dir = VENV / "bin"
    if VENV.exists():
        (VENV / ".gitignore").write_text("*\n")  # keep git and linters out of the venv
    if (bin_dir / "detect-secrets").exists() and (bin_dir / "credsweeper").exists():
        return bin_dir, ""
    try:
        if not (bin_dir / "python").exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True
            )
        subprocess.run(
            [str(bin_dir / "pip"), "install", "-q", "detect-secrets", "credsweeper"],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        return None, f"could not install peers: {(exc.stderr or '')[-400:]}"
    return bin_dir, ""


def write_samples(samples: list[Sample], root: Path) -> dict[str, str]:
    names = {}
    for s in samples:
        name = f"{s['id']}{s.get('ext') or '.txt'}"
        (root / name).write_text(s["text"], encoding="utf-8")
        names[name] = s["id"]
    return names


def run_detect_secrets(
    bin_dir: Path, root: Path, names: dict[str, str]
) -> tuple[dict[str, list[int]], float]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [str(bin_dir / "detect-secrets"), "scan", "--all-files", "."],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    dt = time.perf_counter() - t0
    data = json.loads(out.stdout)
    rep: dict[str, list[int]] = defaultdict(list)
    for fname, items in data.get("results", {}).items():
        sid = names.get(Path(fname).name)
        if sid:
            rep[sid].extend(int(i["line_number"]) for i in items)
    return rep, dt


def run_credsweeper(
    bin_dir: Path, root: Path, names: dict[str, str]
) -> tuple[dict[str, list[int]], float]:
    out_json = root.parent / "credsweeper.json"
    t0 = time.perf_counter()
    subprocess.run(
        [
            str(bin_dir / "credsweeper"),
            "--path",
            str(root),
            "--save-json",
            str(out_json),
            "--no-stdout",
            "--jobs",
            "1",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    dt = time.perf_counter() - t0
    rep: dict[str, list[int]] = defaultdict(list)
    for cand in json.loads(out_json.read_text()):
        for ld in cand.get("line_data_list", []):
            sid = names.get(Path(ld["path"]).name)
            if sid:
                rep[sid].append(int(ld["line_num"]))
    return rep, dt


# --- presidio ---------------------------------------------------------------------------------

PRESIDIO_MAP = {
    "EMAIL_ADDRESS": {"email"},
    "PHONE_NUMBER": {"phone", "phone-cn-mobile"},
    "CREDIT_CARD": {"payment-card"},
    "IBAN_CODE": {"iban"},
    "IP_ADDRESS": {"ipv4", "ipv6"},
    "US_SSN": {"us-ssn"},
}


def evaluate_presidio(scanner: Scanner, path: Path = PRESIDIO) -> dict[str, dict[str, float]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    c: dict[str, list[int]] = {t: [0, 0, 0, 0] for t in PRESIDIO_MAP}
    for x in data:
        text = x["full_text"]
        findings = scanner.scan(text)
        for t, rules in PRESIDIO_MAP.items():
            spans = [
                (s["start_position"], s["end_position"])
                for s in x["spans"]
                if s["entity_type"] == t
            ]
            found = [f for f in findings if f.rule in rules]
            c[t][1] += len(found)
            c[t][0] += sum(
                1 for f in found if any(_overlap(f.start, f.end, a, b) for a, b in spans)
            )
            c[t][3] += len(spans)
            c[t][2] += sum(
                1 for a, b in spans if any(_overlap(f.start, f.end, a, b) for f in found)
            )
    return {t: prf(*v) for t, v in c.items()}


# --- real third-party code: how often do secrets fire where there are (almost) none? -------


def evaluate_real_code(scanner: Scanner, limit: int = 2500) -> dict[str, Any]:
    """Scan installed third-party Python sources (every 7th file): findings per class.

    Not labelled; almost every secret finding here is a false positive (or a test fixture),
    so it is an honest check of precision on text nobody wrote for this corpus.
    """
    import sysconfig

    root = Path(sysconfig.get_paths()["purelib"])
    files = sorted(root.rglob("*.py"))[::7][:limit]
    counts: Counter[str] = Counter()
    examples: list[str] = []
    size = 0
    for fn in files:
        try:
            text = fn.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        size += len(text.encode())
        for f in scanner.scan(text):
            counts[f.cls] += 1
            if f.cls == "secret" and len(examples) < 10:
                examples.append(f"{fn.relative_to(root)}: {f.rule}")
    return {"files": len(files), "mb": size / 1e6, "counts": dict(counts), "examples": examples}


# --- speed -------------------------------------------------------------------------------------


def mixed_text(rng: random.Random, size: int) -> str:
    prose = "The quarterly planning meeting covered the roadmap for the billing service, token limits for the assistant and the password reset flow. "
    code = (ROOT / "src/bordergate/dlp/scanner.py").read_text(encoding="utf-8")
    js = json.dumps(
        {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "summarise this"}],
            "max_tokens": 512,
        }
    )
    log = "2026-11-24T04:20:25Z INFO request id=5f2c9a31 path=/v1/chat/completions status=200 latency_ms=123\n"
    zh = "我们在本季度的规划会议上讨论了新计费服务的路线图，包括迁移步骤、助手的令牌限制以及密码重置流程。\n"
    pieces = [prose, code[: rng.randint(500, 3000)], js, log * 5, zh * 3]
    out: list[str] = []
    n = 0
    while n < size:
        p = rng.choice(pieces)
        out.append(p)
        n += len(p.encode())
    return "".join(out)


def measure_speed(scanner: Scanner, repeat: int = 5) -> dict[str, float]:
    """Throughput and 4 KB latency with the result cache OFF (every scan does the work), plus
    a 20-turn agent conversation re-sent each turn with the cache ON, and a 256 KiB paste."""
    cache = scanner.cache
    scanner.cache = None
    rng = random.Random(7)
    big = mixed_text(rng, 2_000_000)
    nbytes = len(big.encode())
    best = min(_timed(scanner, big) for _ in range(repeat))
    prompts = [mixed_text(rng, 4096).encode()[:4096].decode("utf-8", "ignore") for _ in range(200)]
    lat: list[float] = []
    per_prompt_best: list[float] = []
    for p in prompts:
        runs = [_timed(scanner, p) for _ in range(5)]
        lat.extend(runs[:3])
        per_prompt_best.append(min(runs))
    lat.sort()
    per_prompt_best.sort()
    source = (ROOT / "src/bordergate/dlp/rules_secrets.py").read_text(encoding="utf-8")
    paste = (source * (256 * 1024 // len(source) + 1))[: 256 * 1024]
    paste_ms = min(_timed(scanner, paste) for _ in range(3)) * 1e3
    uncached, cached = _conversation(scanner, None), _conversation(scanner, ScanCache())
    scanner.cache = cache
    return {
        "mb_per_s": nbytes / 1e6 / best,
        "p50_ms": statistics.median(lat) * 1e3,
        "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1e3,
        "best_p50_ms": statistics.median(per_prompt_best) * 1e3,
        "best_p99_ms": per_prompt_best[int(len(per_prompt_best) * 0.99) - 1] * 1e3,
        "paste_256k_ms": paste_ms,
        "conv_uncached_ms": uncached,
        "conv_cached_ms": cached,
    }


def _conversation(scanner: Scanner, cache: ScanCache | None, turns: int = 20) -> float:
    """Total scan time (ms) of an agent conversation whose whole history is re-sent each
    turn: a 3 KB system prompt with tool definitions, then a ~1 KB user and assistant turn."""
    rng = random.Random(11)
    scanner.cache = cache
    messages: list[dict[str, str]] = [{"role": "system", "content": mixed_text(rng, 3000)}]
    total = 0.0
    for _ in range(turns):
        messages.append({"role": "user", "content": mixed_text(rng, 1000)})
        body = {"messages": [dict(m) for m in messages]}
        t0 = time.perf_counter()
        scan_request(body, scanner)
        total += time.perf_counter() - t0
        messages.append({"role": "assistant", "content": mixed_text(rng, 1000)})
    scanner.cache = None
    return total * 1e3


def _timed(scanner: Scanner, text: str) -> float:
    t0 = time.perf_counter()
    scanner.scan(text)
    return time.perf_counter() - t0


# --- report ------------------------------------------------------------------------------------


def _row(name: str, m: dict[str, float]) -> str:
    return f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {int(m['labels'])} | {int(m['findings'])} |"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--no-peers", action="store_true", help="skip detect-secrets and credsweeper")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench/results/dlp-eval.md"))
    args = ap.parse_args()
    samples = load_corpus()
    scanner = Scanner.from_config(EVAL_CONFIG)
    t0 = time.perf_counter()
    metrics, bg_lines, notes = evaluate_bordergate(samples, scanner)
    bg_time = time.perf_counter() - t0
    md = [
        f"Corpus: {len(samples)} samples (`tests/data/dlp-corpus/corpus.jsonl`, seed-generated by `bench/dlp_corpus_gen.py`).",
        "",
    ]
    md += [
        "### Bordergate per class (span level)",
        "",
        "| class | precision | recall | F1 | labels | findings |",
        "|---|---|---|---|---|---|",
    ]
    md += [_row(c, m) for c, m in metrics.items()]
    md += [
        "",
        "### Secrets, line level, side by side",
        "",
        "| tool | precision | recall | F1 | labelled secrets | reported lines | time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    tools = {"Bordergate": (line_metrics(samples, bg_lines), bg_time)}
    reports: dict[str, dict[str, list[int]]] = {"Bordergate": bg_lines}
    peer_note = ""
    if not args.no_peers:
        bin_dir, err = ensure_peer_venv()
        if bin_dir is None:
            peer_note = err
        else:
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp) / "corpus"
                root.mkdir()
                names = write_samples(samples, root)
                for tool, fn in (
                    ("detect-secrets", run_detect_secrets),
                    ("credsweeper", run_credsweeper),
                ):
                    try:
                        rep, dt = fn(bin_dir, root, names)
                        tools[tool] = (line_metrics(samples, rep), dt)
                        reports[tool] = rep
                    except (subprocess.CalledProcessError, OSError, ValueError) as exc:
                        peer_note += f"{tool} failed: {exc}\n"
    for tool, (m, dt) in tools.items():
        md.append(
            f"| {tool} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {int(m['labels'])} | {int(m['findings'])} | {dt:.1f} |"
        )
    if peer_note:
        md += ["", f"Peers: {peer_note.strip()}"]
    per_tool = {t: kind_recall(samples, r) for t, r in reports.items()}
    md += [
        "",
        "<details><summary>Secret recall per kind (line level)</summary>",
        "",
        "| kind | " + " | ".join(per_tool) + " |",
        "|---" * (len(per_tool) + 1) + "|",
    ]
    for kind in per_tool["Bordergate"]:
        cells = [f"{per_tool[t][kind][0]}/{per_tool[t][kind][1]}" for t in per_tool]
        md.append(f"| {kind} | " + " | ".join(cells) + " |")
    md += ["", "</details>"]
    if PRESIDIO.exists():
        md += [
            "",
            "### presidio-synth (`synth_dataset_v2.json`, 1500 texts), claimed types",
            "",
            "| entity type | precision | recall | F1 | labels | findings |",
            "|---|---|---|---|---|---|",
        ]
        md += [_row(t, m) for t, m in evaluate_presidio(scanner).items()]
    real = evaluate_real_code(scanner)
    md += [
        "",
        "### Real third-party code (installed Python packages, unlabelled)",
        "",
        f"{real['files']} files, {real['mb']:.1f} MB: findings per class {real['counts']}. Secret findings there: "
        + ("; ".join(real["examples"]) or "none")
        + ".",
    ]
    if not args.no_speed:
        sp = measure_speed(Scanner.from_config(DlpConfig(scan_timeout_ms=60_000)))
        md += [
            "",
            "### Speed (one core, mixed prose/code/JSON/logs/Chinese)",
            "",
            f"- throughput: {sp['mb_per_s']:.1f} MB/s (best of 5 over 2 MB, result cache off)",
            f"- 4 KB prompt: p50 {sp['p50_ms']:.3f} ms, p99 {sp['p99_ms']:.3f} ms (600 scans)",
            f"- 4 KB prompt, best of 5 per prompt (what an unpreempted core does): "
            f"p50 {sp['best_p50_ms']:.3f} ms, p99 {sp['best_p99_ms']:.3f} ms (200 prompts)",
            f"- 256 KiB source file pasted: {sp['paste_256k_ms']:.1f} ms "
            f"(default budget `scan_timeout_ms` 200)",
            f"- 20-turn agent conversation, whole history re-sent each turn: "
            f"{sp['conv_uncached_ms']:.1f} ms of scanning without the result cache, "
            f"{sp['conv_cached_ms']:.1f} ms with it",
            f"- prefilter: {'Hyperscan' if prefilter.available() else 'pyahocorasick (pure Python)'}",
            f"- load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        ]
    report = "\n".join(md) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report, encoding="utf-8")
    print(report)
    if notes:
        print("first errors:\n  " + "\n  ".join(notes[:40]), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
