"""Doc-test speed on private engines. Prints the figures quoted in README.md.

    .venv/bin/python benchmarks/harness.py [--workers 1,2] [--skip-site]

1. A private engine's start: sandbox container created until its engine
   answers, three times.
2. The same pages' commands as plain bash scripts, run in order in one
   sandbox (one engine; interactive steps and placeholders left out, which
   favours the plain run). Twice: each page from the state its front matter
   asks for (the harness's reset, run first and not counted), and, for
   reference, with nothing reset between pages.
3. The whole site through the harness with 1 and with N workers, and the
   ratio of each to the plain script.
4. A no-change rerun with --doc-cache.
"""
import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bringup import paths  # noqa: E402
from doctester.core.markdown import parse_page  # noqa: E402
from doctester.core.report import read_report  # noqa: E402
from doctester.docker import ownership  # noqa: E402
from doctester.docker.engines import RESET, with_default_tag  # noqa: E402
from doctester.docker.identity import Identity  # noqa: E402
from doctester.docker.ownership import DEFAULT_STATE  # noqa: E402
from doctester.docker.plugin import grammar  # noqa: E402
from doctester.docker.rules import is_interactive  # noqa: E402
from doctester.docker.sandbox import Limits, Sandbox  # noqa: E402
from doctester.docker.workspace import SandboxWorkspace  # noqa: E402
from scripts.journey_pages import nav_pages  # noqa: E402

# This project's sandbox image, labels and hostname, as its pytest.ini sets them.
PROJECT = Identity.from_ini(ROOT / "pytest.ini")
IMAGE = PROJECT.sandbox_image


def pages():
    found = [f"docs/{p}" for p in nav_pages()] + ["examples/README.md"]
    return [p for p in found if any(b.kind in ("shell", "file", "action")
                                    for b in parse_page(ROOT / p, root=ROOT, grammar=grammar()).blocks)]


def plain_scripts(page):
    """(the reset to the page's stated start, the page's commands) as bash."""
    present = [with_default_tag(r) for r in (page.meta or {}).get("present", [])]
    reset = "\n".join([f"set -- {' '.join(present)}", RESET])
    lines = ["set +e"]
    for block in page.blocks:
        if block.options.skip:
            continue
        if block.kind == "action" and block.options.run:
            lines.append(block.options.run)
        elif block.kind == "file":
            lines.append(f"cat > {block.title} <<'__DOCTEST_EOF__'\n{block.content}__DOCTEST_EOF__")
        elif block.kind == "shell" and block.lang != "pycon":
            lines += [c.text for c in block.commands
                      if not is_interactive(c.text) and "<" not in c.text.replace("<<", "")]
    return reset, "\n".join(lines) + "\n"


def timed(argv, **kwargs):
    start = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    return time.monotonic() - start, result


def with_sandbox(action):
    run = ownership.Run(DEFAULT_STATE, label=PROJECT.run_label)
    try:
        sandbox = Sandbox(run, "bench", IMAGE, Limits.for_machine(1), paths.REGISTRY_DATA, hostname=PROJECT.hostname)
        sandbox.start()
        return action(sandbox, run)
    finally:
        run.release()


def plain_run(page_paths, reset):
    """Seconds per page of its commands in plain bash, in order on one engine,
    and of the resets: with `reset`, each page first gets its stated start."""
    def action(sandbox, run):
        times, resets = {}, {}
        for path in page_paths:
            # The page's folder inside the sandbox, as the harness makes it, with its home above it.
            folder = SandboxWorkspace(sandbox, ROOT / "examples", ("__pycache__", "jams.json"), "intro-to-docker")
            reset_script, commands = plain_scripts(parse_page(ROOT / path, root=ROOT, grammar=grammar()))
            folder.write(folder.tmp, "reset.sh", reset_script)
            folder.write(folder.tmp, "page.sh", commands)
            home = {"HOME": str(folder.tmp)}
            if reset:
                resets[path], _ = timed(sandbox.exec_argv("bash", str(folder.tmp / "reset.sh"), env=home))
            took, _ = timed(sandbox.exec_argv("bash", str(folder.tmp / "page.sh"), workdir=folder.workdir, env=home))
            times[path] = took
        return times, resets
    return with_sandbox(action)


def harness_run(workers, report):
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "docs", "examples/README.md",
            "-n", str(workers), "--doc-report", str(report)]
    took, result = timed(argv, cwd=ROOT)
    if result.returncode:
        raise SystemExit(f"the site does not pass with {workers} worker(s):\n{result.stdout[-3000:]}")
    return took


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--skip-site", action="store_true", help="only the engine start and the plain run")
    args = parser.parse_args()
    starts = [with_sandbox(lambda sandbox, run: sandbox.ready_after) for _ in range(3)]
    print(f"private engine ready in {', '.join(f'{s:.2f}' for s in starts)} s (3 starts)")
    page_paths = pages()
    unreset, _ = plain_run(page_paths, reset=False)
    print(f"plain bash, one engine, pages in order, nothing reset: {sum(unreset.values()):.1f} s")
    plain, resets = plain_run(page_paths, reset=True)
    plain_total = sum(plain.values()) + sum(resets.values())
    print(f"plain bash, one engine, pages in order, each from its stated start: {plain_total:.1f} s "
          f"({sum(resets.values()):.1f} s of it the resets)")
    if args.skip_site:
        return
    with tempfile.TemporaryDirectory() as folder:
        for workers in [int(w) for w in args.workers.split(",")]:
            report = Path(folder) / f"report-{workers}.json"
            took = harness_run(workers, report)
            print(f"whole site, {workers} worker(s): {took:.1f} s = {took / plain_total:.2f}x the plain script")
            if workers == 1:
                record = read_report(report)
                for path in page_paths:
                    engines = record["pages"].get(path, {}).get("engines", {}).values()
                    blocks = [b for run in engines for b in run["blocks"]]
                    spent = sum(b["duration"] for b in blocks)
                    if plain.get(path, 0) >= 1:  # the same commands from the same start
                        print(f"  {path}: its blocks {spent:.1f} s, the same commands in plain bash "
                              f"{plain[path]:.1f} s, ratio {spent / plain[path]:.2f}")
        cache = Path(folder) / "cache"
        argv = [sys.executable, "-m", "pytest", "-q", "docs", "examples/README.md", "--doc-cache",
                "-o", f"cache_dir={cache}", "--doc-report", f"{folder}/cached.json"]
        timed(argv, cwd=ROOT)
        second, result = timed(argv, cwd=ROOT)
        print(f"no-change rerun with --doc-cache: {second:.2f} s ({result.stdout.strip().splitlines()[-1]})")


if __name__ == "__main__":
    main()
