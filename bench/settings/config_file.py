"""Argument helpers shared by sub-commands: where bench.toml and results/ are."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.settings.config import read_config_file

REPO_DIR = Path(__file__).resolve().parents[2]


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="profiles file (default: ./bench.toml, else the one beside the bench package)",
    )


def load_config(path: Path | None) -> dict:
    if path is None:
        local = Path("bench.toml")
        path = local if local.exists() else REPO_DIR / "bench.toml"
    return read_config_file(path)
