"""Where a search's Optuna study lives: opening it (SQLite by default, PostgreSQL to share it between machines),
keeping passwords out of every message, and refusing to resume a study that was made for other inputs.

A study records what it searched: the target, the model's weights digest, the dataset's digest and the search
space's digest (study user attributes). Resuming it with any of them different would mix trials that measured
different things — another model's latency next to this one's accuracy — so it is refused, with the difference named.
"""

from __future__ import annotations

import re
import time
from typing import Any

from edgebert.errors import EdgebertError, UserError, require

IDENTITY_KEY = "edgebert_identity"
IDENTITY_FIELDS = ("target", "model_sha256", "dataset_sha256", "space_sha256")
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@?#\s]*:)(?P<password>[^@/?#\s]*)@")
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<password>[^&#\s]*)", re.IGNORECASE)


def mask_url(text: str) -> str:
    """`text` with every password of a URL in it (user:PASSWORD@ or ?password=) replaced by ***."""
    text = _USERINFO.sub(lambda m: m["head"] + ("***" if m["password"] else "") + "@", text)
    return _QUERY_PASSWORD.sub(lambda m: m["head"] + "***", text)


def url_passwords(url: str) -> list[str]:
    """The passwords a URL carries (for scrubbing a driver's message that might repeat one without the URL)."""
    out = [m["password"] for m in _USERINFO.finditer(url) if m["password"]]
    out += [m["password"] for m in _QUERY_PASSWORD.finditer(url) if m["password"]]
    return out


def scrub(message: str, url: str) -> str:
    """A message about `url` made safe to print: URLs masked, and the URL's passwords removed wherever they appear."""
    message = mask_url(message)
    for secret in url_passwords(url):
        message = message.replace(secret, "***")
    return message


def open_study(url: str, name: str, make_sampler, make_pruner, attempts: int = 5):
    """Create or load the study `name` in `url`; a bad or unreachable URL is one UserError line, password masked."""
    optuna = require("optuna")
    # Optuna logs a failed trial with its traceback; edgebert reports each trial's state (and error) itself.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if "://" not in url:
        raise UserError(
            f"--storage {mask_url(url)!r} is not a database URL; use e.g. sqlite:///study.db or "
            "postgresql+psycopg2://USER:PASSWORD@HOST/DB"
        )
    # SQLite: wait for a busy database instead of failing, so several local workers can share one file.
    engine: dict[str, Any] = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    if url.startswith("postgresql"):
        engine = {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    for attempt in range(attempts):
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs=engine)
            return optuna.create_study(
                study_name=name,
                storage=storage,
                load_if_exists=True,
                direction="minimize",
                sampler=make_sampler(),
                pruner=make_pruner(),
            )
        except Exception as exc:  # sqlalchemy/optuna raise many kinds for a bad URL or an unreachable server
            if isinstance(exc, EdgebertError):
                raise
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            # Two workers creating the same new database race on its schema (a table or the schema-version row
            # written twice); the loser retries and loads what the winner wrote.
            racing = any(s in first for s in ("already exists", "locked", "UNIQUE constraint failed", "duplicate key"))
            if not racing or attempt == attempts - 1:
                raise UserError(scrub(f"cannot open the Optuna storage {url!r}: {first[:200]}", url)) from None
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")


def check_identity(study, identity: dict[str, str], where: str) -> None:
    """Record `identity` in a new study; refuse (UserError) to resume one recorded with other values."""
    stored = study.user_attrs.get(IDENTITY_KEY)
    if stored is None:
        if study.trials:  # a study from before identities were recorded: nothing to compare, so nothing to trust
            raise UserError(
                f"{mask_url(where)} holds a study with trials but no record of its target, model, dataset "
                "and search space; start a new one (another --out, --storage or --study-name)"
            )
        study.set_user_attr(IDENTITY_KEY, identity)
        return
    differ = [k for k in IDENTITY_FIELDS if stored.get(k) != identity.get(k)]
    if differ:
        what = ", ".join(
            f"{k.replace('_sha256', '')} {_short(stored.get(k))} (now {_short(identity.get(k))})" for k in differ
        )
        raise UserError(
            f"{mask_url(where)} holds a study made for another {what}; its trials would not apply: use another "
            "--out, --storage or --study-name, or the same inputs"
        )


def _short(value: Any) -> str:
    text = str(value)
    return text[:12] if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else text
