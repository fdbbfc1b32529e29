"""How each publisher tests a video model: one frozen record each.

The clip (`keras_nonlocal.Clip`) says how many views (`eval_clips` x
`eval_crops` at `eval_short_side`); the protocol says where they lie and how
their scores make a video's: the clip start rule, the crop positions, how
views combine, and which videos count. A model records the name of its
protocol in its clip (`Clip.protocol`, its publisher's for a preset);
`evaluate(..., protocol=)` and `keras-nonlocal evaluate --protocol` test it
another way.

| protocol | clip starts (N frames, n clips, span L) | 3 crops (room r) | views | counted |
|---|---|---|---|---|
| `keras_nonlocal` | round(linspace(0, N - L, n)), loop past the end (= mmaction2) | 0, round(r/2), r | mean (max for multi-label) | readable videos |
| `release` | floor(N / n * j) mod N, frames wrap around | 0, r // 2, 2 (r // 2) | sum | every listed video |
| `pyslowfast` | (N - T s) j / n, frames linspace(start, start + T s - 1, T), clamped | 0, ceil(r/2), r | sum (max for multi-label) | readable videos |
| `mmaction2` | round(j (N - L) / (n - 1)), loop past the end | 0, r // 2, 2 (r // 2) | mean of probabilities | readable videos |

Sources: video-nonlocal-net caffe2_customized_ops/video/customized_video_io.cc
(`DecodeClipFromVideoFileFlex`: `frame_gaps * start_frm % num_of_frames`,
`i % sampledFrames.size()`; `ClipTransformFlex`: `h_off * now_pos`); PySlowFast
1.0 slowfast/datasets/decoder.py:50-58, :24-25 (`get_start_end_idx`,
`temporal_sampling`), transform.py:163-175 (`uniform_crop`), utils/meters.py
(`ensemble_method` "sum", Charades configs "max"); mmaction2 1.2.0
mmaction/datasets/transforms/loading.py (`SampleFrames._get_test_clips`,
test mode), processing.py (`ThreeCrop`), `average_clips="prob"`.
"""

import dataclasses
import types

from keras_nonlocal.settings import check_choice

CLIP_STARTS = ("even", "release", "pyslowfast")
CROP_POSITIONS = ("even", "twice_half", "ceil_centre")
COMBINES = ("mean", "sum", "max")
DENOMINATORS = ("readable", "listed")


@dataclasses.dataclass(frozen=True)
class Protocol:
    """One publisher's test protocol.

    Attributes:
        name: the `protocol=` word.
        title: in words.
        clip_starts: `"even"` (first at frame 0, last ending at the last
            frame, rounded between; frames past the end follow
            `Clip.short_rule`), `"release"` or `"pyslowfast"` (their code's
            rule, frames included: see the module table).
        crop_positions: `"even"` (start, rounded centre, end), `"twice_half"`
            (0, r // 2 and 2 (r // 2): the end crop one pixel short of the
            edge when r is odd) or `"ceil_centre"` (0, ceil(r / 2), r).
        combine: how a video's view scores combine: `"mean"`, `"sum"` or
            `"max"` (the same ranking for mean and sum).
        multi_label_combine: the same, for multi-label scores.
        denominator: which videos the headline figures count: `"readable"`
            or `"listed"` (an unreadable video counts as wrong). `evaluate`
            reports both.
    """

    name: str
    title: str
    clip_starts: str
    crop_positions: str
    combine: str
    multi_label_combine: str
    denominator: str

    def __post_init__(self):
        check_choice("clip_starts", self.clip_starts, CLIP_STARTS)
        check_choice("crop_positions", self.crop_positions, CROP_POSITIONS)
        check_choice("combine", self.combine, COMBINES)
        check_choice("multi_label_combine", self.multi_label_combine, COMBINES)
        check_choice("denominator", self.denominator, DENOMINATORS)

    def combine_for(self, multi_label):
        return self.multi_label_combine if multi_label else self.combine


_ALL = (
    Protocol("keras_nonlocal", "keras_nonlocal (evenly spaced clips; max for multi-label)",
             clip_starts="even", crop_positions="even", combine="mean",
             multi_label_combine="max", denominator="readable"),
    # The release publishes no multi-label test; its successor's (PySlowFast's
    # Charades configs) is taken.
    Protocol("release", "video-nonlocal-net (the original release)", clip_starts="release",
             crop_positions="twice_half", combine="sum", multi_label_combine="max",
             denominator="listed"),
    Protocol("pyslowfast", "PySlowFast 1.0", clip_starts="pyslowfast",
             crop_positions="ceil_centre", combine="sum", multi_label_combine="max",
             denominator="readable"),
    Protocol("mmaction2", "mmaction2 1.2", clip_starts="even", crop_positions="twice_half",
             combine="mean", multi_label_combine="mean", denominator="readable"),
)
PROTOCOLS = types.MappingProxyType({p.name: p for p in _ALL})
DEFAULT_PROTOCOL = "keras_nonlocal"


def protocol(name):
    """The `Protocol` called `name` (a `Protocol` is returned as it is; an
    unknown name is a ValueError naming the others)."""
    if isinstance(name, Protocol):
        return name
    return PROTOCOLS[check_choice("protocol", name, tuple(PROTOCOLS))]
