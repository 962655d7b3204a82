// The dashboard's operations: find a user by email and set their tier (GET /admin/users?email=,
// POST /admin/users/{uid}/tier), run a task now (POST /admin/tasks/{cleanup|backup|billing}), and
// the subscriptions, newest first (GET /admin/subscriptions?status=&cursor=).

import { ApiError } from "./api.js";
import { tierName } from "./chrome.js";
import { describeError } from "./messages.js";
import { $, el } from "./util.js";

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

export function startTools({ api, config }) {
  const problem = (error) => describeError(error, { config }).text(error?.retryAfter || 0);
  let found = null;

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
