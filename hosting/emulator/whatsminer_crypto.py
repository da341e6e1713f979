"""The Whatsminer API v2 token and envelope (commands.md 2.6, quirks.md Q9).

key  = hash part of MD5-crypt(password, salt)
sign = hash part of MD5-crypt(key + time, newsalt)   (the token a client puts in each write)
AES-256-ECB with SHA-256(key), NUL padding to 16 bytes, base64.
MD5-crypt comes from passlib, as in the clients that speak this protocol.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from passlib.hash import md5_crypt

# md5_crypt's salt alphabet without "." and "/", which the firmware never puts in a salt.
SALT_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def md5_crypt_text(password: str, salt: str) -> str:
    """`$1$salt$hash`, the FreeBSD MD5-crypt that the protocol builds its key and token from."""
    return str(md5_crypt.using(salt=salt[:8]).hash(password))


def crypt_hash(word: str, salt: str) -> str:
    """The part after the last `$`, which is all the Whatsminer protocol uses."""
    return md5_crypt_text(word, salt).split("$")[3]


def _cipher(key: str) -> Cipher[modes.ECB]:
    aes_key = binascii.unhexlify(hashlib.sha256(key.encode()).hexdigest())
    return Cipher(algorithms.AES(aes_key), modes.ECB())  # noqa: S305 -- ECB is what the firmware speaks


def encrypt(key: str, message: str) -> str:
    data = message.encode()
    data += b"\x00" * (-len(data) % 16)
    encryptor = _cipher(key).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()


def decrypt(key: str, payload: str) -> dict[str, object] | None:
    """The JSON object inside an `{"enc":1,"data":...}` request, or None when it does not decrypt."""
    try:
        raw = base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        return None
    if not raw or len(raw) % 16:
        return None
    decryptor = _cipher(key).decryptor()
    plain = (decryptor.update(raw) + decryptor.finalize()).rstrip(b"\x00")
    try:
        body = json.loads(plain.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return body if isinstance(body, dict) else None
