"""Waivers: the file format, its errors, object keys, scope and expiry (no dashboard, no Docker)."""

from __future__ import annotations

from datetime import date

import pytest

from dockerbench.checks import REGISTRY
from dockerbench.results import ObjectRef, Result, Status
from dockerbench.snapshot import ImageSnapshot
from dockerbench.tests import factories as f
from dockerbench.waivers import (
    Waiver,
    WaiverError,
    active,
    apply,
    key_of,
    load,
    loads,
    matches,
    object_key,
    waiver_for,
)

EXAMPLE_YAML = """\
waivers:
  - check: "5.11"
    host: "web-1"
    object: "legacy-*"
    reason: "memory limits come from the orchestrator"
    owner: "ops@example.com"
    ticket: "https://jira.example/OPS-1"
    expires: 2027-03-01
  - check: "2.13"
    reason: logs are shipped by the node agent
    expires: "2026-12-31"
"""

EXAMPLE_JSON = """\
{"waivers": [{"check": "5.11", "host": "web-1", "object": "legacy-*",
  "reason": "memory limits come from the orchestrator", "owner": "ops@example.com",
  "ticket": "https://jira.example/OPS-1", "expires": "2027-03-01"}]}
"""

LEGACY = Waiver(
    check="5.11",
    host="web-1",
    object="legacy-*",
    reason="memory limits come from the orchestrator",
    owner="ops@example.com",
    ticket="https://jira.example/OPS-1",
    expires=date(2027, 3, 1),
)


def waiver(check: str = "5.11", **changes: object) -> Waiver:
    fields: dict[str, object] = {
        "check": check,
        "host": None,
        "object": None,
        "reason": "r",
        "owner": None,
        "ticket": None,
        "expires": date(2027, 3, 1),
    }
    fields.update(changes)
    return Waiver(**fields)  # type: ignore[arg-type]


def errors_of(text: str, source: str = "w.yaml") -> str:
    with pytest.raises(WaiverError) as exc:
        loads(text, source)
    return str(exc.value)


# -- the file -----------------------------------------------------------------


def test_it_reads_the_documented_yaml_example():
    legacy, logging = loads(EXAMPLE_YAML, "w.yaml")
    assert legacy == LEGACY
    assert logging == waiver("2.13", reason="logs are shipped by the node agent", expires=date(2026, 12, 31))


def test_it_reads_the_same_waiver_from_json():
    assert loads(EXAMPLE_JSON, "w.json") == [LEGACY]


def test_without_a_known_extension_it_tells_json_from_yaml_by_content(tmp_path):
    (tmp_path / "a.txt").write_text(EXAMPLE_JSON)
    (tmp_path / "b").write_text(EXAMPLE_YAML)
    assert load(tmp_path / "a.txt") == [LEGACY]
    assert load(tmp_path / "b")[0] == LEGACY


def test_an_empty_list_is_no_waivers():
    assert loads("waivers: []\n", "w.yaml") == []
    assert loads('{"waivers": []}', "w.json") == []


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ('{check: "5.11", expires: 2027-03-01}', "waivers[0]: reason is required"),
        ('{check: "5.11", reason: "  ", expires: 2027-03-01}', "waivers[0]: reason is empty"),
        ('{check: "5.11", reason: r}', "waivers[0]: expires is required"),
        ("{reason: r, expires: 2027-03-01}", "waivers[0]: check is required"),
        ('{check: "5.11", reason: r, expires: 2027-02-30}', "expires '2027-02-30' is not a valid date"),
        ('{check: "5.11", reason: r, expires: "1 March 2027"}', "expires must be a date written YYYY-MM-DD"),
        ('{check: "5.11", reason: r, expires: 2027-03-01 10:00:00}', "expires must be a date written YYYY-MM-DD"),
        ('{check: "5.99", reason: r, expires: 2027-03-01}', "waivers[0]: unknown check id '5.99'"),
        ("{check: 5.10, reason: r, expires: 2027-03-01}", 'check must be a string, not 5.1 (quote it: check: "5.10"'),
        ('{check: "5.11", reason: r, expires: 2027-03-01, until: x}', "waivers[0]: unknown key(s) until"),
        ('{check: "5.11", reason: r, expires: 2027-03-01, tag: prod}', "tag scopes waivers in the dashboard only"),
        ('{check: "5.11", reason: r, expires: 2027-03-01, ticket: "ftp://x/1"}', "ticket must be an http(s) URL"),
        ('{check: "5.11", reason: r, expires: 2027-03-01, ticket: "OPS-1"}', "ticket must be an http(s) URL"),
        ('{check: "5.11", reason: r, expires: 2027-03-01, host: 7}', "waivers[0]: host must be a string"),
        ('"5.11"', "waivers[0]: must be a mapping"),
    ],
)
def test_a_bad_entry_is_named_by_file_and_index(entry, problem):
    message = errors_of(f'waivers:\n  - {{check: "5.10", reason: ok, expires: 2027-03-01}}\n  - {entry}\n')
    assert message.startswith("w.yaml: waivers[1]: ")
    assert problem.replace("waivers[0]", "waivers[1]") in message


def test_every_bad_entry_is_reported_at_once():
    message = errors_of('{"waivers": [{"check": "5.11"}, {"check": "9.9", "reason": "r", "expires": "2027-01-01"}]}')
    assert message.splitlines() == [
        "w.yaml: waivers[0]: reason is required",
        "w.yaml: waivers[0]: expires is required",
        "w.yaml: waivers[1]: unknown check id '9.9'",
    ]


@pytest.mark.parametrize(
    ("text", "source", "problem"),
    [
        ("waivers: [\n", "w.yaml", "w.yaml: not valid YAML"),
        ('{"waivers": [}', "w.json", "w.json: not valid JSON"),
        ("- check: '5.11'\n", "w.yaml", "expected a mapping with a 'waivers' list"),
        ("", "w.yaml", "expected a mapping with a 'waivers' list"),
        ("waivers: {check: '5.11'}\n", "w.yaml", "'waivers' must be a list"),
        ("waivers: []\nversion: 2\n", "w.yaml", "unknown top-level key(s) version"),
        ('waivers:\n  - check: "5.11"\n    check: "5.12"\n', "w.yaml", "duplicate key 'check'"),
        ('{"waivers": [{"check": "5.11", "check": "5.12"}]}', "w.json", "duplicate key 'check'"),
    ],
)
def test_a_malformed_file_is_a_clear_error(text, source, problem):
    message = errors_of(text, source)
    assert message.startswith(source + ": ")
    assert problem in message


def test_a_yaml_syntax_error_says_where(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text('waivers:\n  - check: "5.11"\n   reason: [\n')
    with pytest.raises(WaiverError) as exc:
        load(path)
    assert f'in "{path}", line 3' in str(exc.value)


def test_an_unreadable_file_is_an_error(tmp_path):
    with pytest.raises(WaiverError, match="cannot read the waivers file"):
        load(tmp_path / "none.yaml")


# -- object keys ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "object_id", "name", "key"),
    [
        ("container", "c0ffee" * 10, "/web", "web"),
        ("container", "c0ffee" * 10, "web", "web"),
        ("container", "c0ffee", "", "c0ffee"),
        ("image", "sha256:" + "ab" * 32, "nginx:1.25", "nginx:1.25"),
        ("image", "sha256:" + "ab" * 32, "registry.local:5000/app:2", "registry.local:5000/app:2"),
        ("image", "sha256:" + "ab" * 32, "sha256:abababababab", "sha256:" + "ab" * 32),
        ("image", "abababababababababab", "ababababababababab", "abababababababababab"),
        ("file", "/etc/docker/daemon.json", "/etc/docker/daemon.json", "/etc/docker/daemon.json"),
        ("setting", "hosts", "tcp://0.0.0.0:2375", "tcp://0.0.0.0:2375"),
        ("setting", "insecure-registries", "10.0.0.5:5000", "10.0.0.5:5000"),
        ("setting", "icc", "icc", "icc"),
        ("network", "n" * 64, "appnet", "appnet"),
        ("network", "n" * 64, "", "n" * 64),
        ("node", "node1", "manager-1", "manager-1"),
        ("service", "svc1", "api", "api"),
        ("user", "1000", "alice", "alice"),
        ("host", "test-host", "test-host", "test-host"),
        ("", "", "", ""),
    ],
)
def test_object_key_per_kind(kind, object_id, name, key):
    assert object_key(kind, object_id, name) == key


def test_the_keys_of_real_check_results_are_names_paths_and_ids():
    untagged = ImageSnapshot(id="sha256:" + "cd" * 32, tags=(), inspect=f.image().inspect, history=())
    snap = f.snapshot(
        containers=[f.container("legacy-1", HostConfig={"Privileged": True})],
        images=[f.image("app:1"), untagged],
        host_facts=f.facts(roles={"daemon.json": "/etc/docker/daemon.json"}),
    )
    assert [key_of(r.object) for r in REGISTRY["5.5"](snap)] == ["legacy-1"]
    assert [key_of(r.object) for r in REGISTRY["4.6"](snap)] == ["app:1", "sha256:" + "cd" * 32]
    assert key_of(None) == ""


# -- scope and expiry ---------------------------------------------------------------


def test_it_matches_the_exact_check_id_only():
    assert matches(waiver("5.1"), "5.1", "web-1", "")
    assert not matches(waiver("5.1"), "5.10", "web-1", "")
    assert not matches(waiver("5.1"), "5.1.1", "web-1", "")


def test_host_scope_matches_the_host_name_ignoring_case():
    assert matches(waiver(host="web-1"), "5.11", "WEB-1", "legacy-1")
    assert not matches(waiver(host="web-1"), "5.11", "web-2", "legacy-1")
    assert not matches(waiver(host="web-1"), "5.11", "", "legacy-1")
    assert matches(waiver(), "5.11", "any", "legacy-1")


def test_the_object_pattern_is_a_case_sensitive_glob_on_the_key():
    legacy = waiver(object="legacy-*")
    assert matches(legacy, "5.11", "h", "legacy-1")
    assert not matches(legacy, "5.11", "h", "Legacy-1")
    assert not matches(legacy, "5.11", "h", "web")
    assert not matches(legacy, "5.11", "h", "")
    assert matches(waiver("3.18", object="/etc/docker/*"), "3.18", "h", "/etc/docker/daemon.json")
    assert matches(waiver(), "5.11", "h", ""), "no pattern covers the verdict on the host as a whole too"


def test_a_waiver_applies_until_the_start_of_its_expiry_day():
    today = date(2026, 11, 28)
    tomorrow, yesterday = waiver(expires=date(2026, 11, 29)), waiver(expires=date(2026, 11, 27))
    ends_today = waiver(expires=today)
    assert active([tomorrow, ends_today, yesterday], today) == ([tomorrow], [ends_today, yesterday])


def test_the_most_specific_waiver_wins_then_the_longest():
    everywhere = waiver(reason="all")
    on_host = waiver(host="web-1", reason="host")
    on_objects = waiver(object="legacy-*", reason="objects")
    longer = waiver(object="legacy-*", reason="longer", expires=date(2028, 1, 1))
    both = waiver(host="web-1", object="legacy-*", reason="both")
    assert waiver_for([everywhere, on_host], "5.11", "web-1", "legacy-1") is on_host
    assert waiver_for([everywhere, on_host, on_objects], "5.11", "web-1", "legacy-1") is on_objects
    assert waiver_for([on_objects, longer], "5.11", "web-1", "legacy-1") is longer
    assert waiver_for([both, longer, everywhere], "5.11", "web-1", "legacy-1") is both
    assert waiver_for([both, longer, everywhere], "5.11", "web-2", "web") is everywhere
    first, second = waiver(reason="first"), waiver(reason="second")
    assert waiver_for([first, second], "5.11", "h", "x") is first


def test_only_warn_results_are_waived():
    legacy = ObjectRef("container", "c1", "legacy-1")
    results = [
        Result("5.11", Status.WARN, object=legacy),
        Result("5.11", Status.WARN, object=ObjectRef("container", "c2", "web")),
        Result("5.11", Status.ERROR, object=legacy),
        Result("5.12", Status.WARN, object=legacy),
    ]
    w = waiver(object="legacy-*")
    assert apply(results, [w], "h") == [w, None, None, None]
