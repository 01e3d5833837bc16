"""The results of a run: a table of every measurement with pmp's ratio to it, the
targets of issue 7 with whether each is met, the JSON file and the PNG plot."""
import json
import os
import statistics

from . import config

FLOOR_LABELS = {
    "floor-zmq-ipc": "floor: pyzmq+pickle ping-pong, ipc",
    "floor-zmq-tcp": "floor: pyzmq+pickle ping-pong, tcp",
    "floor-zmq-io-ipc": "floor: the same through an I/O thread, ipc",
    "floor-zmq-io-tcp": "floor: the same through an I/O thread, tcp",
    "floor-import": "floor: one process running `python3 -c 'import pmp'`",
    "floor-import-slurm": "floor: one srun step of `python3 -c 'import pmp'`",
    "floor-import-worker": "floor: one process running `python3 -c 'import pmp.worker'`",
    "floor-import-worker-slurm": "floor: one srun step of `python3 -c 'import pmp.worker'`",
    "floor-import-concurrent-slurm": "floor: srun steps of `python3 -c 'import pmp'`, one per worker, started at once: the first to end",
    "floor-launch": "floor: raw `python3 -c pass` processes",
    "floor-launch-slurm": "floor: raw `srun -n1 true` steps",
    "floor-launch-python": "floor: `python3 -c 'import pmp.worker'` processes",
    "floor-launch-python-slurm": "floor: `srun -n1 python3 -c 'import pmp.worker'` steps",
    "floor-zmq": "floor: pyzmq+pickle workers",
}

# (workload, metric, heading, unit, higher is better)
ROWS = [
    ("noop", "tasks_per_s", "(1) no-op throughput", "tasks/s", True),
    ("roundtrip", "p50_us", "(2) round trip p50", "us", False),
    ("roundtrip", "p99_us", "(2) round trip p99", "us", False),
    ("map", "items_per_s", "(3) map, chunked", "items/s", True),
    ("array", "gbps", "(4) numpy array in+out", "GB/s", True),
    ("startup", "seconds_median", "(5) start to first result", "s", False),
    ("pertask", "tasks_per_s", "(6) per-task mode", "tasks/s", True),
    ("memory", "per_task_bytes", "(8) controller RSS per queued task", "B", False),
]


def label(peer, meta):
    if peer == "pmp":
        return f"pmp ({meta['backend']})"
    slurm_floor = f"{peer}-slurm"
    if meta["backend"] == "slurm" and slurm_floor in FLOOR_LABELS:
        return FLOOR_LABELS[slurm_floor]
    return FLOOR_LABELS.get(peer) or config.LABELS.get(peer, peer)


def find(records, workload, peer, **match):
    """The metrics of one measurement, or None."""
    for r in records:
        if r["workload"] == workload and r["peer"] == peer and "metrics" in r and \
                all(r["metrics"].get(k) == v for k, v in match.items()):
            return r["metrics"]
    return None


def value(records, workload, peer, metric, **match):
    m = find(records, workload, peer, **match)
    return None if m is None else m.get(metric)


def combine(records):
    """One record per measurement: the median of each number over the rounds (a run
    with --rounds N measures each N times, round-robin)."""
    groups = {}
    for r in records:
        if "metrics" in r:
            key = (r["workload"], r["peer"], r["metrics"].get("workers"))
            groups.setdefault(key, []).append(r)
    combined = []
    for (workload, peer, _), group in groups.items():
        metrics = {k: _median([g["metrics"].get(k) for g in group]) for k in group[0]["metrics"]}
        combined.append({"workload": workload, "peer": peer, "metrics": dict(metrics, rounds=len(group))})
    return combined


def _median(values):
    """The median of numbers that differ; else the first value as it is (sizes, lists)."""
    if len(set(map(repr, values))) == 1 or not all(isinstance(v, (int, float)) for v in values):
        return values[0]
    return statistics.median(values)


# ---- the table of measurements ----

def measurement_rows(meta, records):
    """[(heading, executor label, value text, ratio text)]: every measurement, with
    pmp's value divided by it (> 1 means pmp is faster for rates, slower for times)."""
    rows = []
    for workload, metric, heading, unit, _ in ROWS:
        if workload == "map":
            rows += paired_rows(records)  # after (2)'s other rows
        if workload == "memory":
            rows += scale_rows(records)  # (7) in its place
        mine = value(records, workload, "pmp", metric)
        peers = [r["peer"] for r in records if r["workload"] == workload and "metrics" in r]
        heading = f"{heading} ({unit})"
        for peer in sorted(set(peers), key=lambda p: (p != "pmp", peers.index(p))):
            v = value(records, workload, peer, metric)
            ratio = "" if peer == "pmp" else fmt_ratio(mine, v)
            rows.append((heading, label(peer, meta), fmt(v), ratio))
            heading = ""
    return rows


def paired_rows(records):
    """(2) taken in turns with its floor, chunk by chunk (floors.paired_round_trip)."""
    m = find(records, "roundtrip-paired", "pmp")
    if m is None:
        return []
    return [(f"(2) round trip p50, in turns with its floor, {m['chunk']} at a time (us)", "pmp",
             fmt(m["p50_us"]), ""),
            ("", FLOOR_LABELS[f"floor-zmq-{m['transport']}"], fmt(m["floor_p50_us"]),
             f"{m['ratio']:.2f}x (paired)" if "ratio" in m else fmt_ratio(m["p50_us"], m["floor_p50_us"]))]


def scale_rows(records):
    rows, heading = [], "(7) throughput by workers (tasks/s)"
    m = find(records, "scale-paired", "pmp")
    if m is not None:
        rows += [(f"(7) fresh pools in turns, {len(m['ratios'])} pairs a round (tasks/s)", f"pmp, {m['many']} workers",
                  fmt(m["many_tasks_per_s"]), f"{m['ratio']:.2f}x of {m['few']} (paired)"),
                 ("", f"pmp, {m['few']} workers", fmt(m["few_tasks_per_s"]), "")]
    for peer in ("pmp", "process", "floor-zmq"):
        counts = sorted(r["metrics"]["workers"] for r in records
                        if r["workload"] == "scale" and r["peer"] == peer and "metrics" in r)
        for n in counts:
            v = value(records, "scale", peer, "tasks_per_s", workers=n)
            base = value(records, "scale", peer, "tasks_per_s", workers=counts[0])
            transport = (find(records, "scale", peer, workers=n) or {}).get("transport")
            name = config.LABELS.get(peer) or FLOOR_LABELS[peer] + (f", {transport}" if transport else "")
            rows.append((heading, f"{name}, {n} workers", fmt(v),
                         f"{fmt_ratio(v, base)} of {counts[0]}"))
            heading = ""
    return rows


# ---- the targets ----

def targets(meta, records):
    slurm = meta["backend"] == "slurm"
    transport = "tcp" if slurm else "ipc"
    analog = "" if slurm else " (local analog)"
    pmp = lambda w, m, **k: value(records, w, "pmp", m, **k)  # noqa: E731
    # The round trip beside its floor in turns, where measured: sessions minutes apart
    # see this machine at different speeds.
    paired = find(records, "roundtrip-paired", "pmp")
    scale_paired = find(records, "scale-paired", "pmp")  # (7)'s two pools, likewise
    return [
        target("no-op throughput >= 3x ProcessPoolExecutor", pmp("noop", "tasks_per_s"),
               value(records, "noop", "process", "tasks_per_s"), ">=", 3.0, "tasks/s"),
        target(f"p50 round trip <= 1.0x the pyzmq+pickle floor ({transport}{', in turns' if paired else ''})",
               *((paired["p50_us"], paired["floor_p50_us"]) if paired else
                 (pmp("roundtrip", "p50_us"), value(records, "roundtrip", f"floor-zmq-{transport}", "p50_us"))),
               "<=", 1.0, "us", ratio=paired.get("ratio") if paired else None,
               # one I/O thread between the caller and the socket, as pmp has
               floor=ratio_of(value(records, "roundtrip", f"floor-zmq-io-{transport}", "p50_us"),
                              value(records, "roundtrip", f"floor-zmq-{transport}", "p50_us"))),
        target("large array >= 2x ProcessPoolExecutor's GB/s", pmp("array", "gbps"),
               value(records, "array", "process", "gbps"), ">=", 2.0, "GB/s"),
        target(f"first result <= 1.2x one {'srun step' if slurm else 'process'} of python{analog}",
               pmp("startup", "seconds_median"), value(records, "startup", "floor-import", "seconds_median"),
               "<=", 1.2, "s",
               # Slurm: as many steps as workers, at once, the first to end; locally one process
               # that imports what a worker imports
               floor=ratio_of(value(records, "startup", "floor-import-concurrent" if slurm else "floor-import-worker",
                                    "seconds_median"),
                              value(records, "startup", "floor-import", "seconds_median"))),
        target(f"per-task mode >= 0.9x the raw {'srun step' if slurm else 'process spawn'} rate{analog}",
               pmp("pertask", "tasks_per_s"), value(records, "pertask", "floor-launch", "tasks_per_s"),
               ">=", 0.9, "tasks/s",
               # a Python process per task, with nothing of pmp's but its imports
               floor=ratio_of(value(records, "pertask", "floor-launch-python", "tasks_per_s"),
                              value(records, "pertask", "floor-launch", "tasks_per_s"))),
        target(f"128 workers >= 0.8x the 2-worker throughput{' (in turns)' if scale_paired else ''}",
               *((scale_paired["many_tasks_per_s"], scale_paired["few_tasks_per_s"]) if scale_paired else
                 (pmp("scale", "tasks_per_s", workers=128), pmp("scale", "tasks_per_s", workers=2))),
               ">=", 0.8, "tasks/s", ratio=scale_paired.get("ratio") if scale_paired else None,
               # plain pyzmq+pickle workers: 128 processes on this machine's cores
               floor=ratio_of(value(records, "scale", "floor-zmq", "tasks_per_s", workers=128),
                              value(records, "scale", "floor-zmq", "tasks_per_s", workers=2))),
        memory_target(find(records, "memory", "pmp")),
    ]


def target(name, mine, reference, op, goal, unit, floor=None, ratio=None):
    """floor: the same ratio for the floor under the target (what a design with none of
    pmp's own costs reaches on this machine), where there is one. ratio: one measured
    in pairs (the median of paired ratios), instead of mine / reference."""
    ratio = ratio_of(mine, reference) if ratio is None else ratio
    met = None if ratio is None else (ratio >= goal if op == ">=" else ratio <= goal)
    return {"target": name, "pmp": mine, "reference": reference, "unit": unit, "ratio": ratio,
            "goal": f"{op} {goal:g}x", "met": met, "floor_ratio": floor}


def ratio_of(a, b):
    return a / b if a is not None and b else None


def memory_target(m):
    beyond = None if m is None else m.get("beyond_pickle_bytes")
    met = None if beyond is None else beyond <= 1024
    return {"target": "controller memory <= 1 KiB per queued task beyond its pickled bytes",
            "pmp": beyond, "reference": None if m is None else m.get("pickled_bytes"), "unit": "B",
            "ratio": None, "goal": "<= 1024 B", "met": met}


# ---- text ----

def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def fmt_ratio(a, b):
    return "-" if a is None or not b else f"{a / b:.2f}x"


def table(rows, headers):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line("-" * w for w in widths)] + [line(r) for r in rows])


def text(meta, records, targets_, statuses):
    title = (f"pmp benchmarks, run '{meta['run']}': pmp backend {meta['backend']}, {meta['workers']} workers, "
             f"{'quick' if meta['quick'] else 'full'} sizes, {meta['date']}, host {meta['host']} "
             f"({meta['cpus']} CPUs), pmp {meta['pmp_git']} from {meta['pmp_path']}")
    if meta.get("slurm_job"):
        title += f", Slurm job {meta['slurm_job']} on {meta['slurm_nodes']}"
    parts = [title]
    load = max(meta["load_before"], meta.get("load_after", 0))
    if load > meta["cpus"]:
        parts.append(f"WARNING: load average {load:.1f} on {meta['cpus']} CPUs during this run: other work "
                     f"shares the machine and the numbers are noisy"
                     + (" (--rounds 3 takes medians over 3 round-robin rounds)" if meta["rounds"] == 1 else ""))
    parts += ["", table(measurement_rows(meta, records), ("workload", "executor", "value", "pmp / it")), ""]
    target_rows = [(t["target"], fmt(t["pmp"]) + f" {t['unit']}",
                    fmt(t["reference"]) + f" {t['unit']}" if t["reference"] is not None else "-",
                    f"{t['ratio']:.2f}x" if t["ratio"] is not None else "-", t["goal"],
                    {True: "yes", False: "NO", None: "not measured"}[t["met"]],
                    f"{t['floor_ratio']:.2f}x" if t.get("floor_ratio") is not None else "")
                   for t in targets_]
    parts += [table(target_rows, ("target", "pmp", "reference", "ratio", "goal", "met", "floor's ratio")), ""]
    if any(t.get("floor_ratio") is not None for t in targets_):
        parts += ["floor's ratio: the same ratio for the floor under the target: round trip, the pyzmq "
                  "ping-pong through one I/O thread (pmp's structure until result() ran the I/O on the "
                  "waiting thread); first result, locally one process that imports pmp's worker (and with "
                  "it libzmq), on Slurm as many srun steps of python as workers started at once, the "
                  "first to end; per-task, a Python process per task that only imports pmp's "
                  "worker; 128 workers, plain pyzmq+pickle workers.", ""]
    problems = [(name, s["status"], "; ".join(s["errors"])) for name, s in statuses.items()
                if s["status"] != "ok" or s["errors"]]
    if problems:
        parts += ["Problems (see the session logs):"]
        parts += [f"  {name}: {status}{': ' + errors if errors else ''}" for name, status, errors in problems]
    parts.append(f"{len(records)} measurements ({meta['rounds']} round(s)) in {meta['seconds']:.0f} s")
    return "\n".join(parts)


# ---- files ----

def publish(prefix, meta, records, statuses):
    """Prints the tables; merges this run into PREFIX.json (one entry per run name, so
    the local and the Slurm run sit side by side) and plots every run in PREFIX.png."""
    combined = combine(records)
    targets_ = targets(meta, combined)
    print(text(meta, combined, targets_, statuses), flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    runs = load_runs(prefix + ".json")
    runs[meta["run"]] = {"meta": meta, "targets": targets_, "sessions": statuses, "results": combined,
                         "raw": records}
    with open(prefix + ".json", "w") as f:
        json.dump({"runs": runs}, f, indent=1)
    try:
        from . import plot
        plot.plot(runs, prefix + ".png")
    except Exception as e:  # a missing matplotlib must not lose the measurements
        print(f"pmp bench: no plot ({type(e).__name__}: {e})")
    print(f"results: {prefix}.json, {prefix}.png")


def load_runs(path):
    try:
        with open(path) as f:
            return dict(json.load(f).get("runs", {}))
    except (OSError, ValueError, AttributeError):
        return {}
