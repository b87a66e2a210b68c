"""The ``checkerscope`` command line: parse, call the library, print. Nothing else lives here."""

from __future__ import annotations

import typer

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Find, explain and remove checkerboard artifacts in neural networks.",
)


@app.callback()
def main() -> None:
    """checkerscope: find, explain and remove checkerboard artifacts."""


@app.command()
def version() -> None:
    """Print the installed version of checkerscope and torch."""
    import torch

    from checkerscope import __version__

    typer.echo(f"checkerscope {__version__} (torch {torch.__version__})")
