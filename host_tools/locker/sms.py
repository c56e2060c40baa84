"""SMS for locker codes: message templates, E.164 numbers and three ways to send.

- `Outbox`: JSON lines in a directory (the demo and tests read them).
- `HttpGateway`: a generic HTTP SMS gateway; URL, JSON body template and auth header from
  config; an Idempotency-Key header so a retried request never sends twice; retries with
  backoff on network errors and 5xx, none on 4xx; the gateway's message id and status kept.
- `GsmModem`: a GSM modem on a serial port in text mode (AT, AT+CMGF=1, AT+CMGS="<number>",
  the text, Ctrl-Z; +CMGS: <ref> / +CMS ERROR: <n>), with timeouts.

Codes never go to logs: providers return a `Delivery` that names the message, not its text.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
TEMPLATES = {
    "fr": {"pickup": "Votre colis vous attend au casier {compartment} ({place}). Code : "
                     "{code}# - valable jusqu'au {until}.",
           "deposit": "Code de dépôt pour le casier {compartment} ({place}) : {code}# - "
                      "valable jusqu'au {until}.",
           "retrieve": "Code de reprise du casier {compartment} ({place}) : {code}# - "
                       "valable jusqu'au {until}."},
    "en": {"pickup": "Your parcel is waiting in locker {compartment} ({place}). Code: "
                     "{code}# - valid until {until}.",
           "deposit": "Drop-off code for locker {compartment} ({place}): {code}# - valid "
                      "until {until}.",
           "retrieve": "Take-back code for locker {compartment} ({place}): {code}# - valid "
                       "until {until}."},
}


class SmsError(Exception):
    """permanent: retrying the same request will not help (bad number, refused)."""

    def __init__(self, msg: str, permanent: bool = False) -> None:
        super().__init__(msg)
        self.permanent = permanent


def check_phone(number: str) -> str:
    """The number in E.164 (spaces, dots and dashes removed), or ValueError."""
    n = re.sub(r"[\s.\-()]", "", number or "")
    if not E164.match(n):
        raise ValueError(f"phone number {number!r} is not in E.164 form (+33612345678)")
    return n


_PLAIN = str.maketrans("éèêëàâäçîïôöùûüÉÈÊÀÇ", "eeeeaaaciioouuuEEEAC")


def to_gsm_text(text: str) -> str:
    """Text mode sends the GSM 7-bit alphabet: French accents lose their marks, anything
    else outside ASCII becomes '?'."""
    return text.translate(_PLAIN).encode("ascii", "replace").decode()


def render(lang: str, kind: str, **fields: Any) -> str:
    if lang not in TEMPLATES:
        raise ValueError(f"language must be one of {', '.join(TEMPLATES)}")
    return TEMPLATES[lang][kind].format(**fields)


@dataclass
class Delivery:
    provider: str
    status: str  # "sent", "queued", "delivered"
    ref: str  # the provider's message reference


class Provider(Protocol):
    name: str

    def send(self, to: str, text: str, idem: str) -> Delivery: ...


class Outbox:
    """SMS written to `<dir>/outbox.jsonl` instead of sent. The texts hold live codes, so the
    file is 0600, as the registry is, in a folder made 0700 (one that exists is left as it
    is: it may be the operator's own)."""

    name = "outbox"

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)

    def send(self, to: str, text: str, idem: str) -> Delivery:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.dir / "outbox.jsonl"
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600))
        os.chmod(path, 0o600)
        if path.exists():
            for line in path.read_text().splitlines():
                if json.loads(line).get("idempotency_key") == idem:
                    return Delivery(self.name, "sent", idem[:12])  # already there
        with path.open("a") as f:
            f.write(json.dumps({"to": to, "text": text, "idempotency_key": idem,
                                "t": time.time()}) + "\n")
        return Delivery(self.name, "sent", idem[:12])


class HttpGateway:
    name = "http"

    def __init__(self, url: str, body: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None, tries: int = 4,
                 backoff_s: float = 0.5, timeout_s: float = 10.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.url = url
        self.body = body or {"to": "{to}", "text": "{text}"}
        self.headers = headers or {}
        self.tries = tries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.sleep = sleep

    def _body(self, to: str, text: str) -> bytes:
        def fill(v: Any) -> Any:
            if isinstance(v, str):
                return v.replace("{to}", to).replace("{text}", text)
            if isinstance(v, dict):
                return {k: fill(x) for k, x in v.items()}
            return v

        return json.dumps(fill(self.body)).encode()

    def send(self, to: str, text: str, idem: str) -> Delivery:
        data = self._body(to, text)
        last = ""
        for attempt in range(self.tries):
            req = urllib.request.Request(self.url, data=data, method="POST", headers={
                "Content-Type": "application/json", "Idempotency-Key": idem, **self.headers})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as r:
                    reply = json.loads(r.read() or b"{}")
                    return Delivery(self.name, str(reply.get("status", "queued")),
                                    str(reply.get("id", "")))
            except urllib.error.HTTPError as e:
                if 400 <= e.code < 500 and e.code != 429:
                    raise SmsError(f"gateway refused the message: HTTP {e.code}",
                                   permanent=True) from None
                last = f"HTTP {e.code}"
            except (urllib.error.URLError, OSError, ValueError) as e:
                last = str(getattr(e, "reason", e))
            if attempt + 1 < self.tries:
                self.sleep(self.backoff_s * 2 ** attempt)
        raise SmsError(f"gateway unreachable after {self.tries} tries ({last})")


def _redacted(echo: bytes) -> bytes:
    """What a modem said, fit for an error message: it echoes what it is sent, the code and
    the number included, so every run of four or more digits is blanked."""
    return re.sub(rb"\d{4,}", b"####", echo)


class GsmModem:
    name = "gsm"

    def __init__(self, port: str, baud: int = 115200, timeout_s: float = 10.0) -> None:
        self.port = port
        self.baud = baud
        self.timeout_s = timeout_s

    def _read_until(self, ser: Any, patterns: tuple[bytes, ...], timeout_s: float) -> bytes:
        end = time.monotonic() + timeout_s
        buf = b""
        while time.monotonic() < end:
            chunk = ser.read(ser.in_waiting or 1)
            if chunk:
                buf += chunk
                for p in patterns:
                    if p in buf:
                        return buf
        raise SmsError(f"modem did not answer in {timeout_s:.0f} s (got "
                       f"{_redacted(buf[-60:])!r})")

    def _cmd(self, ser: Any, line: str, timeout_s: float = 2.0) -> bytes:
        ser.write(line.encode() + b"\r")
        got = self._read_until(ser, (b"OK\r\n", b"ERROR"), timeout_s)
        if b"ERROR" in got:
            raise SmsError(f"modem refused {line.split('=')[0]}: "
                           f"{_redacted(got.strip()[-40:])!r}")
        return got

    def send(self, to: str, text: str, idem: str) -> Delivery:
        import serial

        text = to_gsm_text(text)
        with serial.Serial(self.port, self.baud, timeout=0.1) as ser:
            self._cmd(ser, "AT")
            self._cmd(ser, "AT+CMGF=1")
            ser.write(f'AT+CMGS="{to}"\r'.encode())
            self._read_until(ser, (b"> ",), 5.0)
            ser.write(text.encode() + b"\x1a")
            got = self._read_until(ser, (b"OK\r\n", b"+CMS ERROR", b"\r\nERROR"),
                                   self.timeout_s)
        m = re.search(rb"\+CMS ERROR: *(\d+)", got)
        if m:
            code = int(m.group(1))
            # 21 rejected, 28/38/42/... network or number problems; 500 unknown: may retry
            raise SmsError(f"modem: +CMS ERROR {code}", permanent=code in (21, 28, 38, 96))
        if b"ERROR" in got:
            raise SmsError("modem: ERROR after the message")
        m = re.search(rb"\+CMGS: *(\d+)", got)
        return Delivery(self.name, "sent", m.group(1).decode() if m else "")


def provider_from_config(cfg: dict[str, Any]) -> Provider:
    kind = cfg.get("provider")
    if kind == "outbox":
        return Outbox(cfg["dir"])
    if kind == "http":
        headers = dict(cfg.get("headers", {}))
        if cfg.get("token_file"):
            headers["Authorization"] = "Bearer " + Path(cfg["token_file"]).read_text().strip()
        return HttpGateway(cfg["url"], cfg.get("body"), headers, int(cfg.get("tries", 4)))
    if kind == "gsm":
        return GsmModem(cfg["port"], int(cfg.get("baud", 115200)))
    raise ValueError(f"sms provider must be outbox, http or gsm, got {kind!r}")


def provider_from_file(path: Path) -> Provider:
    """The provider an SMS config file names (JSON, as provider_from_config takes it):
    OSError when it cannot be read, ValueError when it is not such a config."""
    try:
        cfg = json.loads(path.read_text())
    except ValueError as e:  # not JSON, or not UTF-8
        raise ValueError(f"{path}: not an SMS config (JSON): {e}") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: an SMS config is a JSON object")
    try:
        return provider_from_config(cfg)
    except KeyError as e:
        raise ValueError(f"{path}: the {cfg.get('provider')} provider needs {e}") from None
    except TypeError:  # {"dir": 5}, {"tries": []}...
        raise ValueError(f"{path}: a value of the wrong type") from None
