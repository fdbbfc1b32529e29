"""Training curves from the runs' CSV logs, as a PNG."""

import numpy as np


def read_log(csv_path):
    """The rows of a run's `log.csv` (Keras' CSVLogger) as a NumPy record array."""
    return np.atleast_1d(np.genfromtxt(csv_path, delimiter=",", names=True))


def plot_curves(runs, path, steps_per_epoch=1, x_label="checkpoint interval"):
    """Loss and metrics of one or several runs.

    Args:
        runs: `{label: csv_path}` or `{label: (csv_path, colour)}`.
        path: the PNG to write.
        steps_per_epoch: the x axis is `(epoch + 1) * steps_per_epoch`.
        x_label: its name.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for label, run in runs.items():
        csv_path, colour = run if isinstance(run, tuple) else (run, None)
        rows = read_log(csv_path)
        x = (rows["epoch"] + 1) * steps_per_epoch
        for name in rows.dtype.names:
            if name in ("epoch", "skipped_videos", "learning_rate") or np.all(
                    np.isnan(rows[name])):
                continue
            axis = axes[0] if "loss" in name else axes[1]
            axis.plot(x, rows[name], color=colour, alpha=0.8, marker="o" if len(x) < 20 else None,
                      label=f"{label} {name}" if len(runs) > 1 else name)
    for axis, title in zip(axes, ("loss", "metrics")):
        axis.set_title(title)
        axis.set_xlabel(x_label)
        axis.legend(fontsize=6, ncol=1 + len(runs) // 8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
