"""python -m bringup {engine,engine-stop,images,mirror}: see `make help`."""
import argparse
import signal
import time
from collections.abc import Sequence

import docker.errors
import requests.exceptions

from . import engine, images, multiarch, organizer, paths, registry, swarmnodes
from .progress import BringupError, fail, say


def stop_all() -> None:
    """engine-stop: every service `engine`, `images` and `mirror` started.
    It lives here, above the modules whose services it stops: in engine.py it
    had to import organizer, which imports images, which imports engine."""
    stopped = [name for name, stopper in (("the room's mirror", organizer.stop),
                                          ("the Swarm nodes of the tests", lambda: bool(swarmnodes.stop_nodes())),
                                          ("the engine for another CPU", engine.stop_emulating_engines),
                                          ("dockerd", engine.stop_dockerd),
                                          ("registry", registry.stop)) if stopper()]
    say(f"stopped: {', '.join(stopped)}" if stopped else "nothing that `make engine` started is running")


def _interrupted(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bringup", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("engine", help="reuse or start a Docker engine and the local mirror")
    commands.add_parser("engine-stop", help="stop only what `engine` started")
    images_command = commands.add_parser("images", help="put the tutorial's images into the mirror")
    images_command.add_argument("--multiarch", default=multiarch.DEFAULT, choices=multiarch.CHOICES,
                                help="which images to build for the other CPU too (arm64 beside amd64)")
    mirror = commands.add_parser("mirror", help="serve the mirror to attendees on a LAN address")
    mirror.add_argument("--listen", default="127.0.0.1", help="IP address to serve on")
    mirror.add_argument("--only", nargs="*", default=(), metavar="IMAGE",
                        help="serve only these of the workshop's images (e.g. hello-world python:alpine)")
    args = parser.parse_args(argv)
    start = time.monotonic()
    if args.command != "mirror":  # the mirror's server handles its own signals (organizer.serve)
        # SIGTERM (as `make test` stops its steps) cleans up as Ctrl-C does: the writer stopped, scratch discarded.
        signal.signal(signal.SIGTERM, _interrupted)
    try:
        paths.ensure()  # the cache is checked (or made, 0700) before anything in it is read or written
        engine.use_own_engine()
        if args.command == "engine":
            plan = engine.ensure_engine()
            say(f"engine ready ({plan.value}) in {time.monotonic() - start:.1f} s")
        elif args.command == "engine-stop":
            stop_all()
        elif args.command == "images":
            images.ensure_images(then=[lambda: multiarch.ensure(args.multiarch)])
            say(f"images ready in {time.monotonic() - start:.1f} s")
        elif args.command == "mirror":
            organizer.serve(args.listen, args.only)
    except BringupError as error:
        fail(str(error))
    except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
        fail(f"the Docker daemon did not answer ({error}); is it still running? "
             "`make engine` starts one")
    except KeyboardInterrupt:
        fail("interrupted; nothing half-built is kept (scratch work is discarded)")


if __name__ == "__main__":
    main()
