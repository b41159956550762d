"""Running one page: its directory, its bash session on its engine, its
blocks in order, and the engine cleaned afterwards."""
import re
import shutil
import tempfile
from pathlib import Path

from . import matching
from .dockerstate import EngineError
from .session import CommandTimeout, PageSession, SessionError

PLACEHOLDER = re.compile(r"<([A-Za-z][A-Za-z0-9 _-]*)>")
CONTAINER_WORDS = {"ID", "CONTAINER", "CONTAINER_ID", "CONTAINER_NAME", "NAME"}
IMAGE_WORDS = {"IMAGE", "IMAGE_ID"}
DOCKER_WORD = re.compile(r"(?<![\w.:/-])[0-9a-f]{2,64}(?![\w.:/-])|(?<![\w.:/-])[a-z]+_[a-z]+(?![\w.:/-])")


OUTPUT_TAIL = 40  # lines of a failed command's output shown in its report


def tail(text, count=OUTPUT_TAIL):
    lines = text.rstrip().splitlines()
    cut = f"[... {len(lines) - count} earlier lines ...]\n" if len(lines) > count else ""
    return cut + "\n".join(lines[-count:])


class BlockFailure(Exception):
    """A block did not do what its page says; the message is the whole report."""


class PageRun:
    def __init__(self, page, settings, engine, update=None):
        self.page = page
        self.default_timeout = settings.timeout
        self.update = update            # list collecting output rewrites, or None
        self.bindings = matching.Bindings()
        self.captures = {}
        self.done = set()               # lines of blocks already run
        self.failed_at = None
        self.engine = engine
        self.tmp = Path(tempfile.mkdtemp(prefix="page-", dir=engine.page_root))
        self.workdir = self.tmp / "workshop"
        self.workdir.mkdir()
        if settings.copy is not None:  # the project's files, as in a clone of it
            shutil.copytree(settings.copy, self.workdir / settings.copy.name,
                            ignore=shutil.ignore_patterns(*settings.copy_ignore))
        (self.tmp / "scratch").mkdir()
        self.session = None
        try:
            engine.prepare(page.front_matter or {})
        except EngineError as error:
            raise BlockFailure(f"{page.path}:1: preparing the engine for the page failed: {error}")
        self.session = PageSession(self.workdir, self.tmp / "scratch", engine.spawn(self.workdir),
                                   engine.kill_processes, on_timeout=engine.stop_new_containers)

    # -- placeholders --------------------------------------------------------
    def substitute(self, command, block):
        def placeholder(match):
            word = match.group(1)
            key = re.sub(r"[\s-]+", "_", word.strip()).upper()
            if word in self.captures:
                return self.captures[word]
            if key in CONTAINER_WORDS:
                made = self.engine.new_containers()
                if not made:
                    raise BlockFailure(f"{block.label}: <{word}> stands for the last container the page "
                                       "created, but it has created none yet")
                return made[-1][:12]
            if key in IMAGE_WORDS:
                made = self.engine.new_images()
                if not made:
                    raise BlockFailure(f"{block.label}: <{word}> stands for the last image the page "
                                       "built, but it has built none yet")
                return made[-1].split(":")[-1][:12]
            raise BlockFailure(f"{block.label}: unbound placeholder <{word}>; name a capture "
                               f"({', '.join(self.captures) or 'none yet'}) or one of "
                               f"<CONTAINER ID>, <IMAGE ID>")
        command = PLACEHOLDER.sub(placeholder, command)
        if not command.lstrip().startswith("docker "):
            return command
        return DOCKER_WORD.sub(lambda m: self._real_word(m.group()), command)

    def _real_word(self, word):
        real = self.bindings.real_for(word)
        if real is None or real == word:
            return word
        if re.fullmatch(r"[0-9a-f]{2,63}", word) and len(real) > len(word):
            # A short ID prefix: the shortest prefix of the real ID that is at
            # least as long and names nothing else on the daemon.
            others = self.engine.all_ids()
            for length in range(len(word), len(real) + 1):
                prefix = real[:length]
                if sum(1 for other in others if other.startswith(prefix)) <= 1:
                    self.bindings.bind(word, prefix)
                    return prefix
        return real

    # -- running -------------------------------------------------------------
    def run_block(self, block):
        """Run a block; returns "passed", or "skipped" for a block with a skip reason
        (never run, whether it is the block asked for or one run before it)."""
        self.done.add(block.line)
        if block.options.skip:
            return "skipped"
        if block.kind == "file":
            self._write_file(block)
            return "passed"
        timeout = block.options.timeout or self.default_timeout
        try:
            if block.kind == "action":
                if block.options.run:
                    self._run_command(block, block.options.run, block.line, None, timeout, expect=None)
                if block.options.press:
                    self.session.press(block.options.press, timeout)
                return "passed"
            outputs = []
            for index, command in enumerate(block.commands):
                last = index == len(block.commands) - 1
                outputs.append(self._run_command(block, command.text, command.line, command, timeout,
                                                 expect=block.options.exit if last else None))
            if block.expected is not None and block.options.check_output:
                self._check_output(block, block.commands[-1].text if block.commands else "",
                                   block.line, block.expected, block.expected_span, "".join(outputs))
        except BlockFailure:
            self.failed_at = block.label
            raise
        except (CommandTimeout, SessionError) as error:
            self.failed_at = block.label
            raise BlockFailure(f"{block.label}: {error}")
        return "passed"

    def _run_command(self, block, text, line, command, timeout, expect):
        """Run one command; it must exit with `expect` (None: 0)."""
        real = self.substitute(text, block)
        try:
            result = self.session.run(real, timeout)
        except CommandTimeout as error:
            raise BlockFailure(f"{block.path}:{line}: {text}\n{error}")
        ok = (result.exit_code == 0 if expect is None else
              result.exit_code != 0 if expect == "nonzero" else result.exit_code == int(expect))
        if not ok:
            wanted = "0" if expect is None else expect
            raise BlockFailure(f"{block.path}:{line}: {text} exited {result.exit_code} (expected {wanted})\n"
                               f"--- output ---\n{tail(result.output)}")
        if block.options.capture:
            value = result.output.strip()
            if block.options.pattern:
                found = re.search(block.options.pattern, result.output, re.M)
                if not found:
                    raise BlockFailure(f"{block.path}:{line}: capture pattern {block.options.pattern!r} "
                                       f"found nothing in:\n{result.output.rstrip()}")
                value = found.group(1) if found.groups() else found.group()
            self.captures[block.options.capture] = value
        if command is not None and command.expected is not None and block.options.check_output:
            self._check_output(block, text, line, command.expected, command.expected_span, result.output)
        return result.output

    def _check_output(self, block, text, line, expected, span, output):
        outcome = matching.compare(expected, output, self.bindings)
        if outcome.matched:
            return
        if self.update is not None:
            self.update.append((block.path, span, outcome.actual))
            return
        raise BlockFailure(f"{block.path}:{line}: {text.splitlines()[0] if text else ''}: output differs\n"
                           f"{outcome.diff()}")

    def _write_file(self, block):
        cwd = self.session.cwd()
        target = (cwd / block.title).resolve()
        if not str(target).startswith(str(self.tmp)):
            raise BlockFailure(f"{block.label}: title={block.title!r} points outside the page's directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.content, encoding="utf-8")

    def finish(self):
        """Close the session and clean the engine and the disk; returns problems."""
        problems = []
        try:
            if self.session is not None:
                self.session.close()
        finally:
            try:
                problems = self.engine.finish_page()
            except EngineError as error:
                problems = [str(error)]
            finally:
                shutil.rmtree(self.tmp, ignore_errors=True)
        return problems
