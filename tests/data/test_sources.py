"""Video lists: CSV/TXT, Kinetics CSV, PySlowFast lists, class folders."""

import os

import pytest

from keras_nonlocal import data


def _touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").close()


def test_csv_list_with_names_and_class_file(tmp_path):
    (tmp_path / "classes.txt").write_text("walk\nrun\njump\n")
    (tmp_path / "list.csv").write_text("path,label\nv/a.mp4,run\nv/b.mp4,2\n/abs/c.mp4,walk\n")
    videos = data.read_csv_list(str(tmp_path / "list.csv"), class_names=str(tmp_path / "classes.txt"))
    assert videos.paths == [str(tmp_path / "v/a.mp4"), str(tmp_path / "v/b.mp4"), "/abs/c.mp4"]
    assert videos.labels == [[1], [2], [0]] and not videos.multi_label
    assert videos.class_names == ["walk", "run", "jump"]


def test_multi_label_list(tmp_path):
    (tmp_path / "list.csv").write_text("a.mp4,open;close\nb.mp4,close\n")
    videos = data.read_csv_list(str(tmp_path / "list.csv"))
    assert videos.multi_label and videos.class_names == ["close", "open"]
    assert videos.labels == [[1, 0], [0]]


def test_unknown_label_is_an_error_at_start_up(tmp_path):
    (tmp_path / "classes.txt").write_text("walk\nrun\n")
    (tmp_path / "list.csv").write_text("a.mp4,run\nb.mp4,swim\nc.mp4,7\n")
    with pytest.raises(ValueError, match=r"2 labels .* not in the class list.*'7', 'swim'"):
        data.read_csv_list(str(tmp_path / "list.csv"), class_names=str(tmp_path / "classes.txt"))


def test_slowfast_list(tmp_path):
    (tmp_path / "train.txt").write_text("x/a.mp4 0\nx/b.mp4 3\n")
    videos = data.read_videos(str(tmp_path / "train.txt"), root="/data")
    assert videos.paths == ["/data/x/a.mp4", "/data/x/b.mp4"]
    assert videos.labels == [[0], [3]] and videos.num_classes == 4


def test_kinetics_csv(tmp_path):
    (tmp_path / "val.csv").write_text(
        "label,youtube_id,time_start,time_end,split\n"
        "abseiling,--33Lscn6sk,4,14,val\n"
        "air drumming,--nQbRBEz2s,104,114,val\n")
    _touch(str(tmp_path / "videos" / "abseiling" / "--33Lscn6sk_000004_000014.mp4"))
    videos = data.read_videos(str(tmp_path / "val.csv"), root=str(tmp_path / "videos"))
    assert videos.paths[0] == str(tmp_path / "videos/abseiling/--33Lscn6sk_000004_000014.mp4")
    assert videos.paths[1].endswith("air drumming/--nQbRBEz2s_000104_000114.mp4")
    assert videos.class_names == ["abseiling", "air drumming"]


def test_class_folders(tmp_path):
    for name in ("b/1.mp4", "a/2.webm", "a/3.avi", "a/notes.txt"):
        _touch(str(tmp_path / name))
    videos = data.read_videos(str(tmp_path))
    assert videos.class_names == ["a", "b"]
    assert [os.path.basename(p) for p in videos.paths] == ["2.webm", "3.avi", "1.mp4"]
    assert videos.labels == [[0], [0], [1]]


def test_missing_and_empty_sources(tmp_path):
    with pytest.raises(ValueError, match="Received: source="):
        data.read_videos(str(tmp_path / "nope.csv"))
    with pytest.raises(ValueError, match="No videos"):
        data.read_videos(str(tmp_path))
