"""What a page finds on the daemon, and putting it back afterwards.

A snapshot is taken before a page runs; after it (success, failure, timeout
or Ctrl-C alike) every container, image tag, volume and network that is not
in the snapshot is removed, and every image tag of the snapshot that the page
removed or moved is put back (re-tagged, or pulled from the mirror).
"""
import concurrent.futures
from dataclasses import dataclass

import docker
import docker.errors


@dataclass
class Snapshot:
    containers: set
    tags: dict        # "repo:tag" -> image id
    image_ids: set
    volumes: set
    networks: set


def client():
    return docker.from_env(timeout=120)


def take(api):
    images = api.images.list(all=True)
    return Snapshot(
        containers={c.id for c in api.containers.list(all=True)},
        tags={tag: image.id for image in images for tag in image.tags},
        image_ids={image.id for image in images},
        volumes={v.name for v in api.volumes.list()},
        networks={n.id for n in api.networks.list()},
    )


def new_containers(api, before):
    """Containers created since the snapshot, oldest first."""
    found = [c for c in api.containers.list(all=True) if c.id not in before.containers]
    return sorted(found, key=lambda c: c.attrs.get("Created", ""))


def new_images(api, before):
    found = [i for i in api.images.list() if i.id not in before.image_ids]
    return sorted(found, key=lambda i: i.attrs.get("Created", ""))


def stop_new_containers(api, before):
    for container in new_containers(api, before):
        try:
            if container.status == "running":
                container.kill()
        except docker.errors.APIError:
            pass


def make_absent(api, references):
    """Untag images a page needs absent (like `hello-world` for its first pull)."""
    for reference in references:
        try:
            api.images.remove(reference, force=True, noprune=False)
        except docker.errors.ImageNotFound:
            pass


def make_present(api, references):
    for reference in references:
        try:
            api.images.get(reference)
        except docker.errors.ImageNotFound:
            repository, _, tag = reference.partition(":")
            api.images.pull(repository, tag=tag or "latest")


def restore(api, before):
    """Remove what the page made; put back what it removed. Returns problems."""
    problems = []
    made = new_containers(api, before)
    with concurrent.futures.ThreadPoolExecutor(max(1, min(8, len(made)))) as pool:  # kills take a while each
        for container in made:
            pool.submit(_try, problems, f"removing container {container.name}", container.remove,
                        force=True, v=True)
    for image in api.images.list(all=True):
        for tag in image.tags:
            if before.tags.get(tag) != image.id:
                _try(problems, f"removing image tag {tag}", api.images.remove, tag, force=True)
    for image in api.images.list(all=True):
        if image.id not in before.image_ids:
            _try(problems, f"removing image {image.short_id}", api.images.remove, image.id, force=True)
    for volume in api.volumes.list():
        if volume.name not in before.volumes:
            _try(problems, f"removing volume {volume.name}", volume.remove, force=True)
    for network in api.networks.list():
        if network.id not in before.networks:
            _try(problems, f"removing network {network.name}", network.remove)
    current = {tag for image in api.images.list(all=True) for tag in image.tags}
    for tag, image_id in before.tags.items():
        if tag in current:
            continue
        try:
            api.images.get(image_id).tag(tag)
        except docker.errors.ImageNotFound:
            repository, _, version = tag.rpartition(":")
            _try(problems, f"pulling {tag} back", api.images.pull, repository, tag=version)
    return problems


def _try(problems, what, action, *args, **kwargs):
    try:
        action(*args, **kwargs)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as error:
        problems.append(f"{what}: {error.explanation or error}")
