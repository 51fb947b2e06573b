"""`python -m poolgate.simulator --host 127.0.0.1 --port N`: serve the simulator until killed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import uvicorn

from poolgate.simulator.app import create_app
from poolgate.simulator.server import bind_socket, install_log_filter, socket_url


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m poolgate.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on start)")
    args = parser.parse_args(argv)
    sock = bind_socket(args.host, args.port)
    config = uvicorn.Config(create_app(), lifespan="off", access_log=False, log_level="warning")
    install_log_filter()
    # The socket already listens, so clients that read this line can connect straight away.
    print(f"simulator listening on {socket_url(sock)}", flush=True)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1:])
