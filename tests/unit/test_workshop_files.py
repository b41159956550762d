"""The site's intro-to-docker.zip: exactly the files the doc tests copy into
each page's folder, under intro-to-docker/, the same bytes for the same files."""
import importlib.util
import io
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("workshop_files", ROOT / "scripts" / "workshop_files.py")
workshop_files = importlib.util.module_from_spec(spec)
spec.loader.exec_module(workshop_files)


def test_the_archive_holds_the_examples_the_pages_were_proven_with():
    archive = zipfile.ZipFile(io.BytesIO(workshop_files.archive(ROOT)))
    names = set(archive.namelist())
    expected = {f"intro-to-docker/examples/{p.relative_to(ROOT / 'examples').as_posix()}"
                for p in (ROOT / "examples").rglob("*") if p.is_file()
                and "__pycache__" not in p.parts and ".pytest_cache" not in p.parts and p.name != "jams.json"}
    assert names == expected and "intro-to-docker/examples/curl.py" in names
    assert archive.read("intro-to-docker/examples/Dockerfile") == (ROOT / "examples" / "Dockerfile").read_bytes()


def test_the_archive_is_reproducible():
    assert workshop_files.archive(ROOT) == workshop_files.archive(ROOT)


def test_before_md_links_the_archive_and_mkdocs_runs_the_hook():
    assert "](intro-to-docker.zip)" in (ROOT / "docs" / "before.md").read_text()
    assert "scripts/workshop_files.py" in (ROOT / "mkdocs.yml").read_text()
