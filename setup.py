"""Only what pyproject.toml cannot say: which packages the wheel installs, and under which names.

The source layout stays `backend/`, `desktop/` and `frontend/`; the two last are installed as `bulkmsg_desktop` and
`bulkmsg_ui`, names of our own (unrelated projects on PyPI already own `desktop` and `frontend`). pyproject.toml's
`packages.find` cannot rename a folder, and an explicit list would have to name every `backend` subpackage.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["backend", "backend.*"]), "bulkmsg_desktop", "bulkmsg_ui"],
    package_dir={"bulkmsg_desktop": "desktop", "bulkmsg_ui": "frontend"},
)
