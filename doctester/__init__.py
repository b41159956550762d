"""Run the shell, console and Dockerfile blocks of Markdown pages against a
real Docker engine, as a pytest plugin. One module per concern:

fences      Markdown -> a page of blocks (commands, expected output, files, options)
matching    compare shown output with real output, normalizing what varies
session     one live bash session per page, with interactive containers under a pty
dockerstate snapshot the daemon before a page, clean and restore after it
report      the JSON record of a run
plugin      the pytest hooks that tie them together
"""
