"""Training clips per second (32x2 at 224) from video files and from
TFRecords, next to a PyTorch DataLoader reference, same machine, same run.

Data: `--videos` H.264 mp4 files of 96 frames at 340x256, 25 fps, GOP 25,
made here with PyAV (moving random textures, so they compress and decode
like real footage, not like flat colour).

- ours, files: `keras_nonlocal.data.video_dataset` (PyAV decode in tf.data,
  parallel map; the crop's window cut and scaled in FFmpeg, TF flip), batch 1;
- ours, TFRecords: `make_tfrecords` (short side 256, JPEG 90) then
  `tfrecord_dataset` (pure TensorFlow), batch 1;
- reference: the same PyAV decode (seek, decode the 64-frame window, keep
  every 2nd frame) and the same augmentations (short side in [256, 320],
  random 224 crop, flip; torch `interpolate`) in a `torch.utils.data.Dataset`
  behind a `DataLoader(num_workers=2)`, the way pytorchvideo and PySlowFast
  load.
Also measured, in the same run: the decoder's bound on this machine, cores
x the single-thread clips/s of the decode alone (PyAV: seek, decode the
64-frame window, convert the kept frames to RGB at their own size, nothing
else), and the pipeline's rate as a fraction of it; single-thread PyAV
decode with the crop our pipeline asks FFmpeg for (only the crop's window
converted and scaled).

Usage: KERAS_BACKEND=tensorflow python benchmarks/bench_data.py [--videos 16] [--clips 48]
"""

import argparse
import os
import sys
import tempfile
import time

import av
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import print_table_header  # noqa: E402

T, TAU, CROP, SHORT = 32, 2, 224, (256, 320)


def make_videos(folder, count, frames=96, width=340, height=256, seed=0):
    rng = np.random.default_rng(seed)
    paths = []
    for v in range(count):
        path = os.path.join(folder, f"class{v % 4}", f"video{v}.mp4")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        texture = rng.integers(0, 256, size=(height * 2, width * 2, 3), dtype=np.uint8)
        with av.open(path, "w") as container:
            stream = container.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"g": "25", "crf": "23", "preset": "veryfast"}
            for i in range(frames):
                y, x = (3 * i) % height, (5 * i) % width
                image = texture[y:y + height, x:x + width]
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        paths.append(path)
    return paths


def clips_per_second(iterator, clips, warmup=4):
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(clips):
        next(iterator)
    return clips / (time.perf_counter() - start)


def _clip():
    from keras_nonlocal import Clip

    return Clip(num_frames=T, frame_stride=TAU, crop_size=CROP, short_side_min=SHORT[0],
                short_side_max=SHORT[1])


def ours_files(videos, clips):
    from keras_nonlocal import data

    dataset, _ = data.video_dataset(videos, _clip(), batch_size=1, seed=0)
    return clips_per_second(iter(dataset.repeat()), clips)


def ours_tfrecords(videos, clips, folder):
    from keras_nonlocal import data

    data.make_tfrecords(videos, folder, num_shards=4, short_side=256, progress=False)
    dataset, _ = data.tfrecord_dataset(os.path.join(folder, "videos-*.tfrecord"),
                                       num_classes=videos.num_classes, clip=_clip(),
                                       batch_size=1, seed=0)
    return clips_per_second(iter(dataset.repeat()), clips)


class TorchClips:
    """The reference: PyAV decode + torch augmentations, per video."""

    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return 10**6

    def __getitem__(self, index):
        import torch

        from keras_nonlocal.data.decode import probe, read_frames
        from keras_nonlocal.data.sampling import train_clip_indices

        rng = np.random.default_rng(index)
        path = self.paths[index % len(self.paths)]
        total = probe(path).num_frames
        frames = read_frames(path, train_clip_indices(total, T, TAU, rng))
        clip = torch.from_numpy(frames).permute(0, 3, 1, 2).float()  # T, C, H, W
        short = int(rng.integers(SHORT[0], SHORT[1] + 1))
        h, w = clip.shape[-2:]
        scale = short / min(h, w)
        clip = torch.nn.functional.interpolate(clip, size=(round(h * scale), round(w * scale)),
                                               mode="bilinear", align_corners=False)
        y = int(rng.integers(0, clip.shape[-2] - CROP + 1))
        x = int(rng.integers(0, clip.shape[-1] - CROP + 1))
        clip = clip[..., y:y + CROP, x:x + CROP]
        if rng.random() < 0.5:
            clip = clip.flip(-1)
        return clip.round().clamp(0, 255).to(torch.uint8)


def reference(paths, clips):
    import torch

    loader = torch.utils.data.DataLoader(TorchClips(paths), batch_size=1, num_workers=2,
                                         prefetch_factor=4, persistent_workers=True)
    return clips_per_second(iter(loader), clips)


def components(paths, clips=16):
    """Seconds per clip, single-threaded: (decode alone, decode with the
    pipeline's crop: the window of a 288 short side's 224 crop, scaled to
    224 in FFmpeg's filter graph)."""
    from keras_nonlocal.data.decode import probe, read_frames
    from keras_nonlocal.data.sampling import train_clip_indices

    infos = [probe(path) for path in paths]  # the pipeline probes once per video, too

    def per_clip(cropped):
        rng = np.random.default_rng(0)
        start = time.perf_counter()
        for i in range(clips):
            info = infos[i % len(paths)]
            side = round(CROP * min(info.height, info.width) / 288)  # the window at short side 288
            box = (int(rng.integers(0, info.height - side + 1)),
                   int(rng.integers(0, info.width - side + 1)), side, side) if cropped else None
            read_frames(paths[i % len(paths)], train_clip_indices(info.num_frames, T, TAU, rng),
                        size=(CROP, CROP) if cropped else None, info=info, box=box)
        return (time.perf_counter() - start) / clips

    per_clip(False)  # warm-up
    return per_clip(False), per_clip(True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--clips", type=int, default=48)
    args = parser.parse_args()
    from keras_nonlocal import data

    with tempfile.TemporaryDirectory() as folder:
        make_videos(os.path.join(folder, "videos"), args.videos)
        videos = data.read_videos(os.path.join(folder, "videos"))
        decode, decode_cropped = components(videos.paths)
        rates = {
            "ours, video files (PyAV in tf.data)": ours_files(videos, args.clips),
            "ours, TFRecords (pure TF)": ours_tfrecords(videos, args.clips, os.path.join(folder, "tfr")),
            "reference: PyTorch DataLoader, 2 workers": reference(videos.paths, args.clips),
        }
    ref = rates["reference: PyTorch DataLoader, 2 workers"]
    print_table_header(
        f"training clips/s, {T}x{TAU} at {CROP}, from {args.videos} mp4 files (340x256, 96 frames), "
        f"{os.cpu_count()} cores, {args.clips} clips after warm-up",
        f"{'pipeline':<44} {'clips/s':>8} {'vs reference':>13}")
    for name, rate in rates.items():
        print(f"{name:<44} {rate:>8.2f} {rate / ref:>12.2f}x")
    cores = os.cpu_count()
    bound = cores / decode
    files = rates["ours, video files (PyAV in tf.data)"]
    print(f"\ndecoder bound: {cores} cores x {1 / decode:.2f} clips/s (single-thread PyAV decode "
          f"of the 64-frame window alone, {decode * 1e3:.0f} ms a clip) = {bound:.2f} clips/s; "
          f"ours from video files reach {files / bound:.0%} of it")
    print(f"single thread, per clip: decode with the pipeline's crop (a 224 crop at short side "
          f"288, cut and scaled in FFmpeg's filter graph) {decode_cropped * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
