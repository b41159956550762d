"""Draw the site's diagrams as small, self-contained SVG files in docs/media/.

    .venv/bin/python scripts/diagrams.py          # write them
    .venv/bin/python scripts/diagrams.py --check  # fail if a file is out of date

Each diagram sits on its own light panel, so it reads the same on the light
and the dark theme, and carries a <title> and <desc> for screen readers.
"""
import argparse
import sys
from html import escape
from pathlib import Path

MEDIA = Path(__file__).resolve().parent.parent / "docs" / "media"
INK, MUTED, PANEL, EDGE = "#1e293b", "#3f4b5c", "#f8fafc", "#cbd5e1"  # MUTED: 4.5:1 on every fill
FILLS = {"app": "#bfdbfe", "lib": "#ddd6fe", "os": "#fde68a", "kernel": "#fdba74", "hw": "#e2e8f0",
         "hyper": "#fca5a5", "daemon": "#93c5fd", "data": "#bbf7d0", "proc": "#e0f2fe", "host": "#f1f5f9"}


class Drawing:
    def __init__(self, width, height, title, description):
        self.width, self.height = width, height
        self.title, self.description = title, description
        self.parts = []

    def box(self, x, y, w, h, label, kind="app", sub=None, dashed=False, bold=False, radius=8):
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        self.parts.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="{radius}" '
                          f'fill="{FILLS[kind]}" stroke="{INK}" stroke-width="1.5"{dash}/>')
        if label:
            cy = y + h / 2 + (0 if sub is None else -7)
            weight = ' font-weight="bold"' if bold else ""
            self.text(x + w / 2, cy + 5, label, weight=weight)
        if sub:
            self.text(x + w / 2, y + h / 2 + 17, sub, size=12, color=MUTED)

    def text(self, x, y, words, size=14, color=INK, anchor="middle", weight=""):
        self.parts.append(f'<text x="{x}" y="{y}" font-size="{size}" fill="{color}" '
                          f'text-anchor="{anchor}"{weight}>{escape(words)}</text>')

    def arrow(self, x1, y1, x2, y2, label=None, both=False, dy=-6):
        start = ' marker-start="url(#tip)"' if both else ""
        self.parts.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{INK}" '
                          f'stroke-width="1.8" marker-end="url(#tip)"{start}/>')
        if label:
            self.text((x1 + x2) / 2, (y1 + y2) / 2 + dy, label, size=12, color=MUTED)

    def svg(self):
        return "\n".join([
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width} {self.height}" '
            f'width="{self.width}" height="{self.height}" role="img" aria-labelledby="t d" '
            'font-family="system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif">',
            f'<title id="t">{escape(self.title)}</title>',
            f'<desc id="d">{escape(self.description)}</desc>',
            '<defs><marker id="tip" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            f'orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="{INK}"/></marker></defs>',
            f'<rect x="1" y="1" width="{self.width - 2}" height="{self.height - 2}" rx="14" fill="{PANEL}" '
            f'stroke="{EDGE}" stroke-width="2"/>',
            *self.parts, "</svg>", ""])


def monolith():
    d = Drawing(640, 300, "A monolithic application",
                "One process holds the posts, messages and marketplace features, which call each "
                "other directly and share one database.")
    d.box(40, 30, 560, 160, "", "proc", dashed=True)
    d.text(320, 56, "Social app: one process, one executable", weight=' font-weight="bold"')
    for i, name in enumerate(("Posts", "Messages", "Marketplace")):
        d.box(70 + i * 180, 80, 140, 80, name, "app")
    d.arrow(210, 120, 250, 120)
    d.arrow(390, 120, 430, 120)
    d.box(230, 225, 180, 50, "One database", "data")
    d.arrow(320, 190, 320, 225)
    return d


def microservices():
    d = Drawing(640, 300, "A microservice application",
                "Posts, messages and marketplace run as three separate services, each with its own "
                "database, and call each other over the network.")
    for i, name in enumerate(("Posts", "Messages", "Marketplace")):
        x = 40 + i * 200
        d.box(x, 40, 160, 80, f"{name}", "app", sub="service, own process")
        d.box(x + 25, 200, 110, 50, "its data", "data")
        d.arrow(x + 80, 120, x + 80, 200)
    d.arrow(200, 80, 240, 80, "HTTP", both=True)
    d.arrow(400, 80, 440, 80, "HTTP", both=True)
    d.text(320, 285, "each service is built, deployed, restarted and scaled on its own", size=12, color=MUTED)
    return d


def stack_base(d, top_label, top_kind):
    d.box(40, 250, 560, 40, "Hardware: CPU, memory, disk, network", "hw")
    d.box(40, 200, 560, 40, top_label, top_kind, bold=True)


def vm():
    d = Drawing(640, 310, "Virtual machines",
                "A hypervisor runs on the hardware; on it, three virtual machines each boot a full "
                "guest operating system with its own kernel, under their libraries and app.")
    stack_base(d, "Hypervisor", "hyper")
    for i in range(3):
        x = 40 + i * 190
        d.box(x, 20, 180, 170, "", "proc", dashed=True)
        d.text(x + 90, 40, f"Virtual machine {i + 1}", size=13, color=MUTED)
        d.box(x + 15, 50, 150, 36, f"App {'ABC'[i]}", "app")
        d.box(x + 15, 92, 150, 36, "Libraries", "lib")
        d.box(x + 15, 134, 150, 44, "Guest OS", "os", sub="with its own kernel")
    return d


def containers():
    d = Drawing(640, 360, "Containers",
                "On the hardware runs one host operating system and its Linux kernel, with the Docker "
                "daemon on it; three containers hold only their apps and libraries and all share "
                "the host's kernel.")
    d.box(40, 300, 560, 40, "Hardware: CPU, memory, disk, network", "hw")
    d.box(40, 250, 560, 40, "Host OS: one Linux kernel, shared by every container", "kernel", bold=True)
    d.box(40, 200, 560, 40, "Docker daemon (dockerd)", "daemon")
    for i in range(3):
        x = 40 + i * 190
        d.box(x, 40, 180, 140, "", "proc", dashed=True)
        d.text(x + 90, 60, f"Container {i + 1}", size=13, color=MUTED)
        d.box(x + 15, 72, 150, 40, f"App {'ABC'[i]}", "app")
        d.box(x + 15, 122, 150, 40, "Libraries", "lib")
    d.text(320, 30, "no guest OS: nothing to boot", size=12, color=MUTED)
    return d


def image_container():
    d = Drawing(640, 320, "An image and its containers",
                "A read-only image made of layers is the template for three containers; each adds "
                "its own thin writable layer on top of the same image.")
    d.text(130, 38, "Image (read-only)", weight=' font-weight="bold"')
    for i, layer in enumerate(("CMD python3", "pip packages", "Python", "Debian base")):
        d.box(40, 56 + i * 48, 180, 40, layer, "lib" if i else "app", radius=4)
    for i in range(3):
        y = 40 + i * 86
        d.box(400, y, 200, 70, "", "proc", dashed=True)
        d.box(412, y + 8, 176, 26, "writable layer", "data", radius=4)
        d.box(412, y + 38, 176, 24, "image layers (shared)", "hw", radius=4)
        d.arrow(220, 150, 400, y + 50, "docker run" if i == 1 else None, dy=-8)
    d.text(500, 306, "three containers, one image on disk", size=12, color=MUTED)
    return d


def port_mapping():
    d = Drawing(640, 240, "Publishing a port",
                "With -p 8000:8000, a request to port 8000 on the host is forwarded by Docker to "
                "port 8000 inside the container, where the server listens.")
    d.box(20, 40, 600, 160, "", "host", dashed=True)
    d.text(120, 64, "Your computer (host)", weight=' font-weight="bold"')
    d.box(50, 100, 150, 60, "curl / browser", "app", sub="localhost:8000")
    d.box(235, 100, 110, 60, "port 8000", "daemon", sub="published")
    d.box(440, 80, 170, 100, "", "proc")
    d.text(525, 102, "Container", weight=' font-weight="bold"')
    d.box(450, 115, 150, 50, "jam server", "data", sub="listens on :8000")
    d.arrow(200, 130, 235, 130)
    d.arrow(345, 130, 450, 140, "-p 8000:8000", dy=-12)
    d.text(320, 225, "-p HOST_PORT:CONTAINER_PORT", size=13, color=MUTED)
    return d


def bind_mount():
    d = Drawing(640, 240, "A bind mount",
                "The file hello.py in the host's current folder appears inside the container as "
                "/hello/main.py; it is one file, so changes on either side show on the other.")
    d.box(20, 30, 260, 170, "", "host", dashed=True)
    d.text(150, 56, "Host file system", weight=' font-weight="bold"')
    d.box(50, 100, 200, 56, "hello.py", "data", sub="in the current folder")
    d.box(360, 30, 260, 170, "", "proc")
    d.text(490, 56, "Container file system", weight=' font-weight="bold"')
    d.box(390, 100, 200, 56, "/hello/main.py", "data", sub="the same file")
    d.arrow(250, 128, 390, 128, "same file", both=True, dy=-10)
    d.text(320, 225, '--mount type=bind,source="$(pwd)"/hello.py,target=/hello/main.py', size=12, color=MUTED)
    return d


def storage():
    d = Drawing(680, 280, "Where a container's files live",
                "Three places: the container's writable layer, removed with the container; a named "
                "volume, kept by Docker until you remove it; and a bind mount, a folder of your "
                "computer that the container sees as it is.")
    d.box(20, 30, 640, 236, "", "host", dashed=True)
    d.text(110, 54, "Your computer", weight=' font-weight="bold"')
    d.box(40, 70, 250, 175, "", "proc")
    d.text(165, 92, "Container", weight=' font-weight="bold"')
    d.box(60, 102, 210, 40, "writable layer", "data", sub=None)
    d.text(165, 158, "gone with docker rm", size=12, color=MUTED)
    d.box(60, 168, 210, 30, "/data", "app", radius=4)
    d.box(60, 206, 210, 30, "/app", "app", radius=4)
    d.box(440, 156, 200, 54, "volume jam-data", "daemon", sub="kept by Docker")
    d.box(440, 214, 200, 40, "your folder", "lib", sub=None)
    d.arrow(270, 183, 440, 183, "-v jam-data:/data", dy=-8)
    d.arrow(270, 221, 440, 234, 'bind mount', dy=-10)
    return d


def networks():
    d = Drawing(680, 300, "A user-defined network",
                "Two containers on the network jam-net reach each other by name through Docker's "
                "DNS. Only a published port makes the jam server reachable from the computer itself.")
    d.box(20, 30, 640, 250, "", "host", dashed=True)
    d.text(110, 54, "Your computer", weight=' font-weight="bold"')
    d.box(220, 64, 420, 126, "", "proc", dashed=True)
    d.text(430, 86, "network jam-net", weight=' font-weight="bold"')
    d.box(240, 104, 140, 62, "client", "data", sub="python curl.py")
    d.box(480, 104, 140, 62, "jams", "data", sub="listens on :8000")
    d.arrow(380, 135, 480, 135, "by name", dy=-8)
    d.text(430, 153, "jams:8000", size=12, color=MUTED)
    d.box(40, 214, 150, 50, "curl", "app", sub="localhost:8000")
    d.arrow(190, 239, 590, 166)
    d.text(430, 236, "-p 8000:8000: a published port", size=12, color=MUTED)
    return d

def sharing():
    d = Drawing(680, 230, "Sharing an image through a registry",
                "You tag the image with the registry's address and your namespace and push it; the "
                "registry keeps its layers; a teammate pulls the same name and gets the same image, "
                "down to the digest.")
    d.box(20, 60, 170, 110, "Your computer", "host", sub="docker push", bold=True)
    d.box(230, 50, 220, 130, "Registry", "daemon", sub="localhost:5000 or Docker Hub", bold=True)
    d.box(490, 60, 170, 110, "Teammate", "host", sub="docker pull", bold=True)
    d.arrow(190, 115, 230, 115)
    d.arrow(450, 115, 490, 115)
    d.text(340, 210, "yourname/jam-server:1.0, sha256:... : one name, one digest everywhere", size=12,
           color=MUTED)
    return d

def compose():
    d = Drawing(680, 320, "A Compose project",
                "One compose.yaml describes the project jams: the services api and board on the network "
                "backend, where the board reaches the API by its service name, the volume jam-data under "
                "the API, and the ports 8000 and 8080 published to the computer. docker compose up creates "
                "all of it; docker compose down removes it, and down -v the volume too.")
    d.box(20, 20, 640, 280, "", "host", dashed=True)
    d.text(110, 44, "Your computer", weight=' font-weight="bold"')
    d.box(40, 62, 150, 70, "compose.yaml", "lib", sub="docker compose up")
    d.box(220, 56, 420, 150, "", "proc", dashed=True)
    d.text(430, 78, "project jams, network backend", weight=' font-weight="bold"')
    d.box(240, 100, 150, 62, "board", "data", sub="the web page")
    d.box(470, 100, 150, 62, "api", "data", sub="the jam API")
    d.arrow(390, 131, 470, 131, "api:8000", dy=-8)
    d.arrow(190, 97, 220, 97)
    d.box(470, 230, 150, 50, "jam-data", "os", sub="volume")
    d.arrow(545, 162, 545, 230)
    d.box(40, 230, 150, 50, "browser, curl", "app", sub="localhost:8080, :8000")
    d.arrow(190, 250, 315, 162)
    d.arrow(190, 262, 490, 162)
    d.text(360, 262, "published ports", size=12, color=MUTED)
    return d


def stages():
    d = Drawing(680, 260, "A two-stage build",
                "The build stage starts from python:3.13-alpine and installs the packages into a folder. "
                "The final stage starts again from python:3.13-alpine, copies that folder and the code, "
                "and runs the server as user 10001. Only the final stage becomes the image.")
    d.box(20, 40, 260, 180, "", "host", dashed=True)
    d.text(150, 64, "stage build", weight=' font-weight="bold"')
    d.box(40, 80, 220, 50, "python:3.13-alpine", "os")
    d.box(40, 146, 220, 56, "pip install --target", "lib", sub="/build/packages")
    d.box(400, 40, 260, 180, "", "host", dashed=True)
    d.text(530, 64, "final stage: the image", weight=' font-weight="bold"')
    d.box(420, 80, 220, 40, "python:3.13-alpine", "os")
    d.box(420, 126, 105, 40, "packages", "lib")
    d.box(535, 126, 105, 40, "code", "app")
    d.box(420, 172, 220, 36, "USER 10001, HEALTHCHECK", "data")
    d.arrow(260, 174, 420, 150)
    d.text(336, 194, "COPY --from=build", size=12, color=MUTED)
    d.text(340, 246, "pip's tools and caches stay behind in the build stage", size=12, color=MUTED)
    return d


def sdk():
    d = Drawing(680, 220, "Two clients, one engine",
                "Your Python program, through the docker package, and the docker command both send "
                "requests to the same engine's API; both see the same containers and images.")
    d.box(20, 30, 200, 70, "Your program", "app", sub="import docker")
    d.box(20, 120, 200, 70, "docker command", "app", sub="docker ps, docker run")
    d.box(270, 60, 190, 100, "Engine API", "daemon", sub="socket or DOCKER_HOST", bold=True)
    d.box(500, 60, 160, 100, "Containers, images", "data")
    d.arrow(220, 65, 270, 95)
    d.arrow(220, 155, 270, 125)
    d.arrow(460, 110, 500, 110)
    return d

DIAGRAMS = {"monolith": monolith, "microservices": microservices, "vm": vm, "containers": containers,
            "image-container": image_container, "port-mapping": port_mapping, "bind-mount": bind_mount,
            "storage": storage, "networks": networks, "sharing": sharing,
            "compose": compose, "stages": stages, "sdk": sdk}


def main():
    parser = argparse.ArgumentParser(description="Draw the site's SVG diagrams.")
    parser.add_argument("--check", action="store_true", help="only check that the files are up to date")
    args = parser.parse_args()
    stale = []
    for name, draw in DIAGRAMS.items():
        path, svg = MEDIA / f"{name}.svg", draw().svg()
        if args.check:
            if not path.exists() or path.read_text() != svg:
                stale.append(str(path))
        else:
            MEDIA.mkdir(parents=True, exist_ok=True)
            path.write_text(svg)
    if stale:
        print("out of date (run `python scripts/diagrams.py`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
