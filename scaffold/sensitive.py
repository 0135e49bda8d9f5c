"""Files that must never reach a project's git history or an image: what counts as a secret.

Two kinds of evidence, from public secret scanners' rule sets (gitleaks, gitrob and
trufflehog-style signatures: well-known credential file names and token formats):

- names (`secret_name`): private keys (`id_rsa`, `*.pem`, `*.key`, `*.p12`, ...),
  environment files (`.env`, `prod.env`), credential stores (`.netrc`, `.git-credentials`,
  `.npmrc`, `.pypirc`, `credentials`, `*.tfvars`, ...) and the folders that hold them
  (`.ssh/`, `.aws/`, `.azure/`, `.git/`, ...);
- contents (`secret_content`): a PEM private key block, or a token whose format is
  unmistakable (GitHub, Hugging Face, AWS, Azure Storage, Slack, Google, OpenAI ...),
  looked for in files up to `CONTENT_LIMIT` bytes (secrets are small; weights are not read).

`hidden` says whether a path has a dot-named part (dotfiles and dot-folders: `.git/`,
`.cache/`, `.ssh/`, `.env`...), which model copies leave out as a rule. The generated
`.gitignore` and `docker-context/.dockerignore` carry the same name patterns (the test suite
checks that they cover every name listed here).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

#: Files larger than this are not searched for secrets (keys and tokens are small).
CONTENT_LIMIT = 1 << 20

#: (glob on the lower-cased file name, what it is). Checked in order; first match wins.
SECRET_NAMES: tuple[tuple[str, str], ...] = (
    ("id_rsa", "an SSH private key"),
    ("id_dsa", "an SSH private key"),
    ("id_ecdsa", "an SSH private key"),
    ("id_ed25519", "an SSH private key"),
    ("id_ecdsa_sk", "an SSH private key"),
    ("id_ed25519_sk", "an SSH private key"),
    ("*_rsa", "an SSH private key"),
    ("*_dsa", "an SSH private key"),
    ("*_ecdsa", "an SSH private key"),
    ("*_ed25519", "an SSH private key"),
    ("*.pem", "a PEM key or certificate"),
    ("*.key", "a private key"),
    ("*.p12", "a PKCS#12 key store"),
    ("*.pfx", "a PKCS#12 key store"),
    ("*.pkcs12", "a PKCS#12 key store"),
    ("*.jks", "a Java key store"),
    ("*.keystore", "a key store"),
    ("*.ppk", "a PuTTY private key"),
    ("*.kdbx", "a KeePass database"),
    ("*.keytab", "a Kerberos key table"),
    ("*.ovpn", "a VPN profile with keys"),
    (".env", "an environment file"),
    (".env.*", "an environment file"),
    ("*.env", "an environment file"),
    (".envrc", "an environment file"),
    (".netrc", "a credentials file"),
    ("_netrc", "a credentials file"),
    (".git-credentials", "a credentials file"),
    (".npmrc", "a credentials file"),
    (".pypirc", "a credentials file"),
    (".dockercfg", "a registry credentials file"),
    (".htpasswd", "a password file"),
    (".pgpass", "a password file"),
    (".vault-token", "a token file"),
    ("credentials", "a credentials file"),
    ("credentials.json", "a credentials file"),
    ("credentials.yml", "a credentials file"),
    ("credentials.yaml", "a credentials file"),
    ("credentials.xml", "a credentials file"),
    ("client_secret*.json", "an OAuth client secret"),
    ("*service*account*.json", "a service account key"),
    ("secrets.json", "a secrets file"),
    ("secrets.yml", "a secrets file"),
    ("secrets.yaml", "a secrets file"),
    ("secrets.toml", "a secrets file"),
    ("*.tfvars", "a Terraform variables file"),
    ("*.tfstate", "a Terraform state file"),
    ("kubeconfig", "a Kubernetes credentials file"),
    ("msal_token_cache.*", "an Azure sign-in token cache"),
    ("accesstokens.json", "an Azure sign-in token cache"),
    ("kaggle.json", "an API token file"),
    ("token", "a token file"),
    ("*.token", "a token file"),
)
#: Names that look like secrets but are examples by convention.
EXAMPLES = (".env.example", ".env.sample", ".env.template", ".env.dist", "*.example")
#: Folders that hold credentials or a repository's history (name, what it is).
SECRET_FOLDERS: tuple[tuple[str, str], ...] = (
    (".git", "a git repository (its history)"),
    (".ssh", "SSH keys"),
    (".gnupg", "GnuPG keys"),
    (".aws", "AWS credentials"),
    (".azure", "Azure CLI credentials"),
    (".kube", "Kubernetes credentials"),
    (".docker", "registry credentials"),
    (".huggingface", "a Hugging Face token"),
    (".gcloud", "Google Cloud credentials"),
)

#: (literal parts, pattern, what it is): token formats with a distinctive shape; a match is
#: a secret. The pattern is searched only where one of its literal parts occurs (a plain
#: substring test, much faster than a regular expression that starts with `\b`); literal
#: parts in lower case are looked for in the lower-cased data.
SECRET_PATTERNS: tuple[tuple[tuple[bytes, ...], re.Pattern[bytes], str], ...] = tuple(
    (needles, re.compile(pattern), what)
    for needles, pattern, what in (
        ((b"PRIVATE KEY",), rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
         "a private key"),
        ((b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_"), rb"\bgh[pousr]_[A-Za-z0-9]{36,}\b",
         "a GitHub token"),
        ((b"github_pat_",), rb"\bgithub_pat_[A-Za-z0-9_]{60,}\b", "a GitHub token"),
        ((b"glpat-",), rb"\bglpat-[A-Za-z0-9_-]{20,}\b", "a GitLab token"),
        ((b"hf_",), rb"\bhf_[A-Za-z]{34,}\b", "a Hugging Face token"),
        ((b"AKIA", b"ASIA", b"AGPA", b"AROA"), rb"\b(?:AKIA|ASIA|AGPA|AROA)[0-9A-Z]{16}\b",
         "an AWS access key"),
        ((b"aws_secret_access_key",), rb"(?i)aws_secret_access_key\s*[=:]\s*\S{20,}",
         "an AWS secret key"),
        ((b"AccountKey=",), rb"AccountKey=[A-Za-z0-9+/]{40,}={0,2}", "an Azure Storage key"),
        ((b"sig=",), rb"(?i)\bsig=[A-Za-z0-9%+/]{40,}", "an Azure SAS token"),
        ((b"xox",), rb"\bxox[abposr]-[0-9A-Za-z-]{10,}", "a Slack token"),
        ((b"AIza",), rb"\bAIza[0-9A-Za-z_-]{35}\b", "a Google API key"),
        ((b"sk-",), rb"\bsk-(?:proj|svcacct|admin|ant)-[A-Za-z0-9_-]{20,}", "an API secret key"),
        ((b"sk-",), rb"\bsk-[A-Za-z0-9]{48}\b", "an API secret key"),
        ((b"npm_",), rb"\bnpm_[A-Za-z0-9]{36}\b", "an npm token"),
        ((b"pypi-AgE",), rb"\bpypi-AgE[A-Za-z0-9_-]{50,}", "a PyPI token"),
    )
)  # fmt: skip

#: Names that are secrets only sometimes: a `.pem` is often a public certificate (a CA
#: bundle), `.git/` is history (secrets only if one was ever committed).
AMBIGUOUS = ("*.pem", ".git")


def certain(relative: PurePosixPath | str) -> bool:
    """Whether the name alone makes `relative` a secret (not one of the AMBIGUOUS names)."""
    parts = [p.lower() for p in _parts(relative)]
    return not any(fnmatch.fnmatchcase(part, pattern) for part in parts for pattern in AMBIGUOUS)


def hidden(relative: PurePosixPath | str) -> bool:
    """Whether a relative path has a part whose name starts with a dot."""
    return any(part.startswith(".") and part not in (".", "..") for part in _parts(relative))


def secret_name(relative: PurePosixPath | str) -> str | None:
    """What a file is when its name (or a folder on its path) marks it as a secret, else None."""
    parts = _parts(relative)
    for folder in parts[:-1]:
        for name, what in SECRET_FOLDERS:
            if folder.lower() == name:
                return f"inside {name}/ ({what})"
    name = parts[-1].lower() if parts else ""
    if _EXAMPLES.match(name) or not _ANY_NAME.match(name):
        return None  # the common case, decided by one regular expression
    for folder, what in SECRET_FOLDERS:
        if name == folder:
            return what
    for pattern, what in SECRET_NAMES:
        if fnmatch.fnmatchcase(name, pattern):
            return what
    return None


_EXAMPLES = re.compile("|".join(fnmatch.translate(example) for example in EXAMPLES))
_ANY_NAME = re.compile(
    "|".join(
        [fnmatch.translate(name) for name, _ in SECRET_NAMES]
        + [re.escape(name) + r"\Z" for name, _ in SECRET_FOLDERS]
    )
)


def secret_content(path: Path, *, limit: int = CONTENT_LIMIT) -> str | None:
    """What secret `path` holds ("a private key (line 3)"), or None; files above `limit`
    bytes and unreadable files are not searched."""
    try:
        with path.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size > limit:
                return None
            data = handle.read(limit)
    except OSError:
        return None
    return secret_in(data)


#: Every literal part of the patterns, lower-cased: most files hold none, and checking the
#: lower-cased file for each says so (the patterns then run only where one occurs).
_NEEDLES = tuple(
    sorted({needle.lower() for needles, _, _ in SECRET_PATTERNS for needle in needles})
)


def secret_in(data: bytes) -> str | None:
    """The first secret found in `data`, with its line ("a GitHub token (line 2)")."""
    lowered = data.lower()
    for needle in _NEEDLES:
        if needle in lowered:
            break
    else:
        return None
    for needles, pattern, what in SECRET_PATTERNS:
        haystack = lowered if needles[0].islower() and pattern.flags & re.IGNORECASE else data
        if not any(needle in haystack for needle in needles):
            continue
        match = pattern.search(data)
        if match is not None:
            line = data.count(b"\n", 0, match.start()) + 1
            return f"{what} (line {line})"
    return None


def _parts(relative: PurePosixPath | str) -> tuple[str, ...]:
    return tuple(p for p in PurePosixPath(str(relative).replace("\\", "/")).parts if p != "/")


def names_for_ignore_files() -> Iterable[str]:
    """Every name pattern above, as the ignore files list them (for the tests)."""
    yield from (name for name, _ in SECRET_NAMES)
    yield from (name for name, _ in SECRET_FOLDERS)
