"""``elmo serve``: the service's command, added to the ``elmo`` command line through the
``elmo.commands`` entry point (the library does not import the service).

Nothing here imports the service's packages until the command runs, so that ``elmo --help``
works, and says what to install, where only the library's packages are.
"""

from __future__ import annotations

import argparse

from elmo import ElmoError

# Packages of the ``service`` extra: missing one means the extra is not installed.
_SERVICE_PACKAGES = {"fastapi", "starlette", "uvicorn", "pydantic", "pydantic_settings"}
_SERVICE_PACKAGES |= {"prometheus_client", "anyio"}


def run(args: argparse.Namespace) -> int:
    try:
        from service.server import load_settings, serve
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _SERVICE_PACKAGES:
            raise
        raise ElmoError(
            f"elmo serve needs the service extra (missing module {exc.name!r}): "
            "pip install -e '.[service]'"
        ) from None
    settings = load_settings(
        model=args.model, task=args.task, host=args.host, port=args.port, device=args.device
    )
    return serve(settings)


def add(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the REST service (ELMO_* variables set the limits; see README)",
        description="Serve a model over HTTP. Flags override ELMO_* environment variables.",
    )
    serve.add_argument(
        "--model", help="bundle directory or model name (default: the default model in models/)"
    )
    serve.add_argument(
        "--task",
        help="a task model directory (elmo task train) to serve as POST /v1/classify or "
        "/v1/tag; it must have been trained on --model",
    )
    serve.add_argument("--host", help="interface to bind (default 127.0.0.1; 0.0.0.0: all)")
    serve.add_argument("--port", type=int, help="TCP port (default 8000)")
    serve.add_argument("--device", help="cpu (default), cuda, cuda:1, ...")
    serve.set_defaults(run=run)
