"""Keeping other people's secrets out of a HostSnapshot.

A snapshot is saved, shown on the dashboard and turned into reports, so
``collect_snapshot`` passes every snapshot through ``redact_snapshot`` before
it returns it. What is replaced:

* Environment lists (``NAME=value``): container and image ``Config.Env``, the
  image's ``ContainerConfig.Env``, swarm services' ``ContainerSpec.Env``. Every
  name is kept, every non-empty value is replaced by a marker; ``NAME=`` stays.
* Free text that can embed a secret: history ``CreatedBy``; ``Path``, ``Args``,
  ``Cmd``, ``Entrypoint``, ``Healthcheck.Test`` and ``OnBuild`` in inspect data
  (and swarm services' ``Command``, ``Args`` and ``Healthcheck.Test``); the
  command column of ``top``; dockerd's and containerd's command lines; the
  configuration files the fact script read. Only secret-shaped values are
  replaced and the rest of the text is left as it was, so the checks that parse
  commands still can: the value of a secret-looking ``NAME=value``
  (``SENSITIVE_VAR`` or ``secret_variable``; in an ENV or ARG instruction,
  and in a RUN's build arguments ``|2 A=x B=y /bin/sh -c ...``, the value runs
  to the next ``NAME=``, as Docker records them unquoted), ``--password x`` and
  ``--password=x`` style flags, ``-pSECRET`` and the like of a few tools where
  that is unambiguous (mysql, sshpass, redis-cli, mongo, sqlcmd, ldap*, curl -u,
  htpasswd -b, docker login, openssl pass:), URL passwords
  (``scheme://user:PASSWORD@host``), Authorization and token headers,
  ``"password": "x"`` pairs in JSON and YAML (daemon.json's log-opts), known
  token formats (AWS access key ids, GitHub, GitLab, Slack, Google, Stripe and
  npm tokens, JWTs), PEM private key blocks and long high-entropy strings. A
  value ends where a shell would end an unquoted word (whitespace, a quote, ``;``,
  ``&``, ``|``) unless it is quoted as a whole; a whole ``${VAR}`` or ``$(...)``
  says where a secret comes from and is kept.
* Logging driver options (``HostConfig.LogConfig.Config``: ``--log-opt
  splunk-token=...``): a secret-looking key loses its value, the others are
  free text.
* The host's DOCKER_* variables (``HostFacts.environment`` and
  ``dockerd_environment``) keep their values, which checks 2.x and 4.5 read,
  except a secret-looking one (``DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE``).

The marker is plain ASCII with no space, quote or backslash, so JSON, a
shell-like split of a command line and a JSON config file all keep it whole::

    <redacted:len=9,hmac=1a2b3c4d5e6f7a8b>          a value, e.g. NAME=<redacted:...>
    <redacted:secret,len=9,hmac=1a2b3c4d5e6f7a8b>   a value that looks like a secret
    <redacted:secret,len=20,hmac=1a2b3c4d5e6f7a8b,kind=aws-access-key-id>

``len`` is the value's length in characters; ``secret`` says it looks like a
secret by its variable's name or its own shape (every free-text replacement
does); ``hmac`` is the first 16 hex digits of HMAC-SHA256(key, value as
UTF-8), so a changed value shows between two scans hashed with the same key
without the value being stored. Quotes around a value are not part of it.
``kind``, on a secret's marker only, is what the value looked like by its own
shape when it was replaced (``value_kind``: a token format such as
``github-token`` or ``jwt``, ``private-key``, ``url-credential``,
``high-entropy``, or ``path`` for a file path); it is absent when the value
looked like nothing in particular. The checks that judge values (S.1, S.2,
4.10) read it, as they never see the value. Markers written before the kind
existed have none, and still parse.

Redaction is idempotent: a marker is never replaced, so redacting a redacted
snapshot changes nothing, whatever key, and a migration can scrub every stored
snapshot, whichever version wrote it.

Public API (plain Python, no I/O):

* ``redact_snapshot(snapshot: HostSnapshot, key: bytes) -> HostSnapshot``
* ``redact_snapshot_dict(data: dict[str, Any], key: bytes) -> dict[str, Any]``:
  the same on a snapshot as stored (``HostSnapshot.to_json``, or the dict a
  database keeps); returns a new dict and leaves ``data`` as it was.
* ``redact_env(entries: Iterable[Any], key: bytes) -> list[Any]``
* ``redact_text(text: str, key: bytes) -> str``
* ``marker(value: str, key: bytes, *, secret: bool) -> str``
* ``parse_marker(text: str) -> Redacted | None``, ``is_redacted(text: str) -> bool``,
  ``masked_form(red: Redacted) -> str`` (the marker without its hash, for reports)
* ``looks_secret(name: str, value: str) -> bool``, ``secret_name(name: str) -> bool`` (masking's names),
  ``secret_variable(name: str) -> bool`` (the names the checks report), ``value_kind(value: str) -> str``,
  ``VALUE_KINDS`` (the kinds that are secrets by shape alone)
* ``check_key(key: bytes) -> None``: raises ValueError for an empty key
* ``MARKER_RE``, ``SENSITIVE_VAR`` (the regex source of a secret-looking name)

``key`` must not be empty: an unkeyed hash of a short password is a guess away
from the password.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from dockerbench.snapshot import ContainerSnapshot, HostFacts, HostSnapshot, ImageSnapshot, ProcessFact

HMAC_DIGITS = 16
# The kind goes last, so the groups of the first three parts keep their numbers and a reader that looks for
# "<redacted:secret,len=" still finds it.
_MARKER = rf"<redacted:(secret,)?len=(\d+),hmac=([0-9a-f]{{{HMAC_DIGITS}}})(?:,kind=([a-z0-9-]+))?>"
MARKER_RE = re.compile(_MARKER)
# Check 4.10's names, and the redaction's: a variable whose name holds one of these words.
SENSITIVE_VAR = (
    r"[A-Za-z0-9_]*(?:PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?)"
)

_SECRET_NAME_RE = re.compile(rf"^{SENSITIVE_VAR}[A-Za-z0-9_]*$", re.IGNORECASE)
_KEEP = rf"(?P<keep>{_MARKER})"  # an earlier marker: every rule passes over it unchanged


class Redacted(NamedTuple):
    """What a marker tells about the value it replaced."""

    length: int
    secret: bool
    hmac: str
    kind: str = ""  # what a secret value looks like by its own shape (value_kind); "" when nothing in particular


def marker(value: str, key: bytes, *, secret: bool) -> str:
    """The marker that replaces ``value``: a secret's marker also says what the value looks like (its kind)."""
    check_key(key)
    digest = hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:HMAC_DIGITS]
    kind = value_kind(value) if secret else ""
    return f"<redacted:{'secret,' if secret else ''}len={len(value)},hmac={digest}{f',kind={kind}' if kind else ''}>"


def parse_marker(text: str) -> Redacted | None:
    """The marker ``text`` is, or None when it is not exactly one."""
    m = MARKER_RE.fullmatch(text)
    return Redacted(int(m[2]), bool(m[1]), m[3], m[4] or "") if m else None


def masked_form(red: Redacted) -> str:
    """What a report may show of a value: its marker without the hash (``<redacted:secret,len=9,kind=jwt>``).

    The hash is left out so that evidence reads the same whichever key (if any) the snapshot was redacted
    with, and so that a hash made under a key someone knows is never shown.
    """
    kind = f",kind={red.kind}" if red.kind else ""
    return f"<redacted:{'secret,' if red.secret else ''}len={red.length}{kind}>"


def is_redacted(text: str) -> bool:
    return MARKER_RE.fullmatch(text) is not None


def check_key(key: bytes) -> None:
    """Raise ValueError unless ``key`` can key the hashes: non-empty bytes."""
    if not isinstance(key, bytes | bytearray) or not key:
        raise ValueError("the redaction key must be non-empty bytes")


# -- what looks secret ---------------------------------------------------------


def secret_name(name: str) -> bool:
    """Whether a variable's name may hold a secret, for masking: SENSITIVE_VAR anywhere in it (``*_FILE`` names
    a file that does: not itself), or a secret's word as ``secret_variable`` reads names.

    Broader than ``secret_variable`` on purpose: masking ``TOKEN_URL`` costs nothing, missing a password does.
    """
    return (bool(_SECRET_NAME_RE.match(name)) and not name.upper().endswith("_FILE")) or secret_variable(name)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# The words of a name: DB_PASSWORD, dbPassword, spring.datasource.password, APIKey -> API KEY.
_WORD_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_SECRET_WORDS = _words(
    "PASSWORD PASSWORDS PASSWD PASS PASSPHRASE SECRET SECRETS TOKEN TOKENS CREDENTIAL CREDENTIALS APIKEY "
    "ACCESSKEY PRIVATEKEY SECRETKEY"
)
_SECRET_PAIRS = frozenset({("API", "KEY"), ("ACCESS", "KEY"), ("PRIVATE", "KEY")})
# A word after the secret's word that makes the name about the secret, not the secret: DB_PASSWORD_FILE,
# TOKEN_URL, SECRET_NAME, PRIVATE_KEY_PATH, AWS_ACCESS_KEY_ID, PASSWORD_MIN_LENGTH.
_QUALIFIERS = _words(
    "FILE FILES PATH DIR DIRECTORY FOLDER LOCATION URL URI ENDPOINT HOST HOSTNAME SERVER PORT NAME ID "
    "TYPE KIND MODE METHOD LENGTH LEN SIZE AGE TTL EXPIRY EXPIRES EXPIRATION LIFETIME TIMEOUT HEADER "
    "FIELD PARAM COOKIE REF ARN VERSION ENABLED DISABLED REQUIRED COMMAND CMD PROVIDER HELPER ISSUER "
    "AUDIENCE SCOPE SCOPES FORMAT ALGORITHM POLICY PATTERN REGEX PREFIX"
)
# A first word that makes the name a switch: ALLOW_EMPTY_PASSWORD=yes, USE_TOKEN_AUTH=1.
_SWITCHES = _words("ALLOW ENABLE DISABLE REQUIRE USE NO SKIP IGNORE FORCE IS HAS WITH WITHOUT")


def secret_variable(name: str) -> bool:
    """Whether a variable's name says it holds a secret, word by word (what checks S.1, S.2 and 4.10 report).

    One of its words (case and separators aside) is a secret's: PASSWORD, PASSWD, PASS, PASSPHRASE, SECRET,
    TOKEN, CREDENTIALS, API_KEY, ACCESS_KEY, PRIVATE_KEY (or one word ending in PASSWORD, as DBPASSWORD);
    no word after the last of them says it is about the secret rather than the secret (``_QUALIFIERS``:
    ``*_FILE``, ``*_PATH``, ``*_URL``, ``*_NAME``, ``*_ID``...), and its first word is not a switch
    (``ALLOW_EMPTY_PASSWORD``). TOKENIZER, PASSWORDLESS and SECRETARY are words of their own.
    """
    words = [w.upper() for w in _WORD_RE.findall(name)]
    last = -1
    for i, word in enumerate(words):
        pair = i > 0 and (words[i - 1], word) in _SECRET_PAIRS
        if pair or word in _SECRET_WORDS or word.endswith(("PASSWORD", "PASSWD")):
            last = i
    if last < 0 or any(w in _QUALIFIERS for w in words[last + 1 :]):
        return False
    return not (last > 0 and words[0] in _SWITCHES)


# Known token formats, by kind. Each is specific enough to mask wherever it appears.
_TOKEN_SHAPES: tuple[tuple[str, str], ...] = (
    ("aws-access-key-id", r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16}(?![A-Z0-9])"),
    ("github-token", r"gh[pousr]_[A-Za-z0-9]{36,}"),
    ("github-token", r"github_pat_[A-Za-z0-9_]{22,}"),
    ("gitlab-token", r"glpat-[A-Za-z0-9_-]{20,}"),
    ("slack-token", r"xox[a-z]-[A-Za-z0-9-]{10,}"),
    ("google-api-key", r"AIza[0-9A-Za-z_-]{35}"),
    ("stripe-key", r"[sr]k_live_[0-9A-Za-z]{16,}"),
    ("npm-token", r"npm_[A-Za-z0-9]{36}"),
    ("jwt", r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
)
# (One boundary in front of them all: a lookbehind in each alternative would be tried at every position.)
_SHAPE_BOUNDARY = r"(?<![A-Za-z0-9_-])"
_KNOWN_SHAPES = _SHAPE_BOUNDARY + "(?:" + "|".join(pattern for _kind, pattern in _TOKEN_SHAPES) + ")"
_KNOWN_RE = re.compile(_KNOWN_SHAPES)
_TOKEN_KINDS = tuple((kind, re.compile(_SHAPE_BOUNDARY + pattern)) for kind, pattern in _TOKEN_SHAPES)
_PEM_BEGIN = r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"
_PEM_END = r"-----END [A-Z0-9 ]*PRIVATE KEY-----"
_PEM_RE = re.compile(_PEM_BEGIN)
# scheme://user:PASSWORD@host; the password stops at what cannot be in a URL's userinfo unescaped.
_USERINFO = r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:\"'<>]*:"
_USERINFO_RE = re.compile(_USERINFO + r"[^\s/@\"']+@")
# A long run of base64 or base64url characters ('=' only as padding), the candidates for high entropy.
_CANDIDATE = r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{20,}={0,2}(?![A-Za-z0-9+/=_<-])"
_CANDIDATE_RE = re.compile(_CANDIDATE)
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")


def _kind(c: str) -> int:
    return 0 if c.isdigit() else 1 if c.islower() else 2


def _random_run(run: str) -> bool:
    if len(run) < 16 or run.isdigit() or run.islower() or run.isupper():
        return False
    if not any(c.isdigit() for c in run) or not any(c.islower() for c in run) or not any(c.isupper() for c in run):
        return False
    changes = sum(_kind(a) != _kind(b) for a, b in zip(run, run[1:], strict=False))
    if changes / (len(run) - 1) < 0.4:
        return False
    entropy = -sum(n / len(run) * math.log2(n / len(run)) for n in Counter(run).values())
    return entropy >= (3.3 if len(run) < 24 else 3.8)


def _high_entropy(text: str) -> bool:
    """A random-looking string: one of its letter-and-digit runs, 16 or more long, mixes upper and lower case
    and digits as chance mixes them.

    Random base62/base64 changes between upper case, lower case and digit at about 60% of its characters;
    identifiers, CamelCase file names and paths at about 25% (a word is mostly lower case) and in shorter
    runs; hex digests and UUIDs have no upper case. A high Shannon entropy rules out repetitive strings.
    """
    return len(text) >= 20 and any(_random_run(run) for run in _ALNUM_RUN.findall(text))


# A file path: where the recommended practice keeps a secret (DB_PASSWORD=/run/secrets/db), not a secret.
_PATH_RE = re.compile(r"(?:/|\./|\.\./|~/)[A-Za-z0-9._@%+=,:~/-]*")
# The kinds that make a value a secret by its shape alone. Not "high-entropy" (a random-looking string may
# be a seed, a build id or a checksum: it is masked, not reported) and not "path".
VALUE_KINDS = frozenset({kind for kind, _pattern in _TOKEN_SHAPES} | {"private-key", "url-credential"})


def value_kind(value: str) -> str:
    """What ``value`` looks like by its own shape, as a marker records it.

    One of ``VALUE_KINDS`` (a known token format, "private-key" for a PEM private key, "url-credential" for
    scheme://user:password@host), else "high-entropy" for a random-looking string, "path" for a file path,
    or "" for nothing in particular.
    """
    if _PEM_RE.search(value):
        return "private-key"
    for kind, regex in _TOKEN_KINDS:
        if regex.search(value):
            return kind
    if _USERINFO_RE.search(value):
        return "url-credential"
    if any(_high_entropy(m.group()) for m in _CANDIDATE_RE.finditer(value)):
        return "high-entropy"
    if _PATH_RE.fullmatch(value):
        return "path"
    return ""


def _secret_shaped(value: str) -> bool:
    return value_kind(value) not in ("", "path")


def looks_secret(name: str, value: str) -> bool:
    """Whether variable ``name`` holding ``value`` looks like a secret: by its name (as check 4.10 reads
    names) or by the shape of its value."""
    return bool(value) and (secret_name(name) or _secret_shaped(value))


# -- environment lists ----------------------------------------------------------


def _env_entry(entry: str, key: bytes) -> str:
    name, sep, value = entry.partition("=")
    if not sep or not value or is_redacted(value):
        return entry
    return f"{name}={marker(value, key, secret=looks_secret(name, value))}"


def redact_env(entries: Iterable[Any], key: bytes) -> list[Any]:
    """``NAME=value`` entries with every value replaced by its marker (names kept, empty values and non-strings
    left as they are)."""
    check_key(key)
    return [_env_entry(e, key) if isinstance(e, str) else e for e in entries]


def _env_map(env: dict[str, str], key: bytes) -> dict[str, str]:
    """A variables dict whose values the checks read: only secret-looking values (or parts) are replaced."""
    out = {}
    for name, value in env.items():
        if not isinstance(value, str) or not value or is_redacted(value):
            out[name] = value
        elif secret_name(name):
            out[name] = marker(value, key, secret=True)
        else:
            out[name] = redact_text(value, key)
    return out


# -- free text -------------------------------------------------------------------

# A value in a command: quoted as a whole, or an unquoted run up to where a shell would end the word.
_VALUE = r"""(?:"[^"]*"|'[^']*'|\$\([^()]*\)|[^\s"';&|]+)"""
# A variable reference or a command substitution, as a whole: where the secret comes from, not the secret.
# ($NAME alone is masked: in a process's argv it may be a literal password that starts with $.)
_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?:[:?+=-][^{}]*)?\}|\$\([^()]*\)")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _mask(value: str, key: bytes) -> str:
    """The marker for a secret found in free text (a marker, an empty value or a reference stays)."""
    inner = _unquote(value)
    if not inner or is_redacted(inner) or _REFERENCE.fullmatch(inner):
        return value
    return marker(inner, key, secret=True)


def _replace_group(m: re.Match[str], group: str, replacement: str) -> str:
    start, end = m.span(group)
    whole = m.group(0)
    return whole[: start - m.start()] + replacement + whole[end - m.start() :]


Rule = Callable[[str, bytes], str]


def _rule(pattern: str, flags: int = 0, *, accept: Callable[[re.Match[str]], bool] | None = None) -> Rule:
    """A rule masking group ``v`` of each match of ``pattern`` (when ``accept`` says so), never inside a marker."""
    regex = re.compile(f"{_KEEP}|(?:{pattern})", flags)

    def apply(text: str, key: bytes) -> str:
        def one(m: re.Match[str]) -> str:
            if m.group("keep") is not None or (accept is not None and not accept(m)):
                return m.group(0)
            return _replace_group(m, "v", _mask(m.group("v"), key))

        return regex.sub(one, text)

    return apply


_NOT_A_VALUE_FLAG = re.compile(r".*-(?:file|path|dir|env|stdin|prompt|cmd|command|helper|type|id)$", re.IGNORECASE)
_BOOLEAN_PREFIX = ("--no-", "--ask-", "--with-", "--without-", "--use-", "--prompt-", "--require-", "--show-")
_FLAG_WORD = r"(?:password|passwd|passphrase|secret|token|api-?key|access-?key|secret-?key|client-?secret)"


def _flag_ok(m: re.Match[str]) -> bool:
    flag = m.group("flag").lower()
    return not _NOT_A_VALUE_FLAG.match(flag) and not flag.startswith(_BOOLEAN_PREFIX)


def _name_ok(m: re.Match[str]) -> bool:
    return secret_name(m.group("name"))


_SECRET_HEADER_RE = re.compile(r"token|api-?key|secret|password", re.IGNORECASE)
# A secret-looking option key, hyphens and dots allowed: log-opts' splunk-token, a JSON "password".
_SECRET_KEY_RE = re.compile(r"passw|passphrase|secret|token|api[-_.]?key|access[-_.]?key|credential", re.IGNORECASE)


def _header_ok(m: re.Match[str]) -> bool:
    return _SECRET_HEADER_RE.search(m.group("header")) is not None


def _key_ok(m: re.Match[str]) -> bool:
    return _SECRET_KEY_RE.search(m.group("k")) is not None


def _entropy_ok(m: re.Match[str]) -> bool:
    return _high_entropy(m.group("v"))


_RULES: tuple[Rule, ...] = (
    # PEM private key blocks: the body goes, the BEGIN and END lines stay.
    _rule(rf"{_PEM_BEGIN}(?P<v>.+?)(?={_PEM_END}|\Z)", re.S),
    _rule(_USERINFO + r"(?P<v>[^\s/@\"']+)(?=@)"),
    _rule(rf"(?<![A-Za-z0-9_])(?P<name>[A-Za-z0-9_]+)=(?P<v>{_VALUE})", accept=_name_ok),
    # --db-password=x, --api-key=x, -Dspring.datasource.password=x (a dotted or hyphenated name)
    _rule(
        rf"(?<![A-Za-z0-9_])(?P<flag>--?(?:[A-Za-z0-9]+[-.])*{_FLAG_WORD}(?:[-.][A-Za-z0-9]+)*)=(?P<v>{_VALUE})",
        re.IGNORECASE,
        accept=_flag_ok,
    ),
    # --password x: only flags whose next word is their value (not --password-stdin, --no-password).
    _rule(
        rf"(?<![A-Za-z0-9_-])(?P<flag>--(?:[A-Za-z0-9]+-)?(?:{_FLAG_WORD}|pass))\s+(?P<v>(?!-){_VALUE})",
        re.IGNORECASE,
        accept=_flag_ok,
    ),
    _rule(r"(?<![A-Za-z0-9_-])-pass(?:in|out)?\s+pass:(?P<v>[^\s\"']+)"),
    _rule(
        r"(?<![A-Za-z0-9_-])(?:proxy-)?authorization[ \t]*:[ \t]*(?:(?:bearer|basic|token|digest)[ \t]+)?"
        r"(?P<v>[^\s\"']+)",
        re.IGNORECASE,
    ),
    _rule(
        r"(?<![A-Za-z0-9_-])(?P<header>[A-Za-z0-9_-]+)[ \t]*:[ \t]*(?P<v>[^\s\"'<]+)",
        accept=_header_ok,
    ),
    # "splunk-token": "x" in a JSON document (daemon.json's log-opts), and 'password': 'x' in YAML.
    _rule(r'"(?P<k>[^"\\\n]*)"\s*:\s*"(?P<v>(?:[^"\\\n]|\\.)+)"', accept=_key_ok),
    _rule(r"'(?P<k>[^'\n]*)'\s*:\s*'(?P<v>[^'\n]+)'", accept=_key_ok),
    _rule(f"(?P<v>{_KNOWN_SHAPES})"),
    _rule(f"(?P<v>{_CANDIDATE})", accept=_entropy_ok),
)

# -- tools whose password flags are unambiguous --------------------------------------

_MYSQL = (
    "mysql mysqldump mysqladmin mysqlimport mysqlshow mysqlcheck mysqlpump mysqlslap "
    "mariadb mariadb-dump mariadb-admin mariadb-import mariadb-check"
)
_MONGO = "mongo mongosh mongodump mongorestore mongoexport mongoimport mongostat mongotop"
_LDAP = "ldapsearch ldapadd ldapmodify ldapdelete ldapwhoami ldappasswd ldapcompare"
# (tools, flags whose value is the next word, flags whose value may be attached: -pSECRET)
_TOOL_TABLE = (
    (_MYSQL, "", "-p"),  # mysql -p alone prompts, and `mysql -p db` names a database
    ("sshpass", "-p", "-p"),
    ("redis-cli", "-a", ""),
    (_MONGO, "-p", ""),
    ("sqlcmd bcp", "-P", "-P"),
    (_LDAP, "-w", "-w"),
    ("login", "-p", "-p"),  # docker login (and podman's, nerdctl's): see _TOOL_RE
)
_TOOLS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    tool: (frozenset(separate.split()), frozenset(attached.split()))
    for tools, separate, attached in _TOOL_TABLE
    for tool in tools.split()
}
_CURL_USER = frozenset({"-u", "--user", "-U", "--proxy-user"})
_TOOL_NAMES = "|".join(re.escape(t) for t in sorted({*_TOOLS, "curl", "htpasswd"} - {"login"}, key=len, reverse=True))
_TOOL_RE = re.compile(
    rf"(?:^|(?<=[\s;&|(`/]))(?P<tool>{_TOOL_NAMES}|(?<=docker )login|(?<=podman )login|(?<=nerdctl )login)"
    r"(?=\s)(?P<rest>[^;&|\n]*)"
)
_WORD = re.compile(r"""(?:"[^"]*"|'[^']*'|[^\s"'])+""")  # a shell word, quotes and all


def _tool_flags(text: str, key: bytes) -> str:
    """Mask the password arguments of the tools in ``_TOOLS`` (and ``curl -u user:pass``, ``htpasswd -b``)."""
    if not _TOOL_RE.search(text):
        return text
    return _TOOL_RE.sub(lambda m: m.group("tool") + _tool_rest(m.group("tool"), m.group("rest"), key), text)


def _tool_rest(tool: str, rest: str, key: bytes) -> str:
    words = list(_WORD.finditer(rest))
    spans: list[tuple[int, int]] = []  # (start, end) in rest of each value to mask
    separate, attached = _TOOLS.get(tool, (frozenset(), frozenset()))
    for i, w in enumerate(words):
        word = w.group()
        nxt = words[i + 1] if i + 1 < len(words) else None
        if tool == "curl":
            flag, eq, val = word.partition("=")
            if flag in _CURL_USER and eq:
                start = w.start() + len(flag) + 1
            elif word in _CURL_USER and nxt is not None:
                start, val = nxt.start(), nxt.group()
            elif word[:2] in ("-u", "-U") and len(word) > 2 and not word.startswith("--"):
                start, val = w.start() + 2, word[2:]
            else:
                continue
            user, colon, password = val.partition(":")
            if colon and password:
                spans.append((start + len(user) + 1, start + len(val)))
        elif word in separate and nxt is not None and not nxt.group().startswith("-"):
            spans.append(nxt.span())
        elif not word.startswith("--") and word[:2] in attached and len(word) > 2:
            spans.append((w.start() + (3 if word[2] == "=" else 2), w.end()))
    if tool == "htpasswd" and any(re.fullmatch(r"-[A-Za-z]*b[A-Za-z]*", w.group()) for w in words):
        positional = [w for w in words if not w.group().startswith("-")]
        if len(positional) >= 2:  # htpasswd -b[c] FILE USER PASSWORD, htpasswd -nb USER PASSWORD
            spans.append(positional[-1].span())
    for start, end in sorted(spans, reverse=True):
        if not MARKER_RE.search(rest, start, end):  # masked already, by a rule that saw more of the value
            rest = rest[:start] + _mask(rest[start:end], key) + rest[end:]
    return rest


# -- image history: ENV, ARG and build arguments ------------------------------------------

_INSTRUCTION_RE = re.compile(
    r"^\s*(?:/bin/sh -c\s+)?(?:#\(nop\)\s*)?(?:ENV|ARG)\s+(?P<body>.*?)(?:\s+# buildkit)?\s*$", re.S
)
_ASSIGNMENT_RE = re.compile(
    # (a name masked as a token still ends the value before it, as the name did)
    rf"{_KEEP}|(?:(?<![^\s])(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)=(?P<v>.*?)"
    rf"(?=\s+(?:[A-Za-z_][A-Za-z0-9_.-]*|{_MARKER})=|\Z))",
    re.S,
)
_BUILD_ARGS_RE = re.compile(r"^\s*(?:RUN\s+)?\|(?P<n>\d+)\s+")
_BUILD_ARG_RE = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<v>\S*)")


def _env_value(value: str, key: bytes) -> str:
    inner = _unquote(value)
    if not inner or MARKER_RE.search(inner):  # redacted already: its words were masked by an earlier pass
        return value
    return marker(inner, key, secret=True)


def _instruction(text: str, key: bytes) -> str:
    """Mask the whole value of each secret-named variable of an ENV or ARG instruction or of a RUN's build
    arguments: Docker records them unquoted, so such a value may hold spaces."""
    m = _INSTRUCTION_RE.match(text)
    if m:
        start, end = m.span("body")

        def one(a: re.Match[str]) -> str:
            if a.group("keep") is not None or not secret_name(a.group("name")):
                return a.group(0)
            return _replace_group(a, "v", _env_value(a.group("v"), key))

        return text[:start] + _ASSIGNMENT_RE.sub(one, text[start:end]) + text[end:]
    m = _BUILD_ARGS_RE.match(text)
    if m:
        pos = m.end()
        for _ in range(int(m.group("n"))):
            a = _BUILD_ARG_RE.match(text, pos)
            if not a:
                break
            start, end = a.span("v")
            value = _env_value(a.group("v"), key) if secret_name(a.group("name")) else a.group("v")
            text = text[:start] + value + text[end:]
            pos = start + len(value)
            while pos < len(text) and text[pos].isspace():
                pos += 1
    return text


# Text that no rule can match has none of these (each rule needs one): most commands pass in one search.
_MAYBE_RE = re.compile(
    r"=|://|(?i:pass|secret|token|key|credential|authorization|xox|eyj|-----begin)|[A-Za-z0-9+/_-]{16}"
)


def redact_text(text: str, key: bytes) -> str:
    """Free text (a command line, a history line, a config file) with its secret-shaped values masked."""
    check_key(key)
    if not text:
        return text
    if _MAYBE_RE.search(text):
        text = _instruction(text, key)
        for rule in _RULES:
            text = rule(text, key)
    # Last: a tool's arguments run to the end of its command, which a masked value (a private key's lines,
    # a quoted "a;b") may have moved; afterwards another pass finds the same commands.
    return _tool_flags(text, key)


# -- snapshot parts, shared by the object and the dict form ------------------------------


def _text_value(value: Any, key: bytes) -> Any:
    """A command given as a string or a list of strings (Cmd, Entrypoint, Args, Healthcheck.Test)."""
    if isinstance(value, str):
        return redact_text(value, key)
    if isinstance(value, list | tuple):
        return [redact_text(v, key) if isinstance(v, str) else v for v in value]
    return value


_COMMAND_FIELDS = ("Cmd", "Entrypoint", "OnBuild")


def _config(config: Any, key: bytes) -> Any:
    """A container's or image's Config (or an image's ContainerConfig)."""
    if not isinstance(config, dict):
        return config
    out = dict(config)
    if isinstance(out.get("Env"), list):
        out["Env"] = redact_env(out["Env"], key)
    for name in _COMMAND_FIELDS:
        if out.get(name):
            out[name] = _text_value(out[name], key)
    health = out.get("Healthcheck")
    if isinstance(health, dict) and health.get("Test"):
        out["Healthcheck"] = {**health, "Test": _text_value(health["Test"], key)}
    return out


def _options(options: dict[str, Any], key: bytes) -> dict[str, Any]:
    """Driver options (``--log-opt splunk-token=...``): secret-looking keys lose the whole value."""
    out = {}
    for name, value in options.items():
        if isinstance(value, str) and value and not is_redacted(value):
            secret = _SECRET_KEY_RE.search(name) is not None
            value = marker(value, key, secret=True) if secret else redact_text(value, key)
        out[name] = value
    return out


def _container_inspect(inspect: dict[str, Any], key: bytes) -> dict[str, Any]:
    out = dict(inspect)
    if "Config" in out:
        out["Config"] = _config(out["Config"], key)
    host = out.get("HostConfig")
    log = host.get("LogConfig") if isinstance(host, dict) else None
    if isinstance(host, dict) and isinstance(log, dict) and isinstance(log.get("Config"), dict) and log["Config"]:
        out["HostConfig"] = {**host, "LogConfig": {**log, "Config": _options(log["Config"], key)}}
    if isinstance(out.get("Path"), str):
        out["Path"] = redact_text(out["Path"], key)
    if out.get("Args"):
        out["Args"] = _text_value(out["Args"], key)
    return out


def _image_inspect(inspect: dict[str, Any], key: bytes) -> dict[str, Any]:
    out = dict(inspect)
    for name in ("Config", "ContainerConfig"):
        if name in out:
            out[name] = _config(out[name], key)
    return out


def _history(history: Iterable[Any], key: bytes) -> list[Any]:
    out = []
    for h in history:
        if isinstance(h, dict) and isinstance(h.get("CreatedBy"), str) and h["CreatedBy"]:
            h = {**h, "CreatedBy": redact_text(h["CreatedBy"], key)}
        out.append(h)
    return out


def _top(top: Any, key: bytes) -> Any:
    """``top`` with its command column masked (CMD, COMMAND or ARGS, else the last, as check 5.7 reads it)."""
    if not isinstance(top, dict) or not top.get("Processes"):
        return top
    titles = [str(t).upper() for t in top.get("Titles") or ()]
    col = next((titles.index(t) for t in ("CMD", "COMMAND", "ARGS") if t in titles), len(titles) - 1)
    rows = []
    for row in top["Processes"]:
        if isinstance(row, list | tuple) and 0 <= col < len(row) and isinstance(row[col], str):
            row = [*row[:col], redact_text(row[col], key), *row[col + 1 :]]
        rows.append(row)
    return {**top, "Processes": rows}


def _container_spec(spec: Any, key: bytes) -> Any:
    if not isinstance(spec, dict):
        return spec
    out = dict(spec)
    if isinstance(out.get("Env"), list):
        out["Env"] = redact_env(out["Env"], key)
    for name in ("Command", "Args"):
        if out.get(name):
            out[name] = _text_value(out[name], key)
    health = out.get("Healthcheck")
    if isinstance(health, dict) and health.get("Test"):
        out["Healthcheck"] = {**health, "Test": _text_value(health["Test"], key)}
    return out


def _service(service: Any, key: bytes) -> Any:
    if not isinstance(service, dict):
        return service
    out = dict(service)
    for name in ("Spec", "PreviousSpec"):
        spec = out.get(name)
        template = spec.get("TaskTemplate") if isinstance(spec, dict) else None
        if isinstance(spec, dict) and isinstance(template, dict) and "ContainerSpec" in template:
            container_spec = _container_spec(template["ContainerSpec"], key)
            out[name] = {**spec, "TaskTemplate": {**template, "ContainerSpec": container_spec}}
    return out


def _argv(argv: Iterable[Any], key: bytes) -> list[Any]:
    return [redact_text(a, key) if isinstance(a, str) else a for a in argv]


def _contents(contents: dict[str, Any], key: bytes) -> dict[str, Any]:
    return {path: redact_text(text, key) if isinstance(text, str) else text for path, text in contents.items()}


# -- the snapshot ---------------------------------------------------------------------


def redact_snapshot(snapshot: HostSnapshot, key: bytes) -> HostSnapshot:
    """``snapshot`` with every environment value and secret-shaped word replaced by a marker."""
    check_key(key)
    containers = snapshot.containers
    if containers is not None:
        containers = tuple(_redact_container(c, key) for c in containers)
    images = snapshot.images
    if images is not None:
        images = tuple(_redact_image(i, key) for i in images)
    services = snapshot.services
    if services is not None:
        services = tuple(_service(s, key) for s in services)
    facts = snapshot.facts
    if facts is not None:
        facts = _redact_facts(facts, key)
    return dataclasses.replace(snapshot, containers=containers, images=images, services=services, facts=facts)


def _redact_container(c: ContainerSnapshot, key: bytes) -> ContainerSnapshot:
    return dataclasses.replace(c, inspect=_container_inspect(c.inspect, key), top=_top(c.top, key))


def _redact_image(i: ImageSnapshot, key: bytes) -> ImageSnapshot:
    history = tuple(_history(i.history, key)) if i.history is not None else None
    return dataclasses.replace(i, inspect=_image_inspect(i.inspect, key), history=history)


def _redact_process(p: ProcessFact | None, key: bytes) -> ProcessFact | None:
    return None if p is None else dataclasses.replace(p, argv=tuple(_argv(p.argv, key)))


def _redact_facts(facts: HostFacts, key: bytes) -> HostFacts:
    return dataclasses.replace(
        facts,
        dockerd=_redact_process(facts.dockerd, key),
        containerd=_redact_process(facts.containerd, key),
        dockerd_environment=_env_map(facts.dockerd_environment, key),
        environment=_env_map(facts.environment, key),
        contents=_contents(facts.contents, key),
    )


def redact_snapshot_dict(data: dict[str, Any], key: bytes) -> dict[str, Any]:
    """The same as ``redact_snapshot`` on a snapshot as stored (``json.loads(snapshot.to_json())``).

    Returns a new dict; ``data`` is not changed. Parts it does not know are copied as they are, so a
    snapshot written by an older or newer version can be scrubbed too.
    """
    check_key(key)
    out = dict(data)
    if isinstance(out.get("containers"), list):
        out["containers"] = [_container_dict(c, key) for c in out["containers"]]
    if isinstance(out.get("images"), list):
        out["images"] = [_image_dict(i, key) for i in out["images"]]
    if isinstance(out.get("services"), list):
        out["services"] = [_service(s, key) for s in out["services"]]
    if isinstance(out.get("facts"), dict):
        out["facts"] = _facts_dict(out["facts"], key)
    return out


def _container_dict(c: Any, key: bytes) -> Any:
    if not isinstance(c, dict):
        return c
    out = dict(c)
    if isinstance(out.get("inspect"), dict):
        out["inspect"] = _container_inspect(out["inspect"], key)
    out["top"] = _top(out.get("top"), key)
    return out


def _image_dict(i: Any, key: bytes) -> Any:
    if not isinstance(i, dict):
        return i
    out = dict(i)
    if isinstance(out.get("inspect"), dict):
        out["inspect"] = _image_inspect(out["inspect"], key)
    if isinstance(out.get("history"), list):
        out["history"] = _history(out["history"], key)
    return out


def _facts_dict(facts: dict[str, Any], key: bytes) -> dict[str, Any]:
    out = dict(facts)
    for name in ("dockerd", "containerd"):
        proc = out.get(name)
        if isinstance(proc, dict) and isinstance(proc.get("argv"), list):
            out[name] = {**proc, "argv": _argv(proc["argv"], key)}
    for name in ("dockerd_environment", "environment"):
        if isinstance(out.get(name), dict):
            out[name] = _env_map(out[name], key)
    if isinstance(out.get("contents"), dict):
        out["contents"] = _contents(out["contents"], key)
    return out
