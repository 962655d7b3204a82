// The dashboard's operations: the alerts (GET /admin/alerts?state=, POST /admin/alerts/evaluate),
// find a user by email and set their tier (GET /admin/users?email=, POST /admin/users/{uid}/tier),
// run a task now (POST /admin/tasks/{cleanup|backup|billing}), the spend guard's budgets
// (GET /admin/budgets), and the subscriptions, newest first (GET /admin/subscriptions).

import { ApiError } from "./api.js";
import { tierName } from "./chrome.js";
import { describeError } from "./messages.js";
import { $, el } from "./util.js";

const number = (value) => Number(value || 0).toLocaleString("en", { maximumFractionDigits: 2 });
const day = (seconds) => (seconds
  ? new Date(seconds * 1000).toLocaleDateString("en", { day: "numeric", month: "short", year: "numeric" })
  : "–");
const LABELS = {
  deleted: "Deleted", complete: "Complete", batches: "Batches", seconds: "Seconds", compacted_bytes: "Compacted bytes",
  kind: "Kind", name: "Backup", bytes: "Bytes", removed: "Old backups removed", output_uri: "Written to",
  month: "Month", users: "Users", billed: "Users billed", generations: "Generations", total_units: "Cost units",
  by_mode: "By mode", by_provider: "By provider", next_cursor: "More to bill",
};

function describe(value) {
  if (value === null || value === undefined || value === "") return "–";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (Array.isArray(value)) return value.length ? String(value.length) : "none";
  if (typeof value === "object") {
    const parts = Object.entries(value).filter(([, v]) => v).map(([k, v]) => `${k.replace(/_/g, " ")} ${v}`);
    return parts.length ? parts.join(", ") : "nothing";
  }
  return String(value);
}

function facts(list, entries) {
  list.replaceChildren(...entries.flatMap(([label, value]) => [el("dt", { text: label }), el("dd", { text: value })]));
}

const when = (seconds) => new Date(seconds * 1000).toLocaleString("en", {
  day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
});

export function startTools({ api, config }) {
  const problem = (error) => describeError(error, { config }).text(error?.retryAfter || 0);
  let found = null;

  // ---- alerts --------------------------------------------------------------------------------
  const alertList = $("#alert-list");
  const showAlerts = (alerts) => {
    if (!alerts.length) {
      alertList.replaceChildren(el("li", { class: "alert-none", text: "No open alerts: all is well." }));
      return;
    }
    alertList.replaceChildren(...alerts.map((alert) => el("li", { class: `alert-item alert-${alert.state}`, "data-rule": alert.rule },
      el("span", { class: "badge-inline", text: alert.state }),
      el("div", {},
        el("p", { class: "alert-message", text: alert.message }),
        el("p", { class: "hint", text: `${alert.rule.replace(/_/g, " ")} · ${number(alert.value)} against ${number(alert.threshold)} · since ${when(alert.opened_at)}${alert.closed_at ? ` · closed ${when(alert.closed_at)}` : ""}` })))));
  };
  const loadAlerts = async () => {
    try {
      const { data } = await api.get(`/admin/alerts?state=${$("#alerts-all").checked ? "all" : "open"}`);
      showAlerts(data.alerts);
    } catch (error) {
      alertList.replaceChildren(el("li", { class: "field-error", text: problem(error) }));
    }
  };
  $("#alerts-all").addEventListener("change", loadAlerts);
  $("#alerts-check").addEventListener("click", async () => {
    try {
      const { data } = await api.post("/admin/alerts/evaluate");
      const changes = [...data.opened.map((r) => `${r} opened`), ...data.closed.map((r) => `${r} closed`)];
      $("#admin-status").textContent = changes.length ? `Checked: ${changes.join(", ")}.` : "Checked: nothing changed.";
      if ($("#alerts-all").checked) await loadAlerts();
      else showAlerts(data.alerts);
    } catch (error) {
      $("#admin-status").textContent = problem(error);
    }
  });
  loadAlerts();

  // ---- budgets -------------------------------------------------------------------------------
  api.get("/admin/budgets").then(({ data }) => {
    const list = $("#budget-list");
    if (!data.budgets.length) {
      list.replaceChildren(el("li", { class: "hint", text: "No budgets are set (BUDGET_*): paid calls are not capped." }));
      return;
    }
    list.replaceChildren(...data.budgets.map((b) => {
      const used = Math.min(1, Math.max(0, b.used_fraction));
      const fill = el("div", { class: "bar-fill" });
      fill.style.transform = `scaleX(${used.toFixed(3)})`;
      return el("li", { class: "budget" },
        el("p", {}, el("strong", { text: `${b.name} (${b.period})` }), ` ${number(b.spent)} spent, ${number(b.reserved)} reserved of ${number(b.cap)}`),
        el("div", { class: `bar${used > 0.9 ? " is-high" : ""}`, role: "progressbar", "aria-label": `${b.name} budget used`, "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(used * 100)) }, fill),
        el("p", { class: "hint", text: `${number(b.remaining)} left · resets ${when(b.resets_at)} · ${number(b.burn_rate_per_hour)} an hour` }));
    }));
  }).catch((error) => {
    $("#budget-list").replaceChildren(el("li", { class: "field-error", text: problem(error) }));
  });

  // ---- users and tiers -----------------------------------------------------------------------
  const userError = $("#user-error");
  const showUser = (user) => {
    found = user;
    $("#user-card").hidden = false;
    facts($("#user-facts"), [
      ["Email", user.email || "–"],
      ["Tier", `${tierName(user.tier)}${user.tier_expires_at ? ` until ${day(user.tier_expires_at)}` : ""}`],
      ["Since", day(user.created_at)],
      ["Last active", day(user.last_active)],
      ["User id", user.uid],
    ]);
    $("#tier-select").value = ["registered", "donor"].includes(user.tier) ? user.tier : "registered";
  };
  $("#user-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const email = $("#user-email").value.trim();
    userError.hidden = true;
    if (!/^[^\s@]+@[^\s@]+$/.test(email)) {
      userError.textContent = "Type the user's email address.";
      userError.hidden = false;
      return;
    }
    try {
      const { data } = await api.get(`/admin/users?email=${encodeURIComponent(email)}`);
      showUser(data);
    } catch (error) {
      $("#user-card").hidden = true;
      userError.textContent = error instanceof ApiError && error.status === 404
        ? "No account has this email (a user must sign in once first)."
        : problem(error);
      userError.hidden = false;
    }
  });
  $("#tier-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!found) return;
    const until = $("#tier-until").value;
    const body = { tier: $("#tier-select").value };
    if (until) body.expires_at = new Date(`${until}T23:59:59`).getTime() / 1000;
    try {
      const { data } = await api.post(`/admin/users/${encodeURIComponent(found.uid)}/tier`, { json: body });
      showUser({ ...found, ...data });
      userError.hidden = true;
      $("#admin-status").textContent = `${found.email || found.uid} is now ${tierName(data.tier || body.tier)}.`;
    } catch (error) {
      userError.textContent = problem(error);
      userError.hidden = false;
    }
  });

  // ---- tasks ---------------------------------------------------------------------------------
  const now = new Date();
  $("#billing-month").value = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`;
  for (const button of document.querySelectorAll("[data-task]")) {
    button.addEventListener("click", async () => {
      if (button.getAttribute("aria-disabled") === "true") return;
      const task = button.dataset.task;
      const body = task === "billing" ? { month: $("#billing-month").value } : {};
      const box = $("#task-result");
      button.setAttribute("aria-disabled", "true");
      box.replaceChildren(el("p", { class: "hint", text: `Running ${task}…` }));
      try {
        const { data } = await api.post(`/admin/tasks/${task}`, { json: body });
        const list = el("dl", { class: "facts" });
        const shown = Object.entries(data.result).filter(([, value]) => value !== null && value !== undefined);
        facts(list, shown.map(([key, value]) => [LABELS[key] || key.replace(/_/g, " "), describe(value)]));
        box.replaceChildren(el("p", { class: "task-done", text: `${task.charAt(0).toUpperCase()}${task.slice(1)} done.` }), list);
      } catch (error) {
        box.replaceChildren(el("p", { class: "field-error", text: problem(error) }));
      } finally {
        button.removeAttribute("aria-disabled");
      }
    });
  }

  // ---- subscriptions -------------------------------------------------------------------------
  let cursor = null;
  const loadSubscriptions = async (more = false) => {
    const params = new URLSearchParams();
    if ($("#subs-status").value) params.set("status", $("#subs-status").value);
    if (more && cursor) params.set("cursor", cursor);
    const body = $("#subs-table tbody");
    try {
      const { data } = await api.get(`/admin/subscriptions${params.size ? `?${params}` : ""}`);
      cursor = data.next_cursor;
      $("#subs-more").hidden = !cursor;
      if (!more) body.replaceChildren();
      body.append(...data.subscriptions.map((sub) => el("tr", { "data-status": sub.status },
        el("td", { text: day(sub.created_at) }),
        el("td", {}, el("code", { text: `${sub.uid.slice(0, 10)}…`, title: sub.uid })),
        el("td", { text: `${sub.plan} (${tierName(sub.tier)})` }),
        el("td", {}, el("span", { class: `badge-inline status-${sub.status}`, text: sub.status })),
        el("td", { class: "num", text: String(sub.price) }),
        el("td", { text: day(sub.expires_at || sub.ended_at) }))));
      if (!body.children.length) body.append(el("tr", {}, el("td", { colspan: "6", class: "hint", text: "No subscriptions." })));
    } catch (error) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: "6", class: "field-error", text: problem(error) })));
    }
  };
  $("#subs-status").addEventListener("change", () => loadSubscriptions());
  $("#subs-more").addEventListener("click", () => loadSubscriptions(true));
  loadSubscriptions();
}
