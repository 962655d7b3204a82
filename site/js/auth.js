// Sign-in with Firebase Authentication, through its REST API (the calls the Firebase JS SDK makes:
// accounts:signUp, accounts:signInWithPassword, accounts:update, securetoken token refresh), so the
// site needs no SDK bundle and no build step.
//
// Every browser gets an account: on the first visit an anonymous one (Firebase anonymous sign-in),
// which owns this browser's jobs; creating an account with an email links it (same uid: the jobs
// stay). The ID token becomes the API's session cookie (POST /auth/session -> __session,
// HttpOnly, SameSite=Strict) for the site's own origin; cross-origin backends get the ID token as
// `Authorization: Bearer` instead (api.js asks tokenFor(backend)). The refresh token is kept in
// localStorage, as the SDK keeps it in IndexedDB.

import { store } from "./util.js";

const KEY = "aiart.auth";
const OFF_KEY = "aiart.auth.off"; // until when the API said it takes no sign-in (epoch ms)
const OFF_MS = 60 * 60 * 1000;
const REFRESH_EARLY_MS = 5 * 60 * 1000; // refresh an ID token 5 minutes before it expires
const SESSION_RENEW_MS = 12 * 60 * 60 * 1000; // make the session cookie again twice a day
const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

const MESSAGES = {
  EMAIL_EXISTS: "An account with this email already exists. Sign in instead.",
  EMAIL_NOT_FOUND: "The email or password is not right.",
  INVALID_PASSWORD: "The email or password is not right.",
  INVALID_LOGIN_CREDENTIALS: "The email or password is not right.",
  INVALID_EMAIL: "That email address does not look right.",
  MISSING_PASSWORD: "Type a password.",
  MISSING_EMAIL: "Type your email address.",
  WEAK_PASSWORD: "Choose a password of at least 6 characters.",
  TOO_MANY_ATTEMPTS_TRY_LATER: "Too many attempts. Try again in a few minutes.",
  USER_DISABLED: "This account is disabled.",
  CREDENTIAL_TOO_OLD_LOGIN_AGAIN: "Please sign in again.",
  TOKEN_EXPIRED: "Please sign in again.",
  OPERATION_NOT_ALLOWED: "This way of signing in is not enabled.",
};

export class AuthError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "AuthError";
    this.code = code;
  }
}

// Where Firebase Auth is for this page: the emulator in local development, else the project's
// API key; null when sign-in is not configured (the site then runs with one-off anonymous calls).
export function firebaseEndpoints(config, location = window.location) {
  const firebase = config?.firebase || {};
  const local = LOCAL_HOSTS.has(location.hostname);
  if (local && firebase.authEmulator) {
    const origin = /^https?:\/\//.test(firebase.authEmulator) ? firebase.authEmulator : `http://${firebase.authEmulator}`;
    return { base: `${origin.replace(/\/+$/, "")}/`, apiKey: firebase.apiKey || "fake-api-key", emulator: true };
  }
  if (firebase.apiKey) return { base: "https://", apiKey: firebase.apiKey, emulator: false };
  return null;
}

export class Auth {
  constructor(config, api, { fetchImpl = (...args) => fetch(...args) } = {}) {
    this.api = api;
    this.fetch = fetchImpl;
    this.endpoints = firebaseEndpoints(config);
    this.saved = store.get(KEY, null);
    this.account = null; // the API's answer: {uid, email, tier, admin, anonymous}
    this.listeners = new Set();
    this.serverSignIn = true; // false when the API answers that sign-in is off
    this.unreachable = false; // true when Firebase Auth could not be reached on this page load
    this.ready = Promise.resolve(null);
    api.setTokenProvider((backend) => (backend.crossOrigin ? this.idToken() : null));
  }

  get enabled() {
    return Boolean(this.endpoints) && this.serverSignIn && !this.unreachable;
  }

  get signedIn() {
    return Boolean(this.saved && !this.saved.anonymous);
  }

  onChange(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit() {
    for (const listener of this.listeners) listener(this.state());
  }

  state() {
    const saved = this.saved;
    return {
      enabled: this.enabled,
      uid: saved?.uid || null,
      email: saved?.email || null,
      anonymous: saved ? saved.anonymous : true,
      tier: this.account?.tier || (saved && !saved.anonymous ? saved.tier || "registered" : "anonymous"),
      admin: Boolean(this.account?.admin ?? saved?.admin),
    };
  }

  // On every page: restore this browser's account, or make an anonymous one, and make sure the
  // API's session cookie exists. Never throws: the studio works without it.
  start() {
    this.ready = this.establish().catch((error) => {
      if (error?.code === "NETWORK") this.unreachable = true;
      console.warn("sign-in is not available:", error?.message);
      this.emit();
      return null;
    });
    return this.ready;
  }

  async establish() {
    if (!this.endpoints) return null;
    if (store.get(OFF_KEY, 0) > Date.now()) {
      this.serverSignIn = false;
      this.emit();
      return null;
    }
    if (!this.saved) await this.anonymous();
    if (!this.saved.sessionAt || Date.now() - this.saved.sessionAt > SESSION_RENEW_MS) await this.openSession();
    this.emit();
    return this.state();
  }

  // ---- Firebase Auth REST ------------------------------------------------------------------

  async call(url, body, form = false) {
    let response;
    try {
      response = await this.fetch(url, {
        method: "POST",
        headers: { "Content-Type": form ? "application/x-www-form-urlencoded" : "application/json" },
        body: form ? new URLSearchParams(body).toString() : JSON.stringify(body),
      });
    } catch {
      throw new AuthError("NETWORK", "Signing in is not available right now. Please try again in a moment.");
    }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const code = String(data?.error?.message || "UNKNOWN").split(/[ :]/)[0];
      throw new AuthError(code, MESSAGES[code] || "Signing in did not work. Please try again.");
    }
    return data;
  }

  accounts(operation, body) {
    const { base, apiKey } = this.endpoints;
    return this.call(`${base}identitytoolkit.googleapis.com/v1/accounts:${operation}?key=${encodeURIComponent(apiKey)}`, body);
  }

  keep(data, { email = null, anonymous }) {
    this.saved = {
      uid: data.localId || data.user_id,
      email,
      anonymous,
      idToken: data.idToken || data.id_token,
      refreshToken: data.refreshToken || data.refresh_token,
      expiresAt: Date.now() + Number(data.expiresIn || data.expires_in || 3600) * 1000,
      issuedAt: Date.now(),
      sessionAt: null,
      tier: this.saved?.tier,
    };
    store.set(KEY, this.saved);
  }

  async anonymous() {
    const data = await this.accounts("signUp", { returnSecureToken: true });
    this.keep(data, { anonymous: true });
  }

  // A valid ID token (refreshed when it is about to expire), or null without an account.
  async idToken() {
    if (!this.endpoints || !this.saved) return null;
    if (this.saved.idToken && this.saved.expiresAt - Date.now() > REFRESH_EARLY_MS) return this.saved.idToken;
    const { base, apiKey } = this.endpoints;
    try {
      const data = await this.call(
        `${base}securetoken.googleapis.com/v1/token?key=${encodeURIComponent(apiKey)}`,
        { grant_type: "refresh_token", refresh_token: this.saved.refreshToken },
        true,
      );
      this.saved = {
        ...this.saved,
        idToken: data.id_token,
        refreshToken: data.refresh_token,
        expiresAt: Date.now() + Number(data.expires_in || 3600) * 1000,
        issuedAt: Date.now(),
      };
      store.set(KEY, this.saved);
      return this.saved.idToken;
    } catch (error) {
      if (error.code !== "NETWORK") this.forget(); // revoked or deleted: start over next time
      return null;
    }
  }

  // POST /auth/session: the ID token -> the __session cookie; the API's view of the account.
  async openSession() {
    const token = await this.idToken();
    if (!token) throw new AuthError("NO_TOKEN", "Please sign in again.");
    try {
      const { data } = await this.api.post("/auth/session", { json: { id_token: token } });
      this.account = data;
      this.serverSignIn = true;
      this.saved = {
        ...this.saved,
        sessionAt: Date.now(),
        tier: data?.tier,
        admin: Boolean(data?.admin),
        email: data?.email || this.saved.email,
      };
      store.set(KEY, this.saved);
    } catch (error) {
      const fresh = this.saved && Date.now() - (this.saved.issuedAt || 0) < 60 * 1000;
      if (error?.status === 401 && fresh) {
        // A token minted a moment ago is refused: this API takes no sign-in (no Firebase project).
        // Say so for an hour instead of making a new anonymous account on every page.
        this.serverSignIn = false;
        store.set(OFF_KEY, Date.now() + OFF_MS);
      }
      if (error?.status === 401) this.forget();
      throw error;
    }
  }

  forget() {
    this.saved = null;
    this.account = null;
    store.set(KEY, null);
  }

  // ---- what the account page does ------------------------------------------------------------

  async signIn(email, password) {
    const data = await this.accounts("signInWithPassword", { email, password, returnSecureToken: true });
    this.keep(data, { email: data.email || email, anonymous: false });
    await this.openSession();
    this.emit();
    return this.state();
  }

  // A new account with an email. This browser's anonymous account is upgraded (linked), so its
  // uid, and the jobs it owns, stay.
  async signUp(email, password) {
    const anonymousToken = this.saved?.anonymous ? await this.idToken() : null;
    const data = anonymousToken
      ? await this.accounts("update", { idToken: anonymousToken, email, password, returnSecureToken: true })
      : await this.accounts("signUp", { email, password, returnSecureToken: true });
    this.keep(data, { email: data.email || email, anonymous: false });
    await this.openSession();
    this.emit();
    return this.state();
  }

  // DELETE /auth/session (revokes the account's sessions everywhere), then a fresh anonymous
  // account for this browser.
  async signOut() {
    try {
      await this.api.delete("/auth/session");
    } finally {
      this.forget();
      await this.establish().catch(() => null);
      this.emit();
    }
  }

  // GET /auth/me: who the API says is signed in (revocation checked).
  async me() {
    const { data } = await this.api.get("/auth/me");
    this.account = data;
    return data;
  }
}
