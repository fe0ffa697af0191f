import os
import pathlib
import shutil

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cli():
    """The `wildsgd` binary: $WILDSGD_BIN, the workspace's release build, or
    one on PATH; the test is skipped (and says so) without one."""
    for candidate in (os.environ.get("WILDSGD_BIN"), ROOT / "target" / "release" / "wildsgd", shutil.which("wildsgd")):
        if candidate and pathlib.Path(candidate).is_file():
            return str(candidate)
    pytest.skip("no wildsgd binary: build it with `cargo build --release` or set WILDSGD_BIN")
