"""Harness overhead and cached reruns. Prints the figures quoted in README.md.

    .venv/bin/python benchmarks/harness.py [PAGE ...]

For each page (default: examples/README.md and docs/cleaning-up.md, which
have no interactive steps), the same commands run twice on the same daemon:
through the harness (`pytest PAGE`), and as a plain bash script made of the
page's commands, started from the same daemon state. The ratio of the two
wall times is the harness's overhead. Then the whole site runs twice with
--doc-cache, and the second, no-change run is timed.
"""
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from doctester import dockerstate, fences  # noqa: E402
from doctester.session import is_interactive  # noqa: E402

DEFAULT_PAGES = ["examples/README.md", "docs/cleaning-up.md"]


def plain_script(page):
    lines = ["set +e"]
    for block in page.blocks:
        if block.kind == "action" and block.options.run:
            lines.append(block.options.run)
        elif block.kind == "file":
            lines.append(f"cat > {block.title} <<'__DOCTEST_EOF__'\n{block.content}__DOCTEST_EOF__")
        elif block.kind == "shell" and not block.options.skip:
            for command in block.commands:
                if is_interactive(command.text) or "<" in command.text and ">" in command.text.split("<")[-1]:
                    raise SystemExit(f"{page.path}: {command.text!r} needs the harness (interactive "
                                     "or a placeholder); pick a page without such steps")
                lines.append(command.text)
    return "\n".join(lines) + "\n"


def timed(argv, **kwargs):
    start = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    return time.monotonic() - start, result


def overhead(path):
    page = fences.parse_page(path, root=ROOT)
    script = plain_script(page)
    api = dockerstate.client()
    harness_time, result = timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", path], cwd=ROOT)
    if result.returncode:
        raise SystemExit(f"{path} does not pass:\n{result.stdout[-2000:]}")
    before = dockerstate.take(api)
    meta = page.front_matter or {}
    dockerstate.make_absent(api, meta.get("absent", []))
    dockerstate.make_present(api, meta.get("present", []))
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder) / "workshop"
        workdir.mkdir()
        subprocess.run(["cp", "-r", str(ROOT / "examples"), str(workdir / "examples")], check=True)
        (Path(folder) / "page.sh").write_text(script)
        plain_time, _ = timed(["bash", str(Path(folder) / "page.sh")], cwd=workdir)
    dockerstate.restore(api, before)
    return harness_time, plain_time


def main():
    pages = sys.argv[1:] or DEFAULT_PAGES
    for path in pages:
        harness_time, plain_time = overhead(path)
        print(f"{path}: harness {harness_time:.2f} s, plain bash {plain_time:.2f} s, "
              f"ratio {harness_time / plain_time:.2f}")
    with tempfile.TemporaryDirectory() as cache:
        argv = [sys.executable, "-m", "pytest", "-q", "docs", "examples/README.md", "--doc-cache",
                "-o", f"cache_dir={cache}", "--doc-report", f"{cache}/report.json"]
        first, result = timed(argv, cwd=ROOT)
        if result.returncode:
            failures = result.stdout.split("= FAILURES =")[-1]
            raise SystemExit(f"the site does not pass:\n{failures[:4000]}")
        second, result = timed(argv, cwd=ROOT)
        print(f"whole site: first run {first:.1f} s, no-change rerun with --doc-cache {second:.2f} s "
              f"({result.stdout.strip().splitlines()[-1]})")


if __name__ == "__main__":
    main()
