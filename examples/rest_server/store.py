"""The jam database: a JSON file holding a list of names, in insertion order.

Every change is written to a temporary file in the same folder, flushed to
disk and renamed over the old file, under a lock: a crash or `docker kill`
mid-write leaves either the old or the new list, never a torn file.
"""
import json
import os
import tempfile
import threading

DEFAULT_JAMS = ["strawberry", "blueberry", "raspberry", "grape"]
DEFAULT_MAX_JAMS = 1000  # every write rewrites the whole file: keep it small


class StoreError(Exception):
    """The database file cannot be used; the message says which file and why."""


class Conflict(Exception):
    pass


class NotFound(Exception):
    pass


class Full(Exception):
    pass


class JamStore:
    def __init__(self, path, max_jams=DEFAULT_MAX_JAMS):
        self.path = os.path.abspath(path)
        self.max_jams = max_jams
        self._lock = threading.Lock()
        self._jams = self._load()

    def _load(self):
        if not os.path.exists(self.path):
            self._write(DEFAULT_JAMS)
            return list(DEFAULT_JAMS)
        try:
            with open(self.path, encoding="utf-8") as file:
                jams = json.load(file)
        except OSError as error:
            raise StoreError(f"cannot read the database {self.path}: {error.strerror}") from None
        except (ValueError, UnicodeDecodeError) as error:
            raise StoreError(f"the database {self.path} is not valid JSON ({error}); "
                             "fix it or move it away to start from the default jams") from None
        if not isinstance(jams, list) or not all(isinstance(name, str) for name in jams):
            raise StoreError(f"the database {self.path} must hold a JSON list of jam names")
        return jams

    def _write(self, jams):
        folder = os.path.dirname(self.path)
        temporary = None
        try:
            descriptor, temporary = tempfile.mkstemp(prefix=".jams-", suffix=".tmp", dir=folder)
            # mkstemp makes the file 0600: give it the old file's mode, or the
            # one a plain open() would have given a new file.
            os.fchmod(descriptor, self._mode())
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                json.dump(jams, file, ensure_ascii=False, indent=2)
                file.write("\n")
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
            temporary = None
            directory = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as error:
            raise StoreError(f"cannot write the database {self.path}: {error.strerror}") from None
        finally:
            if temporary is not None and os.path.exists(temporary):
                os.unlink(temporary)

    def _mode(self):
        try:
            return os.stat(self.path).st_mode & 0o777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            return 0o666 & ~umask

    def _commit(self, jams):
        self._write(jams)  # the file first: memory never holds what disk lacks
        self._jams = jams

    def all(self):
        with self._lock:
            return list(self._jams)

    def get(self, name):
        with self._lock:
            if name not in self._jams:
                raise NotFound(name)
            return name

    def add(self, name):
        with self._lock:
            if name in self._jams:
                raise Conflict(name)
            if len(self._jams) >= self.max_jams:
                raise Full(name)
            self._commit(self._jams + [name])
            return name

    def rename(self, old, new):
        with self._lock:
            if old not in self._jams:
                raise NotFound(old)
            if new != old and new in self._jams:
                raise Conflict(new)
            self._commit([new if name == old else name for name in self._jams])
            return new

    def delete(self, name):
        with self._lock:
            if name not in self._jams:
                raise NotFound(name)
            self._commit([jam for jam in self._jams if jam != name])
