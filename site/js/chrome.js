// What every page shares: the API client and sign-in, the service status in the header, the
// account link, and the footer note when a fallback backend is serving.

import config from "../config.js";
import { Api } from "./api.js";
import { Auth } from "./auth.js";
import { startEvents } from "./events.js";
import { $, sleep } from "./util.js";

const TIER_NAMES = { anonymous: "Guest", registered: "Member", donor: "Donor" };

export function tierName(tier) {
  return TIER_NAMES[tier] || (tier ? tier.charAt(0).toUpperCase() + tier.slice(1) : "Guest");
}

export function startPage() {
  const api = new Api(config);
  const auth = new Auth(config, api);
  const doc = document.querySelector("[data-api-doc]");
  if (doc) doc.href = `${api.backends[0].base}/openapi.json`;
  let healthTimer = null;

  async function checkHealth() {
    const pill = $("#service-status");
    if (!pill) return;
    const label = pill.querySelector("[data-label]");
    try {
      const { data } = await api.get("/health", { timeoutMs: 8000 });
      const queue = Number(data?.queue_length) || 0;
      const busy = Number(data?.load) > 0.8;
      pill.dataset.state = data?.status === "ok" && !busy ? "ok" : "busy";
      label.textContent = data?.status !== "ok"
        ? "Degraded: some providers are down"
        : busy ? "Busy: limits are halved for now" : `Online · ${queue === 0 ? "no queue" : `${queue} in the queue`}`;
    } catch {
      pill.dataset.state = "down";
      label.textContent = "Offline: retrying";
      clearTimeout(healthTimer);
      healthTimer = setTimeout(checkHealth, 15000);
    }
  }

  api.onChange((state) => {
    const note = $("#backend-note");
    const fallback = state.current && state.current.index > 0;
    if (note) {
      const down = state.backends.filter((b) => b.down).map((b) => b.name);
      note.hidden = !fallback;
      note.textContent = fallback
        ? `Connected through the ${state.current.name} backend${down.length ? ` (${down.join(", ")} unreachable)` : ""}.`
        : "";
    }
    if (!state.allDown) {
      clearTimeout(healthTimer);
      healthTimer = setTimeout(checkHealth, 500);
    }
  });

  const chip = $("#account-chip");
  const adminLink = $("#admin-link");
  const showAccount = (state) => {
    if (adminLink) adminLink.hidden = !state.admin;
    if (!chip) return;
    chip.hidden = !state.enabled;
    const label = chip.querySelector("[data-label]");
    if (state.anonymous) {
      label.textContent = "Sign in";
      chip.removeAttribute("data-tier");
      chip.dataset.track = "sign_in_click";
      chip.setAttribute("aria-label", "Sign in or create an account");
    } else {
      label.textContent = state.email || "Account";
      chip.dataset.tier = state.tier;
      delete chip.dataset.track;
      chip.setAttribute("aria-label", `Your account: ${state.email || ""}, ${tierName(state.tier)}`);
    }
  };
  auth.onChange(showAccount);
  showAccount(auth.state());
  checkHealth();
  auth.start();
  // The page view goes once sign-in is settled, so it carries the session (signed in or not).
  Promise.race([auth.ready, sleep(4000)]).then(() => startEvents(api));
  return { api, auth, config };
}
