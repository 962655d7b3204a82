// The admin dashboard: GET /api/v1/admin/analytics?days=N (admin claim only: 401 without sign-in,
// 403 without the claim) drawn with Chart.js (site/vendor/chart.js, loaded before this module).
// Then the metrics history (GET /admin/metrics?hours=24), and the operations (admin_tools.js):
// users and their tier, the tasks, the subscriptions. Open alerts come with their API route.

import { ApiError } from "./api.js";
import { startTools } from "./admin_tools.js";
import { startPage, tierName } from "./chrome.js";
import { describeError } from "./messages.js";
import { modeLabel } from "./output.js";
import { $, el, reducedMotion } from "./util.js";

const { api, auth, config } = startPage();
const charts = new Map();
const status = $("#admin-status");
let days = 7;
let started = false; // the metrics and the operations load once

const percent = (value) => (value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)}%`);
const seconds = (value) => (value === null || value === undefined ? "–" : `${Number(value).toFixed(1)} s`);
const number = (value) => Number(value || 0).toLocaleString("en", { maximumFractionDigits: 2 });
const shortDay = (day) => new Date(`${day}T12:00:00Z`).toLocaleDateString("en", { month: "short", day: "numeric", timeZone: "UTC" });

function colours() {
  const css = getComputedStyle(document.documentElement);
  const read = (name) => css.getPropertyValue(name).trim();
  return {
    accent: read("--accent"),
    accent2: read("--accent-2"),
    ok: read("--ok"),
    danger: read("--danger"),
    warn: read("--warn"),
    text: read("--text"),
    muted: read("--muted"),
    grid: read("--border"),
    series: [read("--accent"), read("--accent-2"), "#0ea5e9", read("--warn"), read("--ok"), "#64748b"],
  };
}

function draw(id, settings, summary) {
  const Chart = window.Chart;
  charts.get(id)?.destroy();
  const canvas = document.getElementById(id);
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", summary);
  canvas.textContent = summary; // fallback content
  charts.set(id, new Chart(canvas, settings));
}

function baseOptions(c, { stacked = false, horizontal = false, legend = true } = {}) {
  const axis = { grid: { color: c.grid }, ticks: { color: c.muted, precision: 0 }, stacked, beginAtZero: true };
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: reducedMotion.matches ? false : { duration: 400 },
    indexAxis: horizontal ? "y" : "x",
    plugins: { legend: { display: legend, labels: { color: c.text, boxWidth: 12 } } },
    scales: { x: { ...axis, grid: { display: horizontal, color: c.grid } }, y: { ...axis } },
  };
}

function kpis(data) {
  const items = [
    ["Generations", number(data.generations)],
    ["Success rate", percent(data.success_rate)],
    ["Time to result", `${seconds(data.time_to_result.average)}`, `p95 ${seconds(data.time_to_result.p95)}`],
    ["Queue wait", `${seconds(data.queue_wait.average)}`, `p95 ${seconds(data.queue_wait.p95)}`],
    ["Visitors", number(data.funnel.visitors), "visitor-days"],
    ["Sign-ups", number(data.funnel.signed_up), `${number(data.funnel.donors)} donors now`],
  ];
  $("#kpis").replaceChildren(...items.map(([label, value, note]) => el("li", { class: "kpi" },
    el("span", { class: "kpi-label", text: label }),
    el("strong", { class: "kpi-value", text: value }),
    note ? el("span", { class: "hint", text: note }) : null)));
}

function render(data) {
  const c = colours();
  const labels = data.days.map((d) => shortDay(d.day));
  kpis(data);

  const signedIn = data.days.map((d) => d.active_signed_in);
  const anonymous = data.days.map((d) => d.active_anonymous);
  draw("c-users", {
    type: "bar",
    data: { labels, datasets: [
      { label: "Signed in", data: signedIn, backgroundColor: c.accent, borderRadius: 4 },
      { label: "Guests", data: anonymous, backgroundColor: c.accent2, borderRadius: 4 },
    ] },
    options: baseOptions(c, { stacked: true }),
  }, `Daily active users over ${data.days.length} days: ${signedIn.reduce((a, b) => a + b, 0)} signed-in and ${anonymous.reduce((a, b) => a + b, 0)} guest visitor-days.`);

  draw("c-gens", {
    type: "bar",
    data: { labels, datasets: [
      { label: "Succeeded", data: data.days.map((d) => d.succeeded), backgroundColor: c.ok, borderRadius: 4 },
      { label: "Failed", data: data.days.map((d) => d.failed), backgroundColor: c.danger, borderRadius: 4 },
    ] },
    options: baseOptions(c, { stacked: true }),
  }, `Generations per day: ${data.generations} in all, success rate ${percent(data.success_rate)}.`);

  const modes = Object.entries(data.by_mode);
  draw("c-modes", {
    type: "doughnut",
    data: {
      labels: modes.map(([m]) => modeLabel(m)),
      datasets: [{ data: modes.map(([, n]) => n), backgroundColor: c.series, borderColor: "transparent" }],
    },
    options: { ...baseOptions(c), scales: {}, cutout: "62%", plugins: { legend: { position: "bottom", labels: { color: c.text, boxWidth: 12 } } } },
  }, `Generations by mode: ${modes.map(([m, n]) => `${modeLabel(m)} ${n}`).join(", ") || "none"}.`);

  const tiers = [...new Set([...Object.keys(data.generations_by_tier), ...Object.keys(data.users_by_tier)])];
  draw("c-tiers", {
    type: "bar",
    data: { labels: tiers.map(tierName), datasets: [
      { label: "Generations", data: tiers.map((t) => data.generations_by_tier[t] || 0), backgroundColor: c.accent, borderRadius: 4 },
      { label: "Users", data: tiers.map((t) => data.users_by_tier[t] || 0), backgroundColor: c.accent2, borderRadius: 4 },
    ] },
    options: baseOptions(c),
  }, `Tier mix: ${tiers.map((t) => `${tierName(t)} ${data.generations_by_tier[t] || 0} generations, ${data.users_by_tier[t] || 0} users`).join("; ") || "none"}.`);

  const funnel = [["Visitors", data.funnel.visitors], ["Generated", data.funnel.generated], ["Signed up", data.funnel.signed_up], ["Donors", data.funnel.donors]];
  draw("c-funnel", {
    type: "bar",
    data: { labels: funnel.map(([l]) => l), datasets: [{ label: "Funnel", data: funnel.map(([, n]) => n), backgroundColor: c.series, borderRadius: 4 }] },
    options: baseOptions(c, { horizontal: true, legend: false }),
  }, `Funnel: ${funnel.map(([l, n]) => `${l} ${n}`).join(", ")}.`);

  draw("c-timing", {
    type: "bar",
    data: { labels: ["Time to result", "Queue wait"], datasets: [
      { label: "Average (s)", data: [data.time_to_result.average || 0, data.queue_wait.average || 0], backgroundColor: c.accent, borderRadius: 4 },
      { label: "p95 (s)", data: [data.time_to_result.p95 || 0, data.queue_wait.p95 || 0], backgroundColor: c.warn, borderRadius: 4 },
    ] },
    options: baseOptions(c),
  }, `Response time: ${seconds(data.time_to_result.average)} to a result on average (p95 ${seconds(data.time_to_result.p95)}), queue wait ${seconds(data.queue_wait.average)}.`);

  const providers = Object.entries(data.providers);
  draw("c-providers", {
    type: "bar",
    data: { labels: providers.map(([p]) => p), datasets: [
      { label: "Error rate (%)", data: providers.map(([, p]) => (p.error_rate || 0) * 100), backgroundColor: c.danger, borderRadius: 4 },
    ] },
    options: baseOptions(c, { horizontal: true, legend: false }),
  }, `Provider error rates: ${providers.map(([name, p]) => `${name} ${percent(p.error_rate)}`).join(", ") || "no generations"}.`);
  $("#providers-table tbody").replaceChildren(...(providers.length ? providers.map(([name, p]) => el("tr", {},
    el("th", { scope: "row", text: name }),
    el("td", { class: "num", text: number(p.generations) }),
    el("td", { class: "num", text: number(p.failed) }),
    el("td", { class: "num", text: percent(p.error_rate) }),
    el("td", { class: "num", text: number(p.cost_units) }))) : [el("tr", {}, el("td", { colspan: "5", class: "hint", text: "No generations in this period." }))]));

  const pages = Object.entries(data.page_views).sort((a, b) => b[1] - a[1]).slice(0, 12);
  const events = Object.entries(data.events).sort((a, b) => b[1] - a[1]);
  draw("c-pages", {
    type: "bar",
    data: {
      labels: [...pages.map(([p]) => p), ...events.map(([e]) => e.replace(/_/g, " "))],
      datasets: [{
        label: "Count",
        data: [...pages.map(([, n]) => n), ...events.map(([, n]) => n)],
        backgroundColor: [...pages.map(() => c.accent), ...events.map(() => c.accent2)],
        borderRadius: 4,
      }],
    },
    options: baseOptions(c, { horizontal: true, legend: false }),
  }, `Page views: ${pages.map(([p, n]) => `${p} ${n}`).join(", ") || "none"}. Events: ${events.map(([e, n]) => `${e} ${n}`).join(", ") || "none"}.`);

  $("#notes").replaceChildren(...data.notes.map((note) => el("li", { class: "hint", text: note })));
  const from = new Date(data.start * 1000).toLocaleDateString("en", { month: "short", day: "numeric" });
  $("#range-label").textContent = `The last ${data.days.length} days, from ${from}.`;
}

function refuse(title, text, link) {
  $("#dashboard").hidden = true;
  $("#refused").hidden = false;
  $("#refused-title").textContent = title;
  $("#refused-text").textContent = text;
  $("#refused-link").href = link.href;
  $("#refused-link span").textContent = link.label;
  status.textContent = title;
}

function time(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString("en", { hour: "2-digit", minute: "2-digit" });
}

async function loadMetrics() {
  const c = colours();
  let points = [];
  try {
    ({ data: { points } } = await api.get("/admin/metrics?hours=24"));
  } catch (error) {
    $("#metrics-note").textContent = describeError(error, { config }).text(error?.retryAfter || 0);
  }
  const deployment = points.filter((p) => p.source === "deployment");
  const instances = points.filter((p) => p.source.startsWith("instance:"));
  const line = (label, data, colour) => ({ label, data, borderColor: colour, backgroundColor: colour, tension: 0.25, pointRadius: 2 });
  draw("c-queue", {
    type: "line",
    data: { labels: deployment.map((p) => time(p.at)), datasets: [
      line("Queued", deployment.map((p) => p.values.queued ?? 0), c.accent),
      line("Running", deployment.map((p) => p.values.running ?? 0), c.ok),
      line("Oldest wait (s)", deployment.map((p) => p.values.oldest_queued_wait ?? 0), c.warn),
    ] },
    options: baseOptions(c),
  }, `Queue over the last 24 hours: ${deployment.length} points${deployment.length ? `, last ${deployment.at(-1).values.queued ?? 0} queued` : ""}.`);
  const pct = (value) => Math.round((value ?? 0) * 1000) / 10;
  draw("c-instances", {
    type: "line",
    data: { labels: instances.map((p) => time(p.at)), datasets: [
      line("CPU %", instances.map((p) => pct(p.values.cpu)), c.accent),
      line("Memory %", instances.map((p) => pct(p.values.memory)), c.accent2),
      line("Errors %", instances.map((p) => pct(p.values.error_rate)), c.danger),
    ] },
    options: baseOptions(c),
  }, `Instances over the last 24 hours: ${instances.length} points.`);
}

async function load() {
  status.textContent = "Loading…";
  try {
    const { data } = await api.get(`/admin/analytics?days=${days}`);
    $("#refused").hidden = true;
    $("#dashboard").hidden = false;
    render(data);
    status.textContent = `Analytics of the last ${days} days.`;
    if (!started) {
      started = true;
      loadMetrics();
      startTools({ api, config });
    }
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      refuse("Sign in as an administrator", "The dashboard is for administrators. Sign in with an administrator's account.", { href: "account.html", label: "Sign in" });
    } else if (error instanceof ApiError && error.status === 403) {
      refuse("For administrators only", "This account is not an administrator, so the dashboard stays closed.", { href: "./", label: "Back to the studio" });
    } else {
      status.textContent = describeError(error, { config }).text(error?.retryAfter || 0);
    }
  }
}

for (const button of document.querySelectorAll("#days [data-days]")) {
  button.addEventListener("click", () => {
    days = Number(button.dataset.days);
    for (const other of document.querySelectorAll("#days [data-days]")) other.setAttribute("aria-pressed", String(other === button));
    load();
  });
}

auth.ready.then(() => {
  if (auth.state().anonymous) {
    refuse("Sign in as an administrator", "The dashboard is for administrators. Sign in with an administrator's account.", { href: "account.html", label: "Sign in" });
    return;
  }
  load();
});
