"""The `keras-nonlocal` command line."""

import argparse
import sys


def _demo(args):
    from keras_nonlocal import showcase

    showcase.run(quick=args.quick, seed=args.seed)
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
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
