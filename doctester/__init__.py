"""Run the shell, console and Dockerfile blocks of Markdown pages as tests,
as a pytest plugin, and mark on the site what they verified.

core/     knows Markdown, shells and terminals, and nothing of Docker:
          blocks, annotations, markdown (page -> blocks), matching, terminal
          and session (the page's shell and its modes), environment (where a
          page runs; a local bash by default), pagerun, report, settings,
          items and plugin (the pytest side), hookspecs (what a profile implements)
docker/   the Docker profile: rules (interactive verbs, engine guard, Docker's
          varying fields), engines and sandbox (private engines), ownership
          (what a run starts, reaped after a kill), provider, plugin (the hooks)
mkdocs_plugin  the verified marks on the site, read from the report
"""
