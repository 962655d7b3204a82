// The donate page (served at /donate, the API's donation_link): the plans (GET /plans), subscribe
// (POST /subscribe -> the payment provider's checkout page), and on the way back the result: the
// account's tier changes once the provider's signed webhook has reached the API, so the page
// watches GET /user/me until it does.

import { ApiError } from "./api.js";
import { startPage, tierName } from "./chrome.js";
import { track } from "./events.js";
import { describeError } from "./messages.js";
import { icon } from "./output.js";
import { $, el, store } from "./util.js";

const PENDING = "aiart.subscription"; // {request_id, plan, tier, before, at}: a checkout under way
const WATCH_MS = 3000;
const WATCH_FOR_MS = 3 * 60 * 1000;
const KEEP_PENDING_MS = 24 * 60 * 60 * 1000;

const { api, auth, config } = startPage();
const status = $("#donate-status");
let plans = [];
let open = false;

function money(price, currency) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency, maximumFractionDigits: price % 1 ? 2 : 0 }).format(price);
  } catch {
    return `${price} ${currency}`;
  }
}

function period(days) {
  if (!days) return "for good";
  if (days === 365 || days === 366) return "for a year";
  if (days === 30 || days === 31) return "for a month";
  return `for ${days} days`;
}

function result(kind, title, text) {
  const box = $("#result");
  box.hidden = false;
  box.dataset.kind = kind;
  $("#result-icon").replaceChildren(icon(kind === "done" ? "heart" : kind === "waiting" ? "clock" : "alert"));
  $("#result-title").textContent = title;
  $("#result-text").textContent = text;
}

function renderPlans() {
  $("#plans").replaceChildren(...plans.map((plan) => {
    const price = money(plan.price, plan.currency);
    const button = el("button", {
      type: "button",
      class: "btn primary big",
      "aria-label": `Donate ${price} ${period(plan.days)}: ${tierName(plan.tier)} tier`,
    }, icon("heart"), el("span", { text: `Donate ${price}` }));
    if (!open) button.setAttribute("aria-disabled", "true");
    button.addEventListener("click", () => subscribe(plan, button));
    const title = plan.name.replace(/[-_]+/g, " ");
    return el("li", { class: "card plan", "data-plan": plan.name },
      el("h3", { class: "plan-name", text: title.charAt(0).toUpperCase() + title.slice(1) }),
      el("p", { class: "plan-price" }, el("strong", { text: price }), el("span", { class: "hint", text: ` ${period(plan.days)}` })),
      el("p", { class: "hint", text: `You become a ${tierName(plan.tier)}: more generations a minute, first in the queue.` }),
      button);
  }));
}

async function subscribe(plan, button) {
  if (!open || button.getAttribute("aria-disabled") === "true") return;
  if (auth.state().anonymous) {
    $("#sign-in-first").hidden = false;
    $("#sign-in-first a").focus();
    return;
  }
  track("donate_click");
  button.setAttribute("aria-disabled", "true");
  status.textContent = "Opening the payment page…";
  try {
    const before = await api.get("/user/me").then((r) => r.data).catch(() => null);
    const { data } = await api.post("/subscribe", { json: { plan: plan.name } });
    store.set(PENDING, {
      request_id: data.request_id,
      plan: plan.name,
      tier: plan.tier,
      before: before ? { tier: before.tier, expires: before.tier_expires_at ?? null } : null,
      at: Date.now(),
    });
    window.location.assign(data.checkout_url);
  } catch (error) {
    button.removeAttribute("aria-disabled");
    if (error instanceof ApiError && error.status === 401) {
      status.textContent = "";
      $("#sign-in-first").hidden = false;
      $("#sign-in-first a").focus();
      return;
    }
    status.textContent = describeError(error, { config }).text(error?.retryAfter || 0);
  }
}

// Back from the checkout (or a later visit while one is pending): wait for the tier to change.
async function watch(pending) {
  result("waiting", "Confirming your donation…", "The payment provider is telling us. This takes a few seconds.");
  const until = Date.now() + WATCH_FOR_MS;
  while (Date.now() < until) {
    try {
      const { data } = await api.get("/user/me");
      const changed = !pending.before
        || pending.before.tier !== data.tier
        || (pending.before.expires ?? null) !== (data.tier_expires_at ?? null);
      if (data.tier === pending.tier && changed) {
        store.set(PENDING, null);
        const until = data.tier_expires_at
          ? ` until ${new Date(data.tier_expires_at * 1000).toLocaleDateString("en", { day: "numeric", month: "long", year: "numeric" })}`
          : "";
        result("done", "Thank you!", `Your donation is confirmed: you are a ${tierName(data.tier)}${until}. Enjoy the higher limit.`);
        track("donate_complete");
        auth.openSession().then(() => auth.emit()).catch(() => null); // the header shows the new tier
        return;
      }
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) break;
    }
    await new Promise((resolve) => setTimeout(resolve, WATCH_MS));
  }
  result("waiting", "Not confirmed yet", "We have not heard from the payment provider yet. It can take a few minutes: come back to this page later and it will show it.");
}

async function start() {
  try {
    const { data } = await api.get("/plans");
    plans = data.plans || [];
    open = Boolean(data.checkout);
    renderPlans();
    if (!open) status.textContent = "Donations are not open on this server yet.";
  } catch (error) {
    status.textContent = describeError(error, { config }).text(error?.retryAfter || 0);
  }
  await auth.ready;
  const params = new URLSearchParams(window.location.search);
  const pending = store.get(PENDING, null);
  const returned = params.get("status") || params.get("result");
  if (pending && ["canceled", "cancelled", "cancel", "failed"].includes(returned)) {
    store.set(PENDING, null);
    result("canceled", "No donation was made", "The payment was canceled: nothing was charged. You can try again whenever you like.");
  } else if (pending && Date.now() - pending.at < KEEP_PENDING_MS && !auth.state().anonymous) {
    watch(pending);
  }
}

start();
