"""A full login and token flow against any running Ostiary, remembering every secret it
saw (the log tests grep for them), and a reader of the Prometheus text format."""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ostiary.oauth.registration import ClientSpec, register
from ostiary.services import build_services
from ostiary.settings import load_settings
from tests.conftest import SECRET_KEY, unique
from tests.e2e.helpers import PASSWORD, RegisteredClient, csrf_of, interaction_of, pkce_pair

REDIRECT_URI = "https://app.example.com/callback"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, by name and labels."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def seed(database_url: str) -> tuple[RegisteredClient, str]:
    """A confidential client (code flow, refresh, openid) and a user, written straight to
    the database a server under test uses."""
    username = unique("obs-user")

    async def create() -> tuple[RegisteredClient, str]:
        settings = load_settings(database_url=database_url, secret_key=SECRET_KEY)
        services = build_services(settings)
        try:
            spec = ClientSpec(
                name=unique("obs-app"),
                redirect_uris=[REDIRECT_URI],
                grant_types=[],
                scopes=["openid", "offline_access", "read"],
            )
            client, secret = await register(services.store.clients, spec)
            await services.store.users.add(
                username=username,
                email=f"{username}@example.com",
                password_hash=await services.passwords.hash(PASSWORD),
            )
        finally:
            await services.close()
        return RegisteredClient(client.client_id, secret, REDIRECT_URI), username

    return asyncio.run(create())


@dataclass
class Flow:
    """What the flow sent and got: every value here is a secret no log may hold."""

    secrets: dict[str, str] = field(default_factory=dict)
    request_ids: list[str] = field(default_factory=list)


def full_flow(base_url: str, client: RegisteredClient, username: str) -> Flow:
    """Authorization code + PKCE with a login and consent, the token request, UserInfo, a
    refresh, the rotated-out refresh token replayed, a failed login, a wrong client secret."""
    flow = Flow()
    assert client.secret is not None
    flow.secrets.update(password=PASSWORD, client_secret=client.secret)
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    nonce = secrets.token_urlsafe(16)
    flow.secrets.update(verifier=verifier, state=state, nonce=nonce)
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid offline_access read",
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    with httpx.Client(base_url=base_url, timeout=30) as web:
        page = web.get("/authorize", params=params)
        flow.request_ids.append(page.headers["x-request-id"])
        assert page.status_code == 200, page.text
        interaction = interaction_of(page.text)
        # Not a secret, but a path's id: logs name the route template instead.
        flow.secrets["interaction id"] = interaction.rsplit("/", 1)[1]
        answer = web.post(
            f"{interaction}/login",
            data={"csrf": csrf_of(page.text), "username": username, "password": PASSWORD},
        )
        assert answer.status_code == 303, answer.text
        for name, value_ in web.cookies.items():
            flow.secrets[f"cookie {name}"] = value_
        location = answer.headers["location"]
        if location.startswith("/interaction/"):
            consent = web.get(location)
            answer = web.post(
                f"{location}/consent", data={"csrf": csrf_of(consent.text), "decision": "allow"}
            )
            assert answer.status_code == 303, answer.text
            location = answer.headers["location"]
        code = re.search(r"[?&]code=([^&]+)", location)
        assert code, location
        flow.secrets["code"] = code.group(1)

        tokens = web.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": flow.secrets["code"],
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            },
            auth=client.basic_auth(),
        )
        assert tokens.status_code == 200, tokens.text
        issued = tokens.json()
        flow.secrets.update(
            access_token=issued["access_token"],
            refresh_token=issued["refresh_token"],
            id_token=issued["id_token"],
        )
        info = web.get("/userinfo", headers={"Authorization": f"Bearer {issued['access_token']}"})
        assert info.status_code == 200, info.text

        rotated = web.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
            auth=client.basic_auth(),
        )
        assert rotated.status_code == 200, rotated.text
        flow.secrets["rotated_refresh_token"] = rotated.json()["refresh_token"]
        flow.secrets["rotated_access_token"] = rotated.json()["access_token"]
        # RFC 9700 §4.14.2: the rotated-out token again is reuse; its family is revoked.
        replay = web.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
            auth=client.basic_auth(),
        )
        assert replay.status_code == 400, replay.text

        wrong_secret = "ost_cs_" + secrets.token_urlsafe(32)
        flow.secrets["wrong_client_secret"] = wrong_secret
        refused = web.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": "ost_rt_x"},
            auth=(client.client_id, wrong_secret),
        )
        assert refused.status_code == 401, refused.text

    wrong_password = "wrong " + secrets.token_urlsafe(12)
    flow.secrets["wrong_password"] = wrong_password
    with httpx.Client(base_url=base_url, timeout=30) as web:
        page = web.get("/authorize", params={**params, "state": secrets.token_urlsafe(8)})
        failed = web.post(
            f"{interaction_of(page.text)}/login",
            data={"csrf": csrf_of(page.text), "username": username, "password": wrong_password},
        )
        assert failed.status_code == 401, failed.text
    return flow
