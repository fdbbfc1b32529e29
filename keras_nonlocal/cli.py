"""The `keras-nonlocal` command line."""

import argparse
import sys


def _demo(args):
    from keras_nonlocal.demo import experiment

    experiment.run(output_dir=args.out, seeds=args.seeds, quick=args.quick, workers=args.workers)
    return 0


def _tour(args):
    from keras_nonlocal import showcase

    showcase.run(quick=args.quick, seed=args.seed)
    return 0


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


def _options(items):
    """`--set key=value` items as builder keyword arguments (ints where digits)."""
    kwargs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"options are key=value. Received: {item!r}")
        kwargs[key] = int(value) if value.isdigit() else value
    return kwargs


def _summary(args):
    from keras_nonlocal import zoo

    frames, size = args.input
    kwargs = _options(args.options)
    try:
        zoo.summary(args.model, frames, size, **kwargs)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _make_tfrecords(args):
    from keras_nonlocal import data

    try:
        videos = data.read_videos(args.source, root=args.root, class_names=args.classes)
        result = data.make_tfrecords(
            videos, args.out_dir, name=args.name, num_shards=args.shards,
            short_side=args.short_side or None, quality=args.quality,
            workers=args.workers, progress=not args.quiet)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{len(result['shards'])} shards in {args.out_dir}: {result['written_now']} written "
          f"now, {result['kept']} kept from an earlier run; {result['videos']} videos, "
          f"{len(result['skipped'])} skipped")
    for path, error in sorted(result["skipped"].items()):
        print(f"  skipped {path}: {error}")
    return 0


def _train(args):
    from keras_nonlocal import training

    try:
        recipe = training.load_recipe(args.recipe, args.overrides)
        result = training.train(recipe, verbose=1 if args.progress else 2)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    print(f"done: {len(result['checkpoints'])} checkpoints in {result['output_dir']}/checkpoints")
    return 0


def _load_model(path):
    import os

    import keras

    import keras_nonlocal.training  # noqa: F401 -- registers PaperSGD

    if not os.path.exists(path):
        raise ValueError(f"Checkpoint not found. Received: {path!r}")
    return keras.saving.load_model(path, compile=False)


def _class_names(args, checkpoint):
    import os

    from keras_nonlocal import data

    if args.classes:
        return data.read_class_names(args.classes)
    guess = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(checkpoint))), "classes.txt")
    if os.path.exists(guess):
        return data.read_class_names(guess)
    return None


def _evaluate(args):
    import json
    import os

    from keras_nonlocal import data, training

    try:
        model = _load_model(args.checkpoint)
        videos = data.read_videos(args.data, root=args.root,
                                  class_names=args.classes or _class_names(args, args.checkpoint))
        clips, crops = (1, 1) if args.quick else (args.clips, args.crops)
        output = args.output or os.path.splitext(args.checkpoint)[0] + "_eval.json"
        spec = model.get_layer("preprocessing").get_config()
        metrics = training.evaluate(
            model, videos, num_frames=args.frames or spec["num_frames"],
            frame_stride=args.stride or spec["frame_stride"], num_clips=clips, num_crops=crops,
            short_side=args.short_side, batch_size=args.batch_size, output=output)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    shown = {k: v for k, v in metrics.items() if k not in ("confusion_matrix", "per_class_accuracy")}
    print(json.dumps(shown, indent=1))
    print(f"results: {output}")
    return 0


def _predict(args):
    from keras_nonlocal import training

    try:
        model = _load_model(args.checkpoint)
        names = _class_names(args, args.checkpoint)
        if names is None:
            names = [str(i) for i in range(model.output.shape[-1])]
        spec = model.get_layer("preprocessing").get_config()
        results = training.predict(model, args.videos, names, num_frames=spec["num_frames"],
                                   frame_stride=spec["frame_stride"], num_clips=args.clips,
                                   num_crops=args.crops, short_side=args.short_side)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in args.videos:
        result = results[path]
        if isinstance(result, str):
            print(f"{path}: {result}")
            continue
        print(f"{path}: " + ", ".join(f"{name} {score:.3f}" for name, score in result))
    return 0


def _export(args):
    from keras_nonlocal import training

    try:
        model = _load_model(args.checkpoint)
        training.export_saved_model(model, args.out_dir)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"SavedModel written to {args.out_dir} (signature 'serve': uint8 clips -> scores)")
    return 0


def _visualize(args):
    from keras_nonlocal import visualize

    kwargs = _options(args.options)
    try:
        paths = visualize.visualize(
            args.model, args.videos, args.out, block=args.block, queries=args.query,
            top_k=args.top_k, mode=args.mode, num_frames=args.frames,
            frame_stride=args.stride, crop_size=args.size, **kwargs)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{len(paths)} attention pictures in {args.out}:")
    for path in paths:
        print(f"  {path}")
    return 0


def build_parser():
    from keras_nonlocal import __version__

    parser = argparse.ArgumentParser(
        prog="keras-nonlocal",
        description="Non-local Neural Networks for Keras 3.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
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
    tour = commands.add_parser(
        "tour", help="a short tour of the non-local layers: every mode, exact and memory-bounded"
    )
    tour.add_argument("--quick", action="store_true", help="smaller shapes")
    tour.add_argument("--seed", type=int, default=0)
    tour.set_defaults(func=_tour)
    summary = commands.add_parser(
        "summary", help="params and FLOPs (multiply-accumulates) of a zoo model, per stage"
    )
    summary.add_argument("model", help="a zoo name, see keras_nonlocal.zoo.list_models()")
    summary.add_argument("--input", type=_parse_clip, default=(32, 224),
                         help="clip as FRAMESxHEIGHTxWIDTH (default 32x224x224)")
    summary.add_argument("--set", dest="options", action="append", default=[],
                         metavar="KEY=VALUE",
                         help="a builder argument, e.g. --set sampling=8x8 --set stride_on=3x3")
    summary.set_defaults(func=_summary)
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
    tfr.add_argument("--quiet", action="store_true", help="no progress bar")
    tfr.set_defaults(func=_make_tfrecords)

    train = commands.add_parser("train", help="train a zoo model from a recipe (resumable)")
    train.add_argument("recipe", help="a .toml recipe or a name in zoo/recipes/")
    train.add_argument("overrides", nargs="*", metavar="key=value", help="recipe overrides")
    train.add_argument("--progress", action="store_true", help="a progress bar per step")
    train.set_defaults(func=_train)

    def view_args(p):
        p.add_argument("--clips", type=int, default=10, help="clips per video (10)")
        p.add_argument("--crops", type=int, default=3, help="crops per clip (3)")
        p.add_argument("--short-side", type=int, default=256)

    evaluate = commands.add_parser("evaluate", help="multi-view testing of a checkpoint")
    evaluate.add_argument("checkpoint", help="a .keras checkpoint")
    evaluate.add_argument("data", help="videos: a folder per class or a list")
    evaluate.add_argument("--root")
    evaluate.add_argument("--classes", help="class names file (default: the run's classes.txt)")
    evaluate.add_argument("--quick", action="store_true", help="1 clip x 1 crop")
    evaluate.add_argument("--frames", type=int, help="frames per clip (default: the model's)")
    evaluate.add_argument("--stride", type=int, help="frame stride (default: the model's)")
    evaluate.add_argument("--batch-size", type=int, default=4)
    evaluate.add_argument("--output", help="results JSON (default: next to the checkpoint)")
    view_args(evaluate)
    evaluate.set_defaults(func=_evaluate)

    predict = commands.add_parser("predict", help="top-5 classes of videos")
    predict.add_argument("checkpoint")
    predict.add_argument("videos", nargs="+")
    predict.add_argument("--classes")
    view_args(predict)
    predict.set_defaults(func=_predict)

    export = commands.add_parser("export", help="a SavedModel taking uint8 clips")
    export.add_argument("checkpoint")
    export.add_argument("out_dir")
    export.set_defaults(func=_export)

    vis = commands.add_parser(
        "visualize", help="what a non-local block attends to, as PNGs (the paper's Figure 3)")
    vis.add_argument("model", help="a .keras model or a zoo name (random weights)")
    vis.add_argument("videos", nargs="+")
    vis.add_argument("--out", required=True, help="folder of the PNGs")
    vis.add_argument("--block", help="a non-local block's name (default: the first)")
    vis.add_argument("--mode", choices=("arrows", "heatmap"), default="arrows")
    vis.add_argument("--top-k", type=int, default=20, help="arrows per query (20)")
    vis.add_argument("--query", action="append", metavar="T,Y,X",
                     help="a query position in the block's grid (repeatable; default: auto)")
    vis.add_argument("--frames", type=int, help="frames per clip (default: the model's)")
    vis.add_argument("--stride", type=int, help="frame stride (default: the model's)")
    vis.add_argument("--size", type=int, help="crop size (default: the model's)")
    vis.add_argument("--set", dest="options", action="append", default=[], metavar="KEY=VALUE",
                     help="a zoo builder argument, e.g. --set base_width=8")
    vis.set_defaults(func=_visualize)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
