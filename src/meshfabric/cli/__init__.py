"""The ``meshfabric`` command line. Exit codes: 0 ok, 1 a check failed, 2 bad input or usage."""

from __future__ import annotations

import sys


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this; ``main`` exits with it)."""
    import click
    from rich.text import Text

    from meshfabric.cli._common import err_console
    from meshfabric.cli.app import app
    from meshfabric.errors import MeshfabricError

    try:
        app(args=argv, prog_name="meshfabric", standalone_mode=False)
    except MeshfabricError as exc:
        err_console.print(Text("error: ", style="bold red") + Text(exc.message), soft_wrap=True)
        if exc.hint:
            err_console.print(Text("hint: ", style="yellow") + Text(exc.hint), soft_wrap=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        err_console.print("aborted")
        return 1
    except click.ClickException as exc:
        exc.show()
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def main() -> None:
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
