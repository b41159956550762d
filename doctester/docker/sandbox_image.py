"""The image the private engines run: its recipe ships in this package
(`sandbox_recipe/`), and this command builds it with the docker CLI, on the
engine the CLI reaches (DOCKER_HOST):

    python -m doctester.docker.sandbox_image build [--tag NAME] [--base IMAGE] [--suite RELEASE]
        [--apt-mirror URL] [--label-namespace NS] [--label KEY=VALUE]... [--pull] [--print]
    python -m doctester.docker.sandbox_image recipe      # prints the recipe's folder

The base is a Debian-based image with Python (python:latest by default);
the engine's packages come from the Debian release SUITE, through the base's
own package sources or APT_MIRROR. The image is labelled
NAMESPACE.role=doctest-sandbox; name it as the project's doc_sandbox_image
says, with the project's doc_label_namespace.
"""
from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .identity import DEFAULT_LABEL_NAMESPACE, DEFAULT_SANDBOX_IMAGE, role_label

RECIPE = Path(__file__).resolve().with_name("sandbox_recipe")
DEFAULT_BASE = "python:latest"
DEFAULT_SUITE = "trixie"  # Engine 26.1 and containerd 1.7; forky has Engine 28.5 and containerd 2.1


def recipe_files() -> list[Path]:
    """Every file of the recipe (the build context), in a stable order."""
    return [path for path in sorted(RECIPE.rglob("*")) if path.is_file()]


def build_argv(tag: str = DEFAULT_SANDBOX_IMAGE, base: str = DEFAULT_BASE, *, suite: str = DEFAULT_SUITE,
               apt_mirror: str | None = None, label_namespace: str = DEFAULT_LABEL_NAMESPACE,
               labels: Mapping[str, str] | None = None, pull: bool = False, quiet: bool = False,
               docker: Iterable[str] = ("docker",)) -> list[str]:
    """The `docker build` of the sandbox image from the packaged recipe.
    `labels`: more labels (a project's own, e.g. a hash of its inputs), before the role label."""
    mirror = ["--build-arg", f"APT_MIRROR={apt_mirror}"] if apt_mirror is not None else []
    more = [argument for key, value in (labels or {}).items() for argument in ("--label", f"{key}={value}")]
    return [*docker, "build", *(["--quiet"] if quiet else []), *(["--pull"] if pull else []),
            "--build-arg", f"BASE={base}", *mirror, "--build-arg", f"SUITE={suite}",
            *more, "--label", role_label(label_namespace), "-t", tag, str(RECIPE)]


def _label(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not key or not equals:
        raise argparse.ArgumentTypeError(f"{text!r}: write KEY=VALUE")
    return key, value


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m doctester.docker.sandbox_image",
                                     description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the sandbox image with the docker CLI")
    build.add_argument("--tag", default=DEFAULT_SANDBOX_IMAGE, help=f"the image's name (default {DEFAULT_SANDBOX_IMAGE}, "
                                                                   "doc_sandbox_image's default)")
    build.add_argument("--base", default=DEFAULT_BASE, help=f"a Debian-based image with Python (default {DEFAULT_BASE})")
    build.add_argument("--suite", default=DEFAULT_SUITE,
                       help=f"the Debian release the engine's packages come from (default {DEFAULT_SUITE})")
    build.add_argument("--apt-mirror", help="a Debian mirror's URL (default: the base image's own sources)")
    build.add_argument("--label-namespace", default=DEFAULT_LABEL_NAMESPACE,
                       help=f"the project's doc_label_namespace (default {DEFAULT_LABEL_NAMESPACE})")
    build.add_argument("--label", action="append", type=_label, default=[], metavar="KEY=VALUE",
                       help="one more label on the image (repeatable)")
    build.add_argument("--pull", action="store_true", help="pull the base even if the engine has it")
    build.add_argument("--print", action="store_true", help="print the docker build command instead of running it")
    commands.add_parser("recipe", help="print the folder of the recipe (the build context)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "recipe":
        print(RECIPE)
        return 0
    command = build_argv(args.tag, args.base, suite=args.suite, apt_mirror=args.apt_mirror,
                         label_namespace=args.label_namespace, labels=dict(args.label), pull=args.pull)
    if args.print:
        print(shlex.join(command))
        return 0
    try:
        return subprocess.run(command).returncode
    except OSError as error:
        print(f"doctester: cannot run {command[0]}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
