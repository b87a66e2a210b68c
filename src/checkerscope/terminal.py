"""What the command line needs around its commands: exit statuses, one-line errors, text that is
safe for a terminal, and stopping cleanly on SIGTERM or Ctrl-C.

Exit statuses, the same for every command: :data:`EXIT_CLEAN` (0) ran and found nothing;
:data:`EXIT_FLAGGED` (1) flagged (``scan``: an image above the threshold; ``audit``: the model),
and nothing else; :data:`EXIT_ERROR` (2) any failure that is not a finding (a usage error, an
output that cannot be written, a file or folder that ``scan`` could not read, a model whose
output is not finite), with a one-line message and no traceback; 128 + N when stopped by signal
N (130 for Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

EXIT_CLEAN, EXIT_FLAGGED, EXIT_ERROR = 0, 1, 2
F = TypeVar("F", bound=Callable[..., Any])
PIPE_WIDTH = 160
"""Columns of output that goes to a file or a pipe (a CI log): rich's default there, 80, folds
the audit table's names and sizes into pieces."""


def console(stderr: bool = False) -> Console:
    """The rich Console of a command: the terminal's width on a terminal, ``COLUMNS`` when set,
    else :data:`PIPE_WIDTH` columns.

    Example:
        >>> console().width >= 80
        True
    """
    stream = sys.stderr if stderr else sys.stdout
    piped = not (hasattr(stream, "isatty") and stream.isatty())
    width = PIPE_WIDTH if piped and "COLUMNS" not in os.environ else None
    return Console(stderr=stderr, width=width)


def printable(text: object) -> str:
    r"""``text`` safe for a terminal: control and format characters (escape sequences, bidi
    overrides, newlines) and undecodable file-name bytes are shown escaped, never acted on.

    Example:
        >>> print(printable("a\x1b[2Jb\n.png"))
        a\x1b[2Jb\n.png
    """
    out = []
    for c in str(text):
        if "\udc80" <= c <= "\udcff":  # a byte of a file name that is not UTF-8
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        elif unicodedata.category(c) in ("Cc", "Cf", "Cs"):
            out.append(c.encode("unicode_escape").decode("ascii"))
        else:
            out.append(c)
    return "".join(out)


def fail(message: object, code: int = EXIT_ERROR) -> NoReturn:
    """Print ``Error: message`` (one line, made :func:`printable`) and exit with ``code``."""
    typer.echo(f"Error: {printable(message)}", err=True)
    raise typer.Exit(code=code)


class Interrupted(Exception):
    """SIGTERM or SIGINT arrived while a command was stopping on signals (see :class:`Stop`)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Stop:
    """While active, SIGTERM and SIGINT raise :class:`Interrupted` in the main thread, so that
    outputs are closed and workers ended on the way out; inside ``with stop.atomic():`` they
    wait until the block ends (a row reaches every output, or none does)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.busy = False
        self.pending: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> Stop:
        with contextlib.suppress(ValueError):  # not the main thread: signals stay as they are
            self.previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)

    def _handle(self, signum: int, frame: object) -> None:
        if self.busy:
            self.pending = signum
            return
        self.__exit__()  # a second signal acts at once
        raise Interrupted(signum)

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        self.busy = True
        try:
            yield
        finally:
            self.busy = False
        if self.pending is not None:
            self.__exit__()
            raise Interrupted(self.pending)


def one_line_errors(command: F) -> F:
    """Run ``command`` so that no failure exits 1 (which means "flagged") or shows a traceback:
    errors exit :data:`EXIT_ERROR` with one line, signals 128 + their number."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Interrupted as err:
            fail(f"stopped by {err}", 128 + err.signum)
        except KeyboardInterrupt:
            fail("stopped by SIGINT", 128 + signal.SIGINT)
        except BrokenPipeError:
            # The reader went away: nothing more can be shown, and Python must not complain
            # at exit while flushing stdout.
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            fail("the output was closed before everything was written (broken pipe)")
        except OSError as err:
            where = f" ({err.filename!r})" if err.filename else ""
            fail(f"{err.strerror or err}{where}")
        except ValueError as err:
            fail(err)
        except Exception as err:  # a failure, never a finding: exit 2 whatever went wrong
            fail(f"{type(err).__name__}: {err}")

    return run  # type: ignore[return-value]
