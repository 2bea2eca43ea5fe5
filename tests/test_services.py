"""What scripts/services.sh provides, through the conftest fixtures other tests rely on."""

from __future__ import annotations

import docker


def test_the_test_image_runs_busybox_as_root_and_nobody(docker_url: str, test_image: str) -> None:
    client = docker.DockerClient(base_url=docker_url, timeout=30)
    try:
        script = "id -un; grep -c : /etc/passwd; ls /bin | wc -l"
        out = client.containers.run(test_image, ["sh", "-c", script], remove=True)
        as_nobody = client.containers.run(test_image, ["id", "-un"], user="nobody", remove=True)
    finally:
        client.close()
    user, passwd_lines, applets = out.decode().split()
    assert (user, passwd_lines) == ("root", "2")
    assert int(applets) > 100  # one symlink per busybox applet
    assert as_nobody.decode().strip() == "nobody"
