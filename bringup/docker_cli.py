"""The docker CLI as bring-up runs it: the harness's DockerCLI, its failures
told as bring-up's own (BringupError: what failed, then the command).

Which engine a command reaches is settled here: DOCKER (the one DOCKER_HOST
names, as the Makefile and bringup.engine set it), or one of bring-up's
own engines by its address (BringupDocker.on, for bringup.multiarch's
emulating engine).
"""
import subprocess
from typing import IO

from doctester.docker.dockerstate import DockerCLI, EngineError

from .progress import BringupError


class BringupDocker:
    """The docker CLI of one engine, as bring-up's steps call it."""

    def __init__(self, cli: DockerCLI | None = None) -> None:
        self.cli = cli or DockerCLI()

    @classmethod
    def on(cls, host: str) -> "BringupDocker":
        """The CLI of the engine at `host` (unix://...), whatever DOCKER_HOST says."""
        return cls(DockerCLI(env={"DOCKER_HOST": host}))

    def with_env(self, **variables: str) -> "BringupDocker":
        """The same engine, the CLI told more (DOCKER_CONFIG, DOCKER_BUILDKIT)."""
        return BringupDocker(self.cli.with_env(**variables))

    def run(self, *args: str, what: str, stdin: IO[bytes] | None = None) -> None:
        """`docker args`, its output streaming as progress, with no time
        limit (a build may take many minutes); `what`: the step, for the error."""
        try:
            self.cli.run(*args, timeout=None, stream=True, stdin_file=stdin)
        except EngineError as error:
            raise BringupError(f"{what} failed: {error}") from None

    def output(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`docker args` captured, its exit status the caller's to read."""
        return self.cli.run(*args, timeout=None, check=False)

    def image_id(self, reference: str) -> str:
        """The ID of a local image, or "" when the engine has none of that name."""
        return self.output("image", "inspect", "--format", "{{.Id}}", reference).stdout.strip()

    def label(self, reference: str, key: str) -> str | None:
        """A label of a local image ("" when it has no such label), or None without the image."""
        result = self.output("image", "inspect", "--format", f'{{{{index .Config.Labels "{key}"}}}}', reference)
        return result.stdout.strip() if result.returncode == 0 else None

    def remove_image(self, reference: str) -> None:
        """Untag or remove an image if nothing uses it. Never forced, and a
        refusal is no fault: the image is left for a later bring-up."""
        self.output("rmi", reference)

    def hand_over(self, reference: str, to: "BringupDocker", what: str) -> None:
        """Copy a local image into the engine `to`, `docker save` into `docker load`."""
        saved = self.cli.piped("save", reference)
        assert saved.stdout is not None  # piped() always makes the pipe
        try:
            to.run("load", "--quiet", what=what, stdin=saved.stdout)
        finally:
            saved.stdout.close()  # our end: a load that stopped early stops the save too
            # A failed save is the cause even when the load failed too (it read nothing).
            if saved.wait():
                raise BringupError(f"{what} failed: `docker save {reference}` exited {saved.returncode}")


DOCKER = BringupDocker()  # bring-up's engine: the one DOCKER_HOST names at each call
