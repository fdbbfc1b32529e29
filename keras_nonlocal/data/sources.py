"""Lists of labelled videos: CSV/TXT lists, Kinetics CSVs, PySlowFast lists,
one folder per class. Every reader returns a `VideoList`.

Labels are checked at start-up: a label missing from the class list is an
error naming it, not a crash hours into training.
"""

import csv
import dataclasses
import glob
import os

VIDEO_EXTENSIONS = (".mp4", ".webm", ".avi", ".mkv", ".mov", ".m4v")


@dataclasses.dataclass
class VideoList:
    """Videos, their labels and the class names.

    Attributes:
        paths: video file paths.
        labels: per video, a list of class indices (one for single-label
            data, several for multi-label data such as Charades).
        class_names: index -> name.
        multi_label: whether labels are sets (multi-hot targets).
    """

    paths: list
    labels: list
    class_names: list
    multi_label: bool = False

    def __len__(self):
        return len(self.paths)

    @property
    def num_classes(self):
        return len(self.class_names)


@dataclasses.dataclass(frozen=True)
class RecordKeys:
    """The feature names of a video record (TF Model Garden's and DMVR's).

    Attributes:
        frames: feature list of encoded frames (JPEG or PNG).
        label_index: context int64 list of class indices.
        label_text: context bytes list of class names, read where
            `label_index` is absent.
        media_id: context bytes, the video's id.
        filename: context bytes, the id where `media_id` is absent (DMVR).
        frame_rate: context float, frames per second (`make-tfrecords`).
    """

    frames: str = "image/encoded"
    label_index: str = "clip/label/index"
    label_text: str = "clip/label/text"
    media_id: str = "clip/media_id"
    filename: str = "video/filename"
    frame_rate: str = "clip/frame_rate"


@dataclasses.dataclass(frozen=True)
class TFRecords:
    """TFRecord shards to evaluate or predict on, in place of video files.

    Attributes:
        files: shard paths or a glob pattern.
        keys: the records' feature names (`RecordKeys`).
        multi_label: whether labels are sets (multi-hot targets).
        frame_rate: the frame rate the model's clip stride assumes (30 for
            the Kinetics models); `None` takes the shards as they are.
        resample: shards at another recorded rate are resampled (`True`) or
            refused (`False`, the default).

    Example:

    ```python
    evaluate(model, data.TFRecords("val-*.tfrecord", frame_rate=30, resample=True))
    ```
    """

    files: object
    keys: RecordKeys = RecordKeys()
    multi_label: bool = False
    frame_rate: float = None
    resample: bool = False

    def paths(self):
        """The shard paths (a pattern expanded, sorted); a ValueError if none."""
        files = self.files
        if isinstance(files, (str, os.PathLike)):
            files = sorted(glob.glob(str(files))) or ([str(files)] if os.path.isfile(files) else [])
        if not files:
            raise ValueError(f"No TFRecord shards. Received: files={self.files!r}")
        return list(files)


def read_class_names(path):
    """One class name per line (blank lines ignored)."""
    with open(path) as f:
        names = [line.strip() for line in f if line.strip()]
    if len(set(names)) != len(names):
        raise ValueError(f"Duplicate class names in {path}. Received: {len(names)} names")
    return names


def _resolve(path, root):
    return path if (root is None or os.path.isabs(path)) else os.path.join(root, path)


def _index_labels(raw_labels, class_names, source):
    """Maps names (or index strings) to indices; unknown labels are an error."""
    if class_names is None:
        everything = sorted({label for labels in raw_labels for label in labels})
        if all(label.isdigit() for label in everything):
            top = max(int(label) for label in everything) if everything else -1
            class_names = [str(i) for i in range(top + 1)]
        else:
            class_names = everything
    lookup = {name: i for i, name in enumerate(class_names)}
    unknown = set()
    indexed = []
    for labels in raw_labels:
        row = []
        for label in labels:
            if label in lookup:
                row.append(lookup[label])
            elif label.isdigit() and int(label) < len(class_names):
                row.append(int(label))  # an index into the class list
            else:
                unknown.add(label)
        indexed.append(row)
    if unknown:
        shown = ", ".join(sorted(map(repr, unknown))[:10])
        raise ValueError(
            f"{len(unknown)} labels in {source} are not in the class list "
            f"({len(class_names)} classes): {shown}. Received: labels {shown}"
        )
    return indexed, list(class_names)


def read_csv_list(path, root=None, class_names=None, delimiter=",", label_separator=";"):
    """A list of `path,label` lines (optional header `path,label`).

    A label may be a class name or an index; several labels separated by
    `label_separator` make a multi-label video.

    Args:
        path: the list file. root: folder the video paths are relative to
            (default: the list's folder).
        class_names: list of names, or a file with one per line; by default
            the sorted set of labels found.
    """
    if isinstance(class_names, str):
        class_names = read_class_names(class_names)
    root = os.path.dirname(os.path.abspath(path)) if root is None else root
    paths, raw = [], []
    with open(path, newline="") as f:
        for number, row in enumerate(csv.reader(f, delimiter=delimiter)):
            row = [cell.strip() for cell in row]
            if not row or not row[0] or row[0].startswith("#"):
                continue
            if number == 0 and row[0].lower() in ("path", "video", "filename"):
                continue
            if len(row) < 2:
                raise ValueError(
                    f"{path}, line {number + 1}: expected `path{delimiter}label`. Received: {row!r}"
                )
            paths.append(_resolve(row[0], root))
            raw.append([label for label in row[1].split(label_separator) if label])
    labels, class_names = _index_labels(raw, class_names, path)
    multi = any(len(row) != 1 for row in labels)
    return VideoList(paths, labels, class_names, multi_label=multi)


def read_slowfast_list(path, root=None, class_names=None):
    """PySlowFast's `path label_index` lines (space separated)."""
    return read_csv_list(path, root=root, class_names=class_names, delimiter=" ")


def read_kinetics_csv(path, root, class_names=None, extension=".mp4"):
    """The official Kinetics CSV (`label,youtube_id,time_start,time_end,split`).

    Videos are looked up as `root/<label>/<youtube_id>_<start:06d>_<end:06d><ext>`
    (the layout of the common downloaders), or `root/<youtube_id>...<ext>` when
    that exists instead; rows whose file is absent on both are kept (they are
    skipped and counted by the pipeline like any unreadable video).
    """
    if isinstance(class_names, str):
        class_names = read_class_names(class_names)
    paths, raw = [], []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"label", "youtube_id", "time_start", "time_end"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(
                f"{path} is not a Kinetics CSV: no column {sorted(missing)}. "
                f"Received: columns {reader.fieldnames}"
            )
        for row in reader:
            name = f"{row['youtube_id']}_{int(float(row['time_start'])):06d}_{int(float(row['time_end'])):06d}{extension}"
            nested = os.path.join(root, row["label"], name)
            flat = os.path.join(root, name)
            paths.append(flat if (not os.path.exists(nested) and os.path.exists(flat)) else nested)
            raw.append([row["label"]])
    labels, class_names = _index_labels(raw, class_names, path)
    return VideoList(paths, labels, class_names)


def read_folder(root, class_names=None):
    """`root/<class name>/<video>`: one folder per class."""
    if not os.path.isdir(root):
        raise ValueError(f"Not a folder. Received: root={root!r}")
    folders = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if isinstance(class_names, str):
        class_names = read_class_names(class_names)
    paths, raw = [], []
    for folder in folders:
        for name in sorted(os.listdir(os.path.join(root, folder))):
            if name.lower().endswith(VIDEO_EXTENSIONS):
                paths.append(os.path.join(root, folder, name))
                raw.append([folder])
    if not paths:
        raise ValueError(
            f"No videos ({', '.join(VIDEO_EXTENSIONS)}) in class folders under {root}. "
            f"Received: root={root!r}"
        )
    labels, class_names = _index_labels(raw, class_names or folders, root)
    return VideoList(paths, labels, class_names)


def read_videos(source, root=None, class_names=None):
    """Reads any supported source: a folder, a Kinetics CSV, a CSV/TXT list.

    A `.csv` with a `youtube_id` column is read as Kinetics; a `.txt` whose
    lines have no comma as PySlowFast's `path label` list.
    """
    if os.path.isdir(source):
        return read_folder(source, class_names=class_names)
    if not os.path.exists(source):
        raise ValueError(f"Video list or folder not found. Received: source={source!r}")
    with open(source) as f:
        head = f.readline()
    if "youtube_id" in head:
        return read_kinetics_csv(source, root or os.path.dirname(os.path.abspath(source)),
                                 class_names=class_names)
    if "," not in head and " " in head.strip():
        return read_slowfast_list(source, root=root, class_names=class_names)
    return read_csv_list(source, root=root, class_names=class_names)


def find_videos(inputs, root=None):
    """Unlabelled videos to run a model over (`keras-nonlocal features`).

    Args:
        inputs: a path or a list of them: a folder (walked recursively for
            `VIDEO_EXTENSIONS`), a list file (`.txt` / `.csv`: the first
            field of each line a video path, relative to `root` or else to
            the list's folder; a header line without a video is skipped), or
            a video file.
        root: the folder a list's relative paths start from.

    Returns:
        `[(path, name)]`, in order, duplicates dropped: `name` is where the
        video's outputs go, its path relative to the folder it was found in
        (a list's root; a file given alone: its file name).
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    found, seen = [], set()

    def add(path, name):
        if os.path.abspath(path) not in seen:
            seen.add(os.path.abspath(path))
            found.append((path, name))

    for item in map(str, inputs):
        if os.path.isdir(item):
            for folder, subfolders, files in sorted(os.walk(item)):
                subfolders.sort()
                for name in sorted(files):
                    if name.lower().endswith(VIDEO_EXTENSIONS):
                        path = os.path.join(folder, name)
                        add(path, os.path.relpath(path, item))
        elif item.lower().endswith(VIDEO_EXTENSIONS):
            if not os.path.isfile(item):
                raise ValueError(f"Video not found. Received: {item!r}")
            add(item, os.path.basename(item))
        elif os.path.isfile(item):
            base = root or os.path.dirname(os.path.abspath(item))
            with open(item) as f:
                for line in f:
                    field = line.strip().replace("\t", ",").split(",")[0].split(" ")[0]
                    if not field.lower().endswith(VIDEO_EXTENSIONS):
                        continue
                    add(_resolve(field, base), field if not os.path.isabs(field)
                        else os.path.basename(field))
        else:
            raise ValueError(f"Not a folder, a video list or a video file. Received: {item!r}")
    if not found:
        raise ValueError(f"No videos ({', '.join(VIDEO_EXTENSIONS)}) in {list(inputs)}. "
                         f"Received: {list(inputs)!r}")
    return found
