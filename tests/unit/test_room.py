"""The room's mirror, decided without a network: the allowlist, the storage
made from it, the room CA and the mirror's certificate, the refusals."""
import datetime
import hashlib
import ipaddress
import json
import os
import subprocess

import pytest
from cryptography import x509

from bringup import images, organizer, registry, roomca, roomstore
from bringup.progress import BringupError
from bringup.roomstore import Served


def test_the_snippet_names_an_https_mirror_and_no_insecure_registry():
    text = json.loads(organizer.snippet("192.168.1.20"))
    assert text == {"registry-mirrors": ["https://192.168.1.20:5000"]}


@pytest.mark.parametrize("host, written", [("192.168.1.20", "192.168.1.20:5000"), ("fd00::20", "[fd00::20]:5000"),
                                           ("laptop.local", "laptop.local:5000")])
def test_an_ipv6_address_is_written_in_brackets(host, written):
    assert registry.host_port(host, 5000) == written
    assert written in organizer.snippet(host) or ":" not in host


def test_the_allowlist_is_every_tag_and_alias_the_pages_use():
    pairs = organizer.allowlist()
    for image in (*images.PUBLIC_IMAGES, images.workshop_image()):
        for tag in image.tags:
            assert (image.repository, tag) in pairs
    assert len(pairs) == len(set(pairs))


def test_a_part_of_the_allowlist_can_be_served_alone():
    assert organizer.allowlist(["hello-world", "python:alpine"]) == [("library/hello-world", "latest"),
                                                                      ("library/python", "alpine")]


def test_an_image_the_workshop_does_not_use_is_refused():
    with pytest.raises(BringupError, match=r"nginx:latest: not an image the workshop uses"):
        organizer.allowlist(["nginx"])


@pytest.mark.parametrize("address, refused", [("192.168.1.20", True), ("127.0.0.2", False)])
def test_a_tag_that_trusts_a_private_ca_is_not_served_to_a_room(address, refused):
    # An alias is read too: it may name another image than the primary tag.
    served = [Served("python:alpine", {}), Served("python:3.13-alpine", {images.PRIVATE_CA_LABEL: "yes"})]
    if refused:
        with pytest.raises(BringupError, match=r"python:3.13-alpine in the mirror trust a private CA"):
            organizer.check_fit_for_a_room(address, served)
    else:
        organizer.check_fit_for_a_room(address, served)  # only this machine reaches a loopback address


def test_images_without_a_private_ca_may_be_served():
    organizer.check_fit_for_a_room("192.168.1.20", [Served("hello-world:latest", {})])


def test_the_room_ca_is_made_once_with_a_key_only_its_owner_reads(ca_folder):
    roomca.ensure_ca()
    assert oct(ca_folder.stat().st_mode & 0o777) == "0o700"
    assert oct(roomca.CA_KEY.stat().st_mode & 0o777) == "0o600"
    first = roomca.CA_CERT.read_bytes()
    roomca.ensure_ca()
    assert roomca.CA_CERT.read_bytes() == first
    assert roomca.fingerprint() == hashlib.sha256(first).hexdigest().upper()


def test_the_mirrors_certificate_is_signed_by_the_ca_for_its_address(ca_folder):
    certificate, key = roomca.server_certificate("192.168.1.20")
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    checked = subprocess.run(["openssl", "verify", "-CAfile", str(roomca.CA_CERT), str(certificate)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    names = x509.load_pem_x509_certificate(certificate.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["192.168.1.20"]


def test_a_ca_key_others_can_read_is_refused(ca_folder):
    roomca.ensure_ca()
    os.chmod(roomca.CA_KEY, 0o644)
    with pytest.raises(BringupError, match=r"can be read by other users \(mode 644\)"):
        roomca.server_certificate("192.168.1.20")


def test_a_missing_ca_key_is_refused_and_no_new_ca_replaces_it_silently(ca_folder):
    roomca.ensure_ca()
    certificate = roomca.CA_CERT.read_bytes()
    roomca.CA_KEY.unlink()
    with pytest.raises(BringupError, match=r"the room CA's key .* is missing"):
        roomca.ensure_ca()
    assert roomca.CA_CERT.read_bytes() == certificate


def test_a_ca_about_to_expire_is_refused(ca_folder):
    roomca.ensure_ca()
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=roomca.CA_DAYS - 1)
    with pytest.raises(BringupError, match="expires on"):
        roomca.ensure_ca(now=later)


def test_a_link_planted_at_the_key_is_refused_not_followed(ca_folder, tmp_path):
    roomca.ensure_ca()
    target = tmp_path / "elsewhere"
    target.write_text("untouched")
    (ca_folder / "mirror.key").symlink_to(target)
    with pytest.raises(BringupError, match="symbolic link"):
        roomca.server_certificate("192.168.1.20")
    assert target.read_text() == "untouched"


def blob(root, data):
    digest = hashlib.sha256(data).hexdigest()
    path = root.joinpath(*roomstore.V2, "blobs", "sha256", digest[:2], digest, "data")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f"sha256:{digest}"


def link(root, repository, *parts, digest):
    path = root.joinpath(*roomstore.V2, "repositories", repository, *parts, "link")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(digest)


def push(root, repository, tag, labels):
    """An image as distribution stores it: config, one layer, a manifest, a tag."""
    config = blob(root, json.dumps({"config": {"Labels": labels}, "rootfs": {}}).encode())
    layer = blob(root, f"layer of {repository}".encode())
    manifest = blob(root, json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                      "config": {"digest": config}, "layers": [{"digest": layer}]}).encode())
    link(root, repository, "_manifests", "tags", tag, "current", digest=manifest)
    return manifest, config, layer


def trusting(*pushes):
    """What bring-up's record would say of these pushes: {repository:tag: manifest}."""
    return {f"{repository}:{tag}": digests[0] for repository, tag, digests in pushes}


def test_the_room_storage_holds_only_the_tags_named(tmp_path):
    source, target = tmp_path / "loopback", tmp_path / "room"
    manifest, config, layer = push(source, "library/hello-world", "latest", {})
    push(source, "library/python", "latest", {images.PRIVATE_CA_LABEL: "yes"})
    push(source, "someone/else", "latest", {})  # a local process pushed it: never served
    trusted = trusting(("library/hello-world", "latest", (manifest,)))
    served = roomstore.fill([("library/hello-world", "latest")], trusted, source, target)
    assert served == [Served("hello-world:latest", {})]
    repositories = target.joinpath(*roomstore.V2, "repositories")
    assert sorted(p.name for p in repositories.iterdir()) == ["library"]
    assert sorted(p.name for p in (repositories / "library").iterdir()) == ["hello-world"]
    for digest in (manifest, config, layer):  # the same files, linked, not copied
        hexdigest = digest.split(":")[1]
        parts = (*roomstore.V2, "blobs", "sha256", hexdigest[:2], hexdigest, "data")
        assert source.joinpath(*parts).stat().st_ino == target.joinpath(*parts).stat().st_ino
    layers = repositories / "library" / "hello-world" / "_layers" / "sha256"
    assert sorted(p.name for p in layers.iterdir()) == sorted([config.split(":")[1], layer.split(":")[1]])


def test_the_labels_of_every_tag_are_read(tmp_path):
    source = tmp_path / "loopback"
    alpine = push(source, "library/python", "alpine", {})
    alias = push(source, "library/python", "3.13-alpine", {images.PRIVATE_CA_LABEL: "yes"})
    trusted = trusting(("library/python", "alpine", alpine), ("library/python", "3.13-alpine", alias))
    served = roomstore.fill([("library/python", "alpine"), ("library/python", "3.13-alpine")], trusted, source,
                            tmp_path / "room")
    assert [s.labels.get(images.PRIVATE_CA_LABEL) for s in served] == [None, "yes"]


def test_a_tag_bring_up_did_not_push_is_never_served(tmp_path):
    source = tmp_path / "loopback"
    ours = push(source, "introtodocker/jam-server", "latest", {})
    theirs = push(source, "introtodocker/jam-server", "latest", {"planted": "yes"})  # pushed over ours
    assert ours[0] != theirs[0]
    with pytest.raises(BringupError, match=r"jam-server:latest in the mirror is not the image bring-up pushed"):
        roomstore.fill([("introtodocker/jam-server", "latest")],
                       trusting(("introtodocker/jam-server", "latest", ours)), source, tmp_path / "room")


def test_an_allowlisted_image_missing_from_the_mirror_is_named(tmp_path):
    source = tmp_path / "loopback"
    hello = push(source, "library/hello-world", "latest", {})
    with pytest.raises(BringupError, match=r"python:alpine is not in the mirror .*run `make images` first"):
        roomstore.fill([("library/hello-world", "latest"), ("library/python", "alpine")],
                       trusting(("library/hello-world", "latest", hello)), source, tmp_path / "room")


def test_a_storage_naming_a_blob_outside_the_blob_folder_is_refused(tmp_path):
    source = tmp_path / "loopback"
    digest = "sha256:../../../etc"
    link(source, "library/hello-world", "_manifests", "tags", "latest", "current", digest=digest)
    with pytest.raises(BringupError, match="not a sha256 digest"):
        roomstore.fill([("library/hello-world", "latest")], {"library/hello-world:latest": digest}, source,
                       tmp_path / "room")


def blob_path(root, digest):
    hexdigest = digest.split(":")[1]
    return root.joinpath(*roomstore.V2, "blobs", "sha256", hexdigest[:2], hexdigest, "data")


def test_a_blob_whose_content_is_not_its_digest_is_refused(tmp_path):
    source = tmp_path / "loopback"
    pushed = push(source, "library/hello-world", "latest", {})
    blob_path(source, pushed[2]).write_bytes(b"swapped")  # the layer
    with pytest.raises(BringupError, match="does not hold what its digest"):
        roomstore.fill([("library/hello-world", "latest")], trusting(("library/hello-world", "latest", pushed)),
                       source, tmp_path / "room")


def test_a_blob_that_is_a_link_is_refused_not_followed(tmp_path):
    source = tmp_path / "loopback"
    pushed = push(source, "library/hello-world", "latest", {})
    layer = blob_path(source, pushed[2])
    secret = tmp_path / "secret"
    secret.write_bytes(layer.read_bytes())  # even with the right content
    layer.unlink()
    layer.symlink_to(secret)
    with pytest.raises(BringupError, match="cannot read"):
        roomstore.fill([("library/hello-world", "latest")], trusting(("library/hello-world", "latest", pushed)),
                       source, tmp_path / "room")


def test_an_index_that_names_itself_is_refused(tmp_path):
    source = tmp_path / "loopback"
    child = push(source, "library/python", "child", {})[0]
    index = blob(source, json.dumps({"mediaType": "application/vnd.oci.image.index.v1+json",
                                     "manifests": [{"digest": child}]}).encode())
    outer = blob(source, json.dumps({"mediaType": "application/vnd.oci.image.index.v1+json",
                                     "manifests": [{"digest": index}]}).encode())
    link(source, "library/python", "_manifests", "tags", "latest", "current", digest=outer)
    with pytest.raises(BringupError, match="nests indexes deeper"):
        roomstore.fill([("library/python", "latest")], {"library/python:latest": outer}, source, tmp_path / "room")


def test_one_image_of_an_index_carrying_the_private_ca_is_never_hidden(tmp_path):
    source = tmp_path / "loopback"
    carrying = push(source, "library/python", "amd64", {images.PRIVATE_CA_LABEL: "yes"})[0]
    clean = push(source, "library/python", "arm64", {images.PRIVATE_CA_LABEL: ""})[0]
    index = blob(source, json.dumps({"mediaType": "application/vnd.oci.image.index.v1+json",
                                     "manifests": [{"digest": carrying}, {"digest": clean}]}).encode())
    link(source, "library/python", "_manifests", "tags", "latest", "current", digest=index)
    [served] = roomstore.fill([("library/python", "latest")], {"library/python:latest": index}, source,
                              tmp_path / "room")
    assert served.labels[images.PRIVATE_CA_LABEL] == "yes"


def openssl_verdict_on(tmp_path, subject_alt_name):
    """What `openssl verify` says of a certificate for `subject_alt_name`
    that the room CA's own key signed (as whoever stole the key would)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    roomca.ensure_ca()
    ca_key = serialization.load_pem_private_key(roomca.CA_KEY.read_bytes(), password=None)
    ca = x509.load_pem_x509_certificate(roomca.CA_CERT.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "forged")])
    forged = (x509.CertificateBuilder().subject_name(name).issuer_name(ca.subject)
              .public_key(key.public_key()).serial_number(1).not_valid_before(now)
              .not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([subject_alt_name]), critical=False)
              .sign(ca_key, hashes.SHA256()))
    path = tmp_path / "forged.crt"
    path.write_bytes(forged.public_bytes(serialization.Encoding.PEM))
    checked = subprocess.run(["openssl", "verify", "-CAfile", str(roomca.CA_CERT), str(path)],
                             capture_output=True, text=True)
    return checked.returncode, checked.stdout + checked.stderr


def test_the_room_ca_signs_for_addresses_never_for_names(ca_folder, tmp_path):
    code, said = openssl_verdict_on(tmp_path, x509.DNSName("bank.example"))
    assert code != 0 and "subtree violation" in said


def test_the_room_instance_serves_its_own_storage_read_only_over_tls(tmp_path):
    config = json.loads(registry.config_text("[fd00::20]:5000", room=True, storage_folder=tmp_path,
                                             tls=("c.crt", "c.key")))
    assert config["http"] == {"addr": "[fd00::20]:5000", "tls": {"certificate": "c.crt", "key": "c.key"}}
    assert config["storage"]["filesystem"]["rootdirectory"] == str(tmp_path)
    assert config["storage"]["maintenance"]["readonly"]["enabled"] is True


def test_only_the_writer_takes_pushes_and_it_wants_a_password(tmp_path):
    reader = json.loads(registry.config_text("127.0.0.1:5000"))
    writer = json.loads(registry.config_text("127.0.0.1:5001", htpasswd=tmp_path / "h"))
    assert reader["storage"]["maintenance"]["readonly"]["enabled"] is True and "auth" not in reader
    assert "maintenance" not in writer["storage"]
    assert writer["auth"]["htpasswd"]["path"] == str(tmp_path / "h")
    assert reader["storage"]["delete"] == writer["storage"]["delete"] == {"enabled": False}


def test_a_room_ca_without_name_constraints_is_refused(ca_folder):
    """A CA an older bring-up made could sign for any web site: never used again."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    ca_folder.mkdir(mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "Intro to Docker room CA (old)")])
    now = datetime.datetime.now(datetime.timezone.utc)
    old = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
           .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=300))
           .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
           .sign(key, hashes.SHA256()))
    roomca.CA_KEY.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    roomca.CA_KEY.chmod(0o600)
    roomca.CA_CERT.write_bytes(old.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(BringupError, match="may sign for any web site"):
        roomca.server_certificate("192.168.1.20")
    assert roomca.CA_CERT.read_bytes() == old.public_bytes(serialization.Encoding.PEM)  # never replaced silently


def test_the_room_ca_signs_for_the_rooms_private_addresses_only(ca_folder, tmp_path):
    with pytest.raises(BringupError, match="203.0.113.7 is not a private"):
        roomca.server_certificate("203.0.113.7")
    code, said = openssl_verdict_on(tmp_path, x509.IPAddress(ipaddress.ip_address("1.1.1.1")))
    assert code != 0 and "subtree violation" in said
    code, said = openssl_verdict_on(tmp_path, x509.IPAddress(ipaddress.ip_address("192.168.1.20")))
    assert code == 0, said  # the room's own kind of address does verify