"""`python -m starter serve`: run the intake API (RULES §10) on uvicorn."""

from __future__ import annotations

import typer

from starter.cli import app, fail


@app.command()
def serve(
    host: str = typer.Option(None, help="interface to listen on (env VANGNET_API_HOST, default 127.0.0.1)"),
    port: int = typer.Option(None, help="port (env VANGNET_API_PORT, default 8000)"),
) -> None:
    """Run the intake API: parties send events and read cases and inboxes over HTTP."""
    import uvicorn

    from starter.api import create_app
    from starter.observability import setup_process
    from vangnet.logging import configure_logging
    from vangnet.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    setup_process()  # tracing (OTEL_*) and the Temporal SDK's metrics on /metrics (issue 13)
    host = host or settings.api_host
    port = port or settings.api_port
    if not 0 < port < 65536:
        fail(f"{port} is not a port number")
    typer.echo(f"intake: http://{host}:{port}  (OpenAPI: http://{host}:{port}/openapi.json, docs: /docs)")
    try:
        # access_log=False: the intake writes its own access line per request, as JSON with the
        # request id (starter/observability.py).
        uvicorn.run(create_app(settings=settings), host=host, port=port, log_config=None,
                    proxy_headers=False, server_header=False, access_log=False)
    except OSError as err:
        fail(f"cannot listen on {host}:{port}: {err.strerror or err}")
    except Exception as err:  # start-up failures (Temporal, database) in one line
        fail(f"intake stopped: {type(err).__name__}: {err}")
