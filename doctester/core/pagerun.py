"""Running one page: its folder, its session in its environment, its blocks
in order, and the environment torn down afterwards."""
import contextlib
import re
import signal

from . import matching
from .environment import SetupError
from .session import CommandTimeout, PageSession, SessionError, never_interactive

PLACEHOLDER = re.compile(r"<([A-Za-z][A-Za-z0-9 _-]*)>")
OUTPUT_TAIL = 40  # lines of a failed command's output shown in its report


def tail(text, count=OUTPUT_TAIL):
    lines = text.rstrip().splitlines()
    cut = f"[... {len(lines) - count} earlier lines ...]\n" if len(lines) > count else ""
    return cut + "\n".join(lines[-count:])


@contextlib.contextmanager
def time_limit(label, seconds):
    """Python code run in this process (a python fence) gets `seconds`, then
    a BlockFailure. Pytest runs items in the main thread, where signals land."""
    def too_long(*_):
        raise BlockFailure(f"{label}: the python fence took longer than {seconds:g} s; "
                           "give it more with <!-- doctest: timeout=SECONDS -->")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# Control characters but newline and tab: in a report they would move the
# reader's terminal (a page's output could retitle it, hide lines, or fake
# a green result); they are shown as escapes instead.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text):
    return CONTROL.sub(lambda m: "\\x%02x" % ord(m.group()), text.replace("\r\n", "\n"))


class BlockFailure(Exception):
    """A block did not do what its page says; the message is the whole report,
    with control characters shown as escapes. `output` is what the command
    really printed, if one ran."""

    def __init__(self, message, output=""):
        super().__init__(printable(message))
        self.output = output


class Substitution:
    """What a command becomes before it runs: its placeholders filled (the
    page's captures first, then the environment's own), and values the page
    showed written as the real ones they are bound to."""

    def __init__(self, environment, bindings):
        self.environment, self.bindings = environment, bindings
        self.captures = {}

    def __call__(self, command, block):
        def placeholder(match):
            word = match.group(1)
            if word in self.captures:
                return self.captures[word]
            try:
                value = self.environment.placeholder(word)
            except LookupError as error:
                raise BlockFailure(f"{block.label}: <{word}> {error}")
            if value is None:
                known = ", ".join(f"<{n}>" for n in self.environment.placeholder_names) or "no other"
                raise BlockFailure(f"{block.label}: unbound placeholder <{word}>; name a capture "
                                   f"({', '.join(self.captures) or 'none yet'}) or one of {known}")
            return value
        return self.environment.rewrite(PLACEHOLDER.sub(placeholder, command), self.bindings)


class OutputCheck:
    """Shown output against real output; with --doc-update, a mismatch is
    kept as a rewrite of the page instead of a failure."""

    def __init__(self, bindings, rules, update=None):
        self.bindings, self.rules, self.update = bindings, rules, update

    def __call__(self, block, text, line, expected, output):
        outcome = matching.compare(expected.lines, output, self.bindings, self.rules.declaring(block.options.variants))
        if outcome.matched:
            return
        if self.update is not None:
            self.update.append((block.path, expected.span, outcome.actual))
            return
        raise BlockFailure(f"{block.path}:{line}: {text.splitlines()[0] if text else ''}: output differs\n"
                           f"{outcome.diff()}", output)


class PageRun:
    def __init__(self, page, settings, environment, rules=matching.CORE_RULES, interactive=None, update=None,
                 journey=False):
        """`journey`: pages after this one go on in this run (see start_page); the
        environment starts empty, whatever the first page's front matter says,
        and tracks which command made each of its objects."""
        self.page, self.environment = page, environment
        self.default_timeout = settings.timeout
        shell = getattr(settings, "reader_shell", "bash")
        bindings = matching.Bindings()
        self.substitute = Substitution(environment, bindings)
        self.check_output = OutputCheck(bindings, rules, update)
        self.done = set()               # labels (page:line) of blocks already run
        self.failed_at = None
        self.session = None
        self.workspace = environment.workspace(settings.copy, settings.copy_ignore,
                                               getattr(settings, "workdir_name", "workshop"))
        try:
            environment.prepare({} if journey else page.meta or {}, journey=journey)
            self.session = PageSession(self.workspace.workdir, self.workspace.scratch,
                                       environment.spawn(self.workspace.workdir, shell), environment.kill_processes,
                                       on_timeout=environment.stop_started,
                                       interactive=interactive or never_interactive, shell=shell)
        except (SetupError, SessionError) as error:
            self.finish()
            raise BlockFailure(f"{page.path}:1: preparing the page's environment failed: {error}")
        except BaseException:
            self.finish()
            raise

    def start_page(self, page):
        """The journey: the next page goes on in the same shell and environment."""
        self.page, self.failed_at = page, None

    def run_block(self, block):
        """Run a block; returns "passed", or "skipped" for a block with a skip reason
        (never run, whether it is the block asked for or one run before it)."""
        self.done.add(block.label)
        if block.options.skip:
            return "skipped"
        try:
            getattr(self, f"_run_{block.kind}")(block, block.options.timeout or self.default_timeout)
        except (BlockFailure, CommandTimeout, SessionError) as error:
            self.failed_at = block.label
            message = str(error) if isinstance(error, BlockFailure) else f"{block.label}: {error}"
            # What earlier pages left that the real output names (the environment knows; in a journey).
            causes = self.environment.explain(getattr(error, "output", "") or message, self.page.path)
            raise BlockFailure("\n".join([message, *causes])) from None
        return "passed"

    @contextlib.contextmanager
    def python_fence(self, block):
        """Around a python fence that pytest-markdown-docs runs in this process:
        yields the environment variables it runs with (those of the page's
        engine), and marks the page as failed if it raises."""
        self.done.add(block.label)
        try:
            settings = self.environment.python_env()
        except SetupError as error:
            self.failed_at = block.label
            raise BlockFailure(f"{block.label}: {error}") from None
        try:
            yield settings
        except BaseException:
            self.failed_at = block.label
            raise

    def run_python_elsewhere(self, block, runner, timeout):
        """A python fence that the environment runs (in its own Python session,
        in the page's current folder); what it printed is shown like a
        fence's captured output."""
        self.done.add(block.label)
        try:
            print(runner.run(block.label, block.content, self.session.cwd(), timeout), end="")
        except SetupError as error:
            self.failed_at = block.label
            raise BlockFailure(f"{block.label}: {error}") from None

    def _run_file(self, block, timeout):
        if not self.workspace.write(self.session.cwd(), block.title, block.content):
            raise BlockFailure(f"{block.label}: title={block.title!r} points outside the page's directory")

    def _run_action(self, block, timeout):
        if block.options.run:
            self._run_command(block, block.options.run, block.line, None, timeout, expect=None)
        if block.options.press:
            result = self.session.press(block.options.press)
            if result.ended and not exit_ok(result.exit_code, block.options.exit):
                raise BlockFailure(f"{block.label}: pressing {' '.join(block.options.press)} ended the "
                                   f"command that had the terminal with status {result.exit_code} (expected "
                                   f"{block.options.exit or 0}; annotate exit=N if that is what the page shows)"
                                   f"\n--- output ---\n{tail(result.output)}")

    def _run_shell(self, block, timeout):
        outputs = []
        for index, command in enumerate(block.commands):
            last = index == len(block.commands) - 1
            outputs.append(self._run_command(block, command.text, command.line, command.expected, timeout,
                                             expect=block.options.exit if last else None))
        if block.expected is not None and block.options.check_output:
            self.check_output(block, block.commands[-1].text if block.commands else "", block.line,
                               block.expected, "".join(outputs))

    def _run_command(self, block, text, line, expected, timeout, expect):
        """Run one command; it must exit with `expect` (None: 0)."""
        real = self.substitute(text, block)
        try:
            result = self.session.run(real, timeout)
        except CommandTimeout as error:
            raise BlockFailure(f"{block.path}:{line}: {text}\n{error}")
        finally:
            self.environment.note_command(f"{block.path}:{line}")
        if not exit_ok(result.exit_code, expect):
            raise BlockFailure(f"{block.path}:{line}: {text} exited {result.exit_code} (expected {expect or 0})\n"
                               f"--- output ---\n{tail(result.output)}", result.output)
        if block.options.capture:
            self.substitute.captures[block.options.capture] = self._captured(block, line, result.output)
        if expected is not None and block.options.check_output:
            self.check_output(block, text, line, expected, result.output)
        return result.output

    def _captured(self, block, line, output):
        if not block.options.pattern:
            return output.strip()
        found = re.search(block.options.pattern, output, re.M)
        if not found:
            raise BlockFailure(f"{block.path}:{line}: capture pattern {block.options.pattern!r} "
                               f"found nothing in:\n{output.rstrip()}")
        return found.group(1) if found.groups() else found.group()

    def finish(self):
        """Close the session and tear the environment and the folder down; returns problems."""
        problems = []
        try:
            if self.session is not None:
                self.session.close()
        finally:
            try:
                problems = self.environment.finish_page()
            except SetupError as error:
                problems = [str(error)]
            finally:
                self.workspace.remove()
        return problems


def exit_ok(code, expect):
    """Does an exit status match an `exit=` annotation (None: 0)?"""
    if expect is None:
        return code == 0
    return code != 0 if expect == "nonzero" else code == int(expect)
