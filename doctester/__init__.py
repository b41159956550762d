"""Run the shell, console and Dockerfile blocks of Markdown pages as tests,
as a pytest plugin, and mark on the site what they verified.

core/     knows Markdown, shells and terminals, and nothing of Docker:
          contract (the typed contract between the core and a profile),
          kinds and core_kinds (one registered object per kind of block: its
          languages, how it is read, how it runs), blocks, annotations,
          commands, markdown (page -> blocks), matching, terminal and session
          (the page's shell and its modes), python_fences, environment (where
          a page runs; a local bash by default), pagerun, failures, report,
          settings, state (one run's state), items and plugin (the pytest
          side), profiles (asking a profile's hooks), hookspecs (what a
          profile implements), procfs (/proc/PID/stat, read one way)
docker/   the Docker profile: rules (interactive verbs, engine guard, Docker's
          varying fields), engines and sandbox (private engines), dockerstate
          (the docker CLI the harness speaks through), registry_config (the
          mirror's settings, shared with bring-up), ownership (what a run
          starts, reaped after a kill), provider, plugin (the hooks)
mkdocs_plugin  the verified marks on the site, read from the report
"""
