"""`python -m keras_nonlocal`: the `keras-nonlocal` command."""

import sys

from keras_nonlocal.cli import main

sys.exit(main())
