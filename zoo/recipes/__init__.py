"""Training recipes (TOML), shipped with the package as `keras_nonlocal.recipes`.

This folder is mapped onto that package (pyproject.toml, `package-dir`), so
`keras-nonlocal train <name>` finds them under every install scheme; the
builders they name are in `keras_nonlocal/zoo/`.
"""
