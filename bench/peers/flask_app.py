"""The Python peers for bench/peers.py, one WSGI module, two apps:

- `seed`: the Flask app tokengate replaced, in its shape: a route that takes
  the Bearer token and checks it with PyJWT (pinned HS256, issuer and
  audience required).
- `extended`: the same check through Flask-JWT-Extended's
  `@jwt_required()`, the extension a Flask user would reach for.

Both read the HMAC secret from PEERS_SECRET; run under gunicorn, e.g.
`gunicorn -w 2 --chdir bench/peers flask_app:seed`.
"""

import os

import jwt
from flask import Flask, jsonify, request
from flask_jwt_extended import JWTManager, get_jwt_identity, jwt_required

SECRET = os.environ["PEERS_SECRET"]
ISSUER = AUDIENCE = "tokengate"

seed = Flask("seed")


@seed.get("/verify")
def seed_verify():
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return jsonify(error="missing token"), 401
    try:
        claims = jwt.decode(header[7:], SECRET, algorithms=["HS256"], issuer=ISSUER,
                            audience=AUDIENCE, options={"require": ["exp", "sub"]})
    except jwt.InvalidTokenError:
        return jsonify(error="invalid token"), 401
    return jsonify(user=claims["sub"])


extended = Flask("extended")
extended.config.update(
    JWT_SECRET_KEY=SECRET,
    JWT_ALGORITHM="HS256",
    JWT_DECODE_ALGORITHMS=["HS256"],
    JWT_DECODE_ISSUER=ISSUER,
    JWT_DECODE_AUDIENCE=AUDIENCE,
    JWT_TOKEN_LOCATION=["headers"],
)
JWTManager(extended)


@extended.get("/verify")
@jwt_required()
def extended_verify():
    return jsonify(user=get_jwt_identity())
