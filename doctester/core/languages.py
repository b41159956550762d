"""Fence languages the core knows, shared by the parser and the site's marks."""
SHELL_LANGS = {"sh", "bash", "shell", "console", "pycon"}
WINDOWS_LANGS = {"powershell", "ps1", "pwsh", "cmd", "bat"}
OUTPUT_LANGS = {"text", "output", ""}
PYTHON_LANGS = {"py", "python", "python3"}
