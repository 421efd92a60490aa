"""Credentials of clusters the kit does not start: read by variable NAME from the environment or
a `.env` file the kit never writes and refuses while git tracks it. Values are held as masked
`Secret`s, so no output, log, `--json` or rendered file can show one."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from linklab.errors import LabError
from linklab.security import Secret


@dataclass(frozen=True)
class ApiKey:
    """An API key (or SASL user) and its secret; `key_env`/`secret_env` name where they came
    from, for messages."""

    key: str
    secret: Secret = field(repr=False)
    key_env: str
    secret_env: str

    @property
    def names(self) -> str:
        return f"{self.key_env} and {self.secret_env}"


def parse_env_file(text: str) -> dict[str, str]:
    """`KEY=value` lines as docker compose and python-dotenv read them: `#` comments, blank
    lines, an optional `export `, values optionally in single or double quotes."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out[key] = value
    return out


def refuse_tracked(path: Path) -> None:
    """Raise when git tracks `path`: a secrets file in a repository is a leak waiting to
    happen. No git, or not a repository: nothing to refuse."""
    try:
        done = subprocess.run(
            ["git", "ls-files", "--error-unmatch", path.name],
            cwd=path.parent,
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return
    if done.returncode == 0:
        raise LabError(
            f"{path} is tracked by git: the credentials in it would be committed.",
            f"Untrack it and keep it out: `git rm --cached {path.name}`, and add `{path.name}` "
            "to .gitignore (linklab's already has it). Rotate any key that was pushed.",
        )


def read_env(env_file: Path | None) -> dict[str, str]:
    """os.environ over the `.env` file's values (the environment wins, as in docker compose).
    A missing file is fine: the variables may all be in the environment."""
    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        refuse_tracked(env_file)
        values.update(parse_env_file(env_file.read_text()))
    values.update(os.environ)
    return values


def api_key(
    values: dict[str, str], key_env: str, secret_env: str, cluster: str, env_file: Path | None
) -> ApiKey:
    """The key and secret named by `key_env`/`secret_env`, or LabError naming every missing
    variable and where to put it."""
    missing = [n for n in (key_env, secret_env) if not values.get(n)]
    if missing:
        where = f"{env_file}" if env_file is not None else ".env"
        raise LabError(
            f"The credentials of {cluster} are not set: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing.",
            f"Put `{missing[0]}=...` (and the others) in {where} (never committed), or export "
            "them; Confluent Cloud: create an API key for the cluster (Cluster > API keys).",
        )
    return ApiKey(values[key_env], Secret(values[secret_env]), key_env, secret_env)
