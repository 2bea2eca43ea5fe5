"""The dashboard behind a real TLS-terminating nginx, as docs/deployment.md deploys it.

gunicorn serves config.wsgi with the documented production environment (read from docs/deployment.md) on the
test database; nginx runs the documented server block with a certificate for 127.0.0.1 signed by a CA made here
with openssl. Chromium logs in and adds a host through it; a plain client checks HSTS and the redirects of plain
HTTP. The same login through a configuration without DJANGO_SECURE_PROXY_SSL_HEADER fails the way it does in
real life, which is what the setting is for.

Choices, and why:

- Chromium gets ``ignore_https_errors`` rather than our CA: the session's one Chromium takes its trust from an NSS
  database read at start-up, so trusting a CA made by this test would need certutil and a browser of its own.
  What this test is about is how Django behaves behind TLS (scheme, CSRF, Secure cookies, HSTS), not certificate
  validation; the plain client below does verify the certificate chain and the name against the test CA.
- gunicorn is told to trust no forwarded header itself (``--forwarded-allow-ips ""``). By default it believes
  X-Forwarded-Proto from 127.0.0.1, where nginx connects from here, while in the compose deployment the proxy
  connects from another address and gunicorn believes nothing: without the flag this test would pass without
  DJANGO_SECURE_PROXY_SSL_HEADER, and prove nothing about it.
- nginx runs in the foreground as one process (``master_process off``), with every path in a temporary directory,
  and adds two lines to the documented block: ``/static/`` served from the sources (the tests have no
  collectstatic; WhiteNoise serves the collected files in production), and ``proxy_bind 127.0.0.2`` so that
  gunicorn's peer differs from the browser's address and the audit trail shows which one Django took.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from auditlog.models import LogEntry

from hosts.models import Host
from tests.personas import PASSWORD, make_user
from tests.test_deploy import documented_block, documented_environment, strong_secrets
from tests.workers import database_url

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
START_TIMEOUT = 20.0
FORGED = "203.0.113.66"  # what a client claims in X-Forwarded-For; nginx appends the real address after it
UPSTREAM_SOURCE = "127.0.0.2"  # nginx connects to gunicorn from here (proxy_bind), the browser from 127.0.0.1
HSTS = "max-age=31536000; includeSubDomains; preload"
HINT = "run scripts/services.sh as root (it installs nginx and openssl)"


@dataclass(frozen=True)
class Certificates:
    ca: Path
    cert: Path
    key: Path


def _run(*args: str | Path, cwd: Path) -> None:
    result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"{args[0]} failed: {result.stderr}"


@pytest.fixture(scope="module")
def certificates() -> Iterator[Certificates]:
    """A CA and a server certificate for 127.0.0.1 signed by it (P-256 keys: made in milliseconds)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail(f"openssl is missing; {HINT}", pytrace=False)
    work = Path(tempfile.mkdtemp(prefix="dockerbench-tls-"))
    try:
        curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
        _run(openssl, "req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=dockerbench test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=work)  # fmt: skip
        _run(openssl, "req", *curve, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
             cwd=work)  # fmt: skip
        (work / "server.ext").write_text(
            "subjectAltName = IP:127.0.0.1\nbasicConstraints = critical, CA:FALSE\n"
            "keyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n"
        )
        _run(openssl, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-set_serial", f"0x{os.urandom(8).hex()}", "-days", "2", "-extfile", "server.ext",
             "-out", "server.pem", cwd=work)  # fmt: skip
        yield Certificates(ca=work / "ca.pem", cert=work / "server.pem", key=work / "server.key")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group we started (gunicorn's master and worker, or nginx); SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _wait_for(what: str, process: subprocess.Popen[bytes], log: Path, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited ({process.returncode}) during start-up:\n{log.read_text()[-3000:]}")
        if ready():
            return
        time.sleep(0.05)
    pytest.fail(f"{what} did not answer within {START_TIMEOUT:.0f}s:\n{log.read_text()[-3000:]}")


def _answers(port: int, path: str = "/") -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", path)
            return connection.getresponse().status == 200
        finally:
            connection.close()
    except OSError:
        return False


def _listens(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def nginx_config(work: Path, certs: Certificates, *, tls_port: int, http_port: int, upstream_port: int) -> str:
    """docs/deployment.md's server block on our ports, certificate and gunicorn, in a config of its own."""
    block = documented_block("nginx-example")
    for old, new in (
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl;", f"listen 127.0.0.1:{tls_port} ssl;"),
        ("ssl_certificate /etc/ssl/dockerbench/fullchain.pem;", f"ssl_certificate {certs.cert};"),
        ("ssl_certificate_key /etc/ssl/dockerbench/privkey.pem;", f"ssl_certificate_key {certs.key};"),
        ("proxy_pass http://127.0.0.1:8000;", f"proxy_pass http://127.0.0.1:{upstream_port};"),
        ("proxy_redirect off;", f"proxy_redirect off;\n        proxy_bind {UPSTREAM_SOURCE};"),
        ("    location / {", f"    location /static/ {{\n        alias {ROOT}/static/;\n    }}\n\n    location / {{"),
    ):
        assert block.count(old) == 1, f"the documented nginx block no longer has exactly one {old!r}"
        block = block.replace(old, new)
    temp = "\n".join(
        f"    {kind}_temp_path {work}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"daemon off;\nmaster_process off;\npid {work}/nginx.pid;\nerror_log {work}/nginx.log info;\n"
        f"events {{\n    worker_connections 64;\n}}\n"
        f"http {{\n    include /etc/nginx/mime.types;\n    access_log {work}/nginx.log;\n{temp}\n\n{block}\n}}\n"
    )


@dataclass
class Site:
    tls_port: int
    http_port: int
    gunicorn_port: int
    gunicorn_log: Path

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"


@contextmanager
def proxied_dashboard(certs: Certificates, *, without: tuple[str, ...] = ()) -> Iterator[Site]:
    """gunicorn with the documented production environment (less the variables in ``without``) behind nginx."""
    nginx = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if nginx is None:
        pytest.fail(f"nginx is missing; {HINT}", pytrace=False)
    if not GUNICORN.exists():
        pytest.fail(f"{GUNICORN} is missing; pip install -r requirements.txt", pytrace=False)
    work = Path(tempfile.mkdtemp(prefix="dockerbench-proxy-"))
    site = Site(_free_port(), _free_port(), _free_port(), work / "gunicorn.log")
    environment = documented_environment(
        host="127.0.0.1",
        origin=site.origin,
        **strong_secrets(),
        DATABASE_URL=database_url(),
        REDIS_URL=os.environ["REDIS_URL"],
    )
    for name in without:
        del environment[name]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with site.gunicorn_log.open("wb") as log:
            processes.append(
                subprocess.Popen(
                    [GUNICORN, "config.wsgi", "--bind", f"127.0.0.1:{site.gunicorn_port}", "--workers", "1",
                     "--forwarded-allow-ips", "", "--graceful-timeout", "5", "--access-logfile", "-"],
                    cwd=ROOT,
                    env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environment},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )  # fmt: skip
        _wait_for("gunicorn", processes[-1], site.gunicorn_log, lambda: _answers(site.gunicorn_port, "/healthz/"))

        config = work / "nginx.conf"
        config.write_text(
            nginx_config(
                work, certs, tls_port=site.tls_port, http_port=site.http_port, upstream_port=site.gunicorn_port
            )
        )
        nginx_log = work / "nginx.log"
        with nginx_log.open("ab") as log:
            processes.append(
                subprocess.Popen(
                    [nginx, "-p", str(work), "-c", str(config), "-e", str(nginx_log)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        _wait_for("nginx", processes[-1], nginx_log, lambda: _listens(site.tls_port) and _listens(site.http_port))
        yield site
    finally:
        for process in reversed(processes):
            _stop(process)
        shutil.rmtree(work, ignore_errors=True)


def _https(site: Site, certs: Certificates, method: str, path: str) -> http.client.HTTPResponse:
    """A request through nginx with the certificate verified against the test CA (chain and IP address)."""
    context = ssl.create_default_context(cafile=str(certs.ca))
    connection = http.client.HTTPSConnection("127.0.0.1", site.tls_port, context=context, timeout=10)
    connection.request(method, path)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def _plain(port: int, path: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


@contextmanager
def _browser_context(browser: Browser) -> Iterator[BrowserContext]:
    # ignore_https_errors, not our CA: see the module docstring. The header is a client's forgery.
    context = browser.new_context(ignore_https_errors=True, extra_http_headers={"X-Forwarded-For": FORGED})
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="module")
def documented_site(certificates: Certificates, django_db_setup: None) -> Iterator[Site]:
    """The documented setup, shared by the tests that use it as it is (each has its own rows in the database)."""
    with proxied_dashboard(certificates) as site:
        yield site


def test_an_operator_logs_in_and_adds_a_host_through_the_tls_proxy(browser: Browser, documented_site: Site) -> None:
    site = documented_site
    make_user("operator")
    with _browser_context(browser) as context:
        page = context.new_page()
        page.goto(f"{site.origin}/hosts/add/")
        page.wait_for_url(f"{site.origin}/accounts/login/?next=/hosts/add/")
        page.fill("#id_username", "operator")
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(f"{site.origin}/hosts/add/")

        page.fill("#id_name", "behind-the-proxy")
        page.fill("#id_url", "unix:///var/run/docker.sock")
        with page.expect_response(lambda r: r.request.method == "POST") as posted:
            page.click("#host-form button[type=submit]")
        page.wait_for_url(re.compile(rf"^{re.escape(site.origin)}/hosts/\d+/edit/$"))

        # htmx posted the form with the CSRF token in its header, over HTTPS, and was sent on (HX-Redirect).
        request = posted.value.request
        assert (request.headers.get("hx-request"), bool(request.headers.get("x-csrftoken"))) == ("true", True)
        assert posted.value.status == 200 and posted.value.headers["hx-redirect"].endswith("/edit/")
        host = Host.objects.get(name="behind-the-proxy")
        assert page.url == f"{site.origin}/hosts/{host.pk}/edit/"
        assert page.locator(".messages").inner_text().startswith("Host behind-the-proxy added")
        cookies = {cookie["name"]: cookie for cookie in context.cookies(site.origin)}
        assert {"sessionid", "csrftoken"} <= set(cookies)
        assert all(cookie["secure"] for cookie in cookies.values()), cookies
        assert cookies["sessionid"]["httpOnly"]

    # The login's address is the one nginx saw (the last X-Forwarded-For entry): neither the client's forgery
    # nor gunicorn's peer, which is nginx.
    logins = LogEntry.objects.filter(additional_data__event="login")
    assert [entry.remote_addr for entry in logins] == ["127.0.0.1"]


def test_https_answers_carry_hsts_and_plain_http_is_sent_to_https(
    documented_site: Site, certificates: Certificates
) -> None:
    site = documented_site
    secure = _https(site, certificates, "GET", "/accounts/login/")
    assert secure.status == 200
    assert secure.headers["Strict-Transport-Security"] == HSTS
    assert "Content-Security-Policy" in secure.headers
    set_cookies = secure.headers.get_all("Set-Cookie") or []
    assert set_cookies and all("; Secure" in cookie for cookie in set_cookies), set_cookies

    # nginx's port 80 only redirects (to the standard port: the block is written for 443).
    redirected = _plain(site.http_port, "/accounts/login/?next=/hosts/")
    assert (redirected.status, redirected.headers["Location"]) == (
        301,
        "https://127.0.0.1/accounts/login/?next=/hosts/",
    )

    # gunicorn reached without the proxy's header: Django itself redirects to https, and sends no HSTS.
    direct = _plain(site.gunicorn_port, "/hosts/")
    assert (direct.status, direct.headers["Location"]) == (301, f"https://127.0.0.1:{site.gunicorn_port}/hosts/")
    assert "Strict-Transport-Security" not in direct.headers
    # but the health check answers plain HTTP, for a load balancer probing gunicorn.
    assert _plain(site.gunicorn_port, "/healthz/").status == 200


def test_without_the_proxy_ssl_header_the_documented_setup_redirects_to_itself(certificates: Certificates) -> None:
    with proxied_dashboard(certificates, without=("DJANGO_SECURE_PROXY_SSL_HEADER",)) as site:
        response = _https(site, certificates, "GET", "/accounts/login/")

    # Django believes the request was plain HTTP and sends the browser to the very URL it asked for, forever.
    assert (response.status, response.headers["Location"]) == (301, f"{site.origin}/accounts/login/")


@pytest.mark.parametrize("with_header", [False, True], ids=["without-header", "with-header"])
def test_the_proxy_ssl_header_is_what_lets_a_login_through_csrf(
    browser: Browser, certificates: Certificates, with_header: bool
) -> None:
    # No SSL redirect (it would loop, above) and no trusted origin (it would hide the mismatch): the one
    # difference between the two runs is DJANGO_SECURE_PROXY_SSL_HEADER.
    without: tuple[str, ...] = ("DJANGO_SECURE_SSL_REDIRECT", "DJANGO_CSRF_TRUSTED_ORIGINS")
    if not with_header:
        without += ("DJANGO_SECURE_PROXY_SSL_HEADER",)
    make_user("operator")
    with proxied_dashboard(certificates, without=without) as site, _browser_context(browser) as context:
        page = context.new_page()
        page.goto(f"{site.origin}/accounts/login/")
        page.fill("#id_username", "operator")
        page.fill("#id_password", PASSWORD)
        with page.expect_response(lambda r: r.request.method == "POST") as posted:
            page.click("main button[type=submit]")
        page.wait_for_load_state()
        body = page.locator("body").inner_text()
        log = site.gunicorn_log.read_text()

    if with_header:
        assert posted.value.status == 302
        assert page.url == f"{site.origin}/fleet/"
    else:
        # The browser's Origin is https://..., Django thinks it is serving http://...: Django's CSRF 403.
        assert posted.value.status == 403
        assert "This form could not be sent" in body and "Origin checking failed" in body
        assert f"Origin checking failed - {site.origin} does not match any trusted origins." in log
