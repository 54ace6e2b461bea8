"""Pieces every verb shares: the console and the logger that prints a stage's steps."""
from __future__ import annotations

from rich.console import Console

console = Console(highlight=False)


def log(message: str) -> None:
    console.print(f"[dim]·[/] {message}")
