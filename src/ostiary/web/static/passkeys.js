// Passkeys (WebAuthn) on Ostiary's pages: registration on the security page, sign-in on
// the login and second-factor pages. Every element it drives carries data-passkey
// ("register" or "sign-in"), data-options-url, data-verify-url and data-csrf.
"use strict";
(() => {
  if (window.ostiaryPasskeys) return; // two partials on one page load this twice
  window.ostiaryPasskeys = true;

  // base64url (RFC 4648 §5, no padding) <-> ArrayBuffer: the JSON forms of WebAuthn L3
  // §5.1.8 and §5.2.3, written by hand (parseCreationOptionsFromJSON may be missing).
  const toBuffer = (text) => {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0)).buffer;
  };
  const toText = (buffer) => {
    let binary = "";
    for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const descriptors = (list) => (list || []).map((c) => ({ ...c, id: toBuffer(c.id) }));

  const creationOptions = (json) => ({
    ...json,
    challenge: toBuffer(json.challenge),
    user: { ...json.user, id: toBuffer(json.user.id) },
    excludeCredentials: descriptors(json.excludeCredentials),
  });
  const requestOptions = (json) => ({
    ...json,
    challenge: toBuffer(json.challenge),
    allowCredentials: descriptors(json.allowCredentials),
  });

  const common = (credential) => ({
    id: credential.id,
    rawId: toText(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment || null,
    clientExtensionResults: credential.getClientExtensionResults(),
  });
  const registrationJSON = (credential) => ({
    ...common(credential),
    response: {
      clientDataJSON: toText(credential.response.clientDataJSON),
      attestationObject: toText(credential.response.attestationObject),
      transports: credential.response.getTransports ? credential.response.getTransports() : [],
    },
  });
  const assertionJSON = (credential) => ({
    ...common(credential),
    response: {
      clientDataJSON: toText(credential.response.clientDataJSON),
      authenticatorData: toText(credential.response.authenticatorData),
      signature: toText(credential.response.signature),
      userHandle: credential.response.userHandle ? toText(credential.response.userHandle) : null,
    },
  });

  async function post(root, url, body) {
    const csrf = root.dataset.csrf;
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ ...body, csrf }),
    });
    let answer = {};
    try {
      answer = await response.json();
    } catch {
      // Not JSON (a proxy's page): the status says enough.
    }
    if (!response.ok && answer.location) {
      // Sign in again first (a change to the factors needs a recent sign-in).
      window.location.assign(answer.location);
      throw new Error(answer.error || "Sign in again.");
    }
    if (!response.ok) {
      throw new Error(answer.error || `The server refused the request (HTTP ${response.status}).`);
    }
    return answer;
  }

  // What the browser's DOMException names mean to the person (WebAuthn L3 §5.1.3, §5.1.4).
  const explain = (error) => {
    if (error.name === "NotAllowedError") return "The passkey prompt was closed or timed out.";
    if (error.name === "InvalidStateError") return "This device already holds a passkey for your account.";
    if (error.name === "SecurityError") return "Passkeys cannot be used at this address.";
    return error.message || "The passkey could not be used.";
  };

  function run(root, work) {
    const alert = root.querySelector("[role=alert]");
    const button = root.querySelector("button");
    return async (event) => {
      if (event) event.preventDefault();
      alert.hidden = true;
      button.disabled = true;
      try {
        await work();
      } catch (error) {
        alert.textContent = explain(error);
        alert.hidden = false;
      } finally {
        button.disabled = false;
      }
    };
  }

  function register(root) {
    root.addEventListener("submit", run(root, async () => {
      const options = await post(root, root.dataset.optionsUrl, {});
      const credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
      const name = root.querySelector("input[name=name]").value;
      const done = await post(root, root.dataset.verifyUrl, {
        name,
        credential: registrationJSON(credential),
      });
      const codes = done.recovery_codes || [];
      if (!codes.length) {
        window.location.assign("/account/security");
        return;
      }
      // The person's first factor: its recovery codes, shown this once.
      const shown = document.querySelector("[data-passkey-codes]");
      const list = shown.querySelector("ul");
      for (const code of codes) {
        const item = document.createElement("li");
        const text = document.createElement("code");
        text.textContent = code;
        item.append(text);
        list.append(item);
      }
      root.hidden = true;
      shown.hidden = false;
    }));
  }

  function signIn(root) {
    root.querySelector("button").addEventListener("click", run(root, async () => {
      const options = await post(root, root.dataset.optionsUrl, {});
      const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
      const done = await post(root, root.dataset.verifyUrl, { credential: assertionJSON(credential) });
      window.location.assign(done.location);
    }));
  }

  if (!window.PublicKeyCredential || !navigator.credentials) return; // stays hidden
  for (const root of document.querySelectorAll("[data-passkey]")) {
    if (root.dataset.passkey === "register") register(root);
    else if (root.dataset.passkey === "sign-in") signIn(root);
    else continue;
    root.hidden = false;
  }
})();
