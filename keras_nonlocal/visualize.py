"""Pictures of what a non-local block attends to, as Figure 3 of the paper.

Example:

```python
from keras_nonlocal import visualize, zoo

model = zoo.nl_c2d_r50(base_width=8, classes=2, clip={"num_frames": 8, "crop_size": 64})
visualize.visualize(model, "video.mp4", "attention/", block="conv3_block4_nonlocal")
images = zoo.nl_resnet50(input_shape=(224, 224, 3))            # a 2D block, on images
visualize.visualize(images, ["cat.jpg"], "attention/",
                    preprocess=keras.applications.resnet.preprocess_input)
```
"""

import os

import keras
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import ConnectionPatch

from keras_nonlocal.layers.nonlocal_block import NonLocalBase

MODES = ("arrows", "heatmap")
AUTO_QUERIES = 3


def nonlocal_blocks(model):
    """Names of the non-local blocks of `model`, in order of depth."""
    return [layer.name for layer in model.layers if isinstance(layer, NonLocalBase)]


def attention_maps(model_or_layer, inputs, block=None):
    """Runs `inputs` through a model (or one block) and returns a block's attention.

    Args:
        model_or_layer: a `NonLocal1D/2D/3D` layer, or a functional model
            containing some (a zoo model: its input is RGB clips in [0, 255]).
        inputs: the layer's input, or the model's input (`(batch, T, H, W, 3)`
            clips for a zoo model); without the batch axis for one sample.
        block: name of the model's block, see `nonlocal_blocks()`. Defaults to
            the first one (the highest resolution; the paper's Figure 3 shows
            res3 blocks).

    Returns:
        A dict: `attention`, float32 `(batch, N, N')` over the flattened
        `(t, y, x)` query and key grids (NaN where the block's scope excludes
        the key); `grid`, the query grid `(T, H, W)` (`(1, H, W)` for 2D,
        `(1, 1, L)` for 1D inputs); `key_grid`, the subsampled key grid;
        `pool_size`, its pooling per axis; `block` and `scope`.

    Example:

    >>> info = attention_maps(NonLocal2D(), np.random.rand(14, 14, 8))
    >>> info["grid"], info["key_grid"], info["attention"].shape
    ((1, 14, 14), (1, 7, 7), (1, 196, 49))
    """
    layer = _find_block(model_or_layer, block)
    features = inputs = _batched(model_or_layer, inputs)
    if layer is not model_or_layer:
        features = keras.Model(model_or_layer.inputs[0], layer.input)(inputs)
    _, attention = layer(features, training=False, return_attention_scores=True)
    attention = keras.ops.convert_to_numpy(attention).astype("float32")
    grid = (1,) * (3 - layer.rank) + tuple(features.shape[1:-1])
    pool = (1,) * (3 - layer.rank) + tuple(layer.pool_size or (1,) * layer.rank)
    return dict(attention=_dense(attention, layer.scope), grid=grid,
                key_grid=tuple(g // p for g, p in zip(grid, pool)), pool_size=pool,
                block=layer.name, scope=layer.scope or "spacetime")


def top_keys(info, query, top_k=20, sample=0):
    """The `top_k` highest-weighted keys of one query, as arrow targets.

    Args:
        info: from `attention_maps()`.
        query: `(t, y, x)` in the query grid (`(y, x)` or `(x,)` for 2D/1D).
        top_k: number of keys (fewer when the scope has fewer).
        sample: index in the batch.

    Returns:
        `(targets, weights)`: float `(k, 3)` block centres `(t, y, x)` in
        query-grid coordinates (key `j` of a grid pooled by `p` covers
        positions `j*p .. j*p+p-1`, centre `j*p + (p-1)/2`), best first, and
        their attention weights.
    """
    row = info["attention"][sample, _query_index(info, query)]
    order = np.argsort(-row, kind="stable")[: min(top_k, int(np.isfinite(row).sum()))]
    keys = np.stack(np.unravel_index(order, info["key_grid"]), axis=-1)
    pool = np.asarray(info["pool_size"])
    return keys * pool + (pool - 1) / 2, row[order]


def plot_attention(frames, info, queries=None, top_k=20, mode="arrows", sample=0, path=None):
    """Draws one sample's attention over its frames, one panel per time step.

    Args:
        frames: images `(T, H, W, 3)` (or `(H, W, 3)`, or 1 channel) in
            [0, 255] or [0, 1] shown behind the grid, any size; panel `t`
            shows frame `(t + 0.5) * T / grid_T`. `None`: grey panels.
        info: from `attention_maps()`.
        queries: `(t, y, x)` query-grid positions (or `"t,y,x"` strings).
            `None`: the 3 positions whose top-k keys hold the most weight,
            in different time steps when there are several.
        top_k: keys per query in `"arrows"` mode.
        mode: `"arrows"` (Figure 3 of the paper: arrows from each query, a
            dot, to its `top_k` keys, across panels) or `"heatmap"` (one row
            per query: its weights over all keys, upsampled on the frames).
        sample: index in the batch.
        path: if given, the figure is saved there as PNG.

    Returns:
        A `matplotlib.figure.Figure`.
    """
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}. Received: mode={mode!r}")
    if queries is None:
        queries = _auto_queries(info, top_k, sample)
    queries = [np.unravel_index(_query_index(info, q), info["grid"]) for q in queries]
    images = _panel_images(frames, info["grid"])
    rows = len(queries) if mode == "heatmap" else 1
    fig = Figure(figsize=(2.4 * len(images), 2.4 * rows + 0.4))
    axes = fig.subplots(rows, len(images), squeeze=False)
    for row, ax_row in enumerate(axes):
        for t, ax in enumerate(ax_row):
            ax.imshow(images[t])
            ax.set_axis_off()
            ax.set_title(f"t={t}", fontsize=9)
        if mode == "heatmap":
            _draw_heatmap(ax_row, images, info, queries[row], sample)
    if mode == "arrows":
        _draw_arrows(fig, axes[0], images, info, queries, top_k, sample)
    fig.suptitle(f"{info['block']} ({info['scope']}): {mode}", fontsize=10)
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def load_clip(path, clip):
    """The centre clip of a video as `clip` (a `keras_nonlocal.Clip`) samples
    it: uint8 `(num_frames, crop_size, crop_size, 3)` RGB, every
    `frame_stride`-th frame, short side scaled to `crop_size`, centre crop
    (one test view at the training crop's size)."""
    from keras_nonlocal.data import VideoError
    from keras_nonlocal.data.views import read_views

    if not os.path.isfile(path):
        raise ValueError(f"Video not found. Received: path={path!r}")
    view = clip.replace(eval_clips=1, eval_crops=1, eval_short_side=clip.crop_size)
    try:
        return read_views(path, view)[0]
    except VideoError as error:
        raise ValueError(f"Cannot read the video: {error}. Received: path={path!r}") from error


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def load_image(path, size=None):
    """An image file as uint8 RGB `(H, W, 3)`, resized (bilinear) to `size`
    `(height, width)` when given (Pillow, matplotlib's own dependency)."""
    from PIL import Image

    if not os.path.isfile(path):
        raise ValueError(f"Image not found. Received: path={path!r}")
    image = Image.open(path).convert("RGB")
    if size is not None:
        image = image.resize((int(size[1]), int(size[0])), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def visualize(model, videos, output_dir, block=None, queries=None, top_k=20, mode="arrows",
              clip=None, preprocess=None, **build_kwargs):
    """Writes one attention PNG per clip or image (see `plot_attention()`).

    Args:
        model: a model with non-local blocks (a video model, or an image
            model such as `zoo.nl_resnet50` or one made by
            `insert_nonlocal`), a non-local layer, a `.keras` path, a zoo
            name (built with random weights and `build_kwargs`) or
            `"name:preset"` (published weights, e.g. `"nl_i3d_r50:kinetics400"`).
        videos: video paths (image paths for an image model), or an array of
            clips / images / layer inputs (with or without the batch axis).
        output_dir: folder of the PNGs, `<video or clipN>_<block>_<mode>.png`.
        block, queries, top_k, mode: as in `attention_maps()`/`plot_attention()`.
        clip: how clips are read from video files: `None` for the model's
            own clip (frames, stride, crop size), a dict of changes to it
            (printed), or a `keras_nonlocal.Clip`.
        preprocess: applied to the batch before the model (e.g.
            `keras.applications.resnet.preprocess_input` for keras.applications'
            ResNets, which take preprocessed images); the pictures show the
            images as given. Default none (the zoo's video models normalise
            their input themselves).

    Returns:
        The paths of the PNGs.
    """
    from keras_nonlocal import zoo

    model = _resolve_model(model, build_kwargs)
    names = [videos] if isinstance(videos, (str, os.PathLike)) else videos
    files = isinstance(names, (list, tuple)) and all(isinstance(v, (str, os.PathLike))
                                                     for v in names)
    if files and isinstance(model, NonLocalBase):
        raise ValueError("A bare non-local layer takes arrays, not video files. "
                         f"Received: videos={names!r}")
    if files and len(model.inputs[0].shape) == 4:  # an image model
        size = tuple(model.inputs[0].shape[1:3])
        clips = np.stack([load_image(p, None if None in size else size) for p in names])
        names = [os.path.splitext(os.path.basename(os.fspath(p)))[0] for p in names]
    elif files:
        clip = zoo.resolve_clip(model, clip)
        clips = np.stack([load_clip(p, clip) for p in names])
        names = [os.path.splitext(os.path.basename(os.fspath(p)))[0] for p in names]
    else:
        clips = _batched(model, videos)
        names = [f"clip{i}" for i in range(len(clips))]
    inputs = clips if preprocess is None else np.asarray(preprocess(np.array(clips, "float32")))
    info = attention_maps(model, inputs, block)
    os.makedirs(output_dir, exist_ok=True)
    paths = []
    for i, name in enumerate(names):
        paths.append(os.path.join(output_dir, f"{name}_{info['block']}_{mode}.png"))
        frames = None if isinstance(model, NonLocalBase) else clips[i]
        plot_attention(frames, info, queries, top_k, mode, sample=i, path=paths[-1])
    return paths


# ---------------------------------------------------------------- helpers


def _find_block(model_or_layer, block):
    if isinstance(model_or_layer, NonLocalBase):
        layers = {model_or_layer.name: model_or_layer}
    else:
        layers = {n: model_or_layer.get_layer(n) for n in nonlocal_blocks(model_or_layer)}
        if not layers:
            raise ValueError(f"The model has no non-local blocks. Received: model={model_or_layer.name!r}")
    if block is None:
        return next(iter(layers.values()))
    if block not in layers:
        raise ValueError(f"Unknown block. Available: {', '.join(layers)}. Received: block={block!r}")
    return layers[block]


def _batched(model_or_layer, inputs):
    layer = isinstance(model_or_layer, NonLocalBase)
    rank = model_or_layer.rank + 2 if layer else len(model_or_layer.inputs[0].shape)
    inputs = np.asarray(inputs, "float32")
    return inputs[None] if inputs.ndim == rank - 1 else inputs


def _dense(attention, scope):
    """Any scope's layout -> `(batch, N, N')` over the whole grids (NaN: out of scope)."""
    if scope not in ("space", "time"):
        return attention
    batch, a, b, c = attention.shape
    if scope == "space":  # (B, T, HW, H'W'): keys in the query's frame
        dense = np.full((batch, a, b, a, c), np.nan, "float32")
        steps = np.arange(a)
        dense[:, steps, :, steps, :] = attention.transpose(1, 0, 2, 3)
        return dense.reshape(batch, a * b, a * c)
    dense = np.full((batch, b, a, c, a), np.nan, "float32")  # (B, HW, T, T'): same place
    places = np.arange(a)
    dense[:, :, places, :, places] = attention.transpose(1, 0, 2, 3)
    return dense.reshape(batch, b * a, c * a)


def _query_index(info, query):
    """Flat index of a `(t, y, x)` query (or `"t,y,x"`), checked against the grid."""
    grid = info["grid"]
    try:
        values = [int(v) for v in (query.split(",") if isinstance(query, str) else query)]
    except (TypeError, ValueError):
        values = None
    if values is not None and 0 < len(values) <= 3:
        values = [0] * (3 - len(values)) + values
        if all(0 <= v < g for v, g in zip(values, grid)):
            return int(np.ravel_multi_index(values, grid))
    raise ValueError(
        f"A query is a position (t, y, x) inside the grid {tuple(grid)} of block "
        f"{info['block']!r}. Received: query={query!r}")


def _auto_queries(info, top_k, sample):
    """The best-concentrated queries (top-k weight mass), one per time step first."""
    rows = np.nan_to_num(info["attention"][sample], nan=-np.inf)
    k = min(top_k, rows.shape[-1])
    scores = -np.sort(-rows, axis=-1)[:, :k]
    scores = np.where(np.isfinite(scores), scores, 0).sum(-1)
    order = np.argsort(-scores, kind="stable")
    steps = order // int(np.prod(info["grid"][1:]))
    firsts = order[np.sort(np.unique(steps, return_index=True)[1])]
    picked = np.concatenate([firsts, order[~np.isin(order, firsts)]])[:AUTO_QUERIES]
    return [np.unravel_index(i, info["grid"]) for i in picked]


def _panel_images(frames, grid):
    if frames is None:
        return np.full(tuple(grid) + (3,), 0.8, "float32")
    frames = np.asarray(frames, "float32")
    frames = frames[None] if frames.ndim == 3 else frames
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3):
        raise ValueError(f"`frames` must be images (T, H, W, 3) or (T, H, W, 1). "
                         f"Received: frames.shape={frames.shape}")
    frames = np.repeat(frames, 3 // frames.shape[-1], axis=-1)
    frames = frames / 255.0 if frames.max() > 1 else frames
    steps = ((np.arange(grid[0]) + 0.5) * len(frames) / grid[0]).astype(int)
    return np.clip(frames[steps], 0, 1)


def _pixels(position, images, grid):
    """Query-grid `(y, x)` (cell centres, may be fractional) -> image pixel `(x, y)`."""
    height, width = images.shape[1:3]
    y, x = position
    return (x + 0.5) * width / grid[2] - 0.5, (y + 0.5) * height / grid[1] - 0.5


def _draw_arrows(fig, axes, images, info, queries, top_k, sample):
    colors = ["#ffdd00", "#00e5ff", "#ff3df2", "#7cff3d", "#ff7f0e"]
    for n, query in enumerate(queries):
        color = colors[n % len(colors)]
        start = _pixels(query[1:], images, info["grid"])
        targets, _ = top_keys(info, query, top_k, sample)
        for rank, (t, y, x) in enumerate(targets):
            fig.add_artist(ConnectionPatch(
                start, _pixels((y, x), images, info["grid"]), "data", "data",
                axesA=axes[query[0]], axesB=axes[int(t)], arrowstyle="->", color=color,
                linewidth=1.0, alpha=1.0 - 0.6 * rank / max(len(targets), 1)))
        axes[query[0]].plot(*start, "o", color=color, markeredgecolor="black", markersize=6)


def _draw_heatmap(axes, images, info, query, sample):
    row = info["attention"][sample, np.ravel_multi_index(query, info["grid"])]
    maps = row.reshape(info["key_grid"])
    low, high = np.nanmin(row), np.nanmax(row)
    (pt, ph, pw), (_, kh, kw), grid = info["pool_size"], info["key_grid"], info["grid"]
    right, bottom = _pixels((kh * ph - 0.5, kw * pw - 0.5), images, grid)
    for t, ax in enumerate(axes):
        if t // pt < len(maps):
            ax.imshow(maps[t // pt], cmap="jet", alpha=0.5, vmin=low, vmax=high,
                      interpolation="bilinear", extent=(-0.5, right, bottom, -0.5))
        ax.set_xlim(-0.5, images.shape[2] - 0.5)
        ax.set_ylim(images.shape[1] - 0.5, -0.5)
    axes[query[0]].plot(*_pixels(query[1:], images, grid), "o", color="white",
                        markeredgecolor="black", markersize=6)


def _resolve_model(model, build_kwargs):
    if not isinstance(model, str):
        return model
    from keras_nonlocal import zoo

    if model in zoo.list_models():
        return zoo.build(model, **dict({"weights": None}, **build_kwargs))
    name, sep, preset = model.partition(":")
    if sep and name in zoo.list_models("video") and not os.path.isfile(model):
        return zoo.build(name, weights=preset, **build_kwargs)  # published weights
    if build_kwargs:
        raise ValueError(f"Builder arguments apply to zoo names only. Received: {build_kwargs}")
    if not os.path.isfile(model):
        raise ValueError(f"Not a .keras file nor a zoo name ({', '.join(zoo.list_models('video'))}). "
                         f"Received: model={model!r}")
    return keras.saving.load_model(model, compile=False)
