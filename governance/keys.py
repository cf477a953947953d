"""Keys the policy layer needs and never stores in its database.

* the **audit key** keys the access-log HMAC chain and signs the anchors (checkpoints);
* the **secrets key** encrypts MFA secrets at rest (Fernet, :mod:`cryptography`).

Each comes from an environment variable (hex or url-safe base64, >= 32 bytes) or from a key
file (0600). A missing key file is created on first use, so a fresh deployment works; in
production point the key file at a path the database's users cannot read (or set the
variable from a secrets manager), and give the auditor a copy of the audit key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

AUDIT_KEY_ENV = "ALPR_AUDIT_KEY"
SECRETS_KEY_ENV = "ALPR_SECRETS_KEY"
MIN_KEY_BYTES = 32


class KeyError_(RuntimeError):
    """A key is missing, too short or unreadable."""


def _decode(raw: str, where: str) -> bytes:
    raw = raw.strip()
    for decode in (bytes.fromhex, lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))):
        try:
            key = decode(raw)
        except (ValueError, binascii.Error):
            continue
        if len(key) >= MIN_KEY_BYTES:
            return key
    raise KeyError_(f"{where}: expected a key of at least {MIN_KEY_BYTES} bytes, hex or base64")


def load_key(env_name: str, path: Optional[str], *, create: bool = True, env: Optional[dict] = None) -> bytes:
    """The key from ``$env_name`` or from ``path`` (created with a fresh random key when absent)."""
    env = os.environ if env is None else env
    if env.get(env_name):
        return _decode(env[env_name], f"${env_name}")
    if not path:
        raise KeyError_(f"no key: set ${env_name} or configure a key file")
    p = Path(path)
    if not p.exists():
        if not create:
            raise KeyError_(f"key file {p} does not exist (set ${env_name} or give the key file)")
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(MIN_KEY_BYTES) + "\n")
        try:
            os.link(tmp, p)  # atomic; a concurrent creator's key wins and both read the same file
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return _decode(p.read_text(), str(p))


def derive(key: bytes, label: str) -> bytes:
    """A 32-byte sub-key for one use (chain MAC, anchor signature, ...)."""
    return hmac.new(key, b"alpr-stream/" + label.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class AuditKey:
    """The access-log chain key and the anchor signing key derived from one secret."""

    mac_key: bytes
    sign_seed: bytes

    @classmethod
    def from_secret(cls, secret: bytes) -> "AuditKey":
        return cls(derive(secret, "access-log-chain"), derive(secret, "anchor-signing"))

    def mac(self, data: bytes) -> str:
        return hmac.new(self.mac_key, data, hashlib.sha256).hexdigest()

    def sign(self, data: bytes) -> str:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        return Ed25519PrivateKey.from_private_bytes(self.sign_seed).sign(data).hex()

    def public_key_hex(self) -> str:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
        pub = Ed25519PrivateKey.from_private_bytes(self.sign_seed).public_key()
        return pub.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def verify_signature(public_key_hex: str, data: bytes, signature_hex: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex)).verify(bytes.fromhex(signature_hex), data)
        return True
    except (InvalidSignature, ValueError):
        return False


class SecretBox:
    """Encrypts short secrets (MFA seeds) at rest with Fernet; the key never enters the database."""

    PREFIX = "enc:v1:"

    def __init__(self, key: bytes):
        from cryptography.fernet import Fernet
        self._f = Fernet(base64.urlsafe_b64encode(derive(key, "secrets-at-rest")))

    def seal(self, plaintext: str) -> str:
        if not plaintext or plaintext.startswith(self.PREFIX):
            return plaintext
        return self.PREFIX + self._f.encrypt(plaintext.encode()).decode()

    def open(self, stored: str) -> str:
        from cryptography.fernet import InvalidToken
        if not stored:
            return stored
        if not stored.startswith(self.PREFIX):
            raise KeyError_("secret stored in plain text (re-enrol the user)")
        try:
            return self._f.decrypt(stored[len(self.PREFIX):].encode()).decode()
        except InvalidToken as exc:
            raise KeyError_("secret cannot be decrypted with this key") from exc
