"""The demo: C2D against NL-C2D on the built-in "same marked patches?" task.

Generates the videos (`dataset.py`), trains both models for every seed with
the real recipe (`zoo/recipes/demo_nl_c2d.toml`) and `training.train`, tests
them the paper's way (the recipe's clips x crops, scores averaged per video)
with `training.evaluate`, and writes a table, the training curves and
attention pictures of the non-local model to the output folder.
"""

import json
import os
import time

import numpy as np

from keras_nonlocal import data
from keras_nonlocal import training
from keras_nonlocal import visualize
from keras_nonlocal import zoo
from keras_nonlocal.demo import dataset
from keras_nonlocal.training.curves import plot_curves

MODELS = ("c2d_r50", "nl_c2d_r50")
RECIPE = "demo_nl_c2d"
# The full demo, and a quick one that checks the machinery in the tests.
# (The full demo trains for the recipe's steps.)
SETTINGS = {
    False: dict(num_train=1000, num_val=200, overrides=[]),
    True: dict(num_train=24, num_val=8, overrides=["steps=4", "checkpoint_every=1"]),
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


def _train_and_test(name, seed, folders, output_dir, settings):
    """One training run and its multi-view test (also in a worker process)."""
    out = os.path.join(output_dir, "runs", f"{name}-seed{seed}")
    recipe = _recipe(name, seed, folders, out, settings)
    began = time.perf_counter()
    result = training.train(recipe, verbose=0)
    seconds = time.perf_counter() - began
    metrics = _evaluate(result["model"], folders["val"], os.path.join(out, "test_metrics.json"))
    return dict(model=name, seed=seed, output_dir=out, checkpoint_every=recipe.checkpoint_every,
                accuracy=100 * metrics["top1"], views=metrics["views_per_video"],
                train_seconds=seconds, checkpoint=result["checkpoints"][0][1])


def _share_cores(threads):
    """Gives a worker process its share of the cores (TF would take all)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def run(output_dir="demo_output", seeds=(0, 1, 2), quick=False, workers=2, print_fn=print):
    """Runs the demo; returns the result rows (one per model).

    Args:
        output_dir: where the videos, runs, table, curves and pictures go.
        seeds: one training run per model and seed.
        quick: a few videos and steps (checks the machinery, not the claim).
        workers: training runs at once, each in its own process with its
            share of the cores (the "train time" of a run is then its wall
            time beside the others). Two use 2 cores better than one run:
            one traces its graph while the other trains.
        print_fn: where progress and the table are printed.
    """
    settings = SETTINGS[bool(quick)]
    start = time.perf_counter()
    folders = dataset.write_videos(os.path.join(output_dir, "data"), settings["num_train"],
                                   settings["num_val"], seed=2018)
    print_fn(f"videos: {settings['num_train']} train, {settings['num_val']} test in "
             f"{os.path.join(output_dir, 'data')} ({time.perf_counter() - start:.0f} s)")
    jobs = [(name, seed) for name in MODELS for seed in seeds]
    if workers > 1:
        import concurrent.futures
        import multiprocessing

        print_fn(f"training and testing {len(jobs)} runs, {workers} at a time ...")
        context = multiprocessing.get_context("spawn")
        threads = max(1, (os.cpu_count() or 1) // workers)
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context,
                                                    initializer=_share_cores,
                                                    initargs=(threads,)) as pool:
            results = list(pool.map(_train_and_test, *zip(*jobs), [folders] * len(jobs),
                                    [output_dir] * len(jobs), [settings] * len(jobs)))
    else:
        results = []
        for name, seed in jobs:
            print_fn(f"training and testing {name}, seed {seed} ...")
            results.append(_train_and_test(name, seed, folders, output_dir, settings))
    rows, runs = [], []
    for name in MODELS:
        mine = [r for r in results if r["model"] == name]
        for r in mine:
            print_fn(f"{name} seed {r['seed']}: top-1 {r['accuracy']:.1f}% ({r['views']} views "
                     f"per video), trained in {r['train_seconds']:.0f} s")
        runs += mine
        recipe = _recipe(name, seeds[0], folders, mine[0]["output_dir"], settings)
        params, macs = _cost(recipe)
        rows.append(dict(model=name, accuracy=[r["accuracy"] for r in mine],
                         train_seconds=[r["train_seconds"] for r in mine],
                         params=params, macs=macs))

    table = format_table(rows)
    gain = np.mean(rows[1]["accuracy"]) - np.mean(rows[0]["accuracy"])
    verdict = f"nl_c2d_r50 is {gain:+.1f} points above C2D (mean top-1 over {len(seeds)} seeds)"
    with open(os.path.join(output_dir, "results.md"), "w") as f:
        f.write(f"{table}\n\n{verdict}\n")
    with open(os.path.join(output_dir, "results.json"), "w") as f:
        json.dump(rows, f, indent=1)
    colours = {"c2d_r50": "tab:blue", "nl_c2d_r50": "tab:red"}
    plot_curves({f"{r['model']} seed {r['seed']}": (os.path.join(r["output_dir"], "log.csv"),
                                                    colours[r["model"]]) for r in runs},
                os.path.join(output_dir, "curves.png"), runs[0]["checkpoint_every"], "step")
    nl_run = next(r for r in runs if r["model"] == "nl_c2d_r50")
    pictures = _attention_pictures(nl_run, folders["val"], os.path.join(output_dir, "attention"))
    print_fn("")
    print_fn(table)
    print_fn(f"\n{verdict}\n")
    print_fn(f"table: {os.path.join(output_dir, 'results.md')}; training curves: "
             f"{os.path.join(output_dir, 'curves.png')}; attention pictures: "
             f"{os.path.join(output_dir, 'attention')} ({len(pictures)} PNGs); "
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
