# The two commands a newcomer types (see README.md):
#   make demo   runs the main job on built-in data
#   make test   runs the test suite (TensorFlow, then JAX and PyTorch for the layers)
# Both create .venv/ inside the checkout and install what they need.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-test
# The demo needs the TensorFlow extra only; the test extra holds it.
DEMO_STAMP := $(VENV)/.installed-demo
PYTEST := $(PY) -m pytest -q -p no:cacheprovider
# Both cores: one pytest worker each; an idle worker takes queued tests from the other.
PARALLEL := -n 2 --dist worksteal
# JAX's workers wait on single-threaded compiles and subprocesses: a third
# keeps the cores busy (4 min 9 s against 4 min 30 s; the TensorFlow pass
# took 11 min 7 s either way, on the 2-core AMD EPYC).
PARALLEL_JAX := -n 3 --dist worksteal

.PHONY: install demo tour test test-slow bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m pip install --quiet --no-deps slowfast==1.0 mmaction2==1.2.0
	touch $(STAMP)

$(DEMO_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -f $(STAMP) -a $(STAMP) -nt pyproject.toml || $(PY) -m pip install --quiet -e ".[tensorflow]"
	touch $(DEMO_STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
	KERAS_BACKEND=tensorflow $(VENV)/bin/keras-nonlocal demo --out demo_output

tour: $(DEMO_STAMP)
	KERAS_BACKEND=tensorflow $(VENV)/bin/keras-nonlocal tour

# One process per Keras backend (the backend is fixed at import time).
test: $(STAMP)
	KERAS_BACKEND=tensorflow $(PYTEST) $(PARALLEL) -m "not slow" tests
	KERAS_BACKEND=jax $(PYTEST) $(PARALLEL_JAX) -m "not slow" tests/training/test_jax.py \
		tests/test_benchmarks.py tests/models/test_insertion.py tests/models/test_classifier.py \
		tests/layers
	KERAS_BACKEND=torch $(PYTEST) $(PARALLEL) -m "not slow" tests/layers tests/models/test_insertion.py \
		tests/models/test_classifier.py

test-slow: $(STAMP)
	KERAS_BACKEND=tensorflow $(PYTEST) -m slow -s tests

bench: $(STAMP)
	KERAS_BACKEND=tensorflow $(PY) benchmarks/bench_nonlocal_layer.py

clean:
	rm -rf $(VENV) build *.egg-info
