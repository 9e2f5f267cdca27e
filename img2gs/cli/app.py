"""The Typer app and the `command` decorator every CLI command uses.

`command` registers a function on the app and turns the errors a user can fix (Img2gsError, OSError)
into one line on stderr and exit code 2; Ctrl-C becomes exit code 130. Other exceptions are bugs and
keep their traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import typer
from rich.console import Console
from rich.markup import escape

import img2gs
from img2gs.errors import Img2gsError

app = typer.Typer(
    name="img2gs",
    help="One photo of an object -> 3D Gaussian splats and a mesh; trains the model it uses.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
train_app = typer.Typer(help="Train the view generator: a diffusion teacher, then a consistency student.",
                        no_args_is_help=True)
data_app = typer.Typer(help="Build training data for the view generator.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate models against ground truth.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(data_app, name="data")
app.add_typer(eval_app, name="eval")

console = Console()
err_console = Console(stderr=True)

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
FACES_HELP = "Most faces of the mesh (decimated by quadric edge collapse; 0 keeps every face) [default: 20000]."
HEIGHT_HELP = ("Scale the mesh so the object is this tall, in metres (glTF's unit) [default: the world's unit "
               "sphere scale, at most 2 units tall].")
TEXTURE_HELP = ("A .glb / .obj mesh is UV-unwrapped with a baked texture (an .obj's <stem>.mtl and "
                "<stem>_texture.png beside it); --no-texture: vertex colours. A .ply mesh has vertex colours.")


def fail(message: str) -> typer.Exit:
    """Print a one-line error and return the Exit to raise. The message is printed as it is (no rich
    markup, so a file name with brackets stays intact) with line breaks folded into spaces."""
    one_line = " ".join(str(message).split())
    err_console.print(f"[bold red]error:[/] {escape(one_line)}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_USER_ERROR)


def command(typer_app: typer.Typer = app, name: str | None = None) -> Callable:
    """Register `fn` as a command of `typer_app` with user-error handling."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Img2gsError as e:
                raise fail(str(e)) from None
            except OSError as e:
                where = f": {e.filename}" if e.filename else ""
                raise fail(f"{e.strerror or e}{where}") from None
            except KeyboardInterrupt:
                err_console.print("interrupted; no partial output was written")
                raise typer.Exit(EXIT_INTERRUPTED) from None

        return typer_app.command(name=name)(wrapped)

    return decorate


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"img2gs {img2gs.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """img2gs: photo -> Gaussian splats."""
