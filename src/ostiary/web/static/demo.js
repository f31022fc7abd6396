// The demo application: a public client running the authorization-code flow with PKCE.
"use strict";
const root = document.getElementById("demo");
const clientId = root.dataset.clientId;
const issuer = root.dataset.issuer;
const redirectUri = window.location.origin + "/demo";
const $ = (id) => document.getElementById(id);

function b64url(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function randomString() {
  return b64url(crypto.getRandomValues(new Uint8Array(32)));
}
function decodePart(part) {
  const text = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(decodeURIComponent(escape(text)));
}
function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

async function signIn() {
  const verifier = randomString();
  const state = randomString();
  const nonce = randomString();
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem("ostiary-demo", JSON.stringify({ verifier, state, nonce }));
  const params = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirectUri,
    scope: root.dataset.scope,
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
    nonce,
  });
  window.location.assign("/authorize?" + params.toString());
}

async function tokenRequest(fields) {
  const response = await fetch("/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: clientId, ...fields }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error + ": " + (body.error_description || ""));
  return body;
}

function show(tokens) {
  sessionStorage.setItem("ostiary-demo-tokens", JSON.stringify(tokens));
  const [header, claims] = tokens.access_token.split(".");
  $("at-header").textContent = JSON.stringify(decodePart(header), null, 2);
  $("at-claims").textContent = JSON.stringify(decodePart(claims), null, 2);
  $("response").textContent = JSON.stringify(tokens, null, 2);
  $("result").hidden = false;
  if (tokens.id_token) {
    sessionStorage.setItem("ostiary-demo-id-token", tokens.id_token);
    $("id-claims").textContent = JSON.stringify(decodePart(tokens.id_token.split(".")[1]), null, 2);
  }
  $("refresh").hidden = !tokens.refresh_token;
  $("revoke").hidden = !tokens.refresh_token;
  $("userinfo").hidden = false;
  $("logout").hidden = false;
}

async function handleCallback(query) {
  const saved = JSON.parse(sessionStorage.getItem("ostiary-demo") || "null");
  sessionStorage.removeItem("ostiary-demo");
  window.history.replaceState(null, "", "/demo");
  if (query.get("error")) throw new Error(query.get("error") + ": " + (query.get("error_description") || ""));
  if (!saved || query.get("state") !== saved.state) throw new Error("state does not match: not our request");
  // RFC 9207: the response names its issuer; a mismatch means a mix-up attack.
  if (query.get("iss") !== issuer) throw new Error("iss does not match the expected issuer");
  const tokens = await tokenRequest({
    grant_type: "authorization_code",
    code: query.get("code"),
    redirect_uri: redirectUri,
    code_verifier: saved.verifier,
  });
  // OIDC Core §3.1.3.7: the ID token must carry the nonce this request sent.
  if (tokens.id_token && decodePart(tokens.id_token.split(".")[1]).nonce !== saved.nonce) {
    throw new Error("nonce does not match: not our sign-in");
  }
  show(tokens);
}

async function refresh() {
  const tokens = JSON.parse(sessionStorage.getItem("ostiary-demo-tokens"));
  show(await tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.refresh_token }));
}

async function revoke() {
  const tokens = JSON.parse(sessionStorage.getItem("ostiary-demo-tokens"));
  await fetch("/revoke", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: clientId, token: tokens.refresh_token, token_type_hint: "refresh_token" }),
  });
  $("response").textContent = "Refresh token revoked. Try 'Refresh tokens': it must now fail.";
}

async function userinfo() {
  const tokens = JSON.parse(sessionStorage.getItem("ostiary-demo-tokens"));
  const response = await fetch("/userinfo", { headers: { Authorization: "Bearer " + tokens.access_token } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error + ": " + (body.error_description || ""));
  $("userinfo-response").textContent = JSON.stringify(body, null, 2);
}

async function logout() {
  // OpenID Connect RP-Initiated Logout: back to this page once the session has ended.
  const params = new URLSearchParams({
    id_token_hint: sessionStorage.getItem("ostiary-demo-id-token") || "",
    post_logout_redirect_uri: redirectUri,
    state: randomString(),
  });
  sessionStorage.clear();
  window.location.assign("/logout?" + params.toString());
}

function guard(fn) {
  return () => fn().catch((e) => showError(e.message));
}
$("signin").addEventListener("click", guard(signIn));
$("refresh").addEventListener("click", guard(refresh));
$("revoke").addEventListener("click", guard(revoke));
$("userinfo").addEventListener("click", guard(userinfo));
$("logout").addEventListener("click", guard(logout));
const query = new URLSearchParams(window.location.search);
if (query.has("code") || query.has("error")) guard(() => handleCallback(query))();
else if (query.has("state")) window.history.replaceState(null, "", "/demo");
