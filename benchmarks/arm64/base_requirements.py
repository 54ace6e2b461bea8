"""Print edgebert's base install as pinned requirements, one per line, for the aarch64 wheel download.

The names come from pyproject.toml's [project] dependencies (the base install a Raspberry Pi gets, no extras).
Each is pinned to the version this host has installed when it has one, so the emulated run and the host run use
the same onnxruntime, numpy and tokenizers: an accuracy difference between them then comes from the CPU
architecture, not from a version skew. Stdlib only.

usage: python base_requirements.py PYPROJECT
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata


def base_requirements(pyproject: str) -> list[str]:
    with open(pyproject, "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    out = []
    for requirement in deps:
        name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0)
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(requirement)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    print("\n".join(base_requirements(sys.argv[1])))
