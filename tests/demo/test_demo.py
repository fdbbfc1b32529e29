"""The demo: its generated videos, and a quick run through the CLI."""

import json
import os

import numpy as np

from keras_nonlocal import cli
from keras_nonlocal import data
from keras_nonlocal import training
from keras_nonlocal import zoo
from keras_nonlocal.demo import dataset
from keras_nonlocal.demo import experiment


def _mark_colours(frames):
    """Palette indices of the two marks, early and late, read back from decoded frames."""
    found, marks = [], dataset.find_marks(frames)
    for t in (dataset.EARLY.start, dataset.LATE.start):
        (_, y, x), = [m for m in marks if m[0] == t]
        centre = frames[t, y + 3:y + dataset.PATCH - 3, x + 3:x + dataset.PATCH - 3]
        centre = centre.reshape(-1, 3).mean(axis=0)
        found.append(int(np.argmin(np.abs(dataset.PALETTE - centre).sum(axis=1))))
    return found


def test_generated_videos_decode_and_carry_their_label(tmp_path, rng):
    folders = dataset.write_videos(str(tmp_path), num_train=12, num_val=4,
                                   seed=int(rng.integers(1000)))
    videos = data.read_videos(folders["train"])
    assert videos.class_names == list(dataset.CLASSES) and len(videos) == 12
    for path, label in zip(videos.paths, videos.labels):
        info = data.probe(path)
        assert (info.num_frames, info.height, info.width) == (dataset.FRAMES, dataset.HEIGHT,
                                                              dataset.WIDTH)
        first, second = _mark_colours(data.read_frames(path, list(range(dataset.FRAMES))))
        assert (first == second) == (label[0] == dataset.CLASSES.index("same"))
    # a second call keeps the finished folders
    stamp = os.path.getmtime(videos.paths[0])
    dataset.write_videos(str(tmp_path), num_train=12, num_val=4, seed=0)
    assert os.path.getmtime(videos.paths[0]) == stamp


def test_marks_never_share_a_frame_and_classes_are_balanced(rng):
    labels = []
    for _ in range(200):
        frames, label = dataset.make_example(rng)
        labels.append(label)
        white = (frames.min(axis=-1) > 240).reshape(dataset.FRAMES, -1).any(axis=1)
        assert not white[dataset.EARLY.stop:dataset.LATE.start].any()
        assert white[list(dataset.EARLY)].all() and white[list(dataset.LATE)].all()
    assert 70 < sum(labels) < 130


def test_find_marks_and_the_queries_of_the_pictures(rng):
    frames, _ = dataset.make_example(rng)
    marks = dataset.find_marks(frames)
    assert sorted({t for t, _, _ in marks}) == [*dataset.EARLY, *dataset.LATE]
    assert len(marks) == len(dataset.EARLY) + len(dataset.LATE)  # one per frame
    early = next((y, x) for t, y, x in marks if t == 0)
    late = next((y, x) for t, y, x in marks if t == dataset.FRAMES - 1)
    for t, (y, x) in ((0, early), (dataset.FRAMES - 1, late)):
        centre = frames[t, y + dataset.PATCH // 2, x + dataset.PATCH // 2]
        assert any((centre == colour).all() for colour in dataset.PALETTE)
    # a 4-frame clip (frames 0, 4, 8, 12) on a block grid of 2 x 4 x 4
    queries = experiment.mark_queries(frames[[0, 4, 8, 12]], (2, 4, 4))
    assert queries == [(0, early[0] // 8 + 1, early[1] // 8 + 1),
                       (1, late[0] // 8 + 1, late[1] // 8 + 1)]
    assert experiment.mark_queries(np.full((4, 32, 32, 3), 128, np.uint8), (2, 4, 4)) is None


def test_quick_demo_through_the_cli(tmp_path, capsys):
    out = str(tmp_path / "demo")
    assert cli.main(["demo", "--quick", "--seeds", "0", "--workers", "2", "--out", out]) == 0
    printed = capsys.readouterr().out
    assert "| c2d_r14 |" in printed and "| nl_c2d_r14 |" in printed  # quick: ResNet-14
    rows = json.load(open(os.path.join(out, "results.json")))
    assert [r["model"] for r in rows] == ["c2d_r14", "nl_c2d_r14"]
    recipe = training.load_recipe("demo_nl_c2d")
    for row, blocks in zip(rows, (0, 2)):  # the table's cost is the builders' own
        stages = zoo.summary(row["model"], recipe.num_frames, recipe.crop_size, print_fn=None,
                             classes=2, base_width=8, sampling="8x8", num_nonlocal=blocks)
        assert (row["params"], row["macs"]) == (stages["total"]["params"],
                                                stages["total"]["macs"])
        metrics = json.load(open(os.path.join(out, "runs", f"{row['model']}-seed0",
                                              "test_metrics.json")))
        assert row["accuracy"] == [100 * metrics["top1"]] and metrics["videos"] == 8
    assert os.path.exists(os.path.join(out, "curves.png"))
    pictures = os.listdir(os.path.join(out, "attention"))
    assert len([p for p in pictures if p.endswith(".png")]) == 4
    assert metrics["views_per_video"] == recipe.eval_clips * recipe.eval_crops
    assert "points above C2D" in printed
    # `deterministic = true`: a second run of the command logs the same, step for step
    # (the quick demo logs every step)
    again = str(tmp_path / "again")
    assert cli.main(["demo", "--quick", "--seeds", "0", "--workers", "2", "--out", again]) == 0
    for run in ("c2d_r14-seed0", "nl_c2d_r14-seed0"):
        first, second = (open(os.path.join(o, "runs", run, "log.csv")).read() for o in (out, again))
        assert first == second, run


def _state_and_parent(pid):
    """`(state, parent pid)` of a process from /proc, None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def _children(pid):
    """Live (not zombie) processes whose parent is `pid`."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        stat = _state_and_parent(entry)
        if stat is not None and stat[1] == pid and stat[0] != "Z":
            found.append(int(entry))
    return found


def _alive(pid):
    found = _state_and_parent(pid)
    return found is not None and found[0] != "Z"


def test_killing_the_demo_ends_its_workers(tmp_path):
    """SIGKILL to the demo's process (a time limit's kill): its two worker
    processes, mid-run, end within seconds instead of training on as orphans."""
    import signal
    import subprocess
    import sys
    import time

    from helpers import backend_env

    proc = subprocess.Popen([sys.executable, "-m", "keras_nonlocal.cli", "demo", "--quick",
                             "--seeds", "0", "--workers", "2", "--out", str(tmp_path / "demo")],
                            env=backend_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    lines = []
    for line in proc.stdout:  # the progress names a run once a worker has started it
        lines.append(line)
        if "building its graph" in line or " step " in line:
            break
    workers = _children(proc.pid)
    assert len(workers) >= 2, lines
    proc.kill()
    proc.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    left = [w for w in workers if _alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    assert not left, f"workers still running after their parent was killed: {left}"
