"""latest.png: for each run, bar charts of each workload per executor, the round-trip
latencies beside their floors, and throughput against the number of workers."""
import matplotlib

matplotlib.use("Agg")  # no display here; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402

from . import report  # noqa: E402

PANELS = [  # (workload, metric, title, log scale)
    ("noop", "tasks_per_s", "(1) no-op tasks/s", True),
    ("map", "items_per_s", "(3) map items/s", False),
    ("array", "gbps", "(4) array in+out GB/s", False),
    ("startup", "seconds_median", "(5) start to first result, s", True),
    ("pertask", "tasks_per_s", "(6) per-task tasks/s", False),
    ("memory", "per_task_bytes", "(8) controller bytes per queued task", False),
]
COLUMNS = 4


def plot(runs, path):
    rows_per_run = 2
    fig, axes = plt.subplots(rows_per_run * len(runs), COLUMNS, squeeze=False,
                             figsize=(5 * COLUMNS, 4.2 * rows_per_run * len(runs)))
    for i, (name, run) in enumerate(sorted(runs.items())):
        cells = list(axes[i * rows_per_run:(i + 1) * rows_per_run].flat)
        records, meta = run["results"], run["meta"]
        for ax, panel in zip(cells, PANELS):
            bars(ax, meta, records, *panel)
        latencies(cells[len(PANELS)], meta, records)
        scaling(cells[len(PANELS) + 1], records)
        cells[0].annotate(f"run '{name}' ({meta['backend']}, {meta['workers']} workers, {meta['date']})",
                          (0, 1.12), xycoords="axes fraction", fontsize=12, weight="bold")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


SHORT = {  # tick labels: the table has the long ones
    "process": "ProcessPool", "mpi": "MPIPool", "dask": "dask", "process-per-task": "ProcessPool\n1 task/child",
    "floor-zmq-ipc": "floor\nzmq ipc", "floor-zmq-tcp": "floor\nzmq tcp",
    "floor-zmq-io-ipc": "floor zmq\nI/O thr ipc", "floor-zmq-io-tcp": "floor zmq\nI/O thr tcp", "floor-import": "floor\nimport pmp",
    "floor-import-concurrent": "floor srun\nimport, 1st of N",
    "floor-launch": "floor\nlaunch", "floor-launch-python": "floor\npython",
}


def short(peer, meta):
    if peer == "pmp":
        return f"pmp\n{meta['backend']}"
    if peer in ("floor-import", "floor-launch", "floor-launch-python") and meta["backend"] == "slurm":
        return SHORT[peer].replace("floor", "floor srun")
    return SHORT.get(peer, peer)


def color(peer):
    return "tab:red" if peer == "pmp" else "tab:gray" if peer.startswith("floor") else "tab:blue"


def bars(ax, meta, records, workload, metric, title, log):
    found = [(r["peer"], r["metrics"].get(metric)) for r in records
             if r["workload"] == workload and "metrics" in r and r["metrics"].get(metric) is not None]
    ax.set_title(title)
    if not found:
        ax.text(0.5, 0.5, "not measured", ha="center", transform=ax.transAxes)
        return
    peers, values = zip(*found)
    ax.bar(range(len(values)), values, color=[color(p) for p in peers])
    ax.set_xticks(range(len(values)), [short(p, meta) for p in peers], fontsize=7)
    if log:
        ax.set_yscale("log")


def latencies(ax, meta, records):
    found = [(r["peer"], r["metrics"]) for r in records if r["workload"] == "roundtrip" and "metrics" in r]
    ax.set_title("(2) round trip, us (p50, p99)")
    if not found:
        return
    xs = range(len(found))
    ax.bar([x - 0.2 for x in xs], [m["p50_us"] for _, m in found], 0.4, label="p50", color="tab:green")
    ax.bar([x + 0.2 for x in xs], [m["p99_us"] for _, m in found], 0.4, label="p99", color="tab:olive")
    ax.set_xticks(list(xs), [short(p, meta) for p, _ in found], fontsize=7)
    ax.set_yscale("log")
    ax.legend(fontsize=7)


def scaling(ax, records):
    ax.set_title("(7) no-op tasks/s by workers")
    plotted = False
    for peer in ("pmp", "process", "floor-zmq"):
        points = sorted((r["metrics"]["workers"], r["metrics"]["tasks_per_s"]) for r in records
                        if r["workload"] == "scale" and r["peer"] == peer and "metrics" in r)
        if points:
            ax.plot(*zip(*points), marker="o", label=report.config.LABELS.get(peer) or report.FLOOR_LABELS[peer],
                    color="tab:gray" if peer.startswith("floor") else None)
            plotted = True
    if not plotted:
        ax.text(0.5, 0.5, "not measured", ha="center", transform=ax.transAxes)
        return
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("workers")
    ax.legend(fontsize=7)
