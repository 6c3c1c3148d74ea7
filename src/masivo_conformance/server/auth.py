"""API key -> JWT exchange and bearer-token checks (HS256, one hour)."""

from __future__ import annotations

import hashlib
import hmac
import time

import jwt

__all__ = ["TOKEN_LIFETIME", "Authenticator"]

TOKEN_LIFETIME = 3600
_LONG_LIFETIME = 24 * 3600  # the long_lived_token regression
_ISSUER = "masivo-conformance-reference-server"


_VERIFIED_TOKENS = 4096  # good tokens remembered; then the memory starts again


class Authenticator:
    def __init__(
        self, secret: str, api_key: str, brand_id: str, faults: frozenset[str] = frozenset()
    ) -> None:
        self._secret = secret
        self._api_key = api_key
        self._brand_id = brand_id
        self._faults = faults
        # Tokens name the key that obtained them (a digest, never the key): the secret
        # outlives a change of key in a db file, and a revoked key's tokens must go too.
        self._key_tag = hashlib.sha256(api_key.encode()).hexdigest()[:16]
        # Each good token verified once (a load test sends one token thousands of times):
        # token -> its exp. Bounded; a token past its exp is verified again, and refused.
        self._verified: dict[str, float] = {}

    def key_is_valid(self, key: str | None) -> bool:
        if "authorize_accepts_any_key" in self._faults:
            return True
        return key is not None and hmac.compare_digest(key.encode(), self._api_key.encode())

    def issue(self, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        lifetime = _LONG_LIFETIME if "long_lived_token" in self._faults else TOKEN_LIFETIME
        claims = {
            "iss": _ISSUER,
            "sub": self._brand_id,
            "key": self._key_tag,
            "iat": issued,
            "exp": issued + lifetime,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def token_problem(self, authorization: str | None) -> str | None:
        """Why a request's Authorization header is refused, or None when it is good."""
        if not authorization:
            return "the Authorization header is missing: send 'Bearer <token from /auth/authorize>'"
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return "the Authorization header must be 'Bearer <token>'"
        # The regression: decoding without verification (PyJWT then checks nothing else).
        if "unverified_token_signature" in self._faults:
            return self._claims_problem(token, verify=False)
        if self._verified.get(token, 0.0) > time.time():
            return None
        return self._claims_problem(token, verify=True)

    def _claims_problem(self, token: str, *, verify: bool) -> str | None:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                issuer=_ISSUER,
                options={"require": ["exp", "iat"], "verify_signature": verify},
            )
        except jwt.ExpiredSignatureError:
            return "the token has expired: get a new one from /auth/authorize"
        except jwt.InvalidTokenError:
            return "the token is not valid here: get one from /auth/authorize"
        if not verify:
            return None
        if claims.get("key") != self._key_tag:
            return "the token was issued for another API key: get a new one from /auth/authorize"
        if len(self._verified) >= _VERIFIED_TOKENS:
            self._verified.clear()
        self._verified[token] = float(claims["exp"])
        return None
