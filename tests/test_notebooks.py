"""The Colab notebooks (colab/*.ipynb): committed without outputs, and they run.

Each notebook is executed top to bottom with nbclient in a fresh kernel of
this interpreter, from a temporary folder, with small parameters injected
after its cell tagged "parameters" (as papermill does).
"""

import json
import os
import sys

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402

COLAB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "colab")
NOTEBOOKS = ("layers_tour", "finetune_nl_i3d", "visualize_attention", "nonlocal_in_any_model")
BADGE = "https://colab.research.google.com/github/keras-nonlocal/keras_nonlocal/blob/main/colab/{}.ipynb"
CELL_TIMEOUT = 300
KERNEL = "keras-nonlocal-test"


def _read(name):
    return nbformat.read(os.path.join(COLAB, f"{name}.ipynb"), as_version=4)


def _parameters_cell(nb):
    tagged = [i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"expected one cell tagged 'parameters', found {len(tagged)}"
    return tagged[0]


def inject_parameters(nb, parameters):
    """Inserts a cell assigning `parameters` after the cell tagged "parameters"."""
    index = _parameters_cell(nb)
    defined = nb.cells[index].source
    for name in parameters:
        assert f"\n{name} = " in "\n" + defined, f"{name} is not a parameter of the notebook"
    source = "# Parameters injected by tests/test_notebooks.py\n" + "".join(
        f"{name} = {value!r}\n" for name, value in parameters.items())
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(index + 1, cell)


def _kernel_manager(folder):
    """A kernel of this very interpreter (the venv), whatever kernels are installed."""
    spec = os.path.join(folder, KERNEL)
    os.makedirs(spec, exist_ok=True)
    with open(os.path.join(spec, "kernel.json"), "w") as f:
        json.dump({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "keras_nonlocal tests", "language": "python",
            "env": {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2",
                    "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"},
        }, f)
    return KernelManager(kernel_name=KERNEL,
                         kernel_spec_manager=KernelSpecManager(kernel_dirs=[folder]))


def run_notebook(name, folder, **parameters):
    """Executes a notebook in `folder` (its working directory); returns it with
    its outputs and the text it printed."""
    nb = _read(name)
    inject_parameters(nb, parameters)
    nb.cells.insert(0, nbformat.v4.new_code_cell(
        "import sys as _sys\nprint('kernel python:', _sys.executable)"))
    client = nbclient.NotebookClient(
        nb, km=_kernel_manager(str(folder / ".kernels")), timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(folder)}})
    client.execute()
    text = "".join(
        output.get("text", "") for cell in nb.cells if cell.cell_type == "code"
        for output in cell.outputs if output.output_type == "stream" and output.name == "stdout")
    assert f"kernel python: {sys.executable}\n" in text
    return nb, text


def _images(nb):
    return sum("image/png" in output.get("data", {}) for cell in nb.cells
               if cell.cell_type == "code" for output in cell.outputs)


def _png(path):
    assert os.path.isfile(path), path
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n", path


# ------------------------------------------------------------ committed form


def test_the_notebooks_are_there():
    found = sorted(n[:-6] for n in os.listdir(COLAB) if n.endswith(".ipynb"))
    assert set(NOTEBOOKS) <= set(found) and len(found) >= 3, found


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_is_clean(name):
    nb = _read(name)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: a cell has outputs:\n{cell.source[:200]}"
            assert cell.execution_count is None, f"{name}: a cell has an execution count"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert f"]({BADGE.format(name)})" in first.source, f"{name}: no Open in Colab badge"
    assert "colab-badge.svg" in first.source
    _parameters_cell(nb)
    for cell in nb.cells:  # Colab-only work is guarded
        if cell.cell_type == "code" and ("google.colab" in cell.source or "pip" in cell.source):
            assert "if IN_COLAB" in cell.source, cell.source[:200]


def test_inject_parameters_puts_a_cell_after_the_parameters():
    nb = _read("finetune_nl_i3d")
    index = _parameters_cell(nb)
    inject_parameters(nb, {"STEPS": 4, "DATA_DIR": "x"})
    assert nb.cells[index + 1].source.endswith("STEPS = 4\nDATA_DIR = 'x'\n")
    with pytest.raises(AssertionError, match="not a parameter"):
        inject_parameters(nb, {"NO_SUCH_THING": 1})


# ------------------------------------------------------------ execution


def test_layers_tour_runs(tmp_path):
    nb, text = run_notebook("layers_tour", tmp_path, OUTPUT_DIR="tour")
    for mode in ("gaussian", "embedded_gaussian", "dot_product", "concatenation"):
        assert f"{mode}: output (2, 4, 14, 14, 32)" in text
    assert "attention (1, 4, 196, 49)" in text  # space scope
    assert "attention (1, 196, 4, 2)" in text  # time scope, pooled 2x1x1
    assert "784 queries x 196 keys" in text
    for mode in ("arrows", "heatmap"):
        _png(tmp_path / "tour" / f"squares_{mode}.png")
    assert len(os.listdir(tmp_path / "tour" / "random")) == 2
    assert os.path.isfile(tmp_path / "tour" / "tiny_nonlocal.keras")
    assert "round trip OK" in text
    assert _images(nb) >= 3


def test_finetune_nl_i3d_runs(tmp_path):
    nb, text = run_notebook(
        "finetune_nl_i3d", tmp_path, NUM_DEMO_VIDEOS=(16, 4), WEIGHTS="", BASE_WIDTH=8,
        NUM_FRAMES=4, FRAME_STRIDE=2, CROP_SIZE=32, SHORT_SIDE=(32, 40), EVAL_SHORT_SIDE=32,
        EVAL_VIEWS=(2, 3), BATCH_SIZE=4, STEPS=4, CHECKPOINT_EVERY=4, OUTPUT_DIR="runs/ft")
    run = tmp_path / "runs" / "ft"
    assert os.path.isfile(run / "checkpoints" / "ckpt-00000004.keras")
    _png(run / "curves.png")
    _png(run / "eval_confusion.png")
    with open(run / "eval.json") as f:
        metrics = json.load(f)
    assert metrics["videos"] == 4 and metrics["views_per_video"] == 6
    assert f"top-1 accuracy: {metrics['top1']:.3f}" in text
    assert "16 training videos in 2 classes" in text
    assert "replica(s), global batch 4" in text
    assert "different:" in text and "same:" in text  # the prediction
    # the 4 validation videos of 16 frames joined: 64 frames, windows of 4 x 2 back to back
    # (hop 8), the last starting at 56 (56 + 6 <= 63): 8 rows of 256, window 1 at 0.32 s
    assert "long.mp4: 8 windows x 256 features" in text
    assert "frames 8-14: 0.32-0.60 s" in text
    assert "timeline of 8 windows" in text
    _png(run / "timeline.png")
    assert len(open(run / "timeline.csv").read().splitlines()) == 1 + 8 * 2
    difference = float(text.split("max |difference| from Keras ")[1].split()[0])
    assert difference < 1e-4
    assert _images(nb) == 3


def test_visualize_attention_runs(tmp_path):
    nb, text = run_notebook(
        "visualize_attention", tmp_path, NUM_DEMO_VIDEOS=(16, 4), TRAIN_STEPS=2, BATCH_SIZE=4,
        OUTPUT_DIR="runs/attention")
    run = tmp_path / "runs" / "attention"
    assert os.path.isfile(run / "model" / "checkpoints" / "ckpt-00000002.keras")
    pictures = sorted(os.listdir(run / "pictures"))
    assert len(pictures) == 2 and pictures[0].endswith("_arrows.png")
    assert pictures[1].endswith("_heatmap.png")
    for picture in pictures:
        _png(run / "pictures" / picture)
    assert "non-local blocks: [" in text
    assert _images(nb) == 2


def test_nonlocal_in_any_model_runs(tmp_path):
    """Random weights here (the ImageNet file cannot be fetched); the
    machinery, not the accuracy: insertion, fine-tuning, pictures."""
    nb, text = run_notebook(
        "nonlocal_in_any_model", tmp_path, WEIGHTS=None, IMAGE_SIZE=64, NUM_IMAGES=(32, 8),
        BATCH_SIZE=8, STEPS=2, OUTPUT_DIR="runs/nl")
    assert "NonLocal2D on 1024 channels, 2,103,808 new weights; output change at insertion: " \
        "0.0e+00" in text
    assert "test accuracy: " in text
    run = tmp_path / "runs" / "nl"
    assert os.path.isfile(run / "nl_resnet50_same_colour.keras")
    pictures = sorted(os.listdir(run / "attention"))
    assert pictures == ["clip0_conv4_block5_nonlocal_arrows.png",
                        "clip0_conv4_block5_nonlocal_heatmap.png"]
    for picture in pictures:
        _png(run / "attention" / picture)
    assert _images(nb) == 2
