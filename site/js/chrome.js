// What every page shares: the API client and sign-in, the service status in the header, the
// account link, and the footer note when a fallback backend is serving.

import config from "../config.js";
import { Api } from "./api.js";
import { Auth } from "./auth.js";
import { $ } from "./util.js";

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
      note.hidden = !fallback;
      note.textContent = fallback ? `Connected through the ${state.current.name} backend while the primary is unreachable.` : "";
    }
    if (!state.allDown) {
      clearTimeout(healthTimer);
      healthTimer = setTimeout(checkHealth, 500);
    }
  });

  const chip = $("#account-chip");
  const showAccount = (state) => {
    if (!chip) return;
    chip.hidden = !state.enabled;
    const label = chip.querySelector("[data-label]");
    if (state.anonymous) {
      label.textContent = "Sign in";
      chip.removeAttribute("data-tier");
      chip.setAttribute("aria-label", "Sign in or create an account");
    } else {
      label.textContent = state.email || "Account";
      chip.dataset.tier = state.tier;
      chip.setAttribute("aria-label", `Your account: ${state.email || ""}, ${tierName(state.tier)}`);
    }
  };
  auth.onChange(showAccount);
  showAccount(auth.state());
  checkHealth();
  auth.start();
  return { api, auth, config };
}
