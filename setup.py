"""Build hook: ship the model and the demo case inside the package.

The metadata is in pyproject.toml. ``model_weights/`` and ``resources/`` stay at the top of the
checkout (scripts and training write there); when a wheel is built they are copied into
``lumboplan_app/model_weights/`` and ``lumboplan_app/resources/``, where
``lumboplan_app/shipped.py`` looks first. An editable install reads them from the checkout.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: Model files shipped from model_weights/: weights, card, ONNX export (not checkpoints).
MODEL_FILES = ("*.safetensors", "*.json", "*.onnx")


class BuildWithShippedData(build_py):
    """``build_py`` that also copies the shipped model and demo case into the package."""

    def run(self) -> None:
        """Build the package, then copy the shipped folders into it."""
        super().run()
        if self.editable_mode:
            return
        package = Path(self.build_lib) / "lumboplan_app"
        models = package / "model_weights"
        shutil.rmtree(models, ignore_errors=True)
        models.mkdir(parents=True)
        for pattern in MODEL_FILES:
            for path in sorted((ROOT / "model_weights").glob(pattern)):
                shutil.copy2(path, models / path.name)
        shutil.rmtree(package / "resources", ignore_errors=True)
        shutil.copytree(ROOT / "resources", package / "resources")


setup(cmdclass={"build_py": BuildWithShippedData})
