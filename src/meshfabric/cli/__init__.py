"""The ``meshfabric`` command line. Exit codes: 0 ok, 1 a check failed, 2 bad input or usage."""

from __future__ import annotations

import sys


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this; ``main`` exits with it)."""
    import click
    import typer
    from rich.text import Text

    from meshfabric.cli._common import err_console
    from meshfabric.cli.app import app
    from meshfabric.errors import MeshfabricError

    try:
        # without standalone mode, typer hands back the code of a `typer.Exit(code)` as the result
        result = app(args=argv, prog_name="meshfabric", standalone_mode=False)
    except MeshfabricError as exc:
        err_console.print(Text("error: ", style="bold red") + Text(exc.message), soft_wrap=True)
        if exc.hint:
            err_console.print(Text("hint: ", style="yellow") + Text(exc.hint), soft_wrap=True)
        return exc.exit_code
    # typer >= 0.26 vendors click: its exceptions are not click's, so catch both families
    except (click.exceptions.Exit, typer.Exit) as exc:
        return exc.exit_code
    except (click.exceptions.Abort, typer.Abort):
        err_console.print("aborted")
        return 1
    except (click.ClickException, getattr(typer, "TyperException", click.ClickException)) as exc:
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            err_console.print(Text(f"error: {exc}"), soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        return 130
    return result if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
