"""The `keras-nonlocal` command line."""

import argparse
import sys


def _demo(args):
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


def _summary(args):
    from keras_nonlocal import zoo

    frames, size = args.input
    kwargs = {}
    for item in args.options:
        key, _, value = item.partition("=")
        if not _:
            raise SystemExit(f"options are key=value. Received: {item!r}")
        kwargs[key] = int(value) if value.isdigit() else value
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


def build_parser():
    from keras_nonlocal import __version__

    parser = argparse.ArgumentParser(
        prog="keras-nonlocal",
        description="Non-local Neural Networks for Keras 3.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="a short tour of the non-local layers on built-in data"
    )
    demo.add_argument("--quick", action="store_true", help="smaller shapes")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
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
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
