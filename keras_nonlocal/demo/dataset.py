"""The demo's built-in dataset: "do the two marked patches have the same colour?"

Each video (H.264, written with PyAV) is a gray field on which two coloured
patches with a white frame, the *marks*, appear: the first at a random place
in the early frames, the second at a random place (drawn anew) in the late
frames.
Each mark's colour is drawn for every video from `PALETTE`; the label is
`same` when the two colours are equal, else `different` (half each).

Why local features plus global pooling fail (the C2D baseline): a C2D sees
each frame alone, so no feature ever holds both marks (they are never in
the same frame), and the classifier is linear in the average of the
features. Its score is then `s(A) + s(B)` (plus the background) for marks A
and B. Being right would need `s(a) + s(a) > t` for every colour a and
`s(a) + s(b) < t` for every a != b; adding the cases (a, a), (b, b) and
(a, b), (b, a) gives a contradiction, so the best such model is at chance
(50%). A non-local block compares the two marks directly, across space and
time.
"""

import fractions
import os

import numpy as np

FRAMES = 16
# Square frames: the demo trains on 32 x 32 crops, so a crop is the whole
# frame and the marks stay on the 16-pixel grid of the network's res4
# features. Random crops of 40 x 32 frames, which move the marks off that
# grid, left NL-C2D at 55% after 400 steps (one seed, measured).
HEIGHT, WIDTH = 32, 32
PATCH = 16  # a mark with its frame
BORDER = 2
EARLY, LATE = range(0, 6), range(10, 16)
PALETTE = np.array([(230, 25, 75), (60, 180, 75)], dtype=np.uint8)  # red, green
CLASSES = ("different", "same")


def _mark(colour):
    patch = np.full((PATCH, PATCH, 3), 255, np.uint8)
    patch[BORDER:-BORDER, BORDER:-BORDER] = PALETTE[colour]
    return patch


def _place(rng):
    """A random top-left corner on the patch-sized grid of the frame."""
    rows, columns = HEIGHT // PATCH, WIDTH // PATCH
    cell = int(rng.integers(rows * columns))
    return (cell // columns) * PATCH, (cell % columns) * PATCH


def make_example(rng):
    """Frames `(FRAMES, HEIGHT, WIDTH, 3)` uint8 and the label (1 = same)."""
    same = bool(rng.integers(2))
    first = int(rng.integers(len(PALETTE)))
    second = first if same else int(rng.choice([c for c in range(len(PALETTE)) if c != first]))
    noise = rng.integers(-6, 7, size=(FRAMES, HEIGHT, WIDTH, 3))
    frames = (128 + noise).astype(np.uint8)
    for times, colour in ((EARLY, first), (LATE, second)):
        y, x = _place(rng)
        frames[times.start:times.stop, y:y + PATCH, x:x + PATCH] = _mark(colour)
    return frames, int(same)


def find_marks(frames):
    """Where the marks are in (decoded) frames `(T, HEIGHT, WIDTH, 3)`: a list of
    `(t, y, x)`, the frame index and top-left corner of each white-framed patch."""
    found = []
    for t, frame in enumerate(np.asarray(frames, dtype=int)):
        for y in range(0, HEIGHT - PATCH + 1, PATCH):
            for x in range(0, WIDTH - PATCH + 1, PATCH):
                patch = frame[y:y + PATCH, x:x + PATCH]
                border = np.concatenate([patch[0], patch[-1], patch[:, 0], patch[:, -1]])
                if border.min() > 200:
                    found.append((t, y, x))
    return found


def write_video(path, frames, fps=8):
    """Writes uint8 RGB frames as a lossless H.264 .mp4 with PyAV.

    Lossless (qp 0, 4:4:4): the decoded frames are a function of `frames`
    alone. Lossy x264 (crf 12, one thread) chose other encodings for the same
    frames from run to run (9 to 20 of 30 files decoded differently, by up to
    11 levels, measured here), and the demo's training with them.
    """
    import av

    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv444p"  # keep the colours of small patches
        stream.options = {"qp": "0", "g": str(FRAMES), "threads": "1"}
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            frame.pts, frame.time_base = i, fractions.Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def write_videos(root, num_train=600, num_val=200, seed=0):
    """Writes `root/{train,val}/{different,same}/*.mp4` and returns
    `{"train": folder, "val": folder}`. Existing complete folders are kept
    (a `done` file marks them), so a second call is free."""
    rng = np.random.default_rng(seed)
    folders = {}
    for split, count in (("train", num_train), ("val", num_val)):
        folder = os.path.join(root, split)
        folders[split] = folder
        done = os.path.join(folder, f"done-{count}-{seed}")
        split_rng = np.random.default_rng(rng.integers(2**63))
        if os.path.exists(done):
            continue
        for name in CLASSES:
            os.makedirs(os.path.join(folder, name), exist_ok=True)
        for i in range(count):
            frames, label = make_example(split_rng)
            write_video(os.path.join(folder, CLASSES[label], f"{i:05d}.mp4"), frames)
        open(done, "w").close()
    return folders
