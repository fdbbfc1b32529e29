"""Rules of the house that a reader would otherwise check by hand."""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "keras_nonlocal"
MAX_BODY = 60
# The non-local block and its pairwise functions: public, backend-neutral Keras.
# The layers' modules import no private Keras; all but the two batch norms
# that exist for TensorFlow (its fused kernel, tf.distribute's replicas)
# import no TensorFlow either.
TENSORFLOW_LAYERS = ("layers/fused_batch_norm.py", "layers/sync_batch_norm.py")


def _body_length(function):
    """Lines of a function's body, its docstring left out."""
    body = function.body
    has_docstring = (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                     and isinstance(body[0].value.value, str))
    first = body[1] if has_docstring and len(body) > 1 else body[0]
    return function.end_lineno - first.lineno + 1


def test_no_function_body_over_60_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if _body_length(node) > MAX_BODY:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} "
                                f"({_body_length(node)} lines)")
    assert not long, long


def _imports(path):
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
    return imported


def test_the_layers_import_neither_private_keras_nor_tensorflow():
    layers = sorted((PACKAGE / "layers").glob("*.py"))
    assert len(layers) >= 8
    for path in layers:
        name = str(path.relative_to(PACKAGE))
        private = ("keras.src", "keras_nonlocal.keras_private")
        forbidden = private if name in TENSORFLOW_LAYERS else private + ("tensorflow",)
        bad = {m for m in _imports(path) if m.startswith(forbidden)}
        assert not bad, f"{name} imports {sorted(bad)}"


def test_the_repository_tracks_no_environment_or_build_output():
    """A virtual environment (even as a symlink, which `.venv/` in .gitignore
    did not match) or a build folder committed would replace a checkout's
    own on merge or clone: one commit tracked a `.venv` symlink pointing to
    itself and a merge deleted the real environment."""
    import subprocess

    root = PACKAGE.parent
    done = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True)
    if done.returncode != 0:  # not a git checkout (an sdist): nothing to check
        return
    tracked = done.stdout.splitlines()
    assert not [p for p in tracked if p.split("/")[0] in (".venv", "build", "dist")]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", ".venv"], cwd=root,
                             capture_output=True, text=True)
    assert ignored.stdout.strip() == ".venv"  # as a file or symlink, not only a folder
