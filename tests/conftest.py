"""Shared fixtures. The real image pairs live outside the repository (../shared/data)."""

import os
from pathlib import Path

import pytest

_DEFAULT_SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder holding tno/, roadscene/, mri_pet42/ ...; TF_IRGAN_SHARED_DATA overrides it."""
    folder = Path(os.environ.get("TF_IRGAN_SHARED_DATA", _DEFAULT_SHARED_DATA))
    if not (folder / "tno" / "ir").is_dir():
        pytest.fail(f"shared test data not found at {folder} (expected tno/ir inside); "
                    "set TF_IRGAN_SHARED_DATA to the folder described in shared/data/README.md")
    return folder
