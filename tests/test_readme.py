"""README.md, run: every fenced code block, every inline command, every relative link.

- ```python blocks run each alone, in a temporary folder holding the files
  the README's examples name (`my_videos/`, one folder per class, `video.mp4`
  and `model.keras`, a width-8 NL-C2D). The published weights a block names
  are placed in a temporary Keras cache first, as tests/weights/test_presets.py
  (a release checkpoint written by `references`) and tests/zoo/test_images.py
  (`helpers.prefill_keras_cache`) do: the hosts cannot be reached here.
- ```bash / ```sh / ```console blocks: every command line starting with
  `keras-nonlocal` runs, in README order, through the command's entry point
  `keras_nonlocal.cli:main` (what the installed `keras-nonlocal` script calls,
  checked below) in one Python process in that folder, and must exit 0. Any
  other command line must be in NOT_RUN, with the reason.
- A block in another language fails unless NOT_RUN_LANGUAGES names it: a new
  block is run, or said why not, never skipped in silence.
- Inline `keras-nonlocal ...` spans (README.md and docs/) and the docs' shell
  command lines (full-size examples, not run) parse with the command line's
  own parser.
- Relative links of README.md and docs/*.md point to existing files (and
  headings, for `#anchors`).
"""

import glob
import importlib.metadata
import os
import re
import shlex
import shutil
import tomllib

import pytest

import references
import video_factory
from helpers import backend_env
from helpers import prefill_keras_cache
from helpers import run_cli_lines

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")

PYTHON = ("python",)
SHELL = ("bash", "sh", "console")
NOT_RUN_LANGUAGES = {"bibtex": "the citation: a BibTeX entry, not a program"}
# Command lines of shell blocks that are not run, by program, and why.
NOT_RUN = {
    "make": "`make test` is what CI runs (.ci/run), this file among the others; `make demo` "
            "is exercised by tests/demo/test_demo.py (`keras-nonlocal demo --quick`, the same "
            "code on a few videos); `make tour` by tests/test_packaging.py (`keras-nonlocal "
            "tour --quick`). Their targets are checked to exist in the Makefile.",
    "pip": "needs the network (PyPI); the extras named are checked against pyproject.toml",
    "git": "needs the network or a clone of the repository",
}
# The files the README's examples name: classes as the model's class names.
CLASSES = ("red", "green", "blue")
VIDEO_FRAMES = 16


def _split(path):
    """The file's fenced blocks, [(language, first line number, code)], and
    the text outside them (a blank line where each block was)."""
    blocks, outside, fence = [], [], None
    with open(path) as f:
        text = f.read().splitlines()
    for number, line in enumerate(text, 1):
        if fence is None:
            match = re.match(r"^( *)(`{3,}|~{3,})\s*([^\s`]*)", line)
            if match:
                indent, mark, language = match.groups()
                fence, lines = (len(indent), mark, language.lower(), number + 1), []
                outside.append("")
            else:
                outside.append(line)
        elif re.fullmatch(rf" *{re.escape(fence[1][0])}{{{len(fence[1])},}}\s*", line):
            blocks.append((fence[2], fence[3], "\n".join(l[fence[0]:] for l in lines) + "\n"))
            fence = None
        else:
            lines.append(line)
    assert fence is None, f"{path}: the block opened at line {fence[3] - 1} is not closed"
    return blocks, "\n".join(outside)


def fenced_blocks(path=README):
    """[(language, first line number, code)] of the file's fenced blocks."""
    return _split(path)[0]


def prose(path=README):
    """The file without its fenced blocks, paragraphs on one line each."""
    return re.sub(r"(?<!\n)\n(?!\n)", " ", _split(path)[1])


def command_lines(language, code):
    """The command lines of a shell block (continuations joined; comments
    and, in a console block, output lines left out)."""
    code = re.sub(r"\\\n", " ", code)
    commands = []
    for line in code.splitlines():
        line = line.strip()
        if language == "console":
            if not line.startswith("$ "):
                continue
            line = line[2:].strip()
        if line and not line.startswith("#"):
            commands.append(line)
    return commands


def words(line):
    return shlex.split(line, comments=True)


BLOCKS = fenced_blocks()
PYTHON_BLOCKS = [(number, code) for language, number, code in BLOCKS if language in PYTHON]
CLI_LINES = [line for language, _, code in BLOCKS if language in SHELL
             for line in command_lines(language, code) if words(line)[0] == "keras-nonlocal"]


def test_every_block_is_run_or_said_why_not():
    assert PYTHON_BLOCKS and CLI_LINES
    for language, number, code in BLOCKS:
        assert language in PYTHON + SHELL or language in NOT_RUN_LANGUAGES, (
            f"README.md:{number}: a ```{language} block: neither run by tests/test_readme.py "
            f"nor in its NOT_RUN_LANGUAGES")
        if language not in SHELL:
            continue
        for line in command_lines(language, code):
            program = words(line)[0]
            assert program == "keras-nonlocal" or program in NOT_RUN, (
                f"README.md:{number}: {line!r} is neither a keras-nonlocal command (run) nor "
                f"a program of NOT_RUN")


def test_the_commands_not_run_name_what_exists():
    """`make` targets of the Makefile, `pip` extras of pyproject.toml."""
    with open(os.path.join(ROOT, "Makefile")) as f:
        targets = set(re.findall(r"^([\w.-]+):", f.read(), flags=re.M))
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    for language, number, code in BLOCKS:
        if language not in SHELL:
            continue
        for line in command_lines(language, code):
            argv = words(line)
            if argv[0] == "make":
                assert set(argv[1:]) <= targets, f"README.md:{number}: {line!r}"
            if argv[0] == "pip":
                for arg in argv[2:]:
                    name, _, extras = arg.partition("[")
                    if name.replace("_", "-") == project["name"] and extras:
                        named = set(extras.rstrip("]").split(","))
                        assert named <= set(project["optional-dependencies"]), line


def test_inline_commands_parse():
    """Every inline `keras-nonlocal ...` span of README.md and docs/, and
    every `keras-nonlocal` line of the docs' shell blocks, names a command
    and flags the command line has (a bare `keras-nonlocal COMMAND`:
    the command exists; a span ending in `...`: the flags it shows exist)."""
    from keras_nonlocal import cli

    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    pages = [README, *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]
    spans = [span for path in pages
             for span in re.findall(r"`(keras-nonlocal(?: [^`]*)?)`", prose(path))]
    assert spans
    # and the command lines of the docs' shell blocks (not run: full-size examples)
    for path in pages[1:]:
        for language, _, code in fenced_blocks(path):
            for line in command_lines(language, code) if language in SHELL else []:
                argv = words(line)
                while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", argv[0]):
                    argv = argv[1:]  # environment assignments
                if argv and argv[0] == "keras-nonlocal":
                    spans.append(shlex.join(argv))
    for span in spans:
        argv = words(span)[1:]
        if not argv or (len(argv) == 1 and argv[0] in commands):
            continue  # the program, or one of its commands, named
        if argv[-1] == "...":  # "and the rest": its flags must be the parsers'
            known = parser
            for word in argv[:-1]:
                if word in commands and known is parser:
                    known = commands[word]
                else:
                    assert not word.startswith("-") or word in known._option_string_actions, span
            continue
        try:
            parser.parse_args(argv)
        except SystemExit as exit:
            assert exit.code == 0, f"`{span}` does not parse"


def _slug(heading):
    """GitHub's anchor of a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def _anchors(path):
    """The anchors of a Markdown file's headings (outside code blocks)."""
    return {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", _split(path)[1], flags=re.M)}


@pytest.mark.parametrize("page", ["README.md"] + sorted(
    os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md"))))
def test_relative_links_point_to_files(page):
    path = os.path.join(ROOT, page)
    targets = re.findall(r"\]\(([^)\s]+)\)", prose(path))
    assert targets or page != "README.md"
    for target in targets:
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file, _, anchor = target.partition("#")
        linked = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
        assert os.path.exists(linked), f"{page}: ({target}): no {os.path.relpath(linked, ROOT)}"
        if anchor and linked.endswith(".md"):
            assert anchor in _anchors(linked), f"{page}: ({target}): no such heading"


def test_the_installed_command_is_the_entry_point_run_here():
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="keras-nonlocal")
    assert script.value == "keras_nonlocal.cli:main"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, window_model):
    """The files the README's examples name: `my_videos/<class>/*.mp4`,
    `video.mp4` (32 x 32 frames) and `model.keras`, the width-8 NL-C2D of
    conftest.py whose classes are the folders'."""
    root = tmp_path_factory.mktemp("readme")
    for index, name in enumerate(CLASSES):
        os.makedirs(root / "my_videos" / name)
        for k in range(2):
            video_factory.write_video(str(root / "my_videos" / name / f"{k}.mp4"),
                                      VIDEO_FRAMES, width=32, height=32,
                                      start_index=20 * index + k)
    video_factory.write_video(str(root / "video.mp4"), VIDEO_FRAMES, width=32, height=32)
    shutil.copy(window_model, root / "model.keras")
    return root


def _prefill_published_weights(code, home, monkeypatch):
    """Places in the Keras cache `home` the file of every published weights
    `code` names, made here (random values, the publisher's format)."""
    import keras

    from keras_nonlocal.zoo import presets

    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.delenv(presets.MIRROR, raising=False)
    os.makedirs(home / "models", exist_ok=True)
    for builder, weights in set(re.findall(r"(\w+)\([^()]*?weights=[\"']([^\"']*)[\"']", code)):
        if weights == "":
            continue
        if (builder, weights) == ("ResNet50", "imagenet"):
            prefill_keras_cache(monkeypatch, home, keras.applications.ResNet50(weights=None),
                                "resnet50_weights_tf_dim_ordering_tf_kernels.h5")
            continue
        preset = presets.PRESETS.get(builder, {}).get(weights)
        assert preset is not None, (
            f"{builder}(weights={weights!r}): tests/test_readme.py cannot place these weights "
            f"in the cache; teach _prefill_published_weights")
        assert preset.publisher == "release", (
            f"{builder}(weights={weights!r}): only the release's Caffe2 files are written here")
        references.write_release_checkpoint(str(home / "models" / preset.file_name),
                                            i3d="i3d" in builder,
                                            nonlocal_=builder.startswith("nl_"), seed=0)


@pytest.mark.parametrize("number,code", PYTHON_BLOCKS, ids=[f"line{n}" for n, _ in PYTHON_BLOCKS])
def test_python_block(number, code, workdir, tmp_path, monkeypatch):
    _prefill_published_weights(code, tmp_path / "keras_home", monkeypatch)
    monkeypatch.chdir(workdir)
    exec(compile(code, f"README.md:{number}", "exec"), {"__name__": "__readme__"})


def test_command_lines(workdir, tmp_path):
    env = backend_env("tensorflow", KERAS_HOME=tmp_path / "keras_home")
    done, results = run_cli_lines(CLI_LINES, env=env, cwd=workdir)
    failed = [(line, code) for line, code, _, _ in results if code != "0"]
    assert [line for line, *_ in results] == CLI_LINES and not failed and done.returncode == 0, (
        f"{failed}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
