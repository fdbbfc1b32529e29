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
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
