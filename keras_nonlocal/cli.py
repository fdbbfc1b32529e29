"""The `keras-nonlocal` command line.

Argument parsing needs no Keras backend, so `--help` works on an install
without one; a command that needs one says which extra to install. The
commands run on any backend's install (`[jax]`, `[torch]`) except those
that need TensorFlow (training, `evaluate` and `make-tfrecords` read data
through tf.data; `export`'s converters are TensorFlow's), which say so.
"""

import argparse
import os
import sys

from keras_nonlocal.protocol import PROTOCOLS

PROTOCOL_NAMES = tuple(PROTOCOLS)

# Exit codes: 2 for a bad argument or input (the message names it), 3 for a
# training run stopped by a non-finite loss.
BAD_INPUT, STOPPED = 2, 3


def _demo(args):
    from keras_nonlocal.demo import experiment

    experiment.run(output_dir=args.out, seeds=args.seeds, quick=args.quick, workers=args.workers)


def _tour(args):
    from keras_nonlocal.demo import tour

    tour.run(quick=args.quick, seed=args.seed)


def _parse_clip(text):
    """'32x224x224' or '32x224' -> (frames, size)."""
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (2, 3) or (len(values) == 3 and values[1] != values[2]):
        raise argparse.ArgumentTypeError(
            f"expected FRAMESxSIZE or FRAMESxSIZExSIZE (square). Received: {text!r}"
        )
    return values[0], values[1]


def _builder_options(model, items):
    """`--set key=value` items as the zoo builder's keyword arguments, each
    parsed by the type of the argument's default (see `keras_nonlocal.settings`)."""
    from keras_nonlocal import zoo
    from keras_nonlocal.settings import parse_assignments
    from keras_nonlocal.settings import signature_kinds

    builder = zoo.model_info(model).builder
    return parse_assignments(items, signature_kinds(builder), source="--set")


def _summary(args):
    from keras_nonlocal import zoo

    frames, size = args.input
    zoo.summary(args.model, frames, size, **_builder_options(args.model, args.options))


def _make_tfrecords(args):
    from keras_nonlocal import data

    videos = data.read_videos(args.source, root=args.root, class_names=args.classes)
    result = data.make_tfrecords(
        videos, args.out_dir, name=args.name, num_shards=args.shards,
        short_side=args.short_side or None, quality=args.quality,
        workers=args.workers, progress=not args.quiet)
    print(f"{len(result['shards'])} shards in {args.out_dir}: {result['written_now']} written "
          f"now, {result['kept']} kept from an earlier run; {result['videos']} videos, "
          f"{len(result['skipped'])} skipped")
    for path, error in sorted(result["skipped"].items()):
        print(f"  skipped {path}: {error}")


def _train(args):
    from keras_nonlocal import training

    recipe = training.load_recipe(args.recipe, args.overrides)
    result = training.train(recipe, verbose=1 if args.progress else 2)
    print(f"done: {len(result['checkpoints'])} checkpoints in {result['output_dir']}/checkpoints")


def _load_model(spec):
    """A `.keras` file, or `MODEL:PRESET` (a zoo model with published weights)."""
    import keras

    if os.path.isfile(spec):
        return keras.saving.load_model(spec, compile=False)
    name, sep, preset = spec.partition(":")
    if sep:
        from keras_nonlocal import zoo

        return zoo.build(name, weights=preset)
    raise ValueError(f"Not a .keras file, nor MODEL:PRESET (e.g. nl_i3d_r50:kinetics400; "
                     f"presets: keras_nonlocal.zoo.list_weights()). Received: {spec!r}")


def _output_next_to(spec, suffix):
    base = os.path.splitext(spec)[0] if os.path.isfile(spec) else spec.replace(":", "-")
    return base + suffix


def _convert(args):
    from keras_nonlocal import zoo

    options = _builder_options(args.model, args.options)
    model = zoo.build(args.model, weights=args.file, **options)
    if not args.out.endswith(".keras"):
        raise ValueError(f"The output is a .keras file. Received: {args.out!r}")
    model.save(args.out)
    clip = zoo.preprocessing_spec(model)
    names = f"{len(clip.class_names)} class names" if clip.class_names else "no class names"
    print(f"{args.file} -> {args.out}: {model.name}, {model.count_params():,} weights, clip "
          f"{clip.num_frames}x{clip.frame_stride}, {clip.channel_order} mean {clip.mean} "
          f"std {clip.std}, {names}")


def _clip_changes(args):
    """The clip settings given on the command line (None: the model's)."""
    names = dict(frames="num_frames", stride="frame_stride", clips="eval_clips",
                 crops="eval_crops", short_side="eval_short_side", crop_size="crop_size",
                 protocol="protocol")
    changes = {clip_key: getattr(args, arg, None) for arg, clip_key in names.items()}
    if getattr(args, "quick", False):
        changes.update(eval_clips=1, eval_crops=1)
    return changes


def _evaluate(args):
    import json

    from keras_nonlocal import data
    from keras_nonlocal import training
    from keras_nonlocal import zoo
    from keras_nonlocal.extras import require_tensorflow

    require_tensorflow("evaluate (its tf.data pipeline)")
    model = _load_model(args.checkpoint)
    clip = zoo.resolve_clip(model, _clip_changes(args))
    classes = args.classes or (list(clip.class_names) if clip.class_names else None)
    if _is_tfrecords(args.data):
        if args.classes:
            clip = clip.replace(class_names=tuple(data.read_class_names(args.classes)))
        videos = data.TFRecords(args.data, frame_rate=args.frame_rate, resample=args.resample,
                                multi_label=bool(args.multi_label))
    else:
        videos = data.read_videos(args.data, root=args.root, class_names=classes)
    output = args.output or _output_next_to(args.checkpoint, "_eval.json")
    metrics = training.evaluate(model, videos, clip=clip, batch_size=args.batch_size,
                                output=output)
    shown = {k: v for k, v in metrics.items()
             if k not in ("confusion_matrix", "per_class_accuracy", "per_video")}
    print(json.dumps(shown, indent=1))
    rules = PROTOCOLS[metrics["protocol"]]
    figure = "mAP" if "mAP" in metrics else "top1"
    readable, listed = metrics[figure], metrics["listed"][figure]
    print(f"protocol {rules.name} ({rules.title}): {metrics['views_per_video']} views per video, "
          f"clip starts {rules.clip_starts!r}, crops {rules.crop_positions!r}, views combined "
          f"by {rules.combine_for('mAP' in metrics)}; {figure} {100 * readable:.2f} over "
          f"{metrics['videos']} readable videos, {100 * listed:.2f} over "
          f"{metrics['listed']['videos']} listed (reported: {rules.denominator})")
    print(f"results: {output}")


def _is_tfrecords(path):
    """A `.tfrecord` file or pattern (`shards/val-*.tfrecord`)."""
    return str(path).endswith((".tfrecord", ".tfrecords")) or ".tfrecord-" in str(path)


def _shards_among(command, paths):
    """The TFRecord shards of a command's inputs (empty for video files);
    a mix of both is a ValueError."""
    records = [p for p in paths if _is_tfrecords(p)]
    if records and len(records) != len(paths):
        raise ValueError(f"{command} takes video files or TFRecord shards, not both. Received: "
                         f"{len(records)} shards among {len(paths)} arguments")
    return records


def _placed_model(spec, strategy):
    """The model of `spec` loaded under `strategy`'s placement (so a batch
    splits over its devices), and the placement."""
    from keras_nonlocal.training.distribution import place

    placement = place(strategy)
    with placement.scope():
        model = _load_model(spec)
    return model, placement


def _features(args):
    from keras_nonlocal import data
    from keras_nonlocal import features

    model, placement = _placed_model(args.model, args.strategy)
    records = _shards_among("features", args.videos)
    if records:
        videos = data.TFRecords(records, frame_rate=args.frame_rate, resample=args.resample)
        print(f"features of the records of {len(videos.paths())} shards on "
              f"{placement.describe()}", flush=True)
    else:
        videos = data.find_videos(args.videos, root=args.root)
        print(f"features of {len(videos)} videos on {placement.describe()}", flush=True)
    result = features.write_features(
        model, videos, args.out, overwrite=args.overwrite, layer=args.layer,
        pooling=None if args.pooling == "none" else args.pooling, hop=args.hop,
        crops=args.crops, short_side=args.short_side, batch_size=args.batch_size,
        decoders=args.decoders, placement=placement, progress=not args.quiet,
        engine=args.engine)
    print(f"features of {len(result['written'])} videos written to {args.out}, "
          f"{len(result['kept'])} kept from an earlier run, {len(result['skipped'])} skipped")
    for path, error in sorted(result["skipped"].items()):
        print(f"  skipped {path}: {error}")
    if result["skipped"] and not (result["written"] or result["kept"]):
        raise ValueError(f"No video could be read. Received: {args.videos}")


def _timeline(args, model, names):
    from keras_nonlocal import timeline

    if args.output and len(args.videos) > 1:
        raise ValueError(f"--output names one file; give one video, or none (each timeline "
                         f"goes next to its video). Received: {len(args.videos)} videos")
    for path in args.videos:
        windows = timeline.predict_timeline(model, path, top=args.top, class_names=names,
                                            clip=_clip_changes(args), hop=args.hop,
                                            crops=args.crops or 1)
        output = args.output or os.path.splitext(path)[0] + "_timeline.json"
        timeline.write_timeline(windows, output)
        picture = timeline.plot_timeline(windows, os.path.splitext(output)[0] + ".png",
                                         classes=min(args.top, 5), title=os.path.basename(path))
        print(f"{path}: {len(windows)} windows -> {output}, {picture}")
        for entry in windows:
            best = entry["top"][0]
            print(f"  {entry['start']:8.2f}-{entry['end']:8.2f} s  {best['class']} "
                  f"{best['score']:.3f}")


def _predict(args):
    from keras_nonlocal import data
    from keras_nonlocal import training

    model = _load_model(args.checkpoint)
    names = data.read_class_names(args.classes) if args.classes else None
    if args.timeline:
        return _timeline(args, model, names)
    if args.hop is not None or args.output:
        raise ValueError("--hop and --output go with --timeline. Received: no --timeline")
    records = _shards_among("predict", args.videos)
    sources = data.TFRecords(records) if records else args.videos
    results = training.predict(model, sources, clip=_clip_changes(args), class_names=names)
    for path in (results if records else args.videos):
        result = results[path]
        if isinstance(result, str):
            print(f"{path}: {result}")
            continue
        print(f"{path}: " + ", ".join(f"{name} {score:.3f}" for name, score in result))


def _export(args):
    from keras_nonlocal import export

    model = _load_model(args.checkpoint)
    export.export(model, args.out, format=args.format, frames=args.frames, size=args.short_side)
    record = export.clip_record_path(args.out, args.format)
    print(f"{args.format} written to {args.out} (uint8 clips in, the model's outputs out, any "
          f"batch; the clip record in {record})")
    try:
        difference, scale = export.verify(args.out, args.format, model)
    except ModuleNotFoundError as error:
        print(f"not checked: its runtime ({error.name}) is not installed")
        return
    print(f"checked in {export.RUNTIMES[args.format]} against Keras on 2 random clips: max "
          f"|difference| {difference:.2g} (outputs up to {scale:.3g})")


def _visualize(args):
    from keras_nonlocal import visualize
    from keras_nonlocal import zoo

    kwargs = {}
    if args.options:
        if args.model not in zoo.list_models():
            raise ValueError(f"--set applies to zoo names only. Received: {args.options}")
        kwargs = _builder_options(args.model, args.options)
    preprocess = None
    if args.preprocess == "caffe":
        import keras

        preprocess = keras.applications.resnet.preprocess_input
    paths = visualize.visualize(
        args.model, args.videos, args.out, block=args.block, queries=args.query,
        top_k=args.top_k, mode=args.mode, clip=_clip_changes(args), preprocess=preprocess,
        **kwargs)
    print(f"{len(paths)} attention pictures in {args.out}:")
    for path in paths:
        print(f"  {path}")


class _Renamed(argparse.Action):
    """An option renamed in this release: still taken, with a warning naming
    the new one (each option has one meaning across commands)."""

    def __init__(self, option_strings, dest, new=None, **kwargs):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"warning: {option_string} is renamed {self.new} and will be removed; use "
              f"{self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _add_renamed(parser, old, new, **kwargs):
    """`old` as a hidden, warning alias of the option `new`."""
    parser.add_argument(old, dest=new.lstrip("-").replace("-", "_"), action=_Renamed, new=new,
                        help=argparse.SUPPRESS, **kwargs)


def _add_clip_options(parser):
    """Adds the options that change the model's test clip (None: the model's)."""
    parser.add_argument("--frames", type=int, help="frames per clip (default: the model's)")
    parser.add_argument("--stride", type=int, help="frame stride (default: the model's)")
    parser.add_argument("--clips", type=int, help="clips per video (default: the model's, 10)")
    parser.add_argument("--crops", type=int, help="crops per clip (default: the model's, 3)")
    parser.add_argument("--short-side", type=int,
                        help="test short side and crop size (default: the model's, 256)")
    parser.add_argument("--protocol", choices=PROTOCOL_NAMES,
                        help="where the test clips start and the crops lie, how views combine "
                             "and which videos count: a publisher's (default: the model's, its "
                             "preset's publisher's)")


def _add_builder_options(parser, help_text):
    """Adds `--set KEY=VALUE`, the zoo builder's arguments (see `_builder_options`)."""
    parser.add_argument("--set", dest="options", action="append", default=[],
                        metavar="KEY=VALUE", help=help_text)


def _add_model_classes(parser):
    """Adds `--classes`, a class names file in place of the model's."""
    parser.add_argument("--classes", help="class names file (default: the model's classes)")


def _add_frame_rate_options(parser, help_text):
    """Adds `--frame-rate` (with `help_text`) and `--resample`, for TFRecord shards."""
    parser.add_argument("--frame-rate", type=float, help=help_text)
    parser.add_argument("--resample", action="store_true",
                        help="TFRecords at another frame rate: take each frame at its time")


def _add_quiet(parser):
    """Adds `--quiet`, no progress bar."""
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_demo(commands):
    """Adds the `demo` command."""
    demo = commands.add_parser(
        "demo", help="C2D vs NL-C2D trained and tested on built-in videos made for non-local"
    )
    demo.add_argument("--out", default="demo_output", help="output folder (default demo_output)")
    demo.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                      help="one training run per model and seed (default 0 1 2)")
    demo.add_argument("--quick", action="store_true",
                      help="a few videos and steps: checks the machinery, not the result")
    demo.add_argument("--workers", type=int, default=2,
                      help="training runs at once, one process each, sharing the cores (default 2)")
    demo.set_defaults(func=_demo)


def _add_tour(commands):
    """Adds the `tour` command."""
    tour = commands.add_parser(
        "tour", help="a short tour of the non-local layers: every mode, exact and memory-bounded"
    )
    tour.add_argument("--quick", action="store_true", help="smaller shapes")
    tour.add_argument("--seed", type=int, default=0)
    tour.set_defaults(func=_tour)


def _add_summary(commands):
    """Adds the `summary` command."""
    summary = commands.add_parser(
        "summary", help="params and FLOPs (multiply-accumulates) of a zoo model, per stage"
    )
    summary.add_argument("model", help="a zoo name, see keras_nonlocal.zoo.list_models()")
    summary.add_argument("--input", type=_parse_clip, default=(32, 224),
                         help="clip as FRAMESxHEIGHTxWIDTH (default 32x224x224)")
    _add_builder_options(
        summary, "a builder argument, e.g. --set sampling=8x8 --set publisher=pytorchvideo")
    summary.set_defaults(func=_summary)


def _add_make_tfrecords(commands):
    """Adds the `make-tfrecords` command."""
    tfr = commands.add_parser(
        "make-tfrecords",
        help="convert videos (a list or class folders) into TFRecord shards; resumable")
    tfr.add_argument("source", help="a folder per class, a path,label CSV/TXT, a Kinetics CSV "
                     "or a PySlowFast 'path label' list")
    tfr.add_argument("out_dir")
    tfr.add_argument("--root", help="folder the list's paths are relative to")
    tfr.add_argument("--classes", help="class names file, one per line")
    tfr.add_argument("--name", default="videos", help="shard name prefix")
    tfr.add_argument("--shards", type=int, help="number of shards (default: ~50 videos each)")
    tfr.add_argument("--short-side", type=int, default=256, help="resize frames (0: keep)")
    tfr.add_argument("--quality", type=int, default=90, help="JPEG quality")
    tfr.add_argument("--workers", type=int, default=2)
    _add_quiet(tfr)
    tfr.set_defaults(func=_make_tfrecords)


def _add_train(commands):
    """Adds the `train` command."""
    train = commands.add_parser("train", help="train a zoo model from a recipe (resumable)")
    train.add_argument("recipe", help="a .toml recipe or the name of a shipped one "
                       "(keras_nonlocal.training.list_recipes())")
    train.add_argument("overrides", nargs="*", metavar="key=value", help="recipe overrides")
    train.add_argument("--progress", action="store_true", help="a progress bar per step")
    train.set_defaults(func=_train)


def _add_evaluate(commands):
    """Adds the `evaluate` command."""
    evaluate = commands.add_parser(
        "evaluate", help="multi-view testing of a checkpoint, with the clip it was trained on")
    evaluate.add_argument("checkpoint", help="a .keras checkpoint, or MODEL:PRESET")
    evaluate.add_argument("data", help="videos: a folder per class or a list; or TFRecord "
                          "shards (a .tfrecord file or pattern, Model Garden or DMVR records)")
    evaluate.add_argument("--root")
    _add_model_classes(evaluate)
    evaluate.add_argument("--quick", action="store_true", help="1 clip x 1 crop")
    evaluate.add_argument("--batch-size", type=int, default=4)
    evaluate.add_argument("--output", help="results JSON (default: next to the checkpoint)")
    _add_frame_rate_options(
        evaluate, "TFRecords: the frame rate the model's stride assumes (30 for Kinetics); "
                  "shards recording another are refused unless --resample")
    evaluate.add_argument("--multi-label", action="store_true",
                          help="TFRecords: labels are sets (mAP), as for Charades")
    _add_clip_options(evaluate)
    evaluate.set_defaults(func=_evaluate)


def _add_predict(commands):
    """Adds the `predict` command."""
    predict = commands.add_parser(
        "predict", help="top-5 classes of videos, or of every window along them (--timeline)")
    predict.add_argument("checkpoint", help="a .keras checkpoint, or MODEL:PRESET "
                         "(e.g. nl_i3d_r50:kinetics400)")
    predict.add_argument("videos", nargs="+")
    _add_model_classes(predict)
    predict.add_argument("--timeline", action="store_true",
                         help="the model's clip slid over each video: top classes per window, "
                              "as JSON or CSV, and a PNG")
    predict.add_argument("--top", type=int, default=5, help="classes per video or window (5)")
    predict.add_argument("--hop", type=int,
                         help="--timeline: frames between windows (default frames x stride)")
    predict.add_argument("--output", help="--timeline: the .json or .csv file (default "
                         "<video>_timeline.json; the PNG beside it)")
    _add_clip_options(predict)
    predict.set_defaults(func=_predict)


def _add_features(commands):
    """Adds the `features` command."""
    feats = commands.add_parser(
        "features", help="features of whole videos, one row per window, as .npy + .json; "
                         "resumable")
    feats.add_argument("model", help="a .keras checkpoint, or MODEL:PRESET")
    feats.add_argument("videos", nargs="+",
                       help="folders (walked recursively), list files, or video files")
    feats.add_argument("--out", required=True, help="output folder")
    feats.add_argument("--root", help="folder a list's relative paths start from")
    feats.add_argument("--hop", type=int, help="frames between windows (default frames x stride)")
    feats.add_argument("--crops", type=int, choices=(1, 3), default=1,
                       help="crops per clip (a window is a clip), their outputs averaged "
                            "(1: the centre)")
    feats.add_argument("--short-side", type=int,
                       help="test short side and crop side (default: the model's)")
    feats.add_argument("--layer", help="the stage, a Keras layer name (default the res5 output)")
    feats.add_argument("--pooling", choices=("avg", "max", "none"), default="avg")
    feats.add_argument("--batch-size", type=int, default=4, help="windows per model call (4)")
    feats.add_argument("--decoders", type=int, default=2, help="videos decoded at once (2)")
    feats.add_argument("--engine", choices=("threads", "tf.data"), default="threads",
                       help="who decodes: Python threads (any install) or a tf.data pipeline")
    feats.add_argument("--strategy", default="auto",
                       help="devices: a training strategy name (auto: every device there is)")
    feats.add_argument("--overwrite", action="store_true", help="redo videos already written")
    _add_frame_rate_options(
        feats, "TFRecord shards: the frame rate the clip's stride assumes; shards recording "
               "another are refused unless --resample (and the times of records without one)")
    _add_quiet(feats)
    feats.set_defaults(func=_features)


def _add_export(commands):
    """Adds the `export` command."""
    export = commands.add_parser(
        "export", help="a SavedModel, ONNX or LiteRT file taking uint8 clips, checked in its "
                       "runtime")
    export.add_argument("checkpoint", help="a .keras checkpoint, or MODEL:PRESET")
    export.add_argument("out", help="a folder (saved_model) or a file (.onnx, .tflite)")
    export.add_argument("--format", choices=("saved_model", "onnx", "litert"),
                        default="saved_model")
    export.add_argument("--frames", type=int,
                        help="onnx / litert: frames per clip (default: the model's)")
    export.add_argument("--short-side", type=int,
                        help="onnx / litert: the test short side, the square side of the "
                             "frames (default: the model's)")
    _add_renamed(export, "--size", "--short-side", type=int)
    export.set_defaults(func=_export)


def _add_convert(commands):
    """Adds the `convert` command."""
    convert = commands.add_parser(
        "convert", help="a published checkpoint (Caffe2 .pkl, PyTorch .pyth/.pth) into a .keras "
                        "model that carries its clip and class names")
    convert.add_argument("file", help="the checkpoint (its format is told by its content)")
    convert.add_argument("out", help="the .keras file to write")
    convert.add_argument("--model", required=True, help="the zoo builder, e.g. nl_i3d_r50")
    _add_builder_options(convert, "builder arguments that give the network, "
                         "e.g. --set sampling=8x8 --set publisher=release")
    convert.set_defaults(func=_convert)


def _add_visualize(commands):
    """Adds the `visualize` command."""
    vis = commands.add_parser(
        "visualize", help="what a non-local block attends to, as PNGs (the paper's Figure 3)")
    vis.add_argument("model", help="a .keras model or a zoo name (random weights; nl_resnet50 "
                     "and nl_resnet101 take images)")
    vis.add_argument("videos", nargs="+", help="videos (images for an image model)")
    vis.add_argument("--preprocess", choices=("none", "caffe"), default="none",
                     help="an image model's input: caffe = keras.applications.resnet's "
                          "preprocess_input (for nl_resnet50/101); none: as read")
    vis.add_argument("--out", required=True, help="folder of the PNGs")
    vis.add_argument("--block", help="a non-local block's name (default: the first)")
    vis.add_argument("--mode", choices=("arrows", "heatmap"), default="arrows")
    vis.add_argument("--top-k", type=int, default=20, help="arrows per query (20)")
    vis.add_argument("--query", action="append", metavar="T,Y,X",
                     help="a query position in the block's grid (repeatable; default: auto)")
    vis.add_argument("--frames", type=int, help="frames per clip (default: the model's)")
    vis.add_argument("--stride", type=int, help="frame stride (default: the model's)")
    vis.add_argument("--crop-size", type=int, help="crop size (default: the model's)")
    _add_renamed(vis, "--size", "--crop-size", type=int)
    _add_builder_options(vis, "a zoo builder argument, e.g. --set base_width=8")
    vis.set_defaults(func=_visualize)


def build_parser():
    """The `keras-nonlocal` argument parser, a sub-command each."""
    from keras_nonlocal import __version__

    parser = argparse.ArgumentParser(
        prog="keras-nonlocal",
        description="Non-local Neural Networks for Keras 3.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("--verbose", action="store_true",
                        help="also show TensorFlow's C++ log lines (hidden by default; so they "
                             "are when TF_CPP_MIN_LOG_LEVEL is set)")
    commands = parser.add_subparsers(dest="command", required=True)
    for add_command in (_add_demo, _add_tour, _add_summary, _add_make_tfrecords, _add_train,
                        _add_evaluate, _add_predict, _add_features, _add_export, _add_convert,
                        _add_visualize):
        add_command(commands)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        from keras_nonlocal.training.distribution import enable_compilation_cache

        enable_compilation_cache()
        args.func(args)
    except ModuleNotFoundError as error:
        from keras_nonlocal.extras import missing_backend_message

        if error.name not in ("tensorflow", "jax", "jaxlib", "torch"):
            raise
        print(f"error: {missing_backend_message(error)}", file=sys.stderr)
        return BAD_INPUT
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return BAD_INPUT
    except RuntimeError as error:
        if type(error).__name__ != "NonFiniteLossError":
            raise
        print(f"error: {error}", file=sys.stderr)
        return STOPPED
    return 0


if __name__ == "__main__":
    sys.exit(main())
