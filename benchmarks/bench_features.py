"""Features of NL-I3D R50 over a long video, end to end (decode + model), on
CPU: `keras_nonlocal.features` next to pytorchvideo's way, same machine,
same video, same windows, same run.

The video: an H.264 mp4 of 340x256 at 30 fps (`--frames`, 1,280 by
default) made by the script. The windows: the 8x8 clip (8 frames, one every
8th), back to back (hop 64), each one test view: short side scaled to 256,
the centre 256 x 256 crop. The network: NL-I3D R50 8x8 as pytorchvideo
builds it (`zoo.nl_i3d_r50(sampling="8x8", publisher="pytorchvideo")` against
pytorchvideo's `i3d_r50` with its own `NonLocal` blocks inserted after the
same residual blocks, as in bench_zoo.py), random weights, features = the
res5 map averaged, 2048 per window. Batch 4 windows on both sides.

- ours: `features.extract_features(model, [video], batch_size=4)`: streaming
  PyAV decode in 2 threads, the kept frames scaled by FFmpeg while decoded,
  the Keras model (`predict_on_batch`) beside it.
- reference: pytorchvideo 0.1.5's `EncodedVideo.from_path(video,
  decoder="pyav")`, `get_clip(start, end)` per window (its way of reading a
  window: every frame of the window's span decoded and converted at full
  size), then the window's frames taken (pytorchvideo's
  `UniformTemporalSubsample` picks the same 8 of the 57), its
  `ShortSideScale` and a centre crop written in plain PyTorch
  (`torch.nn.functional.interpolate`, bilinear; torchvision, which its
  transforms import, has no CPU build beside torch 2.13.0), the
  normalisation, and the network in eval mode under `no_grad`, batch 4.
  pytorchvideo's data package imports torchvision in its `__init__`; the
  script loads `pytorchvideo.data.encoded_video` without running that
  `__init__` (nothing else changes).

Reported: windows per second (the whole run after one warm-up batch:
the first window batch of each side is compiled / warmed up on a separate
short video) and peak resident memory of each process.

Usage: KERAS_BACKEND=tensorflow python benchmarks/bench_features.py [--frames 1280]
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import measure, peak_gb, print_table_header, report  # noqa: E402

FRAMES, STRIDE, SIDE, BATCH, FPS = 8, 8, 256, 4, 30
SPAN = (FRAMES - 1) * STRIDE + 1
HOP = FRAMES * STRIDE
NL_AFTER = {"res3": [1, 3], "res4": [1, 3, 5]}


def write_video(path, frames, width=340, height=256):
    """Moving gradients and a square, x264 at its defaults: a real stream."""
    import av
    import numpy as np

    y, x = np.mgrid[0:height, 0:width]
    with av.open(path, "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            rgb = np.stack([(x + 3 * i) % 256, (y + 2 * i) % 256, (x + y + i) % 256], -1)
            rgb[(i * 5) % (height - 40):(i * 5) % (height - 40) + 40, 60:100] = 255
            frame = av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def windows(frames):
    return (frames - SPAN) // HOP + 1


def run_ours(video, warmup):
    from keras_nonlocal import features
    from keras_nonlocal import zoo

    model = zoo.nl_i3d_r50(sampling="8x8", publisher="pytorchvideo",
                           clip=dict(num_frames=FRAMES, frame_stride=STRIDE, eval_short_side=SIDE))
    list(features.extract_features(model, [warmup], batch_size=BATCH))
    start = time.perf_counter()
    [result] = list(features.extract_features(model, [video], batch_size=BATCH))
    seconds = time.perf_counter() - start
    return {"windows": len(result.outputs), "seconds": seconds, "peak_gb": peak_gb(),
            "channels": int(result.outputs.shape[1])}


def _encoded_video_class():
    import types

    import pytorchvideo

    package = types.ModuleType("pytorchvideo.data")
    package.__path__ = [os.path.join(os.path.dirname(pytorchvideo.__file__), "data")]
    sys.modules.setdefault("pytorchvideo.data", package)
    from pytorchvideo.data.encoded_video import EncodedVideo

    return EncodedVideo


def _reference_network():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    import torch.nn as nn
    from helpers import import_pytorchvideo_hub
    from pytorchvideo.layers.nonlocal_net import create_nonlocal

    model = import_pytorchvideo_hub().i3d_r50(pretrained=False)
    for stage_index, stage_name in ((3, "res3"), (4, "res4")):
        blocks = list(model.blocks[stage_index].res_blocks)
        for b in sorted(NL_AFTER[stage_name], reverse=True):
            dim = blocks[b].branch2.conv_c.out_channels
            blocks.insert(b + 1, create_nonlocal(dim_in=dim, dim_inner=dim // 2,
                                                 pool_size=(1, 2, 2), instantiation="softmax"))
        model.blocks[stage_index].res_blocks = nn.ModuleList(blocks)
    return nn.Sequential(*model.blocks[:-1]).eval()


def run_reference(video, warmup):
    import torch
    import torch.nn.functional as F

    EncodedVideo = _encoded_video_class()
    network = _reference_network()
    mean = torch.tensor([114.75, 114.75, 114.75]).view(3, 1, 1, 1)
    std = torch.tensor([57.375, 57.375, 57.375]).view(3, 1, 1, 1)

    def view(clip):
        """(3, T_all, H, W) float of a window's span -> its (3, 8, 256, 256) view."""
        clip = clip[:, ::STRIDE][:, :FRAMES]
        c, t, h, w = clip.shape
        scale = SIDE / min(h, w)
        size = (round(h * scale), round(w * scale))
        clip = F.interpolate(clip.permute(1, 0, 2, 3), size=size, mode="bilinear",
                             align_corners=False).permute(1, 0, 2, 3)
        top, left = (size[0] - SIDE) // 2, (size[1] - SIDE) // 2
        return (clip[:, :, top:top + SIDE, left:left + SIDE] - mean) / std

    def extract(path):
        encoded = EncodedVideo.from_path(path, decoder="pyav", decode_audio=False)
        count = windows(int(round(float(encoded.duration) * FPS)))
        rows, batch = [], []
        with torch.no_grad():
            for k in range(count):
                start = k * HOP / FPS
                clip = encoded.get_clip(start, start + SPAN / FPS)["video"]
                batch.append(view(clip))
                if len(batch) == BATCH or k == count - 1:
                    maps = network(torch.stack(batch))
                    rows.append(maps.mean(dim=(2, 3, 4)))
                    batch = []
        encoded.close()
        return torch.cat(rows)

    extract(warmup)
    start = time.perf_counter()
    rows = extract(video)
    seconds = time.perf_counter() - start
    return {"windows": len(rows), "seconds": seconds, "peak_gb": peak_gb(),
            "channels": int(rows.shape[1])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=["ours", "reference"])
    parser.add_argument("--frames", type=int, default=1280, help="frames of the long video")
    parser.add_argument("--video")
    parser.add_argument("--warmup")
    args = parser.parse_args()
    if args.worker:
        fn = run_ours if args.worker == "ours" else run_reference
        report(fn(args.video, args.warmup))
        return

    import keras

    with tempfile.TemporaryDirectory() as folder:
        video = write_video(os.path.join(folder, "long.mp4"), args.frames)
        warmup = write_video(os.path.join(folder, "warmup.mp4"), SPAN + HOP * (BATCH - 1))
        print_table_header(
            f"NL-I3D R50 8x8 features over a {args.frames}-frame 340x256 H.264 video "
            f"({windows(args.frames)} windows of 8x{SIDE}x{SIDE}, batch {BATCH}), CPU "
            f"({os.cpu_count()} cores), ours on Keras/{keras.backend.backend()} vs "
            "pytorchvideo 0.1.5 EncodedVideo + PyTorch",
            f"{'side':<11} {'windows':>8} {'seconds':>9} {'windows/s':>10} {'peak GB':>8}")
        results = {}
        for side in ("ours", "reference"):
            result = measure(__file__, "--worker", side, "--video", video, "--warmup", warmup)
            if "error" in result:
                raise RuntimeError(f"{side}: {result['error']}")
            results[side] = result
            rate = result["windows"] / result["seconds"]
            print(f"{side:<11} {result['windows']:>8} {result['seconds']:>9.1f} {rate:>10.3f} "
                  f"{result['peak_gb']:>8.2f}", flush=True)
        ratio = results["reference"]["seconds"] / results["ours"]["seconds"]
        print(f"ours / reference windows per second: {ratio:.2f}x")


if __name__ == "__main__":
    main()
