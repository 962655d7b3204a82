// The account page: sign in / create an account (Firebase Auth, auth.js), then the account's tier,
// this month's usage (GET /user/me), the bill of a month (POST /user/billing/calculate), the
// recent generations (GET /user/usage, a page at a time) and the provider keys
// (GET/PUT/DELETE /user/keys[/{provider}]).

import { ApiError } from "./api.js";
import { AuthError } from "./auth.js";
import { startPage, tierName } from "./chrome.js";
import { track } from "./events.js";
import { prompts } from "./history.js";
import { describeError } from "./messages.js";
import { modeLabel } from "./output.js";
import { $, el } from "./util.js";

const MODES = ["text-to-image", "image-to-image", "text-to-video", "image-to-video", "text"];
const PROVIDERS = { openai: "OpenAI", stability: "Stability AI", gemini: "Google Gemini", dashscope: "Alibaba DashScope" };
const units = (value) => Number(value || 0).toLocaleString("en", { maximumFractionDigits: 2 });
const amount = (quantity, unit) => `${units(quantity)} ${Number(quantity) === 1 ? unit.replace(/s$/, "") : unit}`;
const day = (seconds) => new Date(seconds * 1000).toLocaleDateString("en", { day: "numeric", month: "short", year: "numeric" });
const when = (seconds) => new Date(seconds * 1000).toLocaleString("en", { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });

const { api, auth, config } = startPage();
const status = $("#account-status");
let mode = "sign-in";
let cursor = null;

function show(section) {
  for (const id of ["loading", "unavailable", "signed-out", "signed-in"]) $(`#${id}`).hidden = id !== section;
}

function problem(error) {
  if (error instanceof AuthError) return error.message;
  const info = describeError(error, { config });
  return info.text(error?.retryAfter || 0);
}

// ---- signed out: sign in or create an account -------------------------------------------------

function choose(next) {
  mode = next;
  const signUp = next === "sign-up";
  $("#choose-sign-in").setAttribute("aria-pressed", String(!signUp));
  $("#choose-sign-up").setAttribute("aria-pressed", String(signUp));
  $("#auth-submit span").textContent = signUp ? "Create account" : "Sign in";
  $("#password").autocomplete = signUp ? "new-password" : "current-password";
  $("#auth-note").textContent = signUp
    ? "What you made in this browser stays yours."
    : "New here? Creating an account keeps what you made in this browser.";
  $("#auth-error").hidden = true;
}

$("#choose-sign-in").addEventListener("click", () => choose("sign-in"));
$("#choose-sign-up").addEventListener("click", () => choose("sign-up"));
if (window.location.hash === "#sign-up") choose("sign-up");

$("#auth-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const email = $("#email").value.trim();
  const password = $("#password").value;
  const error = $("#auth-error");
  const fail = (message, field) => {
    error.textContent = message;
    error.hidden = false;
    field?.focus();
  };
  if (!email || !$("#email").checkValidity()) return fail("Type your email address.", $("#email"));
  if (password.length < 6) return fail("Choose a password of at least 6 characters.", $("#password"));
  const button = $("#auth-submit");
  button.setAttribute("aria-disabled", "true");
  error.hidden = true;
  status.textContent = mode === "sign-up" ? "Creating your account…" : "Signing in…";
  try {
    if (mode === "sign-up") {
      await auth.signUp(email, password);
      track("sign_up");
    } else {
      await auth.signIn(email, password);
    }
    $("#password").value = "";
    status.textContent = mode === "sign-up" ? "Your account is ready." : "You are signed in.";
    await render();
    $("#profile-title").focus();
  } catch (caught) {
    status.textContent = "";
    fail(problem(caught));
  } finally {
    button.removeAttribute("aria-disabled");
  }
});

// ---- signed in -------------------------------------------------------------------------------

$("#sign-out").addEventListener("click", async () => {
  status.textContent = "Signing out…";
  prompts.forgetAll();
  try {
    await auth.signOut();
  } catch {
    // signed out here anyway
  }
  status.textContent = "You are signed out.";
  choose("sign-in");
  await render();
});

function thisMonth() {
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`;
}

async function loadProfile() {
  const { data } = await api.get("/user/me");
  $("#avatar").textContent = (data.email || "?").charAt(0).toUpperCase();
  $("#profile-email").textContent = data.email || "";
  const badge = $("#profile-tier");
  badge.textContent = tierName(data.tier);
  badge.dataset.tier = data.tier;
  const parts = [];
  if (data.created_at) parts.push(`Member since ${day(data.created_at)}`);
  if (data.tier_expires_at) parts.push(`${tierName(data.tier)} until ${day(data.tier_expires_at)}`);
  $("#profile-since").textContent = parts.join(" · ");
  const stats = data.usage_stats || {};
  let generations = 0;
  let cost = 0;
  $("#usage-tiles").replaceChildren(...MODES.map((m) => {
    const s = stats[m] || { generations: 0, cost_units: 0 };
    generations += s.generations;
    cost += s.cost_units;
    return el("li", { class: "usage-tile", "data-mode": m },
      el("span", { class: "usage-mode", text: modeLabel(m) }),
      el("strong", { class: "usage-count", text: String(s.generations) }),
      el("span", { class: "hint", text: `${units(s.cost_units)} units` }));
  }));
  $("#usage-total").textContent = `${generations} generation${generations === 1 ? "" : "s"} · ${units(cost)} units`;
}

async function loadBill(month) {
  const body = $("#bill-body");
  body.replaceChildren(el("p", { class: "hint", text: "Adding it up…" }));
  try {
    const { data } = await api.post("/user/billing/calculate", { json: { month } });
    if (!data.lines.length) {
      body.replaceChildren(el("p", { class: "hint", text: `Nothing to bill for ${month}.` }));
      return;
    }
    const rows = data.lines.map((line) => el("tr", {},
      el("td", { text: modeLabel(line.mode) }),
      el("td", { text: PROVIDERS[line.provider] || line.provider }),
      el("td", { class: "num", text: String(line.generations) }),
      el("td", { class: "num", text: amount(line.quantity, line.unit) }),
      el("td", { class: "num", text: units(line.cost_units) })));
    body.replaceChildren(el("div", { class: "table-wrap" }, el("table", { class: "data-table", id: "bill-table" },
      el("caption", { class: "sr-only", text: `Bill for ${month}` }),
      el("thead", {}, el("tr", {}, ...["Mode", "Provider", "Generations", "Amount", "Units"].map((name, i) =>
        el("th", { scope: "col", class: i >= 2 ? "num" : null, text: name })))),
      el("tbody", {}, rows),
      el("tfoot", {}, el("tr", {},
        el("th", { scope: "row", colspan: "2", text: "Total" }),
        el("td", { class: "num", text: String(data.generations) }),
        el("td", {}),
        el("td", { class: "num bill-total", text: units(data.total_units) }))))));
  } catch (error) {
    body.replaceChildren(el("p", { class: "field-error", text: problem(error) }));
  }
}

$("#bill-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if ($("#bill-month").value) loadBill($("#bill-month").value);
});

async function loadRecent(more = false) {
  const query = cursor && more ? `?cursor=${encodeURIComponent(cursor)}` : "";
  const { data } = await api.get(`/user/usage${query}`);
  cursor = data.next_cursor;
  $("#recent-more").hidden = !cursor;
  const rows = data.items.map((item) => el("tr", {},
    el("td", {}, el("time", { datetime: new Date(item.at * 1000).toISOString(), text: when(item.at) })),
    el("td", { text: modeLabel(item.mode) }),
    el("td", { text: `${PROVIDERS[item.provider] || item.provider}${item.cached ? " (cached)" : ""}` }),
    el("td", { text: amount(item.quantity, item.unit) }),
    el("td", { class: "num", text: units(item.cost_units) })));
  const body = $("#recent-body");
  if (!more) body.replaceChildren();
  body.append(...rows);
  if (!body.children.length) {
    body.append(el("tr", {}, el("td", { colspan: "5", class: "hint", text: "Nothing yet this month: make something in the studio." })));
  }
}

$("#recent-more").addEventListener("click", () => loadRecent(true));

async function loadKeys() {
  const { data } = await api.get("/user/keys");
  const list = $("#key-list");
  if (!data.keys.length) {
    list.replaceChildren(el("li", { class: "hint", text: "No keys stored." }));
    return;
  }
  list.replaceChildren(...data.keys.map((key) => {
    const name = PROVIDERS[key.provider] || key.provider;
    const remove = el("button", { type: "button", class: "btn small ghost danger", "aria-label": `Remove your ${name} key` },
      el("span", { text: "Remove" }));
    remove.addEventListener("click", async () => {
      remove.setAttribute("aria-disabled", "true");
      try {
        await api.delete(`/user/keys/${encodeURIComponent(key.provider)}`);
        status.textContent = `Your ${name} key is removed.`;
        await loadKeys();
        $("#key-value").focus();
      } catch (error) {
        remove.removeAttribute("aria-disabled");
        status.textContent = problem(error);
      }
    });
    return el("li", { class: "key-item", "data-provider": key.provider },
      el("span", { class: "key-name", text: name }),
      el("code", { class: "key-hint", text: `••••${key.last4}` }),
      el("span", { class: "hint", text: `added ${day(key.added_at)}` }),
      remove);
  }));
}

$("#key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const provider = $("#key-provider").value;
  const input = $("#key-value");
  const error = $("#key-error");
  const value = input.value.trim();
  const fail = (message) => {
    error.textContent = message;
    error.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.focus();
  };
  if (value.length < 8 || /\s/.test(value)) return fail("Paste the whole key: at least 8 characters, no spaces.");
  const button = $("#key-save");
  button.setAttribute("aria-disabled", "true");
  status.textContent = `Checking the key with ${PROVIDERS[provider]}…`;
  try {
    await api.request("PUT", `/user/keys/${encodeURIComponent(provider)}`, { json: { api_key: value } });
    input.value = "";
    input.removeAttribute("aria-invalid");
    error.hidden = true;
    status.textContent = `Your ${PROVIDERS[provider]} key is stored.`;
    await loadKeys();
  } catch (caught) {
    status.textContent = "";
    const envelope = caught instanceof ApiError ? caught.envelope : null;
    fail(envelope?.error_type === "validation_error"
      ? "Paste the whole key: at least 8 characters, no spaces."
      : envelope?.error_type === "key_rejected" ? envelope.message : problem(caught));
  } finally {
    button.removeAttribute("aria-disabled");
  }
});

// ---- gateway API keys (sk-gw-…) for /v1 -----------------------------------------------------

async function loadGatewayKeys() {
  const { data } = await api.get("/user/api-keys");
  const list = $("#gateway-list");
  if (!data.keys.length) {
    list.replaceChildren(el("li", { class: "hint", text: "No API keys yet." }));
    return;
  }
  list.replaceChildren(...data.keys.map((key) => {
    const revoke = el("button", { type: "button", class: "btn small ghost danger", "aria-label": `Revoke the key ${key.name}` },
      el("span", { text: "Revoke" }));
    revoke.addEventListener("click", async () => {
      revoke.setAttribute("aria-disabled", "true");
      try {
        await api.delete(`/user/api-keys/${encodeURIComponent(key.id)}`);
        status.textContent = `The key ${key.name} is revoked.`;
        $("#new-secret").hidden = true;
        await loadGatewayKeys();
      } catch (error) {
        revoke.removeAttribute("aria-disabled");
        status.textContent = problem(error);
      }
    });
    return el("li", { class: "key-item", "data-key-id": key.id },
      el("span", { class: "key-name", text: key.name }),
      el("code", { class: "key-hint", text: `${key.prefix}…` }),
      el("span", { class: "hint", text: key.last_used_at ? `used ${day(key.last_used_at)}` : `made ${day(key.created_at)}` }),
      revoke);
  }));
}

$("#gateway-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("#gateway-name");
  const error = $("#gateway-error");
  const name = input.value.trim();
  if (!name) {
    error.textContent = "Name the key: what is it for?";
    error.hidden = false;
    input.focus();
    return;
  }
  try {
    const { data } = await api.post("/user/api-keys", { json: { name } });
    input.value = "";
    error.hidden = true;
    $("#new-secret-value").textContent = data.secret;
    $("#new-secret").hidden = false;
    status.textContent = "Your new key is shown once: copy it now.";
    await loadGatewayKeys();
    $("#copy-secret").focus();
  } catch (caught) {
    error.textContent = caught instanceof ApiError && caught.type === "validation_error"
      ? "Use letters, digits, spaces and . @ ( ) [ ] : / + # - in the name."
      : problem(caught);
    error.hidden = false;
  }
});

$("#copy-secret").addEventListener("click", async () => {
  const label = $("#copy-secret span");
  try {
    await navigator.clipboard.writeText($("#new-secret-value").textContent);
    label.textContent = "Copied";
  } catch {
    label.textContent = "Select it to copy";
  }
  setTimeout(() => { label.textContent = "Copy"; }, 2000);
});

// ---- which view ------------------------------------------------------------------------------

async function render() {
  const state = auth.state();
  if (!state.enabled) return show("unavailable");
  if (state.anonymous) return show("signed-out");
  try {
    await loadProfile();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      auth.forget();
      await auth.start();
      status.textContent = "Your session has ended. Please sign in again.";
      return show("signed-out");
    }
    status.textContent = problem(error);
  }
  show("signed-in");
  $("#bill-month").value ||= thisMonth();
  cursor = null;
  await Promise.allSettled([loadBill($("#bill-month").value), loadRecent(), loadKeys(), loadGatewayKeys()]);
}

auth.ready.then(render);
