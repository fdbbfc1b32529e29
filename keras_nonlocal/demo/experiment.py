"""The demo: C2D against NL-C2D on the built-in "same marked patches?" task.

Generates the videos (`dataset.py`), trains both models for every seed with
the real recipe (`zoo/recipes/demo_nl_c2d.toml`) and `training.train`, tests
them the paper's way (the recipe's clips x crops, scores averaged per video)
with `training.evaluate`, and writes a table, the training curves and
attention pictures of the non-local model to the output folder.
"""

import functools
import json
import os
import time

import numpy as np

from keras_nonlocal import data
from keras_nonlocal import training
from keras_nonlocal import visualize
from keras_nonlocal import zoo
from keras_nonlocal.demo import dataset
from keras_nonlocal.demo import progress
from keras_nonlocal.training.curves import plot_curves

RECIPE = "demo_nl_c2d"
# The full demo, and a quick one that checks the machinery in the tests: a
# few videos and steps on ResNet-14 (one block per stage; its 2 non-local
# blocks after res3 and res4), which traces in half the time of R50's.
# (The full demo trains for the recipe's steps.)
SETTINGS = {
    False: dict(num_train=1000, num_val=200, models=("c2d_r50", "nl_c2d_r50"), overrides=[]),
    True: dict(num_train=24, num_val=8, models=("c2d_r14", "nl_c2d_r14"),
               overrides=["steps=4", "checkpoint_every=1", "num_nonlocal=2"]),
}


def _recipe(model, seed, folders, out, settings):
    overrides = [f"model={model}", f"seed={seed}", f"train_data={folders['train']}",
                 "val_data=", f"output_dir={out}", *settings["overrides"]]
    if not model.startswith("nl_"):
        overrides.append("num_nonlocal=0")  # the recipe's count would add blocks to C2D
    return training.load_recipe(RECIPE, overrides)


def _evaluate(model, folder, output):
    """Tests a trained model on the clip it records (the recipe's)."""
    videos = data.read_videos(folder, class_names=list(zoo.preprocessing_spec(model).class_names))
    return training.evaluate(model, videos, batch_size=32, output=output)


def _cost(recipe):
    stages = zoo.summary(recipe.model, recipe.num_frames, recipe.crop_size, print_fn=None,
                         classes=2, base_width=recipe.base_width, sampling=recipe.sampling,
                         num_nonlocal=recipe.num_nonlocal)
    return stages["total"]["params"], stages["total"]["macs"]


def format_table(rows):
    """The results as a Markdown table."""
    lines = ["| model | top-1 (mean ± std over seeds) | per seed | params | MFLOPs / clip | "
             "train time / run |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        per_seed = ", ".join(f"{a:.1f}" for a in r["accuracy"])
        lines.append(
            f"| {r['model']} | {np.mean(r['accuracy']):.1f} ± {np.std(r['accuracy']):.1f} | "
            f"{per_seed} | {r['params'] / 1e6:.2f} M | {r['macs'] / 1e6:.1f} | "
            f"{np.mean(r['train_seconds']):.0f} s |")
    return "\n".join(lines)


# Where a run's progress events go: the queue to the demo's process in a
# worker, the `Progress` itself when the demo trains in its own process.
_send = None


def _run_name(name, seed):
    return f"{name} seed {seed}"


def _train_and_test(name, seed, folders, output_dir, settings):
    """One training run and its multi-view test (also in a worker process)."""
    out = os.path.join(output_dir, "runs", f"{name}-seed{seed}")
    recipe = _recipe(name, seed, folders, out, settings)
    began = time.perf_counter()
    reporter = progress.ReportSteps(_run_name(name, seed), _send)
    _send((_run_name(name, seed), "start", 0, 0.0))
    result = training.train(recipe, verbose=0, callbacks=[reporter])
    seconds = time.perf_counter() - began
    _send((_run_name(name, seed), "testing", recipe.steps, float("nan")))
    metrics = _evaluate(result["model"], folders["val"], os.path.join(out, "test_metrics.json"))
    return dict(model=name, seed=seed, output_dir=out, checkpoint_every=recipe.checkpoint_every,
                accuracy=100 * metrics["top1"], views=metrics["views_per_video"],
                train_seconds=seconds, checkpoint=result["checkpoints"][0][1])


def _start_worker(threads, queue):
    """A worker process: its share of the cores (TF would take all), its
    progress queue, and an exit when the demo's process has gone."""
    import tensorflow as tf

    global _send
    progress.exit_with_parent()
    _send = queue.put
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def _train_all(jobs, folders, output_dir, settings, workers, shown):
    """Runs every job (`(model, seed)`), `workers` at a time, reporting to
    `shown` (a `Progress`); returns the results in the jobs' order."""
    global _send
    args = (folders, output_dir, settings)
    if workers <= 1:
        _send = shown.update
        results = []
        for job in jobs:
            results.append(_train_and_test(*job, *args))
            shown.update((_run_name(*job), "done", 0, 0.0))
        return results
    import concurrent.futures
    import multiprocessing
    import queue as queues

    context = multiprocessing.get_context("spawn")
    events = context.Queue()
    threads = max(1, (os.cpu_count() or 1) // workers)
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context,
                                                initializer=_start_worker,
                                                initargs=(threads, events)) as pool:
        futures = {pool.submit(_train_and_test, *job, *args): job for job in jobs}
        pending = set(futures)
        while pending:
            try:
                shown.update(events.get(timeout=0.5))
            except queues.Empty:
                shown.tick()
            for future in [f for f in pending if f.done()]:
                pending.discard(future)
                future.result()  # a run's error ends the demo here
                shown.update((_run_name(*futures[future]), "done", 0, 0.0))
        return [future.result() for future in futures]


def _summarise(results, seeds, folders, settings):
    """One table row per model (accuracy and time per seed, cost); the runs."""
    rows, runs = [], []
    for name in settings["models"]:
        mine = [r for r in results if r["model"] == name]
        runs += mine
        recipe = _recipe(name, seeds[0], folders, mine[0]["output_dir"], settings)
        params, macs = _cost(recipe)
        rows.append(dict(model=name, accuracy=[r["accuracy"] for r in mine],
                         train_seconds=[r["train_seconds"] for r in mine],
                         params=params, macs=macs))
    return rows, runs


def _write_results(rows, runs, seeds, folders, output_dir):
    """The table, JSON, curves and attention pictures; returns what to print."""
    table = format_table(rows)
    gain = np.mean(rows[1]["accuracy"]) - np.mean(rows[0]["accuracy"])
    verdict = (f"{rows[1]['model']} is {gain:+.1f} points above C2D (mean top-1 over "
               f"{len(seeds)} seeds)")
    with open(os.path.join(output_dir, "results.md"), "w") as f:
        f.write(f"{table}\n\n{verdict}\n")
    with open(os.path.join(output_dir, "results.json"), "w") as f:
        json.dump(rows, f, indent=1)
    colours = {rows[0]["model"]: "tab:blue", rows[1]["model"]: "tab:red"}
    plot_curves({f"{r['model']} seed {r['seed']}": (os.path.join(r["output_dir"], "log.csv"),
                                                    colours[r["model"]]) for r in runs},
                os.path.join(output_dir, "curves.png"), runs[0]["checkpoint_every"], "step")
    nl_run = next(r for r in runs if r["model"] == rows[1]["model"])
    pictures = _attention_pictures(nl_run, folders["val"], os.path.join(output_dir, "attention"))
    return table, verdict, len(pictures)


def run(output_dir="demo_output", seeds=(0, 1, 2), quick=False, workers=2, print_fn=None):
    """Runs the demo; returns the result rows (one per model).

    Args:
        output_dir: where the videos, runs, table, curves and pictures go.
        seeds: one training run per model and seed.
        quick: a few videos and steps of ResNet-14 models (checks the
            machinery, not the claim).
        workers: training runs at once, each in its own process with its
            share of the cores (the "train time" of a run is then its wall
            time beside the others). Two use 2 cores better than one run:
            one traces its graph while the other trains.
        print_fn: where progress and the table are printed (default:
            `print`, flushed at every line, so a pipe shows it live).
    """
    print_fn = print_fn or functools.partial(print, flush=True)
    settings = SETTINGS[bool(quick)]
    start = time.perf_counter()
    print_fn(f"writing {settings['num_train']} training and {settings['num_val']} test videos "
             f"to {os.path.join(output_dir, 'data')} ...")
    folders = dataset.write_videos(os.path.join(output_dir, "data"), settings["num_train"],
                                   settings["num_val"], seed=2018)
    print_fn(f"videos written ({time.perf_counter() - start:.0f} s)")
    # The longer runs (non-local) first, so that the last ones to end are short.
    models = settings["models"]
    jobs = [(name, seed) for name in reversed(models) for seed in seeds]
    steps = _recipe(models[0], seeds[0], folders, output_dir, settings).steps
    print_fn(f"training and testing {len(jobs)} runs of {steps} steps, {workers} at a time "
             f"(the first steps of a run wait for TensorFlow to build its graph) ...")
    shown = progress.Progress([_run_name(*job) for job in jobs], steps, print_fn)
    results = _train_all(jobs, folders, output_dir, settings, workers, shown)
    for r in results:
        print_fn(f"{_run_name(r['model'], r['seed'])}: top-1 {r['accuracy']:.1f}% ({r['views']} "
                 f"views per video), trained in {r['train_seconds']:.0f} s")
    rows, runs = _summarise(results, seeds, folders, settings)
    table, verdict, pictures = _write_results(rows, runs, seeds, folders, output_dir)
    print_fn("")
    print_fn(table)
    print_fn(f"\n{verdict}\n")
    print_fn(f"table: {os.path.join(output_dir, 'results.md')}; training curves: "
             f"{os.path.join(output_dir, 'curves.png')}; attention pictures: "
             f"{os.path.join(output_dir, 'attention')} ({pictures} PNGs); "
             f"total {time.perf_counter() - start:.0f} s")
    return rows


def mark_queries(clip, grid):
    """The positions of the marks' centres on a block's `(T, H, W)` grid: the
    queries of the demo's pictures (what does a mark look at?)."""
    queries = []
    for t, y, x in dataset.find_marks(clip):
        query = (t * grid[0] // len(clip), (y + dataset.PATCH // 2) * grid[1] // dataset.HEIGHT,
                 (x + dataset.PATCH // 2) * grid[2] // dataset.WIDTH)
        if query not in queries:
            queries.append(query)
    return queries or None  # None: visualize picks them


def _attention_pictures(run, folder, out):
    """Arrows and heat maps of a trained NL-C2D on one test video per class,
    from the marks (the first block, res3)."""
    import keras

    model = keras.saving.load_model(run["checkpoint"], compile=False)
    os.makedirs(out, exist_ok=True)
    paths = []
    for name in dataset.CLASSES:
        video = sorted(os.listdir(os.path.join(folder, name)))[0]
        clip = visualize.load_clip(os.path.join(folder, name, video),
                                   zoo.preprocessing_spec(model))
        info = visualize.attention_maps(model, clip)  # one pass for both pictures
        queries = mark_queries(clip, info["grid"])
        for mode in ("arrows", "heatmap"):
            paths.append(os.path.join(
                out, f"{os.path.splitext(video)[0]}_{info['block']}_{mode}.png"))
            visualize.plot_attention(clip, info, queries, mode=mode, path=paths[-1])
    return paths
