"""The command line: one parser for `key=value`, clean output."""

import re
import subprocess
import sys

import pytest

from keras_nonlocal import cli
from helpers import backend_env

ENV = backend_env("tensorflow")
ENV.pop("TF_CPP_MIN_LOG_LEVEL", None)
CPP_LOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+|absl::InitializeLog", re.M)


def test_set_values_are_parsed_by_the_builder_argument_type():
    """Before: only digit strings became ints, so `include_preprocessing=False`
    passed a truthy string and `dropout=0.1` ended in a traceback."""
    options = cli._builder_options("nl_c2d_r50", [
        "include_preprocessing=False", "dropout=0.1", "base_width=8", "sampling=8x8",
        "nonlocal_kwargs={'scope': 'space'}", "classes=3", "classifier_activation=None"])
    assert options == dict(include_preprocessing=False, dropout=0.1, base_width=8,
                           sampling="8x8", nonlocal_kwargs={"scope": "space"}, classes=3,
                           classifier_activation=None)
    for key, value in options.items():
        assert type(value) is type(options[key])
    with pytest.raises(ValueError, match="`include_preprocessing` must be bool"):
        cli._builder_options("nl_c2d_r50", ["include_preprocessing=maybe"])
    with pytest.raises(ValueError, match=r"unknown key `dropuot`. Did you mean 'dropout'"):
        cli._builder_options("nl_c2d_r50", ["dropuot=0.1"])


def test_summary_with_typed_settings(capsys):
    assert cli.main(["summary", "nl_c2d_r50", "--input", "4x32", "--set", "dropout=0.1",
                     "--set", "include_preprocessing=False", "--set", "base_width=8"]) == 0
    assert "nl_c2d_r50 at 4x32x32" in capsys.readouterr().out
    assert cli.main(["summary", "nl_c2d_r50", "--set", "publisher=keras"]) == 2
    assert "Received: publisher='keras'" in capsys.readouterr().err


def test_verbose_shows_tensorflow_log_lines_again():
    quiet = subprocess.run([sys.executable, "-m", "keras_nonlocal.cli", "summary", "c2d_r50",
                            "--input", "4x32"], env=ENV, capture_output=True, text=True,
                           timeout=300)
    verbose = subprocess.run([sys.executable, "-m", "keras_nonlocal.cli", "--verbose", "summary",
                              "c2d_r50", "--input", "4x32"], env=ENV, capture_output=True,
                             text=True, timeout=300)
    assert quiet.returncode == verbose.returncode == 0
    assert not CPP_LOG.search(quiet.stderr) and CPP_LOG.search(verbose.stderr)


def test_noise_filter_keeps_everything_else():
    from keras_nonlocal import console

    assert console.is_noise(b"I0000 00:00:1796003973.359327    2523 port.cc:153] oneDNN ...\n")
    assert console.is_noise(b"E0000 00:00:1796003973.359327    2523 meta_optimizer.cc:9] x\n")
    assert console.is_noise(b"WARNING: All log messages before absl::InitializeLog() is "
                            b"called are written to STDERR\n")
    assert not console.is_noise(b"Traceback (most recent call last):\n")
    assert not console.is_noise(b"WARNING: something the user must know\n")
    assert console.running_cli(["python", "-m", "keras_nonlocal.cli", "train"])
    assert console.running_cli(["/venv/bin/python", "/venv/bin/keras-nonlocal", "demo"])
    assert not console.running_cli(["python", "-m", "keras_nonlocal.cli", "--verbose", "x"])
    assert not console.running_cli(["python", "-m", "pytest", "tests"])


def test_an_option_has_one_meaning_and_renamed_ones_still_work(capsys):
    """`--size` meant the crop in `visualize` and the test side in `export`:
    now `--crop-size` and `--short-side` (as in evaluate, predict and
    features); `--size` still works for this release, with a warning naming
    the new option."""
    parser = cli.build_parser()
    args = parser.parse_args(["export", "m.keras", "out.onnx", "--short-side", "64"])
    assert args.short_side == 64
    args = parser.parse_args(["export", "m.keras", "out.onnx", "--size", "96"])
    assert args.short_side == 96
    assert "warning: --size is renamed --short-side" in capsys.readouterr().err
    args = parser.parse_args(["visualize", "m.keras", "v.mp4", "--out", "o", "--size", "48"])
    assert args.crop_size == 48 and cli._clip_changes(args)["crop_size"] == 48
    assert "warning: --size is renamed --crop-size" in capsys.readouterr().err
    assert "--size" not in parser.format_help()
    for command in ("export", "visualize"):
        subparsers = next(a for a in parser._actions if isinstance(a, cli.argparse._SubParsersAction))
        assert "--size" not in subparsers.choices[command].format_help()
