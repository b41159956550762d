"""Which commands a journey need not list the engine after: those that can
make or remove no object (rules.makes_nothing). Anything it cannot be sure
of is listed; a wrong "nothing" would credit an object to a later command."""
import pytest

from doctester.docker.rules import makes_nothing


@pytest.mark.parametrize("command", [
    "cd ~/intro-to-docker", "ls | grep hello", "cat hello.py", "docker ps -a",
    "docker ps --format '{{.Names}}'", "docker inspect -f '{{.State.Running}}' jams", "docker image ls",
    "docker logs -f jams", "docker compose ps", "docker volume ls --filter name=hello.py",
    "curl -s localhost:8000/jam", "echo 'a; docker run x'", "mkdir data && cd data", "echo $HOME",
])
def test_commands_that_only_read_are_not_listed_after(command):
    assert makes_nothing(command)


@pytest.mark.parametrize("command", [
    "docker run --rm hello-world", "cd examples && docker build -t jams .", "docker image rm jams",
    "docker compose up -d", "docker compose -f other.yml ps",  # a flag's value before the verb: not sure
    "echo $(docker run -d python:alpine sleep 60)", "echo `docker volume create v`", "ls; docker volume create v",
    "python3 examples/check.py volumes", "./make-things.sh", "env FOO=1 docker run x",
    "docker --context desktop ps", "curl --unix-socket /var/run/docker.sock -X POST http://d/containers/create",
    "cat <<EOF > f\nhi\nEOF", "echo \"unclosed", "ls | docker load", "docker ps & docker run x",
    # An option's value before the verb would read as the verb.
    "docker --log-level info run -d nginx", "docker -l info volume create v", "docker compose -p ps up -d",
    "docker --debug ps",
    # Syntax a plain split misreads: comments (zsh -f has no interactive comments),
    # a here-document holding a quote, $'...', expansions that run commands.
    "echo a#; docker volume create v", "ls /dev/null # ; docker volume create v",
    "cat <<EOF > notes.txt\necho it's\nEOF\ndocker volume create v\n# '", "echo $'\\'' ; docker volume create v #'",
    "echo \"${y@P}\"", "echo $[z]", "echo =(docker volume create v)", "echo $\\\n(docker volume create v)",
    "docker network inspect kitchen \\\n  --format '{{json .Containers}}'",
    # curl's own configuration, or an abbreviated option, can reach the engine's socket.
    "curl -K engine.conf http://d/volumes/create", "curl --unix-sock /run/docker.sock http://d/volumes/create",
])
def test_anything_else_is_listed_after(command):
    assert not makes_nothing(command)
