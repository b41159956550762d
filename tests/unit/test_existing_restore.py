"""--doc-engine=existing puts the daemon back as the snapshot found it, and
never takes a doc-test sandbox (or its network) that another run started
meanwhile for one the page made."""
from doctester.docker.dockerstate import Snapshot
from doctester.docker.engines import restore
from doctester.docker.ownership import RUN_LABEL


class FakeDaemon:
    def __init__(self, containers, networks, labelled):
        self.containers, self.network_lines, self.labelled = containers, networks, labelled
        self.removed, self.ran = [], []

    def container_ids(self):
        return list(self.containers)

    def networks(self):
        return list(self.network_lines)

    def lines(self, *args):
        assert f"label={RUN_LABEL}" in args
        kind = "container" if args[0] == "ps" else "network"
        return [i for i, k in self.labelled if k == kind]

    def remove_containers(self, ids):
        self.removed += ids
        return []

    def tags(self):
        return {}

    def image_ids(self):
        return []

    def volumes(self):
        return []

    def run(self, *args, check=True):
        self.ran.append(args)

        class Done:
            returncode, stderr = 0, ""
        return Done()


def test_what_the_page_made_goes_and_another_runs_sandbox_stays():
    before = Snapshot(containers=["kept"], image_ids=[], tags={}, volumes=[], networks=["n0 users-net"])
    daemon = FakeDaemon(containers=["kept", "made-by-page", "sandbox-of-another-run"],
                        networks=["n0 users-net", "n1 page-net", "n2 doctest-123-abc-gw0"],
                        labelled=[("sandbox-of-another-run", "container"), ("n2", "network")])
    assert restore(daemon, before) == []
    assert daemon.removed == ["made-by-page"]
    assert ("network", "rm", "n1") in daemon.ran and ("network", "rm", "n2") not in daemon.ran
    assert not [args for args in daemon.ran if "n0" in args]
